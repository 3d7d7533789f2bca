//! `airtight-vectors regen [--check]`: writes every vector file (`vectors/data/` and the
//! per-session interop files of `vectors/interop/` and the golden session transcripts of
//! `vectors/sessions/`) from its generator, or (with `--check`)
//! fails if any committed file differs from what the generators produce.
//! `airtight-vectors report`: checks the implementation against every file and prints a summary.

use std::path::PathBuf;
use std::process::ExitCode;

use airtight_vectors::{
    check, data_dir, format::VectorFile, generated_files, generated_session_files, interop_dir,
    sessions_dir,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("regen") => regen(args.iter().any(|a| a == "--check")),
        Some("report") => report(),
        _ => {
            eprintln!("usage: airtight-vectors regen [--check] | report");
            ExitCode::from(2)
        }
    }
}

fn regen(check_only: bool) -> ExitCode {
    let mut stale = Vec::new();
    let mut expected: Vec<(PathBuf, String)> = Vec::new();
    for (dir, name, file) in generated_files()
        .into_iter()
        .chain(generated_session_files())
    {
        expected.push((dir.clone(), name.clone()));
        let text = file.to_canonical_string();
        let path = dir.join(&name);
        let current = std::fs::read_to_string(&path).ok();
        if current.as_deref() == Some(text.as_str()) {
            continue;
        }
        if check_only {
            stale.push(path.display().to_string());
        } else if let Err(e) =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text))
        {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        } else {
            println!("wrote {}", path.display());
        }
    }
    // Files nobody generates any more are stale too.
    for dir in [data_dir(), interop_dir(), sessions_dir()] {
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".json") && !expected.contains(&(dir.clone(), name.clone())) {
                    stale.push(format!("{} (no generator)", dir.join(name).display()));
                }
            }
        }
    }
    if stale.is_empty() {
        println!("{} vector files up to date", expected.len());
        ExitCode::SUCCESS
    } else {
        for s in &stale {
            eprintln!("stale: {s}");
        }
        if check_only {
            eprintln!(
                "vector files differ from their generators: run `cargo run -p airtight-vectors -- regen`"
            );
        }
        ExitCode::FAILURE
    }
}

fn report() -> ExitCode {
    let mut total = 0;
    let mut failed = 0;
    let mut names: Vec<(PathBuf, String)> = generated_files()
        .into_iter()
        .chain(generated_session_files())
        .map(|(d, n, _)| (d, n))
        .collect();
    names.sort();
    for (dir, name) in names {
        let path = dir.join(&name);
        let label = path
            .strip_prefix(airtight_vectors::vectors_dir())
            .map(|p| p.display().to_string())
            .unwrap_or(name);
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<VectorFile>(&t).map_err(|e| e.to_string()));
        match parsed {
            Ok(file) => {
                let r = check::check_file(&file);
                total += r.passed + r.failures.len();
                failed += r.failures.len();
                println!(
                    "{label:52} {:5} tests {:5} failed",
                    r.passed + r.failures.len(),
                    r.failures.len()
                );
                for f in r.failures {
                    println!("  FAIL {f}");
                }
            }
            Err(e) => {
                failed += 1;
                println!("{label:52} unreadable: {e}");
            }
        }
    }
    println!("total {total} tests, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
