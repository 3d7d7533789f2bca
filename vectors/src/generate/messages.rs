//! One file per KeyGen2 message family: every recorded message (must decode strictly and
//! re-encode to the same JSON value) and hand-made invalid variants, each with the error kind
//! and JSON path that strict decoding must report.

use serde_json::{Value, json};

use super::recorded::Session;
use crate::format::{Builder, VectorFile, Verdict};

/// A path segment.
enum Seg {
    Key(String),
    Idx(usize),
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        if let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(Seg::Key(rest[..i].to_owned()));
            }
            rest = &rest[i..];
            while let Some(stripped) = rest.strip_prefix('[') {
                let end = stripped.find(']').unwrap_or(stripped.len());
                out.push(Seg::Idx(stripped[..end].parse().unwrap_or(0)));
                rest = stripped.get(end + 1..).unwrap_or("");
            }
        } else {
            out.push(Seg::Key(rest.to_owned()));
        }
    }
    out
}

fn node<'a>(v: &'a mut Value, segs: &[Seg]) -> &'a mut Value {
    let mut cur = v;
    for s in segs {
        cur = match s {
            Seg::Key(k) => &mut cur[k.as_str()],
            Seg::Idx(i) => &mut cur[*i],
        };
    }
    cur
}

/// An edit of a message.
#[derive(Clone)]
pub enum Edit {
    /// Sets (or adds) the value at the path.
    Set(&'static str, Value),
    /// Removes the property at the path.
    Del(&'static str),
}

fn apply(mut v: Value, edits: &[Edit]) -> Value {
    for e in edits {
        match e {
            Edit::Set(p, x) => *node(&mut v, &parse_path(p)) = x.clone(),
            Edit::Del(p) => {
                let segs = parse_path(p);
                let (last, parent) = segs.split_last().expect("path");
                let parent = node(&mut v, parent);
                match last {
                    Seg::Key(k) => {
                        if let Some(m) = parent.as_object_mut() {
                            m.shift_remove(k.as_str());
                        }
                    }
                    Seg::Idx(i) => {
                        if let Some(a) = parent.as_array_mut() {
                            a.remove(*i);
                        }
                    }
                }
            }
        }
    }
    v
}

/// Base64URL of `n` bytes of 0x41.
fn b64n(n: usize) -> Value {
    airtight_proto::codec::b64url::encode(&vec![0x41; n]).into()
}

/// An invalid variant: comment, flag, session name, message qualifier, edits, kind, path.
pub type Bad = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Vec<Edit>,
    &'static str,
    &'static str,
);

fn family(
    sessions: &[Session],
    stem: &'static str,
    algorithm: &str,
    tags: &[&str],
    qualifiers: &[&str],
    bad: Vec<Bad>,
    texts: &[(&str, &str, &str, String, &str, &str)],
) -> (&'static str, VectorFile) {
    let mut b = Builder::new(
        algorithm,
        tags,
        &[
            "Valid: every recorded message of the family, byte for byte as the Java implementation",
            "sent it (vectors/interop/recorded/); it must decode strictly and re-encode to the same",
            "JSON value. Invalid: a recorded message with the listed edit; strict decoding must",
            "reject it with errorKind (airtight_proto::messages::ErrorKind) at errorPath (the JSON",
            "path of the offending field).",
        ],
    );
    b.note(
        "KnownAnswer",
        "KNOWN_ANSWER",
        "A message recorded from the Java reference implementation.",
    )
    .note(
        "UnknownProperty",
        "MALFORMED",
        "A property the decoder does not read.",
    )
    .note(
        "WrongHeader",
        "MALFORMED",
        "A wrong or missing @context or @qualifier.",
    )
    .note(
        "BadId",
        "MALFORMED",
        "An id outside 1-32 characters of 0x21-0x7E.",
    )
    .note(
        "BadLength",
        "MALFORMED",
        "A byte string, string or array of the wrong length.",
    )
    .note("BadBase64", "MALFORMED", "Not strict unpadded Base64URL.")
    .note("BadEnum", "MALFORMED", "A name outside the enumeration.")
    .note(
        "NotSorted",
        "MALFORMED",
        "endorsedAlgorithms not strictly ascending.",
    )
    .note(
        "BadTime",
        "MALFORMED",
        "A time not in the required ISO 8601 form.",
    )
    .note("Missing", "MALFORMED", "A required property is absent.")
    .note("WrongType", "MALFORMED", "A JSON value of the wrong type.")
    .note("OutOfRange", "MALFORMED", "A number outside its range.")
    .note(
        "Conflict",
        "MALFORMED",
        "Fields that contradict each other.",
    )
    .note(
        "Syntax",
        "MALFORMED",
        "Not a JSON object, or a duplicated property.",
    )
    .note("EdgeCase", "EDGE_CASE", "A legal but unusual value.");
    b.group("MessageDecodeTest");
    for s in sessions {
        for (q, m) in &s.messages {
            if qualifiers.contains(&q.as_str()) {
                b.test(
                    &format!("{}: {q}", s.name),
                    &["KnownAnswer"],
                    Verdict::Valid,
                    json!({"qualifier": q, "message": m}),
                );
            }
        }
    }
    for (comment, flag, session, q, edits, kind, path) in bad {
        let base = sessions
            .iter()
            .find(|s| s.name == session)
            .and_then(|s| s.msg(q))
            .unwrap_or_else(|| panic!("{session} has no {q}"));
        let m = apply(base.clone(), &edits);
        if kind.is_empty() {
            b.test(
                comment,
                &[flag],
                Verdict::Valid,
                json!({"qualifier": q, "message": m}),
            );
        } else {
            b.test(
                comment,
                &[flag],
                Verdict::Invalid,
                json!({"qualifier": q, "message": m, "errorKind": kind, "errorPath": path}),
            );
        }
    }
    for (comment, flag, q, text, kind, path) in texts {
        b.test(
            comment,
            &[flag],
            Verdict::Invalid,
            json!({"qualifier": q, "messageText": text, "errorKind": kind, "errorPath": path}),
        );
    }
    (stem, b.finish())
}

use Edit::{Del, Set};

const UPM: &str = "user-pin-multiple-keys";
const EXT: &str = "extensions-propertybag-logotype";
const PRIV: &str = "privacy-enabled";
const RSA: &str = "e2es-rsa-device";
const ROLL: &str = "kmk-rollover-2-rollover";
const UPD: &str = "update-key-2-update";
const UNL: &str = "unlock-2-unlock";
const PUK: &str = "preset-pin-with-puk";
const IMP: &str = "import-symmetric-key";
const CLN: &str = "clone-key-protection-2-clone";
const DEL: &str = "delete-key-2-delete";

fn common(session: &'static str, q: &'static str) -> Vec<Bad> {
    vec![
        (
            "unknown top-level property",
            "UnknownProperty",
            session,
            q,
            vec![Set("extra", json!(1))],
            "UnknownProperty",
            "extra",
        ),
        (
            "@context without the #20190318 suffix",
            "WrongHeader",
            session,
            q,
            vec![Set("@context", json!("https://webpki.github.io/keygen2"))],
            "WrongContext",
            "@context",
        ),
        (
            "@context missing",
            "WrongHeader",
            session,
            q,
            vec![Del("@context")],
            "Missing",
            "@context",
        ),
        (
            "@qualifier with the wrong case",
            "WrongHeader",
            session,
            q,
            vec![Set("@qualifier", json!(q.to_lowercase()))],
            "WrongQualifier",
            "@qualifier",
        ),
        (
            "@qualifier missing",
            "WrongHeader",
            session,
            q,
            vec![Del("@qualifier")],
            "Missing",
            "@qualifier",
        ),
        (
            "serverSessionId with a space",
            "BadId",
            session,
            q,
            vec![Set("serverSessionId", json!("1a20 3667"))],
            "BadId",
            "serverSessionId",
        ),
        (
            "serverSessionId of 33 characters",
            "BadId",
            session,
            q,
            vec![Set("serverSessionId", json!("A".repeat(33)))],
            "BadId",
            "serverSessionId",
        ),
        (
            "serverSessionId empty",
            "BadId",
            session,
            q,
            vec![Set("serverSessionId", json!(""))],
            "BadId",
            "serverSessionId",
        ),
        (
            "serverSessionId a number",
            "WrongType",
            session,
            q,
            vec![Set("serverSessionId", json!(12))],
            "WrongType",
            "serverSessionId",
        ),
        (
            "serverSessionId missing",
            "Missing",
            session,
            q,
            vec![Del("serverSessionId")],
            "Missing",
            "serverSessionId",
        ),
    ]
}

fn invocation(sessions: &[Session]) -> (&'static str, VectorFile) {
    let rq = "InvocationRequest";
    let rs = "InvocationResponse";
    let mut bad = common(UPM, rq);
    bad.extend(common(EXT, rs).into_iter().take(3));
    bad.extend(vec![
        (
            "action delete",
            "BadEnum",
            UPM,
            rq,
            vec![Set("action", json!("delete"))],
            "BadEnum",
            "action",
        ),
        (
            "action upper case",
            "BadEnum",
            UPM,
            rq,
            vec![Set("action", json!("Manage"))],
            "BadEnum",
            "action",
        ),
        (
            "action missing",
            "Missing",
            UPM,
            rq,
            vec![Del("action")],
            "Missing",
            "action",
        ),
        (
            "privacyEnabled as a string",
            "WrongType",
            PRIV,
            rq,
            vec![Set("privacyEnabled", json!("true"))],
            "WrongType",
            "privacyEnabled",
        ),
        (
            "unknown key container",
            "BadEnum",
            UPM,
            rq,
            vec![Set("targetKeyContainers[1]", json!("usb"))],
            "BadEnum",
            "targetKeyContainers[1]",
        ),
        (
            "duplicate key container",
            "Conflict",
            UPM,
            rq,
            vec![Set("targetKeyContainers[1]", json!("software"))],
            "Conflict",
            "targetKeyContainers[1]",
        ),
        (
            "duplicate capability URI",
            "Conflict",
            UPM,
            rq,
            vec![Set(
                "clientCapabilityQuery[2]",
                json!("https://webpki.github.io/sks/algorithm#rsa2048"),
            )],
            "Conflict",
            "clientCapabilityQuery[2]",
        ),
        (
            "empty preferredLanguages array",
            "BadLength",
            UPM,
            rq,
            vec![Set("preferredLanguages", json!([]))],
            "BadLength",
            "preferredLanguages",
        ),
        (
            "preferredLanguages not an array",
            "WrongType",
            UPM,
            rq,
            vec![Set("preferredLanguages", json!("en"))],
            "WrongType",
            "preferredLanguages",
        ),
        (
            "nested unknown property in a capability",
            "UnknownProperty",
            UPM,
            rs,
            vec![Set("clientCapabilities[0].extra", json!(true))],
            "UnknownProperty",
            "clientCapabilities[0].extra",
        ),
        (
            "capability with both supported and values",
            "Conflict",
            UPM,
            rs,
            vec![Set("clientCapabilities[0].values", json!(["x"]))],
            "Conflict",
            "clientCapabilities[0]",
        ),
        (
            "capability without an answer",
            "Missing",
            UPM,
            rs,
            vec![Del("clientCapabilities[0].supported")],
            "Missing",
            "clientCapabilities[0]",
        ),
        (
            "capability type missing",
            "Missing",
            UPM,
            rs,
            vec![Del("clientCapabilities[1].type")],
            "Missing",
            "clientCapabilities[1].type",
        ),
        (
            "supported as a string",
            "WrongType",
            UPM,
            rs,
            vec![Set("clientCapabilities[3].supported", json!("false"))],
            "WrongType",
            "clientCapabilities[3].supported",
        ),
        (
            "image width 0",
            "OutOfRange",
            EXT,
            rs,
            vec![Set("clientCapabilities[0].imageAttributes.width", json!(0))],
            "OutOfRange",
            "clientCapabilities[0].imageAttributes.width",
        ),
        (
            "image height as a string",
            "WrongType",
            EXT,
            rs,
            vec![Set(
                "clientCapabilities[1].imageAttributes.height",
                json!("48"),
            )],
            "WrongType",
            "clientCapabilities[1].imageAttributes.height",
        ),
        (
            "image width fractional",
            "WrongType",
            EXT,
            rs,
            vec![Set(
                "clientCapabilities[0].imageAttributes.width",
                json!(200.5),
            )],
            "WrongType",
            "clientCapabilities[0].imageAttributes.width",
        ),
        (
            "nested unknown property in imageAttributes",
            "UnknownProperty",
            EXT,
            rs,
            vec![Set("clientCapabilities[0].imageAttributes.depth", json!(8))],
            "UnknownProperty",
            "clientCapabilities[0].imageAttributes.depth",
        ),
        (
            "empty clientCapabilities array",
            "BadLength",
            EXT,
            rs,
            vec![Set("clientCapabilities", json!([]))],
            "BadLength",
            "clientCapabilities",
        ),
        (
            "privacyEnabled false written out",
            "EdgeCase",
            UPM,
            rq,
            vec![Set("privacyEnabled", json!(false))],
            "",
            "",
        ),
    ]);
    let dup = r#"{"@context":"https://webpki.github.io/keygen2#20190318","@qualifier":"InvocationRequest","serverSessionId":"a","serverSessionId":"b","action":"manage"}"#;
    let texts = [
        (
            "duplicate property",
            "Syntax",
            rq,
            dup.to_owned(),
            "DuplicateProperty",
            "serverSessionId",
        ),
        (
            "not JSON",
            "Syntax",
            rq,
            "{\"@context\":".to_owned(),
            "Syntax",
            "",
        ),
        (
            "a JSON array",
            "Syntax",
            rq,
            "[]".to_owned(),
            "WrongType",
            "",
        ),
    ];
    family(
        sessions,
        "messages_invocation",
        "KeyGen2 InvocationRequest and InvocationResponse",
        &[
            "KG2-ENC-001",
            "KG2-ENC-002",
            "KG2-ENC-004",
            "KG2-ENC-005",
            "KG2-ENC-008",
            "KG2-ENC-013",
            "KG2-ENC-015",
            "KG2-INV-001",
            "KG2-INV-003",
        ],
        &[rq, rs],
        bad,
        &texts,
    )
}

fn initialization(sessions: &[Session]) -> (&'static str, VectorFile) {
    let rq = "ProvisioningInitializationRequest";
    let rs = "ProvisioningInitializationResponse";
    let mut bad = common(ROLL, rq);
    bad.extend(common(RSA, rs).into_iter().take(4));
    let rsa_jwk = sessions
        .iter()
        .find(|s| s.name == "delete-key-1-initial")
        .and_then(|s| s.msg(rq))
        .map(|m| m["keyManagementKey"].clone())
        .unwrap_or_default();
    let okp = sessions
        .iter()
        .find(|s| s.name == UPM)
        .and_then(|s| s.msg("KeyCreationResponse"))
        .map(|m| m["generatedKeys"][2]["publicKey"].clone())
        .unwrap_or_default();
    bad.extend(vec![
        (
            "serverTime with subseconds",
            "BadTime",
            RSA,
            rq,
            vec![Set("serverTime", json!("2026-11-22T13:16:18.000Z"))],
            "BadTime",
            "serverTime",
        ),
        (
            "serverTime with an offset",
            "BadTime",
            RSA,
            rq,
            vec![Set("serverTime", json!("2026-11-22T13:16:18+00:00"))],
            "BadTime",
            "serverTime",
        ),
        (
            "serverTime without a zone",
            "BadTime",
            RSA,
            rq,
            vec![Set("serverTime", json!("2026-11-22T13:16:18"))],
            "BadTime",
            "serverTime",
        ),
        (
            "serverTime on 31 November",
            "BadTime",
            RSA,
            rq,
            vec![Set("serverTime", json!("2026-11-31T13:16:18Z"))],
            "BadTime",
            "serverTime",
        ),
        (
            "sessionKeyLimit 0",
            "OutOfRange",
            RSA,
            rq,
            vec![Set("sessionKeyLimit", json!(0))],
            "OutOfRange",
            "sessionKeyLimit",
        ),
        (
            "sessionKeyLimit 65536",
            "OutOfRange",
            RSA,
            rq,
            vec![Set("sessionKeyLimit", json!(65536))],
            "OutOfRange",
            "sessionKeyLimit",
        ),
        (
            "sessionKeyLimit as a string",
            "WrongType",
            RSA,
            rq,
            vec![Set("sessionKeyLimit", json!("100"))],
            "WrongType",
            "sessionKeyLimit",
        ),
        (
            "sessionLifeTime negative",
            "OutOfRange",
            RSA,
            rq,
            vec![Set("sessionLifeTime", json!(-1))],
            "OutOfRange",
            "sessionLifeTime",
        ),
        (
            "sessionLifeTime 65535 (ushort maximum)",
            "EdgeCase",
            RSA,
            rq,
            vec![Set("sessionLifeTime", json!(65535))],
            "",
            "",
        ),
        (
            "sessionLifeTime missing",
            "Missing",
            RSA,
            rq,
            vec![Del("sessionLifeTime")],
            "Missing",
            "sessionLifeTime",
        ),
        (
            "serverEphemeralKey is RSA",
            "BadEnum",
            RSA,
            rq,
            vec![Set("serverEphemeralKey", rsa_jwk.clone())],
            "BadEnum",
            "serverEphemeralKey.kty",
        ),
        (
            "serverEphemeralKey on P-192",
            "BadEnum",
            RSA,
            rq,
            vec![Set("serverEphemeralKey.crv", json!("P-192"))],
            "BadEnum",
            "serverEphemeralKey.crv",
        ),
        (
            "serverEphemeralKey x of 31 bytes",
            "BadLength",
            RSA,
            rq,
            vec![Set("serverEphemeralKey.x", b64n(31))],
            "BadLength",
            "serverEphemeralKey.x",
        ),
        (
            "serverEphemeralKey with d",
            "UnknownProperty",
            RSA,
            rq,
            vec![Set("serverEphemeralKey.d", b64n(32))],
            "UnknownProperty",
            "serverEphemeralKey.d",
        ),
        (
            "keyManagementKey is Ed25519",
            "BadEnum",
            ROLL,
            rq,
            vec![Set("keyManagementKey", okp)],
            "BadEnum",
            "keyManagementKey.kty",
        ),
        (
            "updatableKeyManagementKeys without keyManagementKey",
            "Conflict",
            ROLL,
            rq,
            vec![Del("keyManagementKey")],
            "Conflict",
            "updatableKeyManagementKeys",
        ),
        (
            "nested unknown property in updatableKeyManagementKeys",
            "UnknownProperty",
            ROLL,
            rq,
            vec![Set(
                "updatableKeyManagementKeys[0].updatableKeyManagementKeys[0].extra",
                json!(0),
            )],
            "UnknownProperty",
            "updatableKeyManagementKeys[0].updatableKeyManagementKeys[0].extra",
        ),
        (
            "roll-over authorization in standard Base64",
            "BadBase64",
            ROLL,
            rq,
            vec![Set(
                "updatableKeyManagementKeys[0].authorization",
                json!("ab+/"),
            )],
            "BadBase64",
            "updatableKeyManagementKeys[0].authorization",
        ),
        (
            "roll-over authorization missing",
            "Missing",
            ROLL,
            rq,
            vec![Del(
                "updatableKeyManagementKeys[0].updatableKeyManagementKeys[0].authorization",
            )],
            "Missing",
            "updatableKeyManagementKeys[0].updatableKeyManagementKeys[0].authorization",
        ),
        (
            "empty updatableKeyManagementKeys",
            "BadLength",
            ROLL,
            rq,
            vec![Set("updatableKeyManagementKeys", json!([]))],
            "BadLength",
            "updatableKeyManagementKeys",
        ),
        (
            "clientTime in UTC with Z",
            "BadTime",
            RSA,
            rs,
            vec![Set("clientTime", json!("2026-11-22T13:16:18Z"))],
            "BadTime",
            "clientTime",
        ),
        (
            "clientTime with subseconds",
            "BadTime",
            RSA,
            rs,
            vec![Set("clientTime", json!("2026-11-22T13:16:18.5+00:00"))],
            "BadTime",
            "clientTime",
        ),
        (
            "clientTime with offset +0100",
            "BadTime",
            RSA,
            rs,
            vec![Set("clientTime", json!("2026-11-22T14:16:18+0100"))],
            "BadTime",
            "clientTime",
        ),
        (
            "clientTime with offset +01:00",
            "EdgeCase",
            RSA,
            rs,
            vec![Set("clientTime", json!("2026-11-22T14:16:18+01:00"))],
            "",
            "",
        ),
        (
            "clientSessionId of 33 characters",
            "BadId",
            RSA,
            rs,
            vec![Set("clientSessionId", json!("B".repeat(33)))],
            "BadId",
            "clientSessionId",
        ),
        (
            "clientSessionId with a non-ASCII character",
            "BadId",
            RSA,
            rs,
            vec![Set("clientSessionId", json!("caf\u{e9}"))],
            "BadId",
            "clientSessionId",
        ),
        (
            "deviceId without certificatePath",
            "Missing",
            RSA,
            rs,
            vec![Del("deviceId.certificatePath")],
            "Missing",
            "deviceId.certificatePath",
        ),
        (
            "deviceId with an empty certificatePath",
            "BadLength",
            RSA,
            rs,
            vec![Set("deviceId.certificatePath", json!([]))],
            "BadLength",
            "deviceId.certificatePath",
        ),
        (
            "nested unknown property in deviceId",
            "UnknownProperty",
            RSA,
            rs,
            vec![Set("deviceId.deviceInfo", json!(1))],
            "UnknownProperty",
            "deviceId.deviceInfo",
        ),
        (
            "device certificate in padded Base64",
            "BadBase64",
            RSA,
            rs,
            vec![Set("deviceId.certificatePath[0]", json!("AAAA=="))],
            "BadBase64",
            "deviceId.certificatePath[0]",
        ),
        (
            "attestation with padding",
            "BadBase64",
            PRIV,
            rs,
            vec![Set(
                "attestation",
                json!("umLlbzQ4GBUJtDYZ2CypVPDe6MOVB1DOnD11eqOS0AE="),
            )],
            "BadBase64",
            "attestation",
        ),
        (
            "attestation empty",
            "BadLength",
            PRIV,
            rs,
            vec![Set("attestation", json!(""))],
            "BadLength",
            "attestation",
        ),
        (
            "attestation missing",
            "Missing",
            PRIV,
            rs,
            vec![Del("attestation")],
            "Missing",
            "attestation",
        ),
        (
            "clientEphemeralKey missing",
            "Missing",
            PRIV,
            rs,
            vec![Del("clientEphemeralKey")],
            "Missing",
            "clientEphemeralKey",
        ),
        (
            "clientEphemeralKey kty unknown",
            "BadEnum",
            PRIV,
            rs,
            vec![Set("clientEphemeralKey.kty", json!("ECDH"))],
            "BadEnum",
            "clientEphemeralKey.kty",
        ),
        (
            "serverCertificateFingerPrint of 31 bytes",
            "BadLength",
            PRIV,
            rs,
            vec![Set("serverCertificateFingerPrint", b64n(31))],
            "BadLength",
            "serverCertificateFingerPrint",
        ),
        (
            "serverCertificateFingerPrint of 32 bytes (optional, read by Java)",
            "EdgeCase",
            PRIV,
            rs,
            vec![Set("serverCertificateFingerPrint", b64n(32))],
            "",
            "",
        ),
        (
            "old-spec deviceInfo instead of deviceId",
            "UnknownProperty",
            RSA,
            rs,
            vec![Set("deviceInfo", json!({})), Del("deviceId")],
            "UnknownProperty",
            "deviceInfo",
        ),
    ]);
    family(
        sessions,
        "messages_initialization",
        "KeyGen2 ProvisioningInitializationRequest and ProvisioningInitializationResponse",
        &[
            "KG2-ENC-003",
            "KG2-ENC-004",
            "KG2-ENC-006",
            "KG2-ENC-008",
            "KG2-ENC-011",
            "KG2-ENC-013",
            "KG2-PIQ-001",
            "KG2-PIQ-003",
            "KG2-PIQ-005",
            "KG2-PIQ-006",
            "KG2-PIR-002",
        ],
        &[rq, rs],
        bad,
        &[],
    )
}

fn credential_discovery(sessions: &[Session]) -> (&'static str, VectorFile) {
    let rq = "CredentialDiscoveryRequest";
    let rs = "CredentialDiscoveryResponse";
    let mut bad = common(UPD, rq);
    bad.extend(common(UNL, rs).into_iter().take(3));
    bad.extend(vec![
        (
            "nonce of 31 bytes",
            "BadLength",
            UPD,
            rq,
            vec![Set("lookupSpecifiers[0].nonce", b64n(31))],
            "BadLength",
            "lookupSpecifiers[0].nonce",
        ),
        (
            "lookup id of 33 characters",
            "BadId",
            UPD,
            rq,
            vec![Set("lookupSpecifiers[1].id", json!("L".repeat(33)))],
            "BadId",
            "lookupSpecifiers[1].id",
        ),
        (
            "signature algorithm RS384",
            "BadEnum",
            UPD,
            rq,
            vec![Set(
                "lookupSpecifiers[0].signature.algorithm",
                json!("RS384"),
            )],
            "BadEnum",
            "lookupSpecifiers[0].signature.algorithm",
        ),
        (
            "ES256 with an RSA key",
            "Conflict",
            UPD,
            rq,
            vec![Set(
                "lookupSpecifiers[0].signature.algorithm",
                json!("ES256"),
            )],
            "Conflict",
            "lookupSpecifiers[0].signature.publicKey",
        ),
        (
            "signature value missing",
            "Missing",
            UPD,
            rq,
            vec![Del("lookupSpecifiers[0].signature.value")],
            "Missing",
            "lookupSpecifiers[0].signature.value",
        ),
        (
            "signature without publicKey",
            "Missing",
            UPD,
            rq,
            vec![Del("lookupSpecifiers[1].signature.publicKey")],
            "Missing",
            "lookupSpecifiers[1].signature.publicKey",
        ),
        (
            "unknown property in signature",
            "UnknownProperty",
            UPD,
            rq,
            vec![Set(
                "lookupSpecifiers[0].signature.certificatePath",
                json!([]),
            )],
            "UnknownProperty",
            "lookupSpecifiers[0].signature.certificatePath",
        ),
        (
            "empty searchFilter",
            "BadLength",
            UPD,
            rq,
            vec![Set("lookupSpecifiers[1].searchFilter", json!({}))],
            "BadLength",
            "lookupSpecifiers[1].searchFilter",
        ),
        (
            "unknown searchFilter member",
            "UnknownProperty",
            UPD,
            rq,
            vec![Set("lookupSpecifiers[1].searchFilter.keyUsage", json!("x"))],
            "UnknownProperty",
            "lookupSpecifiers[1].searchFilter.keyUsage",
        ),
        (
            "searchFilter appUsage sign",
            "BadEnum",
            UPD,
            rq,
            vec![Set(
                "lookupSpecifiers[1].searchFilter.appUsage",
                json!("sign"),
            )],
            "BadEnum",
            "lookupSpecifiers[1].searchFilter.appUsage",
        ),
        (
            "searchFilter grouping all",
            "BadEnum",
            UPD,
            rq,
            vec![Set(
                "lookupSpecifiers[1].searchFilter.grouping",
                json!("all"),
            )],
            "BadEnum",
            "lookupSpecifiers[1].searchFilter.grouping",
        ),
        (
            "searchFilter serialNumber not decimal",
            "WrongType",
            UPD,
            rq,
            vec![Set(
                "lookupSpecifiers[1].searchFilter.serialNumber",
                json!("0x1f"),
            )],
            "WrongType",
            "lookupSpecifiers[1].searchFilter.serialNumber",
        ),
        (
            "searchFilter issuedBefore without time",
            "BadTime",
            UPD,
            rq,
            vec![Set(
                "lookupSpecifiers[1].searchFilter.issuedBefore",
                json!("2026-11-22"),
            )],
            "BadTime",
            "lookupSpecifiers[1].searchFilter.issuedBefore",
        ),
        (
            "searchFilter fingerPrint of 20 bytes",
            "BadLength",
            UPD,
            rq,
            vec![Set(
                "lookupSpecifiers[1].searchFilter.fingerPrint",
                b64n(20),
            )],
            "BadLength",
            "lookupSpecifiers[1].searchFilter.fingerPrint",
        ),
        (
            "searchFilter issuedAfter with milliseconds",
            "EdgeCase",
            UPD,
            rq,
            vec![Set(
                "lookupSpecifiers[1].searchFilter.issuedAfter",
                json!("2026-01-01T00:00:00.000Z"),
            )],
            "",
            "",
        ),
        (
            "empty lookupSpecifiers",
            "BadLength",
            UPD,
            rq,
            vec![Set("lookupSpecifiers", json!([]))],
            "BadLength",
            "lookupSpecifiers",
        ),
        (
            "clientSessionId missing",
            "Missing",
            UPD,
            rq,
            vec![Del("clientSessionId")],
            "Missing",
            "clientSessionId",
        ),
        (
            "lookup result without matchingCredentials",
            "Missing",
            UNL,
            rs,
            vec![Del("lookupResults[0].matchingCredentials")],
            "Missing",
            "lookupResults[0].matchingCredentials",
        ),
        (
            "locked as a string",
            "WrongType",
            UNL,
            rs,
            vec![Set(
                "lookupResults[0].matchingCredentials[0].locked",
                json!("true"),
            )],
            "WrongType",
            "lookupResults[0].matchingCredentials[0].locked",
        ),
        (
            "matching credential without certificatePath",
            "Missing",
            UNL,
            rs,
            vec![Del(
                "lookupResults[0].matchingCredentials[0].certificatePath",
            )],
            "Missing",
            "lookupResults[0].matchingCredentials[0].certificatePath",
        ),
        (
            "unknown property in a matching credential",
            "UnknownProperty",
            UNL,
            rs,
            vec![Set(
                "lookupResults[0].matchingCredentials[0].keyHandle",
                json!(3),
            )],
            "UnknownProperty",
            "lookupResults[0].matchingCredentials[0].keyHandle",
        ),
        (
            "matching credential with a bad serverSessionId",
            "BadId",
            UNL,
            rs,
            vec![Set(
                "lookupResults[0].matchingCredentials[0].serverSessionId",
                json!("a b"),
            )],
            "BadId",
            "lookupResults[0].matchingCredentials[0].serverSessionId",
        ),
        (
            "empty lookupResults",
            "BadLength",
            UNL,
            rs,
            vec![Set("lookupResults", json!([]))],
            "BadLength",
            "lookupResults",
        ),
        (
            "lookup result with no match (empty array)",
            "EdgeCase",
            UNL,
            rs,
            vec![Set("lookupResults[0].matchingCredentials", json!([]))],
            "",
            "",
        ),
    ]);
    family(
        sessions,
        "messages_credential_discovery",
        "KeyGen2 CredentialDiscoveryRequest and CredentialDiscoveryResponse",
        &[
            "KG2-ENC-004",
            "KG2-ENC-008",
            "KG2-ENC-011",
            "KG2-ENC-015",
            "KG2-CDR-001",
            "KG2-CDR-003",
        ],
        &[rq, rs],
        bad,
        &[],
    )
}

fn key_creation(sessions: &[Session]) -> (&'static str, VectorFile) {
    let rq = "KeyCreationRequest";
    let rs = "KeyCreationResponse";
    let mut bad = common(UPM, rq);
    bad.extend(common(UPM, rs).into_iter().take(3));
    bad.extend(vec![
        ("key MAC of 31 bytes", "BadLength", UPM, rq, vec![Set("pinPolicySpecifiers[0].keyEntrySpecifiers[0].mac", b64n(31))], "BadLength", "pinPolicySpecifiers[0].keyEntrySpecifiers[0].mac"),
        ("PIN policy MAC of 33 bytes", "BadLength", UPM, rq, vec![Set("pinPolicySpecifiers[0].mac", b64n(33))], "BadLength", "pinPolicySpecifiers[0].mac"),
        ("PUK MAC in padded Base64", "BadBase64", PUK, rq, vec![Set("pukPolicySpecifiers[0].mac", json!("6KEnWO2Ovj1zhvq3i2I8Vdi1x_3GuSAn-V_b7s3IuBM="))], "BadBase64", "pukPolicySpecifiers[0].mac"),
        ("encryptedPin of 31 bytes", "BadLength", PUK, rq, vec![Set("pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].encryptedPin", b64n(31))], "BadLength", "pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].encryptedPin"),
        ("encryptedPin of 161 bytes", "BadLength", PUK, rq, vec![Set("pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].encryptedPin", b64n(161))], "BadLength", "pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].encryptedPin"),
        ("encryptedPin of 160 bytes", "EdgeCase", PUK, rq, vec![Set("pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].encryptedPin", b64n(160))], "", ""),
        ("encryptedPuk of 16 bytes", "BadLength", PUK, rq, vec![Set("pukPolicySpecifiers[0].encryptedPuk", b64n(16))], "BadLength", "pukPolicySpecifiers[0].encryptedPuk"),
        ("PUK retryLimit 0 (never locks)", "EdgeCase", PUK, rq, vec![Set("pukPolicySpecifiers[0].retryLimit", json!(0))], "", ""),
        ("PUK retryLimit 10001", "OutOfRange", PUK, rq, vec![Set("pukPolicySpecifiers[0].retryLimit", json!(10001))], "OutOfRange", "pukPolicySpecifiers[0].retryLimit"),
        ("PIN retryLimit 0", "OutOfRange", UPM, rq, vec![Set("pinPolicySpecifiers[0].retryLimit", json!(0))], "OutOfRange", "pinPolicySpecifiers[0].retryLimit"),
        ("PIN minLength above maxLength", "OutOfRange", UPM, rq, vec![Set("pinPolicySpecifiers[0].minLength", json!(9)), Set("pinPolicySpecifiers[0].maxLength", json!(8))], "OutOfRange", "pinPolicySpecifiers[0].maxLength"),
        ("PIN maxLength 129", "OutOfRange", UPM, rq, vec![Set("pinPolicySpecifiers[0].maxLength", json!(129))], "OutOfRange", "pinPolicySpecifiers[0].maxLength"),
        ("PIN format digits", "BadEnum", UPM, rq, vec![Set("pinPolicySpecifiers[0].format", json!("digits"))], "BadEnum", "pinPolicySpecifiers[0].format"),
        ("grouping signature-standard", "BadEnum", UPM, rq, vec![Set("pinPolicySpecifiers[0].grouping", json!("signature-standard"))], "BadEnum", "pinPolicySpecifiers[0].grouping"),
        ("inputMethod gui", "BadEnum", PUK, rq, vec![Set("pukPolicySpecifiers[0].pinPolicySpecifiers[0].inputMethod", json!("gui"))], "BadEnum", "pukPolicySpecifiers[0].pinPolicySpecifiers[0].inputMethod"),
        ("duplicate pattern restriction", "Conflict", PUK, rq, vec![Set("pukPolicySpecifiers[0].pinPolicySpecifiers[0].patternRestrictions[1]", json!("two-in-a-row"))], "Conflict", "pukPolicySpecifiers[0].pinPolicySpecifiers[0].patternRestrictions[1]"),
        ("unknown pattern restriction", "BadEnum", PUK, rq, vec![Set("pukPolicySpecifiers[0].pinPolicySpecifiers[0].patternRestrictions[0]", json!("palindrome"))], "BadEnum", "pukPolicySpecifiers[0].pinPolicySpecifiers[0].patternRestrictions[0]"),
        ("userModifiable as a string", "WrongType", UPM, rq, vec![Set("pinPolicySpecifiers[0].userModifiable", json!("false"))], "WrongType", "pinPolicySpecifiers[0].userModifiable"),
        ("appUsage signing", "BadEnum", UPM, rq, vec![Set("pinPolicySpecifiers[0].keyEntrySpecifiers[1].appUsage", json!("signing"))], "BadEnum", "pinPolicySpecifiers[0].keyEntrySpecifiers[1].appUsage"),
        ("exportProtection never", "BadEnum", PUK, rq, vec![Set("pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].exportProtection", json!("never"))], "BadEnum", "pukPolicySpecifiers[0].pinPolicySpecifiers[0].keyEntrySpecifiers[0].exportProtection"),
        ("biometricProtection yes", "BadEnum", UPM, rq, vec![Set("pinPolicySpecifiers[0].keyEntrySpecifiers[0].biometricProtection", json!("yes"))], "BadEnum", "pinPolicySpecifiers[0].keyEntrySpecifiers[0].biometricProtection"),
        ("serverSeed of 65 bytes", "BadLength", UPM, rq, vec![Set("pinPolicySpecifiers[0].keyEntrySpecifiers[1].serverSeed", b64n(65))], "BadLength", "pinPolicySpecifiers[0].keyEntrySpecifiers[1].serverSeed"),
        ("serverSeed of 64 bytes", "EdgeCase", UPM, rq, vec![Set("pinPolicySpecifiers[0].keyEntrySpecifiers[1].serverSeed", b64n(64))], "", ""),
        ("key id of 33 characters", "BadId", UPM, rq, vec![Set("pinPolicySpecifiers[0].keyEntrySpecifiers[2].id", json!("K".repeat(33)))], "BadId", "pinPolicySpecifiers[0].keyEntrySpecifiers[2].id"),
        ("key id with a control character", "BadId", UPM, rq, vec![Set("pinPolicySpecifiers[0].keyEntrySpecifiers[2].id", json!("Key\u{7f}"))], "BadId", "pinPolicySpecifiers[0].keyEntrySpecifiers[2].id"),
        ("keyAlgorithm missing", "Missing", UPM, rq, vec![Del("pinPolicySpecifiers[0].keyEntrySpecifiers[0].keyAlgorithm")], "Missing", "pinPolicySpecifiers[0].keyEntrySpecifiers[0].keyAlgorithm"),
        ("unknown property in a key entry", "UnknownProperty", UPM, rq, vec![Set("pinPolicySpecifiers[0].keyEntrySpecifiers[0].pinPolicy", json!("PIN.1"))], "UnknownProperty", "pinPolicySpecifiers[0].keyEntrySpecifiers[0].pinPolicy"),
        ("unknown property in a PUK policy", "UnknownProperty", PUK, rq, vec![Set("pukPolicySpecifiers[0].value", json!("0123"))], "UnknownProperty", "pukPolicySpecifiers[0].value"),
        ("deferredIssuance as a string", "WrongType", UPM, rq, vec![Set("deferredIssuance", json!("false"))], "WrongType", "deferredIssuance"),
        ("keyEntryAlgorithm missing", "Missing", UPM, rq, vec![Del("keyEntryAlgorithm")], "Missing", "keyEntryAlgorithm"),
        ("no key at all", "Missing", UPM, rq, vec![Del("pinPolicySpecifiers")], "Missing", "keyEntrySpecifiers"),
        ("empty pinPolicySpecifiers", "BadLength", UPM, rq, vec![Set("pinPolicySpecifiers", json!([]))], "BadLength", "pinPolicySpecifiers"),
        ("attestation of 31 bytes", "BadLength", UPM, rs, vec![Set("generatedKeys[0].attestation", b64n(31))], "BadLength", "generatedKeys[0].attestation"),
        ("public key kty oct", "BadEnum", UPM, rs, vec![Set("generatedKeys[1].publicKey.kty", json!("oct"))], "BadEnum", "generatedKeys[1].publicKey.kty"),
        ("RSA public key n with a leading zero", "BadLength", UPM, rs, vec![Set("generatedKeys[0].publicKey.n", json!("AAE"))], "BadLength", "generatedKeys[0].publicKey.n"),
        ("Ed25519 public key of 31 bytes", "BadLength", UPM, rs, vec![Set("generatedKeys[2].publicKey.x", b64n(31))], "BadLength", "generatedKeys[2].publicKey.x"),
        ("unknown property in a generated key", "UnknownProperty", UPM, rs, vec![Set("generatedKeys[1].keyHandle", json!(5))], "UnknownProperty", "generatedKeys[1].keyHandle"),
        ("empty generatedKeys", "BadLength", UPM, rs, vec![Set("generatedKeys", json!([]))], "BadLength", "generatedKeys"),
        ("generated key id missing", "Missing", UPM, rs, vec![Del("generatedKeys[2].id")], "Missing", "generatedKeys[2].id"),
    ]);
    // Vectors that need values from other messages.
    let upm = sessions
        .iter()
        .find(|s| s.name == UPM)
        .and_then(|s| s.msg(rq))
        .cloned()
        .unwrap_or_default();
    let endorsed = upm["pinPolicySpecifiers"][0]["keyEntrySpecifiers"]
        .as_array()
        .and_then(|a| {
            a.iter().position(|k| {
                k["endorsedAlgorithms"]
                    .as_array()
                    .is_some_and(|e| e.len() > 1)
            })
        })
        .unwrap_or(0);
    let mut family_file = family(
        sessions,
        "messages_key_creation",
        "KeyGen2 KeyCreationRequest and KeyCreationResponse",
        &[
            "KG2-ENC-003",
            "KG2-ENC-004",
            "KG2-ENC-008",
            "KG2-ENC-009",
            "KG2-ENC-010",
            "KG2-ENC-013",
            "KG2-ENC-015",
            "KG2-KCQ-003",
            "KG2-KCQ-005",
            "KG2-KCQ-007",
            "KG2-KCQ-008",
        ],
        &[rq, rs],
        bad,
        &[],
    );
    // Extra vectors built from two recorded messages.
    let file = &mut family_file.1;
    let kpath = format!("pinPolicySpecifiers[0].keyEntrySpecifiers[{endorsed}].endorsedAlgorithms");
    let mut unsorted = upm.clone();
    if let Some(a) =
        unsorted["pinPolicySpecifiers"][0]["keyEntrySpecifiers"][endorsed]["endorsedAlgorithms"]
            .as_array_mut()
    {
        a.reverse();
    }
    let mut dup = upm.clone();
    if let Some(a) =
        dup["pinPolicySpecifiers"][0]["keyEntrySpecifiers"][endorsed]["endorsedAlgorithms"]
            .as_array_mut()
    {
        let first = a[0].clone();
        a.insert(1, first);
    }
    let puk = sessions
        .iter()
        .find(|s| s.name == PUK)
        .and_then(|s| s.msg(rq))
        .cloned()
        .unwrap_or_default();
    let mut top_preset = sessions
        .iter()
        .find(|s| s.name == IMP)
        .and_then(|s| s.msg(rq))
        .cloned()
        .unwrap_or_default();
    let enc_pin = puk["pukPolicySpecifiers"][0]["pinPolicySpecifiers"][0]["keyEntrySpecifiers"][0]
        ["encryptedPin"]
        .clone();
    let top_path = if top_preset["keyEntrySpecifiers"].is_array() {
        top_preset["keyEntrySpecifiers"][0]["encryptedPin"] = enc_pin.clone();
        "keyEntrySpecifiers[0].encryptedPin".to_owned()
    } else {
        // Move the first PIN-protected key to the top level with a preset PIN.
        let mut k = top_preset["pinPolicySpecifiers"][0]["keyEntrySpecifiers"][0].clone();
        k["encryptedPin"] = enc_pin.clone();
        top_preset["keyEntrySpecifiers"] = json!([k]);
        "keyEntrySpecifiers[0].encryptedPin".to_owned()
    };
    let mut mixed = upm.clone();
    mixed["pinPolicySpecifiers"][0]["keyEntrySpecifiers"][1]["encryptedPin"] = enc_pin;
    let extras = vec![
        (
            "endorsedAlgorithms in descending order",
            "NotSorted",
            unsorted,
            "NotSorted",
            format!("{kpath}[1]"),
        ),
        (
            "endorsedAlgorithms with a duplicate",
            "NotSorted",
            dup,
            "NotSorted",
            format!("{kpath}[1]"),
        ),
        (
            "preset PIN on a key without PIN policy",
            "Conflict",
            top_preset,
            "Conflict",
            top_path,
        ),
        (
            "PIN group mixing preset and user-defined PINs",
            "Conflict",
            mixed,
            "Conflict",
            "pinPolicySpecifiers[0].keyEntrySpecifiers".to_owned(),
        ),
    ];
    let mut n = file.number_of_tests as u32;
    for (c, f, m, kind, path) in extras {
        n += 1;
        if let Some(g) = file.test_groups.last_mut() {
            let mut fields = serde_json::Map::new();
            fields.insert("qualifier".into(), rq.into());
            fields.insert("message".into(), m);
            fields.insert("errorKind".into(), kind.into());
            fields.insert("errorPath".into(), path.into());
            g.tests.push(crate::format::TestCase {
                tc_id: n,
                comment: c.into(),
                flags: vec![f.into()],
                result: Verdict::Invalid,
                fields,
            });
        }
    }
    file.number_of_tests = n as usize;
    family_file
}

fn finalization(sessions: &[Session]) -> (&'static str, VectorFile) {
    let rq = "ProvisioningFinalizationRequest";
    let rs = "ProvisioningFinalizationResponse";
    let mut bad = common(EXT, rq);
    bad.extend(common(EXT, rs).into_iter().take(3));
    let sym = sessions
        .iter()
        .find(|s| s.name == IMP)
        .and_then(|s| s.msg(rq))
        .map(|m| m["issuedCredentials"][0]["importSymmetricKey"].clone())
        .unwrap_or_default();
    let upd = sessions
        .iter()
        .find(|s| s.name == UPD)
        .and_then(|s| s.msg(rq))
        .map(|m| m["issuedCredentials"][0]["updateKey"].clone())
        .unwrap_or_default();
    bad.extend(vec![
        (
            "sessionCloseData missing",
            "Missing",
            EXT,
            rq,
            vec![Del("sessionCloseData")],
            "Missing",
            "sessionCloseData",
        ),
        (
            "old-spec top-level nonce beside sessionCloseData",
            "UnknownProperty",
            EXT,
            rq,
            vec![Set("nonce", json!("AA"))],
            "UnknownProperty",
            "nonce",
        ),
        (
            "close nonce of 33 bytes",
            "BadLength",
            EXT,
            rq,
            vec![Set("sessionCloseData.nonce", b64n(33))],
            "BadLength",
            "sessionCloseData.nonce",
        ),
        (
            "close nonce empty",
            "BadLength",
            EXT,
            rq,
            vec![Set("sessionCloseData.nonce", json!(""))],
            "BadLength",
            "sessionCloseData.nonce",
        ),
        (
            "close nonce of 1 byte",
            "EdgeCase",
            EXT,
            rq,
            vec![Set("sessionCloseData.nonce", b64n(1))],
            "",
            "",
        ),
        (
            "close MAC of 31 bytes",
            "BadLength",
            EXT,
            rq,
            vec![Set("sessionCloseData.mac", b64n(31))],
            "BadLength",
            "sessionCloseData.mac",
        ),
        (
            "unknown property in sessionCloseData",
            "UnknownProperty",
            EXT,
            rq,
            vec![Set("sessionCloseData.counter", json!(9))],
            "UnknownProperty",
            "sessionCloseData.counter",
        ),
        (
            "setCertificatePath MAC of 33 bytes",
            "BadLength",
            EXT,
            rq,
            vec![Set("issuedCredentials[0].mac", b64n(33))],
            "BadLength",
            "issuedCredentials[0].mac",
        ),
        (
            "empty certificatePath",
            "BadLength",
            EXT,
            rq,
            vec![Set("issuedCredentials[0].certificatePath", json!([]))],
            "BadLength",
            "issuedCredentials[0].certificatePath",
        ),
        (
            "trustAnchor as a string",
            "WrongType",
            EXT,
            rq,
            vec![Set("issuedCredentials[0].trustAnchor", json!("true"))],
            "WrongType",
            "issuedCredentials[0].trustAnchor",
        ),
        (
            "extension data in standard Base64",
            "BadBase64",
            EXT,
            rq,
            vec![Set(
                "issuedCredentials[0].extensions[0].extensionData",
                json!("a+b/"),
            )],
            "BadBase64",
            "issuedCredentials[0].extensions[0].extensionData",
        ),
        (
            "extension without type",
            "Missing",
            EXT,
            rq,
            vec![Del("issuedCredentials[0].extensions[0].type")],
            "Missing",
            "issuedCredentials[0].extensions[0].type",
        ),
        (
            "unknown property in an encrypted extension",
            "UnknownProperty",
            EXT,
            rq,
            vec![Set(
                "issuedCredentials[0].encryptedExtensions[0].iv",
                json!("AA"),
            )],
            "UnknownProperty",
            "issuedCredentials[0].encryptedExtensions[0].iv",
        ),
        (
            "property writable as a string",
            "WrongType",
            EXT,
            rq,
            vec![Set(
                "issuedCredentials[0].propertyBags[0].properties[0].writable",
                json!("true"),
            )],
            "WrongType",
            "issuedCredentials[0].propertyBags[0].properties[0].writable",
        ),
        (
            "empty property list",
            "BadLength",
            EXT,
            rq,
            vec![Set(
                "issuedCredentials[0].propertyBags[0].properties",
                json!([]),
            )],
            "BadLength",
            "issuedCredentials[0].propertyBags[0].properties",
        ),
        (
            "property without a name",
            "Missing",
            EXT,
            rq,
            vec![Del(
                "issuedCredentials[0].propertyBags[0].properties[0].name",
            )],
            "Missing",
            "issuedCredentials[0].propertyBags[0].properties[0].name",
        ),
        (
            "logotype type not a logotype URI",
            "BadEnum",
            EXT,
            rq,
            vec![Set(
                "issuedCredentials[0].logotypes[0].type",
                json!("https://webpki.github.io/keygen2/logotype#banner"),
            )],
            "BadEnum",
            "issuedCredentials[0].logotypes[0].type",
        ),
        (
            "logotype without mimeType",
            "Missing",
            EXT,
            rq,
            vec![Del("issuedCredentials[0].logotypes[1].mimeType")],
            "Missing",
            "issuedCredentials[0].logotypes[1].mimeType",
        ),
        (
            "logotype MAC of 31 bytes",
            "BadLength",
            EXT,
            rq,
            vec![Set("issuedCredentials[0].logotypes[1].mac", b64n(31))],
            "BadLength",
            "issuedCredentials[0].logotypes[1].mac",
        ),
        (
            "importSymmetricKey and importPrivateKey together",
            "Conflict",
            "import-private-key",
            rq,
            vec![Set("issuedCredentials[0].importSymmetricKey", sym)],
            "Conflict",
            "issuedCredentials[0].importPrivateKey",
        ),
        (
            "encrypted symmetric key of 16 bytes",
            "BadLength",
            IMP,
            rq,
            vec![Set(
                "issuedCredentials[0].importSymmetricKey.encryptedKey",
                b64n(16),
            )],
            "BadLength",
            "issuedCredentials[0].importSymmetricKey.encryptedKey",
        ),
        (
            "unknown property in importSymmetricKey",
            "UnknownProperty",
            IMP,
            rq,
            vec![Set(
                "issuedCredentials[0].importSymmetricKey.algorithm",
                json!("x"),
            )],
            "UnknownProperty",
            "issuedCredentials[0].importSymmetricKey.algorithm",
        ),
        (
            "updateKey and cloneKeyProtection together",
            "Conflict",
            CLN,
            rq,
            vec![Set("issuedCredentials[0].updateKey", upd)],
            "Conflict",
            "issuedCredentials[0].cloneKeyProtection",
        ),
        (
            "updateKey fingerPrint of 31 bytes",
            "BadLength",
            UPD,
            rq,
            vec![Set("issuedCredentials[0].updateKey.fingerPrint", b64n(31))],
            "BadLength",
            "issuedCredentials[0].updateKey.fingerPrint",
        ),
        (
            "updateKey authorization missing",
            "Missing",
            UPD,
            rq,
            vec![Del("issuedCredentials[0].updateKey.authorization")],
            "Missing",
            "issuedCredentials[0].updateKey.authorization",
        ),
        (
            "cloneKeyProtection with a bad clientSessionId",
            "BadId",
            CLN,
            rq,
            vec![Set(
                "issuedCredentials[0].cloneKeyProtection.clientSessionId",
                json!(""),
            )],
            "BadId",
            "issuedCredentials[0].cloneKeyProtection.clientSessionId",
        ),
        (
            "deleteKeys MAC of 31 bytes",
            "BadLength",
            DEL,
            rq,
            vec![Set("deleteKeys[0].mac", b64n(31))],
            "BadLength",
            "deleteKeys[0].mac",
        ),
        (
            "unknown property in deleteKeys",
            "UnknownProperty",
            DEL,
            rq,
            vec![Set("deleteKeys[0].keyHandle", json!(1))],
            "UnknownProperty",
            "deleteKeys[0].keyHandle",
        ),
        (
            "unlockKeys serverSessionId of 33 characters",
            "BadId",
            UNL,
            rq,
            vec![Set("unlockKeys[0].serverSessionId", json!("S".repeat(33)))],
            "BadId",
            "unlockKeys[0].serverSessionId",
        ),
        (
            "empty unlockKeys",
            "BadLength",
            UNL,
            rq,
            vec![Set("unlockKeys", json!([]))],
            "BadLength",
            "unlockKeys",
        ),
        (
            "old-spec IssuedCredentials capitalised",
            "UnknownProperty",
            EXT,
            rq,
            vec![Set("IssuedCredentials", json!([]))],
            "UnknownProperty",
            "IssuedCredentials",
        ),
        (
            "attestation of 31 bytes",
            "BadLength",
            EXT,
            rs,
            vec![Set("attestation", b64n(31))],
            "BadLength",
            "attestation",
        ),
        (
            "attestation missing",
            "Missing",
            EXT,
            rs,
            vec![Del("attestation")],
            "Missing",
            "attestation",
        ),
        (
            "clientSessionId missing",
            "Missing",
            EXT,
            rs,
            vec![Del("clientSessionId")],
            "Missing",
            "clientSessionId",
        ),
    ]);
    family(
        sessions,
        "messages_finalization",
        "KeyGen2 ProvisioningFinalizationRequest and ProvisioningFinalizationResponse",
        &[
            "KG2-ENC-003",
            "KG2-ENC-004",
            "KG2-ENC-008",
            "KG2-ENC-009",
            "KG2-PFQ-001",
            "KG2-PFQ-004",
            "KG2-PFQ-006",
            "KG2-PFQ-007",
        ],
        &[rq, rs],
        bad,
        &[],
    )
}

/// Every message-family file.
pub fn all(sessions: &[Session]) -> Vec<(&'static str, VectorFile)> {
    vec![
        invocation(sessions),
        initialization(sessions),
        credential_discovery(sessions),
        key_creation(sessions),
        finalization(sessions),
    ]
}
