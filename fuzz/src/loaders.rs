//! The TOML loaders (feature `full`): the harness's target files and the simulator's scenario
//! files, each with a load → serialize → load round trip.

use crate::oracle;

/// Harness target configuration (TOML): a loaded configuration serializes back to TOML that
/// loads to the same configuration.
pub fn target_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = airtight_harness::config::TargetConfig::from_toml(text) else {
        return;
    };
    let out = toml::to_string(&c);
    oracle!(
        out.is_ok(),
        "a loaded configuration does not serialize: {out:?}"
    );
    if let Ok(out) = out {
        let back = airtight_harness::config::TargetConfig::from_toml(&out);
        oracle!(
            back.as_ref().ok() == Some(&c),
            "TOML round trip: {back:?}\n{out}"
        );
    }
}

/// Simulator scenario files (`Scenario::parse`: TOML, the JSON Schema, then the semantic
/// checks). Oracles: an error names a line of the text (or none); an accepted scenario
/// serializes to TOML that parses to the same scenario.
pub fn scenario_toml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let s = match airtight_sim::scenario::Scenario::parse("fuzz.toml", text) {
        Ok(s) => s,
        Err(e) => {
            let lines = text.split('\n').count();
            oracle!(
                e.line <= lines && (e.line == 0) == (e.col == 0),
                "the error points outside the text ({lines} lines): {e}"
            );
            return;
        }
    };
    let out = s.to_toml();
    let back = airtight_sim::scenario::Scenario::parse("fuzz.toml", &out);
    oracle!(
        back.as_ref().ok() == Some(&s),
        "scenario round trip: {back:?}\n{out}"
    );
}

/// Seeds of [`scenario_toml`]: the scenario files of `simulator/scenarios/`.
pub fn scenario_seeds() -> Vec<Vec<u8>> {
    let dir = crate::seeds::repo().join("simulator/scenarios");
    let mut v: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}
