//! What one driver step did: the message delivered, the SKS calls (with their APDUs) and the
//! crypto operations of the issuer. The simulator charges virtual time for each of them.

use airtight_issuer::IssuanceRecord;
use airtight_proto::sks::{SksErrorCode, SksMethod};
use serde_json::Value;

/// One command APDU and its response, as they crossed the reader link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apdu {
    /// The command APDU.
    pub command: Vec<u8>,
    /// The response APDU (data and status word).
    pub response: Vec<u8>,
}

/// One SKS call of the middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SksCallTrace {
    /// The method.
    pub method: SksMethod,
    /// Size of the call's SKS serialization (the APDU payload before chaining).
    pub payload_bytes: usize,
    /// The APDUs of the call, in order (empty on the direct path).
    pub apdus: Vec<Apdu>,
    /// Store write points executed during the call (the card's persistent writes).
    pub store_writes: u64,
    /// The SKS error code, if the call failed.
    pub error: Option<SksErrorCode>,
}

impl SksCallTrace {
    /// Bytes of all command APDUs.
    pub fn bytes_to_card(&self) -> usize {
        self.apdus.iter().map(|a| a.command.len()).sum()
    }
    /// Bytes of all response APDUs.
    pub fn bytes_from_card(&self) -> usize {
        self.apdus.iter().map(|a| a.response.len()).sum()
    }
}

/// A crypto operation of the issuer engine, by kind (for its service-time model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IssuerOp {
    /// The server ephemeral key pair.
    EphemeralKeyGen,
    /// ECDH with the client ephemeral key and the session-key derivation.
    KeyAgreement,
    /// A signature verified on the device certificate path (one per certificate).
    VerifyCertificate,
    /// The E2ES session attestation, verified with the device key.
    VerifyDeviceSignature,
    /// One HMAC-SHA256 under the session key (a request MAC or an attestation check).
    Mac,
    /// One AES-256-CBC encryption (PIN, PUK, imported key, encrypted extension).
    Encrypt,
    /// One certificate signed by the issuer CA.
    SignCertificate,
}

/// Which side a message travels to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    /// The issuer (a POST body).
    Issuer,
    /// The middleware (an HTTP response body).
    Middleware,
}

/// How a step ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// The recipient answered; the answer is in flight.
    Continue,
    /// Nothing was in flight: the session stalls (a dropped message) or is over.
    Idle,
    /// The issuer refused the message; its session is failed and stored so.
    IssuerRefused(String),
    /// The issuer has no session for the message (e.g. after a restart, none was stored).
    IssuerUnknownSession,
    /// The middleware refused the message (and aborted its SKS session).
    MiddlewareFailed(String),
    /// The middleware is gone (crashed): the message was not handled.
    MiddlewareDown,
    /// The issuer verified the close attestation and recorded the issuance.
    Completed(Box<IssuanceRecord>),
}

/// What one [`Driver::step`](super::Driver::step) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepTrace {
    /// The time every engine saw during the step.
    pub now: airtight_proto::time::UnixTime,
    /// Who received a message, and its bytes.
    pub delivered: Option<(Party, Vec<u8>)>,
    /// The recipient's answer, now in flight (its bytes).
    pub answered: Option<Vec<u8>>,
    /// The middleware's SKS calls during the step, in order.
    pub sks_calls: Vec<SksCallTrace>,
    /// The issuer's crypto operations during the step, in order of kind.
    pub issuer_ops: Vec<(IssuerOp, u32)>,
    /// The card lost power at an armed write point and was rebooted from its files.
    pub card_rebooted: bool,
    /// How the step ended.
    pub outcome: StepOutcome,
}

impl StepTrace {
    /// Who received the step's message.
    pub fn delivered_to(&self) -> Option<Party> {
        self.delivered.as_ref().map(|(p, _)| *p)
    }

    /// Number of command APDUs in the step.
    pub fn apdu_count(&self) -> usize {
        self.sks_calls.iter().map(|c| c.apdus.len()).sum()
    }
}

fn count_key(v: &Value, name: &str) -> u32 {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| u32::from(k == name) + count_key(x, name))
            .sum(),
        Value::Array(a) => a.iter().map(|x| count_key(x, name)).sum(),
        _ => 0,
    }
}

fn count_encrypted(v: &Value) -> u32 {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, x)| match (k.starts_with("encrypted"), x) {
                (true, Value::String(_)) => 1,
                (true, Value::Array(a)) => u32::try_from(a.len()).unwrap_or(u32::MAX),
                _ => count_encrypted(x),
            })
            .sum(),
        Value::Array(a) => a.iter().map(count_encrypted).sum(),
        _ => 0,
    }
}

fn array_len(v: &Value, key: &str) -> u32 {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(0, |a| u32::try_from(a.len()).unwrap_or(u32::MAX))
}

/// The issuer's crypto operations for handling `received` and answering `sent` (either may
/// be absent), derived from the two messages: what the engine must have computed to check the
/// one and build the other. Kinds with a zero count are left out.
pub fn issuer_ops(received: Option<&[u8]>, sent: Option<&[u8]>) -> Vec<(IssuerOp, u32)> {
    let parse = |b: Option<&[u8]>| b.and_then(|b| serde_json::from_slice::<Value>(b).ok());
    let mut ops = std::collections::BTreeMap::new();
    let mut add = |op, n: u32| {
        if n > 0 {
            *ops.entry(op).or_insert(0u32) += n;
        }
    };
    if let Some(r) = parse(received) {
        match r.get("@qualifier").and_then(Value::as_str) {
            Some("ProvisioningInitializationResponse") => {
                add(IssuerOp::KeyAgreement, 1);
                let path = r
                    .get("deviceId")
                    .map_or(0, |d| array_len(d, "certificatePath"));
                add(IssuerOp::VerifyCertificate, path);
                if path > 0 {
                    add(IssuerOp::VerifyDeviceSignature, 1);
                } else {
                    add(IssuerOp::Mac, 1);
                }
            }
            Some("KeyCreationResponse") => add(IssuerOp::Mac, array_len(&r, "generatedKeys")),
            Some("ProvisioningFinalizationResponse") => add(IssuerOp::Mac, 1),
            _ => {}
        }
    }
    if let Some(s) = parse(sent) {
        if s.get("@qualifier").and_then(Value::as_str) == Some("ProvisioningInitializationRequest")
        {
            add(IssuerOp::EphemeralKeyGen, 1);
        }
        add(IssuerOp::Mac, count_key(&s, "mac"));
        add(IssuerOp::Encrypt, count_encrypted(&s));
        add(
            IssuerOp::SignCertificate,
            array_len(&s, "issuedCredentials"),
        );
    }
    ops.into_iter().collect()
}
