//! The issuer's web flow (`spec/browser.md` §3, `airtight harness issuer --browser`): the harness
//! plays the browser's part over HTTP (no browser is needed): it loads the landing page, reads
//! the invocation from it, and runs the middleware the native-messaging host runs
//! (`airtight_client`'s `Middleware`, with the reference card) with the invocation's cookie.

use airtight_client::url::{Invocation, parse_invocation};

use crate::case::{Step, Stop};
use crate::issuer::http::{Response, Url};
use crate::issuer::{IssuerCase, IssuerCtx, SANITY_FIRST, SANITY_LAST, Session};

use super::flip_b64;

/// Replaces the HTML character references an attribute value may carry.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The `keygen2:` invocations of a page: the values of `href` and `data-keygen2` attributes
/// that start with `keygen2:` (in page order).
pub fn invocations_in(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "data-keygen2=\"", "href='", "data-keygen2='"] {
        let quote = if attr.ends_with('"') { '"' } else { '\'' };
        let mut rest = html;
        while let Some(i) = rest.find(attr) {
            rest = &rest[i + attr.len()..];
            let end = rest.find(quote).unwrap_or(rest.len());
            let value = unescape(&rest[..end]);
            if value.to_ascii_lowercase().starts_with("keygen2:") {
                out.push(value);
            }
            rest = &rest[end..];
        }
    }
    out
}

/// Checks one invocation against the landing page's origin ([BRW-ISS-001]).
pub fn check_invocation(raw: &str, landing_origin: &str) -> Result<Invocation, String> {
    let inv = parse_invocation(raw).map_err(|e| format!("{raw}: {e}"))?;
    if inv.cookie.as_deref().is_none_or(|c| !c.contains('=')) {
        return Err(format!("{raw}: the cookie is not NAME=value"));
    }
    let mut named = vec![("init", inv.init_url.clone())];
    named.extend(inv.issuer_url.clone().map(|u| ("url", u)));
    named.extend(inv.cancel_url.clone().map(|u| ("cncl", u)));
    for (name, u) in named {
        let url = Url::parse(&u).map_err(|e| format!("{name} {u}: {e}"))?;
        if name == "init" && url.origin() != landing_origin {
            return Err(format!(
                "the init URL {u} is not on the landing page's origin {landing_origin}"
            ));
        }
    }
    Ok(inv)
}

/// Loads the landing page (a fresh invocation) and returns its first valid invocation, with
/// a session that carries the invocation's cookie.
fn fresh(ctx: &mut IssuerCtx<'_>) -> Step<(Invocation, Session)> {
    let landing = ctx
        .target
        .landing_url
        .clone()
        .ok_or_else(|| Stop::NotApplicable("no landing page (run with --browser)".into()))?;
    let mut s = ctx.session()?;
    let page = s.get(&landing)?;
    if page.status != 200 {
        return Err(Stop::fail(format!(
            "the landing page answered {}",
            page.summary()
        )));
    }
    let html = String::from_utf8_lossy(&page.body);
    let found = invocations_in(&html);
    if found.is_empty() {
        return Err(Stop::fail(
            "the landing page carries no keygen2: invocation (no href or data-keygen2 attribute starting with keygen2:)",
        ));
    }
    let origin = landing.origin();
    let mut invocation = None;
    for raw in &found {
        let inv = check_invocation(raw, &origin).map_err(Stop::fail)?;
        invocation.get_or_insert(inv);
    }
    let inv = invocation.ok_or_else(|| Stop::fail("no invocation"))?;
    if let Some((n, v)) = inv.cookie.as_deref().and_then(|c| c.split_once('=')) {
        s.set_cookies(vec![(n.trim().to_owned(), v.trim().to_owned())]);
    }
    ctx.note(format!("invocation: {}", found.len()));
    Ok((inv, s))
}

/// GETs `location` (relative to the issuer) with the session's cookie and checks that it is an
/// ordinary page: a 2xx HTML answer, not a KeyGen2 message.
fn ordinary_page(s: &mut Session, location: &str, what: &str) -> Step {
    let page = s.target().post_url.resolve(location);
    let url = Url::parse(&page).map_err(|e| Stop::fail(format!("{what} {location}: {e}")))?;
    let r = s.get(&url)?;
    let html = r
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("text/html"));
    if !(200..=299).contains(&r.status) || !html {
        return Err(Stop::fail(format!(
            "{what} {location} answered {}, not an HTML page",
            r.summary()
        )));
    }
    Ok(())
}

/// Where a redirect goes, or why `r` is not one.
fn redirect(r: &Response, what: &str) -> Step<String> {
    match (r.status, r.header("location")) {
        (300..=399, Some(l)) => Ok(l.to_owned()),
        _ => Err(Stop::fail(format!(
            "{what} answered {}, not a redirect to a page",
            r.summary()
        ))),
    }
}

/// The web-flow cases, with the sanity cases of the runner first and last.
pub fn cases() -> Vec<IssuerCase> {
    let sanity = |id: &'static str, d: &'static str| {
        IssuerCase::must(id, &["BRW-ISS-003"], d, |ctx| {
            let (_, mut s) = fresh(ctx)?;
            let r = s.run_honest()?;
            super::check_success(ctx, &r)
        })
    };
    vec![
        sanity(
            SANITY_FIRST,
            "an honest session started from the landing page's invocation completes",
        ),
        IssuerCase::must(
            "issuer.browser.landing-invocation",
            &["BRW-ISS-001"],
            "the landing page carries a keygen2: invocation with all five parameters, the init URL on the page's origin",
            |ctx| fresh(ctx).map(|_| ()),
        ),
        IssuerCase::must(
            "issuer.browser.cancel",
            &["BRW-ISS-002"],
            "following the invocation's cancel URL reaches an ordinary page and ends the session",
            |ctx| {
                let (inv, mut s) = fresh(ctx)?;
                let (_, honest) = s.run_until("InvocationResponse")?;
                let cancel = inv
                    .cancel_url
                    .ok_or_else(|| Stop::fail("the invocation has no cancel URL"))?;
                let url = Url::parse(&cancel).map_err(|e| Stop::fail(e.to_string()))?;
                let r = s.get(&url)?;
                match r.status {
                    300..=399 => {
                        let l = redirect(&r, "the cancel URL")?;
                        ordinary_page(&mut s, &l, "the cancel URL's page")?;
                    }
                    200..=299 if !r.is_json() => {}
                    _ => {
                        return Err(Stop::fail(format!(
                            "the cancel URL answered {}, not a page",
                            r.summary()
                        )));
                    }
                }
                ctx.expect_ended(&mut s, &honest)
            },
        ),
        IssuerCase::must(
            "issuer.browser.result-page",
            &["BRW-ISS-003"],
            "an honest enrolment from the landing page ends with a redirect to a result page that answers",
            |ctx| {
                let (_, mut s) = fresh(ctx)?;
                let r = s.run_honest()?;
                let l = redirect(&r, "the end of an honest session")?;
                ctx.refusal_of(&r).map_or(Ok(()), |_| {
                    Err(Stop::fail(format!(
                        "an honest session was sent to {l}, an error page"
                    )))
                })?;
                ordinary_page(&mut s, &l, "the result page")
            },
        ),
        IssuerCase::must(
            "issuer.browser.tampered-mac",
            &["BRW-ISS-004"],
            "a key attestation (a MAC) altered in flight is refused with a redirect to an error page, and the session ends",
            |ctx| {
                let (_, mut s) = fresh(ctx)?;
                let (_, honest) = s.run_until("KeyCreationResponse")?;
                let bad = crate::issuer::edit(&honest, |m| {
                    if let Some(v) = m.pointer_mut("/generatedKeys/0/attestation") {
                        flip_b64(v);
                    }
                });
                if bad == honest {
                    return Err(Stop::NotApplicable(
                        "the KeyCreationResponse has no key attestation".into(),
                    ));
                }
                let r = s
                    .post_tampered(&bad)
                    .map_err(|e| Stop::fail(format!("the tampered message: {e}")))?
                    .ok_or_else(|| Stop::fail("the issuer closed the connection instead of showing an error page"))?;
                ctx.refusal_of(&r)
                    .map_err(|m| Stop::fail(format!("the tampered message: {m}")))?;
                let l = redirect(&r, "the refusal of the tampered message")?;
                ordinary_page(&mut s, &l, "the error page")?;
                ctx.expect_ended(&mut s, &honest)
            },
        )
        .needs_flow("KeyCreationRequest"),
        sanity(
            SANITY_LAST,
            "after the web-flow cases, an honest session from the landing page still completes",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocations_are_found_in_links_and_elements_and_unescaped() {
        let html = "<a href=\"https://x/\">x</a><button data-keygen2=\"keygen2:?a=1&amp;b=2\">\
                    <a href='keygen2:?c=3'>";
        assert_eq!(
            invocations_in(html),
            vec!["keygen2:?a=1&b=2".to_owned(), "keygen2:?c=3".to_owned()]
        );
        assert!(invocations_in("<p>no invocation</p>").is_empty());
    }

    #[test]
    fn an_invocation_must_be_complete_and_on_the_landing_origin() {
        let ok = "keygen2:?cookie=S%3Dv&init=http%3A%2F%2Fa%3A1%2Fkeygen2%3Finit%3Dtrue\
                  &url=http%3A%2F%2Fa%3A1%2Fkeygen2&cncl=http%3A%2F%2Fa%3A1%2Fkeygen2%3Fabort%3Dtrue&ver=1-1";
        assert!(check_invocation(ok, "http://a:1").is_ok());
        assert!(check_invocation(ok, "http://b:1").is_err());
        assert!(check_invocation(&ok.replace("&ver=1-1", ""), "http://a:1").is_err());
        assert!(check_invocation(&ok.replace("S%3Dv", "Sv"), "http://a:1").is_err());
    }
}
