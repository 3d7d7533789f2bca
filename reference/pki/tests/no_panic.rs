//! Nothing reachable from the wire panics: mutated, truncated and random inputs give errors.
#![allow(clippy::unwrap_used)]

use airtight_pki::ca::{Profile, escape_dn_value, parse_name};
use airtight_pki::fixtures;
use airtight_pki::keys::{PublicKey, SigningKey};
use airtight_pki::{TrustAnchor, spki_of_certificate, verify_path};
use proptest::prelude::*;

const NOW: i64 = 1_795_305_600;

fn corpus() -> Vec<Vec<u8>> {
    let mut v = fixtures::device_p256().certificate_path;
    v.extend(fixtures::device_rsa2048().certificate_path);
    v.extend(fixtures::issuer_ca().certificate_path().iter().cloned());
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_certificates_never_panic(
        which in 0usize..6,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let certs = corpus();
        let mut der = certs[which].clone();
        for (i, b) in edits {
            let at = i.index(der.len());
            der[at] = b;
        }
        if truncate {
            der.truncate(cut.index(der.len()));
        }
        let anchors = [fixtures::device_trust_anchor(), fixtures::issuer_trust_anchor()];
        let _ = verify_path(std::slice::from_ref(&der), &anchors, NOW);
        let _ = verify_path(&[der.clone(), certs[1].clone()], &anchors, NOW);
        let _ = spki_of_certificate(&der);
        let _ = TrustAnchor::from_certificate_der(&der);
        if let Ok(spki) = spki_of_certificate(&der) {
            let _ = PublicKey::from_spki_der(&spki);
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = verify_path(std::slice::from_ref(&bytes), &[fixtures::device_trust_anchor()], NOW);
        let _ = spki_of_certificate(&bytes);
        let _ = PublicKey::from_spki_der(&bytes);
        let _ = SigningKey::from_pkcs8_der(&bytes);
        let _ = TrustAnchor::from_certificate_der(&bytes);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,80}") {
        let _ = parse_name(&text);
        let _ = airtight_pki::pem::decode_all(&text);
        let _ = SigningKey::from_pkcs8_pem(&text);
        let _ = Profile::end_entity(&text).subject_dn(&[("serial", "01")]);
    }

    /// Any value placed through a template comes back unchanged as the CN (escaping is exact).
    #[test]
    fn escaped_values_round_trip(value in prop_oneof!["[^\\x00]{1,40}", "[ #+,;<>=\"\\\\a\t]{1,12}"]) {
        let dn = Profile::end_entity("CN={v}, O=fixed").with_variable("v", &value).subject_dn(&[]).unwrap();
        let name = parse_name(&dn).unwrap();
        let rdns: Vec<_> = name.iter_rdn().collect();
        prop_assert_eq!(rdns.len(), 2);
        let cn = rdns[1].iter().next().unwrap();
        let got = der::asn1::Utf8StringRef::try_from(&cn.value).unwrap();
        prop_assert_eq!(got.as_str(), value.as_str());
        prop_assert!(!escape_dn_value(&value).is_empty());
    }
}
