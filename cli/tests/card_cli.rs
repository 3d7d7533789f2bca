//! The `card` commands as a user meets them (issue 12): PINs (never an empty one, tries
//! remaining, blocked, change, unblock with the PUK), keys named by the issuer's id, `--json`
//! against the schemas, symmetric keys, extensions and property bags, delete, export,
//! completions, help, exit codes, a closed stdout, colour only on a terminal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use airtight_cli::issuer::test_pki_issuer as build_issuer;
use airtight_issuer::Policy;
use airtight_issuer::db::Store;
use airtight_issuer::http::{AppState, ServerConfig, ServerHandle, invocation_urls, issuer_uri_of};
use airtight_issuer::policy::{
    ExtensionPolicy, KeyPolicy, PropertyBagPolicy, PropertyPolicy, PukPolicy,
};
use airtight_proto::codec::b64url;

const PIN: &str = "1357";
const SYMMETRIC_KEY: [u8; 32] = [0x42; 32];
const HMAC_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256";
const AES256_CBC: &str = "http://www.w3.org/2001/04/xmlenc#aes256-cbc";
const P256: &str = "https://webpki.github.io/sks/algorithm#ec.nist.p256";

fn airtight_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_airtight"));
    c.args(args)
        .env("AIRTIGHT_TEST_PIN", PIN)
        .env("AIRTIGHT_WRONG_PIN", "9999")
        .env("AIRTIGHT_TEST_PUK", "01234567")
        .env("AIRTIGHT_NEW_PIN", "2468")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn airtight(args: &[&str]) -> Output {
    airtight_env(args, &[])
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Key.1: P-256 under PIN.1 (retry limit 3) with PUK.1; Key.2: no PIN, with extensions and a
/// property bag; Key.3: an imported AES-256/HMAC key without PIN.
fn policy() -> Policy {
    let mut p = Policy::default();
    p.puk.push(PukPolicy::default());
    p.pin[0].puk = Some("PUK.1".into());
    p.pin[0].retry_limit = 3;
    p.key.push(KeyPolicy {
        id: "Key.2".into(),
        algorithm: P256.into(),
        pin: None,
        friendly_name: Some("no-pin key".into()),
        extensions: vec![ExtensionPolicy {
            extension_type: "https://example.com/ext".into(),
            data: b64url::encode(b"plain extension"),
        }],
        encrypted_extensions: vec![ExtensionPolicy {
            extension_type: "https://example.com/secret".into(),
            data: b64url::encode(b"secret extension"),
        }],
        property_bags: vec![PropertyBagPolicy {
            bag_type: "https://example.com/props".into(),
            properties: vec![
                PropertyPolicy {
                    name: "user".into(),
                    value: "john".into(),
                    writable: true,
                },
                PropertyPolicy {
                    name: "server".into(),
                    value: "example.com".into(),
                    writable: false,
                },
            ],
        }],
        ..KeyPolicy::default()
    });
    p.key.push(KeyPolicy {
        id: "Key.3".into(),
        algorithm: P256.into(),
        pin: None,
        import_symmetric_key: Some(b64url::encode(&SYMMETRIC_KEY)),
        endorsed_algorithms: vec![HMAC_SHA256.into(), AES256_CBC.into()],
        ..KeyPolicy::default()
    });
    p
}

/// An issuer with [`policy`] and a card enrolled against it.
struct Enrolled {
    _server: ServerHandle,
    dir: tempfile::TempDir,
    card: String,
}

impl Enrolled {
    fn card_dir(&self) -> &str {
        &self.card
    }

    fn file(&self, name: &str, content: &[u8]) -> String {
        let f = self.dir.path().join(name);
        std::fs::write(&f, content).unwrap();
        f.to_str().unwrap().to_owned()
    }

    fn card(&self, args: &[&str]) -> Output {
        let mut a = vec!["card"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["--card-dir", self.card_dir()]);
        airtight(&a)
    }
}

/// An issuer with [`policy`] on loopback and an invocation URL of it.
fn issuer() -> (ServerHandle, String) {
    let store = Arc::new(Store::in_memory().unwrap());
    let server = ServerHandle::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), {
        move |base| {
            let iss = build_issuer(&issuer_uri_of(base), policy());
            AppState::new(iss, store, base, ServerConfig::default())
        }
    })
    .unwrap();
    let url = invocation_urls(server.base_url(), "cardclitestsessionhandle0001").intent;
    (server, url)
}

fn enrolled() -> Enrolled {
    let (server, url) = issuer();
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let out = airtight(&[
        "enroll",
        &url,
        "--card-dir",
        card.to_str().unwrap(),
        "--yes",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
    ]);
    let stdout = ok(&out);
    assert!(
        stdout.contains("keys created: Key.1, Key.2, Key.3"),
        "{stdout}"
    );
    Enrolled {
        _server: server,
        card: card.to_str().unwrap().to_owned(),
        dir,
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

fn schema_check(schema_file: &str, v: &serde_json::Value) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/schemas")
        .join(schema_file);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let validator = jsonschema::draft202012::new(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(v).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{schema_file}: {errors:?}\n{v:#}");
}

fn pin_status(e: &Enrolled, key: &str) -> serde_json::Value {
    let v = json(&e.card(&["pin", "status", "--key", key, "--json"]));
    schema_check("cli-card-pin-status.schema.json", &v);
    v
}

#[test]
fn without_a_pin_source_nothing_is_sent_and_no_try_is_used() {
    let e = enrolled();
    let msg = e.file("msg.txt", b"sign me");
    // The user's three runs without --pin-env (no terminal): each fails before the card is
    // asked; before, each sent an empty PIN and the third blocked the key for good.
    for _ in 0..3 {
        let out = e.card(&["sign", "--key", "1", &msg]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains("no PIN given") && err.contains("--pin-env"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    let s = pin_status(&e, "1");
    assert_eq!(s["pin"]["error_count"], 0, "{s:#}");
    assert_eq!(s["pin"]["tries_remaining"], 3, "{s:#}");
    assert_eq!(s["pin"]["blocked"], false, "{s:#}");
    ok(&e.card(&["sign", "--key", "1", "--pin-env", "AIRTIGHT_TEST_PIN", &msg]));

    // An empty PIN in the environment is refused too.
    let out = airtight_env(
        &[
            "card",
            "sign",
            "--key",
            "1",
            "--pin-env",
            "EMPTY_PIN",
            &msg,
            "--card-dir",
            e.card_dir(),
        ],
        &[("EMPTY_PIN", "")],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("empty"), "{}", text(&out.stderr));
    assert_eq!(pin_status(&e, "1")["pin"]["error_count"], 0);
}

#[test]
fn wrong_pins_count_down_then_block_and_the_puk_unblocks() {
    let e = enrolled();
    let msg = e.file("msg.txt", b"sign me");
    let sign = |env: &str| e.card(&["sign", "--key", "Key.1", "--pin-env", env, &msg]);

    let out = sign("AIRTIGHT_WRONG_PIN");
    assert_eq!(out.status.code(), Some(6));
    assert!(
        text(&out.stderr).contains("2 tries remaining"),
        "{}",
        text(&out.stderr)
    );
    let out = sign("AIRTIGHT_WRONG_PIN");
    assert!(
        text(&out.stderr).contains("1 try remaining"),
        "{}",
        text(&out.stderr)
    );
    let out = sign("AIRTIGHT_WRONG_PIN");
    let err = text(&out.stderr);
    assert!(
        err.contains("BLOCKED") && err.contains("card pin unblock"),
        "{err}"
    );
    // The right PIN now fails with a message that says why (and sends nothing).
    let out = sign("AIRTIGHT_TEST_PIN");
    assert_eq!(out.status.code(), Some(6));
    let err = text(&out.stderr);
    assert!(
        err.contains("is blocked") && err.contains("nothing was sent"),
        "{err}"
    );
    let s = pin_status(&e, "Key.1");
    assert_eq!(s["pin"]["blocked"], true, "{s:#}");
    assert_eq!(s["pin"]["tries_remaining"], 0, "{s:#}");
    assert!(ok(&e.card(&["pin", "status", "--key", "Key.1"])).contains("BLOCKED"));
    let keys = ok(&e.card(&["keys"]));
    assert!(keys.contains("PIN:       BLOCKED"), "{keys}");

    // Unblock with the PUK: the right PIN works again.
    ok(&e.card(&[
        "pin",
        "unblock",
        "--key",
        "Key.1",
        "--puk-env",
        "AIRTIGHT_TEST_PUK",
    ]));
    assert_eq!(pin_status(&e, "Key.1")["pin"]["blocked"], false);
    ok(&sign("AIRTIGHT_TEST_PIN"));

    // Change the PIN: the new one works, the old one no longer.
    ok(&e.card(&[
        "pin",
        "change",
        "--key",
        "Key.1",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
        "--new-pin-env",
        "AIRTIGHT_NEW_PIN",
    ]));
    ok(&sign("AIRTIGHT_NEW_PIN"));
    assert_eq!(sign("AIRTIGHT_TEST_PIN").status.code(), Some(6));
    // No terminal and no --new-pin-env: refused before anything is sent.
    let out = e.card(&[
        "pin",
        "change",
        "--key",
        "Key.1",
        "--pin-env",
        "AIRTIGHT_NEW_PIN",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn keys_are_found_by_the_issuers_id_as_enroll_printed_it() {
    let e = enrolled();
    let msg = e.file("msg.txt", b"sign me");
    let keys = ok(&e.card(&["keys"]));
    assert!(keys.contains("id:        Key.1"), "{keys}");
    let sig = ok(&e.card(&[
        "sign",
        "--key",
        "Key.1",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
        &msg,
    ]));
    assert!(!sig.trim().is_empty());
    // A too-short SHA-256 prefix: the message says how long it must be.
    let out = e.card(&[
        "sign",
        "--key",
        "abc",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
        &msg,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("8 hex digits") && err.contains("Key.1"),
        "{err}"
    );
    // A prefix of 8 digits of the certificate's SHA-256 works.
    let v = json(&e.card(&["keys", "--json"]));
    let sha = v["keys"][0]["certificate"]["sha256"].as_str().unwrap();
    ok(&e.card(&[
        "sign",
        "--key",
        &sha[..8],
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
        &msg,
    ]));
}

#[test]
fn json_output_matches_the_schemas() {
    let e = enrolled();
    let msg = e.file("msg.txt", b"sign me");
    schema_check(
        "cli-card-info.schema.json",
        &json(&e.card(&["info", "--json"])),
    );
    let keys = json(&e.card(&["keys", "--json"]));
    schema_check("cli-card-keys.schema.json", &keys);
    assert_eq!(keys["keys"].as_array().unwrap().len(), 3);
    assert_eq!(keys["keys"][0]["id"], "Key.1");
    assert_eq!(keys["keys"][2]["symmetric_key_length"], 32);
    let signed = json(&e.card(&[
        "sign",
        "--key",
        "Key.1",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
        "--json",
        &msg,
    ]));
    schema_check("cli-card-result.schema.json", &signed);
    assert_eq!(signed["verified"], true);
    let mac = json(&e.card(&["hmac", "--key", "Key.3", "--json", &msg]));
    schema_check("cli-card-result.schema.json", &mac);
    schema_check(
        "cli-card-result.schema.json",
        &json(&e.card(&["encrypt", "--key", "Key.3", "--json", &msg])),
    );
    let ext = json(&e.card(&["ext", "--key", "Key.2", "--json"]));
    schema_check("cli-card-ext.schema.json", &ext);
    schema_check(
        "cli-card-ext.schema.json",
        &json(&e.card(&["props", "--key", "Key.2", "--json"])),
    );
    schema_check("cli-card-pin-status.schema.json", &pin_status(&e, "Key.2"));
    // A schema that cannot fail is no check: a renamed field is caught.
    let mut renamed = signed.clone();
    let r = renamed.as_object_mut().unwrap().remove("result").unwrap();
    renamed["signature"] = r;
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../spec/schemas/cli-card-result.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert!(
        !jsonschema::draft202012::new(&schema)
            .unwrap()
            .is_valid(&renamed)
    );
}

#[test]
fn symmetric_keys_extensions_and_property_bags_can_be_checked() {
    use hmac::{KeyInit as _, Mac as _};
    let e = enrolled();
    let msg = e.file("msg.txt", b"mac me");
    let mac = ok(&e.card(&["hmac", "--key", "Key.3", &msg]));
    let mut expected = hmac::Hmac::<sha2::Sha256>::new_from_slice(&SYMMETRIC_KEY).unwrap();
    expected.update(b"mac me");
    assert_eq!(
        b64url::decode(mac.trim()).unwrap(),
        expected.finalize().into_bytes().to_vec()
    );

    let ct = e.dir.path().join("ct.bin");
    ok(&e.card(&[
        "encrypt",
        "--key",
        "Key.3",
        &msg,
        "--out",
        ct.to_str().unwrap(),
    ]));
    assert_ne!(std::fs::read(&ct).unwrap(), b"mac me");
    let pt = ok(&e.card(&["decrypt", "--key", "Key.3", ct.to_str().unwrap()]));
    assert_eq!(pt, "mac me");
    // An asymmetric key is not a symmetric one.
    assert_eq!(
        e.card(&["hmac", "--key", "Key.2", &msg]).status.code(),
        Some(2)
    );

    let ext = ok(&e.card(&["ext", "--key", "Key.2"]));
    assert!(
        ext.contains("https://example.com/ext") && ext.contains("plain extension"),
        "{ext}"
    );
    assert!(ext.contains("secret extension"), "{ext}");
    let props = ok(&e.card(&["props", "--key", "Key.2"]));
    assert!(props.contains("user = john (writable)") && props.contains("server = example.com"));
    ok(&e.card(&[
        "props",
        "--key",
        "Key.2",
        "--type",
        "https://example.com/props",
        "--set",
        "user=jane",
    ]));
    assert!(ok(&e.card(&["props", "--key", "Key.2"])).contains("user = jane"));
    let out = e.card(&[
        "props",
        "--key",
        "Key.2",
        "--type",
        "https://example.com/props",
        "--set",
        "server=evil.example",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out.stderr));
}

#[test]
fn a_pin_for_a_key_without_one_is_ignored_with_a_note() {
    let e = enrolled();
    let msg = e.file("msg.txt", b"sign me");
    // Before: ERROR_OPTION (redundant authorization).
    let out = e.card(&[
        "sign",
        "--key",
        "Key.2",
        "--pin-env",
        "AIRTIGHT_TEST_PIN",
        &msg,
    ]);
    ok(&out);
    assert!(text(&out.stderr).contains("has no PIN; --pin-env is ignored"));
}

#[test]
fn delete_asks_for_consent_and_export_writes_the_chain() {
    let e = enrolled();
    let pem_file = e.dir.path().join("key2.pem");
    ok(&e.card(&[
        "export",
        "--key",
        "Key.2",
        "--cert",
        "--out",
        pem_file.to_str().unwrap(),
    ]));
    let pem = std::fs::read_to_string(&pem_file).unwrap();
    let ders = airtight_pki::pem::decode_all(&pem).unwrap();
    let keys = json(&e.card(&["keys", "--json"]));
    assert!(!ders.is_empty());
    assert_eq!(
        airtight_issuer::http::pages::hex(&airtight_proto::keys::sha256(&ders[0].1)),
        keys["keys"][1]["certificate"]["sha256"].as_str().unwrap()
    );

    // No --yes and no terminal: nothing is deleted.
    let out = e.card(&["delete", "--key", "Key.2"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("--yes"));
    assert_eq!(
        json(&e.card(&["keys", "--json"]))["keys"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    ok(&e.card(&["delete", "--key", "Key.2", "--yes"]));
    let left = json(&e.card(&["keys", "--json"]));
    assert_eq!(left["keys"].as_array().unwrap().len(), 2);
    assert!(
        left["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["id"] != "Key.2")
    );
}

#[test]
fn a_bad_url_creates_no_card() {
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("X");
    let out = airtight(&[
        "enroll",
        "not a url",
        "--card-dir",
        card.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("invocation URL"));
    assert!(
        !card.exists(),
        "a card was created before the URL was checked"
    );
}

#[test]
fn completions_help_and_exit_codes() {
    for shell in ["bash", "zsh", "fish"] {
        let s = ok(&airtight(&["completions", shell]));
        assert!(s.contains("airtight") && s.contains("pin"), "{shell}");
    }
    let help = ok(&airtight(&["--help"]));
    for needle in [
        "AIRTIGHT_CARD_DIR",
        "AIRTIGHT_DATA_DIR",
        "RUST_LOG",
        "NO_COLOR",
        "Exit codes",
        "7  enrolment",
    ] {
        assert!(help.contains(needle), "{needle} missing in\n{help}");
    }
    // `card serve --help` lists only options `card serve` takes.
    let serve = ok(&airtight(&["card", "serve", "--help"]));
    for rejected in ["--reader <", "--reader-atr <", "--shim <"] {
        assert!(!serve.contains(rejected), "{rejected} in\n{serve}");
    }
    assert!(serve.contains("--vpcd <"), "{serve}");
    let sign = ok(&airtight(&["card", "sign", "--help"]));
    assert!(sign.contains("--reader") && sign.contains("--json"));
}

#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let e = enrolled();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_airtight"))
        .args(["card", "keys", "--card-dir", e.card_dir()])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stderr.is_empty(), "{}", text(&out.stderr));
}

#[test]
fn logs_to_a_file_have_no_colour_codes() {
    let work = tempfile::tempdir().unwrap();
    let out = airtight_env(
        &["demo", "--work-dir", work.path().to_str().unwrap()],
        &[("RUST_LOG", "info")],
    );
    ok(&out);
    let err = text(&out.stderr);
    assert!(!err.is_empty(), "RUST_LOG=info logged nothing");
    assert!(
        !err.contains('\u{1b}'),
        "ANSI escapes in a redirected log:\n{err}"
    );
}

/// The PIN typed on a terminal is not echoed (a pseudo-terminal through `script`).
#[test]
fn a_pin_typed_on_a_terminal_is_hidden() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) for a pseudo-terminal");
        return;
    }
    let e = enrolled();
    let msg = e.file("msg.txt", b"sign me");
    let cmd = format!(
        "{} card sign --key Key.1 --card-dir {} {}",
        env!("CARGO_BIN_EXE_airtight"),
        e.card_dir(),
        msg
    );
    // The PIN arrives after the prompt (echo is off by then).
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "(sleep 3; printf '{PIN}\\n'; sleep 2) | script -qec \"{cmd}\" /dev/null"
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = child.wait().unwrap();
    let mut s = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut s).unwrap();
    assert!(status.success(), "{s}");
    assert!(s.contains("PIN for key"), "{s}");
    assert!(s.contains("signature verified"), "{s}");
    assert!(!s.contains(PIN), "the PIN was echoed:\n{s}");
}

/// `harness/targets/issuer.example.toml` as shipped: it parses, lists, and runs (its url
/// replaced by the one of an issuer started here; as shipped it names `issuer serve
/// --test-pki` on 127.0.0.1:8080).
#[test]
fn the_issuer_example_target_runs_as_shipped() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../harness/targets/issuer.example.toml");
    let config = airtight_cli::harness::load_config(&path).unwrap();
    assert_eq!(
        config.target.url.as_deref(),
        Some("http://127.0.0.1:8080/keygen2?init=true")
    );
    let p = path.to_str().unwrap();
    let list = ok(&airtight(&["harness", "issuer", "--config", p, "--list"]));
    assert!(
        list.contains("issuer.transport.requests-are-json"),
        "{list}"
    );

    let store = Arc::new(Store::in_memory().unwrap());
    let server = ServerHandle::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), {
        move |base| {
            let iss = build_issuer(&issuer_uri_of(base), Policy::default());
            AppState::new(iss, store, base, ServerConfig::default())
        }
    })
    .unwrap();
    let url = format!("{}/keygen2?init=true", server.base_url());
    let out = airtight(&[
        "harness",
        "issuer",
        "--config",
        p,
        "--url",
        &url,
        "--only",
        "issuer.transport.requests-are-json",
        "--quiet",
    ]);
    ok(&out);
}

/// `enroll` on a terminal asks for the new PIN twice, hidden, and asks again when the two
/// entries differ (a pseudo-terminal through `script`).
#[test]
fn enroll_asks_for_a_new_pin_twice_hidden() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` (util-linux) for a pseudo-terminal");
        return;
    }
    let (_server, url) = issuer();
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card");
    let cmd = format!(
        "{} enroll '{url}' --card-dir {} --yes",
        env!("CARGO_BIN_EXE_airtight"),
        card.to_str().unwrap()
    );
    // Each entry arrives after its prompt (echo is off by then): two that differ, then two
    // that match.
    let input = "sleep 4; printf '8642\\n'; sleep 2; printf '8643\\n'; sleep 2; \
                 printf '8642\\n'; sleep 2; printf '8642\\n'; sleep 6";
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("({input}) | script -qec \"{cmd}\" /dev/null"))
        .output()
        .unwrap();
    let s = text(&out.stdout);
    assert!(out.status.success(), "{s}");
    assert!(s.contains("New PIN for Key.1"), "{s}");
    assert!(s.contains("Repeat the PIN"), "{s}");
    assert!(s.contains("differ"), "{s}");
    assert!(s.contains("keys created: Key.1"), "{s}");
    assert!(
        !s.contains("8642") && !s.contains("8643"),
        "a PIN was echoed:\n{s}"
    );
    // The PIN set is the confirmed one.
    let msg = dir.path().join("m.txt");
    std::fs::write(&msg, b"x").unwrap();
    let signed = airtight_env(
        &[
            "card",
            "sign",
            "--key",
            "Key.1",
            "--pin-env",
            "P",
            msg.to_str().unwrap(),
            "--card-dir",
            card.to_str().unwrap(),
        ],
        &[("P", "8642")],
    );
    ok(&signed);
}

/// The repository cites public sources, not a facts file outside it; no placeholder metadata;
/// the spec index does not promise files that exist.
#[test]
fn docs_cite_public_sources_only() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let needle = ["keygen2", "sks", "facts"].join("-");
    let mut stack = vec![root.clone()];
    let mut offenders = Vec::new();
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            if e.file_type().unwrap().is_dir() {
                if !matches!(
                    name.as_str(),
                    "target" | ".git" | "reports" | "node_modules"
                ) {
                    stack.push(p);
                }
            } else if let Ok(text) = std::fs::read_to_string(&p)
                && text.contains(&needle)
            {
                offenders.push(p.display().to_string());
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:?}");
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(!cargo.contains("example.invalid"));
    let spec = std::fs::read_to_string(root.join("spec/README.md")).unwrap();
    assert!(
        !spec.contains("will add"),
        "spec/README.md promises files that exist"
    );
    let harness = std::fs::read_to_string(root.join("harness/README.md")).unwrap();
    assert!(!harness.contains("issue 6"));
}
