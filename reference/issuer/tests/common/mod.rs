//! Shared test helpers: the recorded Java sessions and a pinned-secrets entropy.
#![allow(dead_code, clippy::unwrap_used)]

pub mod e2e;

use std::path::{Path, PathBuf};

use airtight_issuer::Entropy;
use airtight_proto::codec::b64url;
use airtight_proto::jwk::Jwk;
use airtight_proto::keys::{Curve, PrivateKey};
use airtight_proto::messages::Message;
use serde_json::Value;

pub fn recorded_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vectors/interop/recorded")
}

/// Every recorded session folder (those holding `secrets.json`), relative names.
pub fn sessions() -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![recorded_dir()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "secrets.json") {
                out.push(
                    d.strip_prefix(recorded_dir())
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

/// One recorded session: its messages (raw bytes, in order) and its secrets.
pub struct Recorded {
    pub name: String,
    pub messages: Vec<(String, Vec<u8>)>,
    pub secrets: Value,
}

impl Recorded {
    pub fn load(name: &str) -> Recorded {
        let dir = recorded_dir().join(name);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.extension().is_some_and(|x| x == "json")
                    && p.file_name().unwrap().to_string_lossy().as_bytes()[0].is_ascii_digit()
            })
            .collect();
        files.sort();
        let messages = files
            .iter()
            .map(|p| {
                let n = p.file_stem().unwrap().to_string_lossy().into_owned();
                (n[3..].to_owned(), std::fs::read(p).unwrap())
            })
            .collect();
        let secrets =
            serde_json::from_slice(&std::fs::read(dir.join("secrets.json")).unwrap()).unwrap();
        Recorded {
            name: name.to_owned(),
            messages,
            secrets,
        }
    }

    pub fn message(&self, i: usize) -> Message {
        Message::decode(&self.messages[i].1).unwrap()
    }

    pub fn b64(&self, field: &str) -> Vec<u8> {
        b64url::decode(self.secrets[field].as_str().unwrap()).unwrap()
    }

    pub fn issuer_uri(&self) -> String {
        self.secrets["issuerUri"].as_str().unwrap().to_owned()
    }

    /// The server ephemeral private key of the recording.
    pub fn server_ephemeral(&self) -> PrivateKey {
        let j = &self.secrets["serverEphemeralPrivateKey"];
        let f = |k: &str| b64url::decode(j[k].as_str().unwrap()).unwrap();
        let jwk = Jwk::Ec {
            crv: j["crv"].as_str().unwrap().to_owned(),
            x: f("x"),
            y: f("y"),
        };
        PrivateKey::from_ec_jwk(&jwk, &f("d")).unwrap()
    }

    /// serverTime of message 03 in unix seconds.
    pub fn server_time(&self) -> i64 {
        match self.message(2) {
            Message::ProvisioningInitializationRequest(r) => r.server_time.unix_seconds(),
            _ => panic!("message 03 is not a ProvisioningInitializationRequest"),
        }
    }
}

/// Entropy that hands out the recorded issuer-side secrets: the server session id, the server
/// ephemeral key, the close nonce and the IVs (in order). Anything not pinned is an error.
pub struct RecordedSecrets {
    pub server_session_id: Option<String>,
    pub ephemeral: Option<PrivateKey>,
    pub ivs: Vec<[u8; 16]>,
    pub close_nonce: Option<Vec<u8>>,
    pub serials: Vec<Vec<u8>>,
}

impl RecordedSecrets {
    pub fn of(r: &Recorded) -> RecordedSecrets {
        let ivs = r.secrets["serverCryptoTrace"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["op"] == "encrypt")
            .map(|t| {
                b64url::decode(t["iv"].as_str().unwrap())
                    .unwrap()
                    .try_into()
                    .unwrap()
            })
            .collect();
        let ssid = match r.message(0) {
            Message::InvocationRequest(m) => m.server_session_id,
            _ => panic!(),
        };
        RecordedSecrets {
            server_session_id: Some(ssid),
            ephemeral: Some(r.server_ephemeral()),
            ivs,
            close_nonce: Some(r.b64("closeNonce")),
            serials: Vec::new(),
        }
    }
}

impl Entropy for RecordedSecrets {
    fn server_session_id(&mut self) -> String {
        self.server_session_id
            .take()
            .expect("server session id pinned once")
    }
    fn ephemeral_key(&mut self, curve: Curve) -> PrivateKey {
        let k = self.ephemeral.take().expect("ephemeral key pinned once");
        assert_eq!(k.public_key().curve(), Some(curve));
        k
    }
    fn iv(&mut self) -> [u8; 16] {
        assert!(!self.ivs.is_empty(), "no recorded IV left");
        self.ivs.remove(0)
    }
    fn close_nonce(&mut self) -> Vec<u8> {
        self.close_nonce.take().expect("close nonce pinned once")
    }
    fn serial(&mut self) -> Vec<u8> {
        assert!(!self.serials.is_empty(), "no serial pinned");
        self.serials.remove(0)
    }
    fn fill(&mut self, _out: &mut [u8]) {
        panic!("unpinned randomness requested");
    }
}
