//! Regenerates the model's SKS payload table from a real session: the test kit's SKS-level
//! issuer provisions the reference card through the APDU loopback (the real codec), a
//! recording transport groups the APDUs per call, and the payload sizes and APDU counts must
//! match `SKS_PAYLOADS` and `apdu_cost` exactly. A drift in the codec or the card fails here.

use airtight_bindings::apdu::{self, Command};
use airtight_bindings::{ApduLimits, ApduSks, CardTransport, LoopbackTransport, TransportError};
use airtight_card::ReferenceSks;
use airtight_proto::sks::{SecureKeyStore, SksMethod};
use airtight_sim::model::{CallKind, SKS_PAYLOADS, apdu_cost};
use airtight_testkit::emulator::{Issuer, KeySpec, PinSpec, uri};

#[derive(Debug)]
struct Recorder {
    inner: LoopbackTransport<ReferenceSks>,
    /// Per call: method, command payload, response payload, APDUs, bytes to, bytes from.
    calls: Vec<(SksMethod, usize, usize, u32, u32, u32)>,
    open: bool,
}

impl CardTransport for Recorder {
    fn transmit(&mut self, a: &[u8]) -> Result<Vec<u8>, TransportError> {
        let r = self.inner.transmit(a)?;
        let c = Command::parse(a).map_err(|e| TransportError::Other(e.to_string()))?;
        let data_len = r.len().saturating_sub(2);
        if c.ins == apdu::INS_GET_RESPONSE {
            if let Some(last) = self.calls.last_mut() {
                last.2 += data_len;
                last.3 += 1;
                last.4 += a.len() as u32;
                last.5 += r.len() as u32;
            }
        } else if let Some(m) = apdu::method_of_ins(c.ins).filter(|_| c.cla & 0x80 != 0) {
            let m = SksMethod::from_number(c.p1).unwrap_or(m);
            if self.open {
                if let Some(last) = self.calls.last_mut() {
                    last.1 += c.data.len();
                    last.2 += data_len;
                    last.3 += 1;
                    last.4 += a.len() as u32;
                    last.5 += r.len() as u32;
                }
            } else {
                self.calls
                    .push((m, c.data.len(), data_len, 1, a.len() as u32, r.len() as u32));
            }
            self.open = c.cla & apdu::CLA_CHAIN != 0;
        }
        Ok(r)
    }

    fn limits(&self) -> ApduLimits {
        self.inner.limits
    }
}

fn session(limits: ApduLimits, rsa: bool) -> Vec<(SksMethod, usize, usize, u32, u32, u32)> {
    let mut t = LoopbackTransport::new(airtight_testkit::card(7));
    t.limits = limits;
    let mut card = ApduSks::new(Recorder {
        inner: t,
        calls: Vec::new(),
        open: false,
    })
    .with_limits(limits);
    let mut is = Issuer::new(7);
    card.get_device_info().expect("device info");
    is.create_session(&mut card).expect("session");
    let puk = is
        .create_puk(
            &mut card,
            "PUK",
            b"01234567",
            airtight_proto::policy::PassphraseFormat::Numeric,
            3,
        )
        .expect("puk");
    let pin = is
        .create_pin(&mut card, &PinSpec::new("PIN").with_puk(puk, "PUK"))
        .expect("pin");
    let alg = if rsa { uri::RSA2048 } else { uri::P256 };
    let key = is
        .provision_key(
            &mut card,
            &KeySpec::new("Key.1", alg).with_pin(pin, "PIN", b"1234"),
        )
        .expect("key");
    is.import_symmetric_key(&mut card, key.handle, key.ee(), &[7u8; 32])
        .expect("import");
    is.close(&mut card).expect("close");
    card.into_transport().calls
}

#[test]
fn payload_table_and_apdu_counts_match_the_reference_card() {
    let mut measured: Vec<(CallKind, usize, usize)> = Vec::new();
    for rsa in [false, true] {
        for limits in [ApduLimits::SHORT, ApduLimits::EXTENDED] {
            for (m, cmd, resp, apdus, to, from) in session(limits, rsa) {
                let kind = match m {
                    SksMethod::GetDeviceInfo => CallKind::GetDeviceInfo,
                    SksMethod::CreateProvisioningSession => CallKind::CreateSession,
                    SksMethod::CreatePukPolicy => CallKind::CreatePuk,
                    SksMethod::CreatePinPolicy => CallKind::CreatePin,
                    SksMethod::CreateKeyEntry if rsa => CallKind::CreateKeyRsa,
                    SksMethod::CreateKeyEntry => CallKind::CreateKeyEc,
                    SksMethod::SetCertificatePath if rsa => CallKind::CertPathRsa,
                    SksMethod::SetCertificatePath => CallKind::CertPathEc,
                    SksMethod::ImportSymmetricKey => CallKind::ImportSymmetric,
                    SksMethod::CloseProvisioningSession => CallKind::Close,
                    other => panic!("unexpected call {other}"),
                };
                // The real exchange and the model's count agree APDU for APDU, byte for byte.
                assert_eq!(
                    apdu_cost(m, cmd, resp, limits).expect("cost"),
                    (apdus, to, from),
                    "{m} ({cmd} -> {resp} bytes, {limits:?})"
                );
                if !measured.iter().any(|x| x.0 == kind) {
                    measured.push((kind, cmd, resp));
                }
            }
        }
    }
    measured.sort();
    let table: Vec<(CallKind, usize, usize)> = SKS_PAYLOADS
        .iter()
        .filter(|(k, _, _)| *k != CallKind::EnumerateKeys)
        .map(|(k, c, r)| (*k, *c as usize, *r as usize))
        .collect();
    let mut sorted = table.clone();
    sorted.sort();
    assert_eq!(
        sorted, measured,
        "regenerate SKS_PAYLOADS from these values"
    );
}
