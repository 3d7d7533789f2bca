//! Device weaknesses: an RSA device key shorter than 2048 bits, a device certificate signed
//! with SHA-1, a device certificate expired or not yet valid. They break no MUST rule of the
//! protocol, so they are warnings, which fail the run only under `[policy]
//! device_weakness_fails_run = true`.

use der::Decode as _;
use rsa::traits::PublicKeyParts as _;
use x509_cert::certificate::Certificate;

/// OIDs of SHA-1 signatures (sha1WithRSAEncryption, ecdsa-with-SHA1, dsa-with-sha1).
const SHA1_SIGNATURES: &[&str] = &[
    "1.2.840.113549.1.1.5",
    "1.2.840.10045.4.1",
    "1.2.840.10040.4.3",
];

/// The weaknesses of the device certificate `der` at `now` (Unix seconds), as sentences.
pub fn device_weaknesses(der: &[u8], now: i64) -> Vec<String> {
    let mut out = Vec::new();
    let cert = match Certificate::from_der(der) {
        Ok(c) => c,
        Err(e) => {
            return vec![format!(
                "the device certificate could not be parsed for the weakness checks: {e}"
            )];
        }
    };
    let tbs = cert.tbs_certificate();
    let oid = cert.signature_algorithm().oid.to_string();
    if SHA1_SIGNATURES.contains(&oid.as_str()) {
        out.push(format!(
            "the device certificate is signed with SHA-1 (signature algorithm {oid})"
        ));
    }
    let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).ok();
    let validity = tbs.validity();
    if let Some(nb) = secs(validity.not_before)
        && now < nb
    {
        out.push(format!(
            "the device certificate is not yet valid (notBefore {nb}, now {now}, Unix seconds)"
        ));
    }
    if let Some(na) = secs(validity.not_after)
        && now > na
    {
        out.push(format!(
            "the device certificate has expired (notAfter {na}, now {now}, Unix seconds)"
        ));
    }
    if let Ok(spki) = der::Encode::to_der(tbs.subject_public_key_info())
        && let Ok(airtight_proto::keys::PublicKey::Rsa(k)) =
            airtight_proto::keys::PublicKey::from_spki_der(&spki)
    {
        let bits = k.n().bits();
        if bits < 2048 {
            out.push(format!(
                "the device key is RSA-{bits}, shorter than 2048 bits"
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_devices_are_sound_now_and_expired_later() {
        let d = airtight_pki::fixtures::device_p256();
        let cert = d.certificate_path.first().expect("device certificate");
        let now = airtight_card::TEST_TIME.secs();
        assert!(device_weaknesses(cert, now).is_empty());
        let late = device_weaknesses(cert, i64::MAX / 4);
        assert!(late.iter().any(|w| w.contains("expired")), "{late:?}");
        let early = device_weaknesses(cert, 0);
        assert!(
            early.iter().any(|w| w.contains("not yet valid")),
            "{early:?}"
        );
        assert!(!device_weaknesses(b"\x30\x00", now).is_empty());
    }
}
