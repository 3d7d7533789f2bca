//! Search filters on a recorded certificate path ([KG2-CDQ-004], [KG2-CDQ-005]). The expected
//! names and numbers were read independently with `openssl x509 -nameopt RFC2253` (serial
//! 0x01A2036678E2 = 1795353376994).
#![allow(clippy::unwrap_used)]

mod support;

use airtight_client::discovery::{CompiledFilter, KeyFacts, rfc2253};
use airtight_proto::keys::sha256;
use airtight_proto::messages::{Message, SearchFilter};
use airtight_proto::policy::{AppUsage, Grouping};
use airtight_proto::time::{IsoTime, TimeForm};
use der::Decode;
use support::*;

fn path() -> Vec<Vec<u8>> {
    session_messages("update-key/1-initial")
        .into_iter()
        .find_map(|(_, _, m)| match m {
            Message::ProvisioningFinalizationRequest(r) => {
                Some(r.issued_credentials[0].certificate_path.clone())
            }
            _ => None,
        })
        .unwrap()
}

const FACTS: KeyFacts = KeyFacts {
    app_usage: AppUsage::Signature,
    grouping: Some(Grouping::Shared),
};

fn matches(f: SearchFilter) -> bool {
    CompiledFilter::new(&f).unwrap().matches(&path(), FACTS)
}

#[test]
fn rfc2253_names() {
    let p = path();
    let ee = x509_cert::Certificate::from_der(&p[0]).unwrap();
    assert_eq!(
        rfc2253(ee.tbs_certificate().issuer()),
        "CN=Demo Sub CA,DC=webpki,DC=org"
    );
    // emailAddress is not an RFC 2253 keyword: OID=#hex of the DER value (IA5String).
    let hex: String = b"john.doe@example.com"
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        rfc2253(ee.tbs_certificate().subject()),
        format!("CN=KeyGen2 sample update-key Key.1,1.2.840.113549.1.9.1=#1614{hex}")
    );
}

#[test]
fn each_member() {
    let p = path();
    assert!(matches(SearchFilter {
        email_reg_ex: Some(r"\Qjohn.doe@example.com\E".into()),
        ..Default::default()
    }));
    assert!(!matches(SearchFilter {
        email_reg_ex: Some(r"\Qjane.doe@example.com\E".into()),
        ..Default::default()
    }));
    assert!(matches(SearchFilter {
        issuer_reg_ex: Some(r"CN=Demo Sub CA,.*".into()),
        ..Default::default()
    }));
    assert!(!matches(SearchFilter {
        issuer_reg_ex: Some(r"CN=Other CA,.*".into()),
        ..Default::default()
    }));
    assert!(matches(SearchFilter {
        subject_reg_ex: Some(r"CN=KeyGen2 sample update-key Key\.1,.*".into()),
        ..Default::default()
    }));
    // Any certificate of the path matches a fingerprint (the CA's too).
    for c in &p {
        assert!(matches(SearchFilter {
            finger_print: Some(sha256(c).to_vec()),
            ..Default::default()
        }));
    }
    assert!(!matches(SearchFilter {
        finger_print: Some(vec![0; 32]),
        ..Default::default()
    }));
    assert!(matches(SearchFilter {
        serial_number: Some("1795353376994".into()),
        ..Default::default()
    }));
    assert!(!matches(SearchFilter {
        serial_number: Some("1".into()),
        ..Default::default()
    }));
    assert!(matches(SearchFilter {
        key_usage_rules: vec!["digitalSignature".into(), "-keyEncipherment".into()],
        ..Default::default()
    }));
    assert!(!matches(SearchFilter {
        key_usage_rules: vec!["-digitalSignature".into()],
        ..Default::default()
    }));
    // No EKU / policy extension: any rule fails.
    assert!(!matches(SearchFilter {
        extended_key_usage_rules: vec!["1.3.6.1.5.5.7.3.2".into()],
        ..Default::default()
    }));
    // notBefore is 2026-11-22T13:16:20Z.
    let t = |s: &str| Some(IsoTime::parse(s, TimeForm::General).unwrap());
    assert!(matches(SearchFilter {
        issued_before: t("2026-11-22T13:16:21Z"),
        issued_after: t("2026-11-22T13:16:19Z"),
        ..Default::default()
    }));
    assert!(!matches(SearchFilter {
        issued_before: t("2026-11-22T13:16:20Z"),
        ..Default::default()
    }));
    assert!(matches(SearchFilter {
        app_usage: Some(AppUsage::Signature),
        grouping: Some(Grouping::Shared),
        ..Default::default()
    }));
    assert!(!matches(SearchFilter {
        app_usage: Some(AppUsage::Encryption),
        ..Default::default()
    }));
    assert!(!matches(SearchFilter {
        grouping: Some(Grouping::Unique),
        ..Default::default()
    }));
}

#[test]
fn unusable_members_reject_the_message() {
    // [KG2-CDQ-005]
    for f in [
        SearchFilter {
            subject_reg_ex: Some("(?<=x)y".into()),
            ..Default::default()
        },
        SearchFilter {
            key_usage_rules: vec!["signEverything".into()],
            ..Default::default()
        },
        SearchFilter {
            policy_rules: vec!["not.an.oid".into()],
            ..Default::default()
        },
    ] {
        assert!(CompiledFilter::new(&f).is_err(), "{f:?}");
    }
}
