//! Invocation URL parsing ([KG2-URL-001], [KG2-URL-002], [KG2-URL-004]).
#![allow(clippy::unwrap_used)]

use airtight_client::url::{PROXY_VERSION, UrlError, origin, parse_invocation};

/// The recorded form (keygen2-samples README), with concrete placeholders.
const RECORDED: &str = "intent://keygen2?cookie=JSESSIONID%3DABC123&init=http%3A%2F%2F127.0.0.1%3A18080%2Fkeygen2%3Finit%3Dtrue&url=http%3A%2F%2F127.0.0.1%3A18080%2Fkeygen2&cncl=http%3A%2F%2F127.0.0.1%3A18080%2Fkeygen2%3Fabort%3Dtrue&ver=1-1#Intent;scheme=webpkiproxy;package=org.webpki.mobile.android;end";

#[test]
fn intent_form() {
    // [KG2-URL-001]
    let inv = parse_invocation(RECORDED).unwrap();
    assert_eq!(inv.init_url, "http://127.0.0.1:18080/keygen2?init=true");
    assert_eq!(
        inv.issuer_url.as_deref(),
        Some("http://127.0.0.1:18080/keygen2")
    );
    assert_eq!(
        inv.cancel_url.as_deref(),
        Some("http://127.0.0.1:18080/keygen2?abort=true")
    );
    assert_eq!(inv.cookie.as_deref(), Some("JSESSIONID=ABC123"));
    assert_eq!(inv.version, Some((1, 1)));
    assert_eq!(inv.post_url(), "http://127.0.0.1:18080/keygen2");
}

#[test]
fn other_schemes() {
    // [KG2-URL-004]
    for scheme in ["webpkiproxy", "w3cpay", "qrcode"] {
        let u = RECORDED.replacen("intent", scheme, 1);
        assert!(parse_invocation(&u).is_ok(), "{scheme}");
    }
    assert!(matches!(
        parse_invocation("ftp://x/y"),
        Err(UrlError::UnknownForm(_))
    ));
}

#[test]
fn every_parameter_is_required() {
    // [KG2-URL-001]
    for p in ["cookie", "init", "url", "cncl", "ver"] {
        let start = RECORDED.find(&format!("{p}=")).unwrap();
        let end = RECORDED[start..]
            .find(['&', '#'])
            .map(|e| start + e)
            .unwrap();
        let mut u = RECORDED.to_owned();
        // Remove "p=…" and one separating '&'.
        let (a, b) = if RECORDED.as_bytes()[end] == b'&' {
            (start, end + 1)
        } else {
            (start - 1, end)
        };
        u.replace_range(a..b, "");
        assert_eq!(
            parse_invocation(&u),
            Err(UrlError::Missing(match p {
                "cookie" => "cookie",
                "init" => "init",
                "url" => "url",
                "cncl" => "cncl",
                _ => "ver",
            })),
            "{u}"
        );
    }
}

#[test]
fn version_range() {
    // [KG2-URL-002]
    let bad = RECORDED.replace("ver=1-1", "ver=7-9");
    assert_eq!(
        parse_invocation(&bad),
        Err(UrlError::VersionOutOfRange { min: 7, max: 9 })
    );
    assert!(matches!(
        parse_invocation(&RECORDED.replace("ver=1-1", "ver=x")),
        Err(UrlError::BadVersion(_))
    ));
    assert!(matches!(
        parse_invocation(&RECORDED.replace("ver=1-1", "ver=3-1")),
        Err(UrlError::BadVersion(_))
    ));
    assert!(
        parse_invocation(&RECORDED.replace("ver=1-1", &format!("ver=0-{PROXY_VERSION}"))).is_ok()
    );
}

#[test]
fn inner_urls_must_be_http_and_parameters_unique() {
    let u = RECORDED.replace("init=http%3A%2F%2F", "init=file%3A%2F%2F");
    assert_eq!(parse_invocation(&u), Err(UrlError::NotHttp("init")));
    let u = RECORDED.replace("&ver=1-1", "&ver=1-1&ver=1-1");
    assert!(matches!(parse_invocation(&u), Err(UrlError::Duplicate(_))));
    let u = RECORDED.replace("JSESSIONID%3DABC123", "%FF%FE");
    assert!(matches!(parse_invocation(&u), Err(UrlError::Encoding(_))));
}

#[test]
fn plain_init_url() {
    let inv = parse_invocation("https://issuer.example/keygen2?init=true").unwrap();
    assert_eq!(inv.init_url, "https://issuer.example/keygen2?init=true");
    assert_eq!(inv.post_url(), "https://issuer.example/keygen2");
    assert_eq!(inv.cookie, None);
    assert_eq!(
        origin("HTTPS://Issuer.Example:8443/a?b").as_deref(),
        Some("https://issuer.example:8443")
    );
    assert_eq!(origin("http://user@host/x").as_deref(), Some("http://host"));
    assert_eq!(origin("http:///x"), None);
}
