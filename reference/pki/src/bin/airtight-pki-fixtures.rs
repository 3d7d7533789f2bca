//! Writes (or, with `--check`, verifies) the test PKI fixtures of `airtight-pki`.
//!
//! Usage: `airtight-pki-fixtures [--check] [--dir DIR]` (default DIR: the crate's `fixtures/`).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures"));
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--check" => check = true,
            "--dir" => match args.next() {
                Some(d) => dir = PathBuf::from(d),
                None => {
                    eprintln!("--dir needs a value");
                    return ExitCode::from(2);
                }
            },
            "-h" | "--help" => {
                println!("usage: airtight-pki-fixtures [--check] [--dir DIR]");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    let files = match airtight_pki::fixtures::generate() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("generation failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut differ = 0;
    for (name, contents) in &files {
        let path = dir.join(name);
        if check {
            match std::fs::read_to_string(&path) {
                Ok(on_disk) if on_disk == *contents => {}
                Ok(_) => {
                    eprintln!("differs: {}", path.display());
                    differ += 1;
                }
                Err(e) => {
                    eprintln!("missing: {} ({e})", path.display());
                    differ += 1;
                }
            }
        } else if let Err(e) =
            std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, contents))
        {
            eprintln!("cannot write {}: {e}", path.display());
            return ExitCode::FAILURE;
        } else {
            println!("wrote {}", path.display());
        }
    }
    if differ > 0 {
        eprintln!("{differ} fixture file(s) differ from the generator; run airtight-pki-fixtures");
        return ExitCode::FAILURE;
    }
    if check {
        println!("{} fixture files match the generator", files.len());
    }
    ExitCode::SUCCESS
}
