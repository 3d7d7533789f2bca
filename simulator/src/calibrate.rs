//! Calibration: turns the performance section of an `airtight harness card --perf N` report
//! (`report.json`, per-SKS-method latencies in microseconds and the transport's round trip
//! measured with `getDeviceInfo`) into a card profile in the format of `profiles.toml`.
//!
//! The harness measures whole SKS calls, the simulator charges per APDU and per on-card
//! operation, so each operation is derived from the method that isolates it best (every
//! figure is the median; "excess" is a method's median minus the round trip):
//! - `per_apdu_ms`: the round trip, the median of the cheapest method of the honest session
//!   (one short APDU exchange plus that call's little work: an upper bound of the transport's
//!   floor). The report's `calibration` figure (repeated `getDeviceInfo`) is not used: over
//!   PC/SC it came out far below every call of the sessions, `getDeviceInfo` included;
//! - `hmac`, `aes`, `sha256`: half the excess of `createPinPolicy` (one MAC check, one
//!   decryption: the card's cheapest symmetric work; 0 when it is the cheapest method);
//! - `ecdsa_sign` (and `ecdsa_verify`, not measured): the excess of `signData`;
//! - `ec_keygen`: the excess of `createKeyEntry` less its two MACs;
//! - `ecdh`: the excess of `createProvisioningSession` less its key generation, two MACs and
//!   its signature (floored at 0);
//! - `store_write`: the excess of `closeProvisioningSession` less its two MACs, per write of
//!   the close (the model's write count).
//!
//! RSA operations are not in the harness's honest session and are left out (0 ms).

use serde_json::Value;

use crate::backend::CardOp;
use crate::model::CallKind;

/// The report cannot be calibrated from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CalibrateError(pub String);

/// What to call the profile and where its numbers came from.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// Profile name (e.g. `reference-pcsc`).
    pub name: String,
    /// One-line description.
    pub description: String,
    /// How the report was made (command, date, build).
    pub source: String,
}

/// Median (µs) of a method in the report's performance section.
fn p50(methods: &Value, name: &str) -> Result<f64, CalibrateError> {
    methods
        .get(name)
        .and_then(|m| m.get("p50"))
        .and_then(|q| q.get("value"))
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| {
            CalibrateError(format!(
                "the report's performance section has no median for {name}"
            ))
        })
}

fn ms(us: f64) -> f64 {
    (us.max(0.0) / 1000.0 * 1000.0).round() / 1000.0
}

/// The operations of a profile derived from a harness report (`report.json` as JSON), in ms.
pub fn ops_from_report(report: &Value) -> Result<(f64, Vec<(CardOp, f64)>), CalibrateError> {
    let perf = report
        .get("performance")
        .filter(|p| !p.is_null())
        .ok_or_else(|| {
            CalibrateError(
                "no performance section: run `airtight harness card --perf N` (N > 0)".into(),
            )
        })?;
    if perf.get("sessions").and_then(Value::as_u64).unwrap_or(0) == 0 {
        return Err(CalibrateError(
            "the performance section ran no session".into(),
        ));
    }
    let methods = perf
        .get("methods")
        .ok_or_else(|| CalibrateError("the performance section has no methods".into()))?;
    let names: Vec<String> = methods
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let round_trip = names
        .iter()
        .filter_map(|n| p50(methods, n).ok())
        .min_by(f64::total_cmp)
        .ok_or_else(|| CalibrateError("the performance section has no method figures".into()))?;
    let excess = |m: &str| p50(methods, m).map(|v| (v - round_trip).max(0.0));
    let sym = excess("createPinPolicy")? / 2.0;
    let sign = excess("signData")?;
    let keygen = (excess("createKeyEntry")? - 2.0 * sym).max(0.0);
    let ecdh = (excess("createProvisioningSession")? - keygen - 2.0 * sym - sign).max(0.0);
    let writes = f64::from(CallKind::Close.ops().get(CardOp::StoreWrite).max(1));
    let store = (excess("closeProvisioningSession")? - 2.0 * sym).max(0.0) / writes;
    Ok((
        ms(round_trip),
        vec![
            (CardOp::EcKeygen, ms(keygen)),
            (CardOp::Ecdh, ms(ecdh)),
            (CardOp::EcdsaSign, ms(sign)),
            (CardOp::EcdsaVerify, ms(sign)),
            (CardOp::Hmac, ms(sym)),
            (CardOp::Aes, ms(sym)),
            (CardOp::Sha256, ms(sym)),
            (CardOp::StoreWrite, ms(store)),
        ],
    ))
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// A `[[profile]]` table (TOML text, ready to append to `profiles.toml`).
pub fn profile_toml(report: &Value, p: &Provenance) -> Result<String, CalibrateError> {
    let (per_apdu, ops) = ops_from_report(report)?;
    let mut out = format!(
        "[[profile]]\nname = {}\nclass = \"reference\"\ndescription = {}\nsource = {}\nper_apdu_ms = {per_apdu}\nops = [\n",
        toml_str(&p.name),
        toml_str(&p.description),
        toml_str(&p.source)
    );
    for (op, v) in ops {
        let name = serde_json::to_value(op)
            .ok()
            .and_then(|n| n.as_str().map(str::to_owned))
            .ok_or_else(|| CalibrateError(format!("{op:?} has no name")))?;
        out.push_str(&format!("  {{ op = \"{name}\", ms = {v} }},\n"));
    }
    out.push_str("]\n");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Value {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/harness-perf-report.json");
        serde_json::from_str(&std::fs::read_to_string(p).expect("fixture")).expect("json")
    }

    #[test]
    fn a_harness_perf_report_becomes_a_profile_the_simulator_loads() {
        let prov = Provenance {
            name: "reference-test".into(),
            description: "fixture".into(),
            source: "tests/data/harness-perf-report.json".into(),
        };
        let text = profile_toml(&fixture(), &prov).expect("calibrates");
        let file: crate::scenario::ProfileFile =
            toml::from_str(&format!("reader = []\n{text}")).expect("profiles.toml format");
        let p = &file.profile[0];
        assert_eq!(p.name, "reference-test");
        assert_eq!(p.ops.len(), 8);
        let (rt, ops) = ops_from_report(&fixture()).expect("ops");
        assert!(rt > 0.0);
        let get = |o: CardOp| ops.iter().find(|(k, _)| *k == o).map(|(_, v)| *v);
        // The fixture's key generation and signature dominate its MACs.
        assert!(get(CardOp::EcKeygen) > get(CardOp::Hmac), "{ops:?}");
        assert!(get(CardOp::EcdsaSign) > get(CardOp::Hmac), "{ops:?}");
    }

    /// The checked-in `reference-pcsc` profile is what this calibration gives for the report
    /// it was made from (the fixture), and a scenario on it runs with its properties holding.
    #[test]
    fn the_reference_pcsc_profile_is_the_calibration_of_its_report() {
        let (per_apdu, ops) = ops_from_report(&fixture()).expect("ops");
        let b = crate::scenario::builtin().expect("profiles.toml");
        let p = b
            .profile
            .iter()
            .find(|p| p.name == "reference-pcsc")
            .expect("reference-pcsc");
        let num = |d: &crate::dist::Dist| match d {
            crate::dist::Dist::Fixed(v) => *v,
            other => panic!("{other:?}"),
        };
        assert_eq!(num(&p.per_apdu_ms), per_apdu);
        assert_eq!(p.ops.len(), ops.len());
        for (o, (op, v)) in p.ops.iter().zip(&ops) {
            assert_eq!((o.op, num(&o.ms)), (*op, *v));
        }
        let text = "[configuration]\nname = \"r\"\n[[cards]]\nname = \"ref\"\nprofile = \"reference-pcsc\"\nreader = \"usb-ccid\"\n[[issuers]]\nname = \"a\"\nkeys = { ec = 1, pin = true }\n[[users]]\nname = \"u\"\nsessions = 5\narrival = { process = \"poisson\", rate_per_s = 1 }\n";
        let done = crate::output::run(&crate::output::Job::new("r", text)).expect("run");
        assert_eq!(done.result.violation, None);
        assert_eq!(done.result.sessions, 5);
    }

    #[test]
    fn a_report_without_performance_figures_is_refused_by_name() {
        let mut r = fixture();
        r["performance"] = Value::Null;
        let e = ops_from_report(&r).expect_err("no perf");
        assert!(e.0.contains("--perf"), "{e}");
        let mut r = fixture();
        r["performance"]["methods"]
            .as_object_mut()
            .expect("methods")
            .remove("signData");
        let e = ops_from_report(&r).expect_err("no signData");
        assert!(e.0.contains("signData"), "{e}");
    }
}
