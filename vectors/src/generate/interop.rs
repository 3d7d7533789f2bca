//! One interop file per recorded session (`vectors/interop/<session>.json`): every known answer
//! of the session, in the project's vector format, so that the checkers recompute each value
//! with `airtight_proto` (issue 7).

use serde_json::{Value, json};

use super::recorded::Session;
use super::session1::cost;
use crate::format::{Builder, VectorFile, Verdict};

/// The interop file of one session.
pub fn session_file(s: &Session) -> VectorFile {
    let comment = s.secret("comment").as_str().unwrap_or_default().to_owned();
    let origin = format!(
        "Origin: vectors/interop/recorded/{}/ (messages and secrets.json), recorded from cyberphone/openkeystore HEAD 767f49d2 (SKSReferenceImplementation, API level 106, KeyGen2 namespace https://webpki.github.io/keygen2#20190318) over loopback HTTP on 2026-11-22; copied unchanged from the project's shared sample set (see vectors/interop/recorded/ORIGIN.md).",
        s.rel
    );
    let mut tags = vec![
        "CRY-KDF-005",
        "CRY-KDF-007",
        "CRY-ATT-001",
        "CRY-MAC-001",
        "CRY-CTR-003",
        "CRY-CLS-001",
        "CRY-ENC-001",
        "CRY-LIM-003",
        "KG2-ENC-004",
    ];
    if !s.key_attestation_cases().is_empty() {
        tags.push("CRY-KAT-002");
    }
    if !s.encryption_cases().is_empty() {
        tags.push("CRY-ENC-002");
    }
    if !s.target_key_reference_cases().is_empty() {
        tags.push("CRY-TKR-002");
    }
    if !s.roll_over_cases().is_empty() {
        tags.push("CRY-ROL-001");
    }
    if s.msg("CredentialDiscoveryRequest").is_some() {
        tags.push("CRY-LUP-001");
        tags.push("CRY-LUP-002");
    }
    let mut b = Builder::new(
        &format!("recorded KeyGen2 session {}", s.name),
        &tags,
        &[
            &format!("Scenario: {comment}"),
            &origin,
            "Every value is a known answer of the recording: the session key from Z and the KDF input, the session attestation, the encryption key, every issuer MAC with its counter and key modifier and its MAC data rebuilt from the messages, every key attestation, every encryption, every KMK authorization and lookup signature, the close attestation, the MAC counter sequence with the SKS's final counter, the session-key uses, and every message (strict decode and re-encode).",
        ],
    );
    b.note(
        "KnownAnswer",
        "KNOWN_ANSWER",
        "Value recorded from the Java reference implementation.",
    );
    let group = |b: &mut Builder, kind: &str, cases: Vec<(String, Value)>| {
        if cases.is_empty() {
            return;
        }
        b.group(kind);
        for (c, v) in cases {
            b.test(&c, &["KnownAnswer"], Verdict::Valid, v);
        }
    };
    group(
        &mut b,
        "SessionKeyTest",
        vec![(
            "ECDH, KDF input and session key".into(),
            s.session_key_case(),
        )],
    );
    group(
        &mut b,
        "SessionAttestationTest",
        vec![("session attestation".into(), s.session_attestation_case())],
    );
    group(
        &mut b,
        "EncryptionKeyTest",
        vec![("encryption key".into(), s.encryption_key_case())],
    );
    let (nonces, sigs) = s.lookup_cases();
    group(
        &mut b,
        "LookupNonceTest",
        nonces
            .into_iter()
            .map(|c| ("lookup nonce".into(), c))
            .collect(),
    );
    group(
        &mut b,
        "LookupSignatureTest",
        sigs.into_iter()
            .map(|c| {
                (
                    format!(
                        "lookup {} signature",
                        c["lookup"]["id"].as_str().unwrap_or("")
                    ),
                    c,
                )
            })
            .collect(),
    );
    group(
        &mut b,
        "RollOverAuthorizationTest",
        s.roll_over_cases()
            .into_iter()
            .map(|c| ("roll-over authorization".into(), c))
            .collect(),
    );
    group(
        &mut b,
        "MacDataTest",
        s.mac_data_cases()
            .into_iter()
            .map(|c| {
                (
                    format!("{} MAC data", c["method"].as_str().unwrap_or("")),
                    c,
                )
            })
            .collect(),
    );
    group(
        &mut b,
        "MethodMacTest",
        s.mac_cases()
            .into_iter()
            .map(|c| {
                (
                    format!(
                        "{} MAC, counter {}",
                        c["method"].as_str().unwrap_or(""),
                        c["counter"]
                    ),
                    c,
                )
            })
            .collect(),
    );
    group(
        &mut b,
        "KeyAttestationTest",
        s.key_attestation_cases()
            .into_iter()
            .map(|c| (format!("key attestation, counter {}", c["counter"]), c))
            .collect(),
    );
    group(
        &mut b,
        "EncryptionTest",
        s.encryption_cases()
            .into_iter()
            .map(|c| ("issuer encryption".into(), c))
            .collect(),
    );
    group(
        &mut b,
        "TargetKeyReferenceTest",
        s.target_key_reference_cases()
            .into_iter()
            .map(|c| ("post-operation authorization".into(), c))
            .collect(),
    );
    group(
        &mut b,
        "CloseAttestationTest",
        vec![("close attestation".into(), s.close_attestation_case())],
    );
    group(
        &mut b,
        "MacCounterTest",
        vec![(
            "MAC counter sequence and final counter".into(),
            s.counter_case(),
        )],
    );
    let ops = s.operations();
    let uses: u64 = ops.iter().map(|o| cost(o)).sum();
    let limit = s
        .msg("ProvisioningInitializationRequest")
        .map(|m| m["sessionKeyLimit"].clone())
        .unwrap_or_default();
    group(
        &mut b,
        "SessionKeyLimitTest",
        vec![(
            "session-key uses within the requested sessionKeyLimit".into(),
            json!({"operations": ops, "sessionKeyLimit": limit, "uses": uses}),
        )],
    );
    group(
        &mut b,
        "MessageDecodeTest",
        s.messages
            .iter()
            .map(|(q, m)| (q.clone(), json!({"qualifier": q, "message": m})))
            .collect(),
    );
    b.finish()
}

/// Every interop file.
pub fn all(sessions: &[Session]) -> Vec<(String, VectorFile)> {
    sessions
        .iter()
        .map(|s| (s.name.clone(), session_file(s)))
        .collect()
}
