//! Invocation URLs ([KG2-URL-001]-[KG2-URL-004]): a plain `http(s)://` init URL, or the
//! `intent://keygen2?cookie=…&init=…&url=…&cncl=…&ver=…#Intent;…;end` form (also with the
//! `webpkiproxy:`, `w3cpay:` and `qrcode:` schemes, and the desktop `keygen2:?…` form).

use percent_encoding::percent_decode_str;
use thiserror::Error;

/// The proxy version this crate reports, checked against `ver` ([KG2-URL-002]).
pub const PROXY_VERSION: u32 = 1;

/// An invocation URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum UrlError {
    /// Neither an http(s) URL nor a known invocation form.
    #[error(
        "not an invocation URL: {0} (expected the issuer's init URL, \
         http(s)://HOST/keygen2?init=true, or an intent://keygen2?… URL)"
    )]
    UnknownForm(String),
    /// A required query parameter is missing ([KG2-URL-001]).
    #[error("invocation URL lacks the {0} parameter")]
    Missing(&'static str),
    /// A parameter appears twice.
    #[error("invocation URL has the {0} parameter twice")]
    Duplicate(String),
    /// A parameter is not valid percent-encoded UTF-8.
    #[error("parameter {0} is not valid percent-encoded UTF-8")]
    Encoding(String),
    /// `ver` is not `<min>-<max>` ([KG2-URL-002]).
    #[error("bad ver {0:?}: expected <min>-<max>")]
    BadVersion(String),
    /// This proxy's version is outside `ver` ([KG2-URL-002]).
    #[error("proxy version {PROXY_VERSION} is outside the issuer's range {min}-{max}")]
    VersionOutOfRange {
        /// Lowest accepted.
        min: u32,
        /// Highest accepted.
        max: u32,
    },
    /// `init`, `url` or `cncl` is not an http(s) URL.
    #[error("{0} is not an http(s) URL")]
    NotHttp(&'static str),
}

/// What an invocation URL says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The URL to GET for the InvocationRequest ([KG2-HTP-001]).
    pub init_url: String,
    /// The URL to POST responses to (`issuerUri`); `None` for a plain init URL (the driver
    /// then uses the init URL without its query).
    pub issuer_url: Option<String>,
    /// The cancel URL ([KG2-URL-003]).
    pub cancel_url: Option<String>,
    /// The cookie to send (`NAME=value`), if any ([KG2-HTP-009]).
    pub cookie: Option<String>,
    /// The accepted proxy version range.
    pub version: Option<(u32, u32)>,
}

impl Invocation {
    /// The POST URL: `url`, or the init URL without query and fragment.
    pub fn post_url(&self) -> String {
        self.issuer_url.clone().unwrap_or_else(|| {
            let end = self
                .init_url
                .find(['?', '#'])
                .unwrap_or(self.init_url.len());
            self.init_url[..end].to_owned()
        })
    }
}

/// `text` cut to at most `max` characters for a message, with `…` and the whole length when
/// cut: user input echoed back stays readable.
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}… ({} bytes in all)", &text[..i], text.len()),
        None => text.to_owned(),
    }
}

fn is_http(u: &str) -> bool {
    let l = u.to_ascii_lowercase();
    (l.starts_with("http://") || l.starts_with("https://")) && origin(u).is_some()
}

/// The origin (`scheme://host[:port]`) of an http(s) URL.
pub fn origin(u: &str) -> Option<String> {
    let (scheme, rest) = u.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    // Drop any user-info.
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{}", host.to_ascii_lowercase()))
}

/// Parses an invocation URL.
pub fn parse_invocation(input: &str) -> Result<Invocation, UrlError> {
    let input = input.trim();
    if is_http(input) {
        return Ok(Invocation {
            init_url: input.to_owned(),
            issuer_url: None,
            cancel_url: None,
            cookie: None,
            version: None,
        });
    }
    let lower = input.to_ascii_lowercase();
    // `keygen2:` is the desktop form (a browser extension or a scheme handler,
    // `spec/browser.md`): the same five parameters.
    let known = [
        "intent://",
        "webpkiproxy://",
        "w3cpay://",
        "qrcode://",
        "keygen2:",
    ];
    if !known.iter().any(|k| lower.starts_with(k)) {
        return Err(UrlError::UnknownForm(clip(input, 80)));
    }
    let without_fragment = input.split('#').next().unwrap_or(input);
    let query = without_fragment
        .split_once('?')
        .map(|(_, q)| q)
        .ok_or(UrlError::Missing("init"))?;
    let mut params: Vec<(String, String)> = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if params.iter().any(|(n, _)| n == k) {
            return Err(UrlError::Duplicate(clip(k, 40)));
        }
        let v = percent_decode_str(&v.replace('+', "%20"))
            .decode_utf8()
            .map_err(|_| UrlError::Encoding(clip(k, 40)))?
            .into_owned();
        params.push((k.to_owned(), v));
    }
    let get = |name: &'static str| -> Result<String, UrlError> {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .ok_or(UrlError::Missing(name))
    };
    // [KG2-URL-001]: all five are required.
    let cookie = get("cookie")?;
    let init = get("init")?;
    let url = get("url")?;
    let cncl = get("cncl")?;
    let ver = get("ver")?;
    for (name, v) in [("init", &init), ("url", &url), ("cncl", &cncl)] {
        if !is_http(v) {
            return Err(UrlError::NotHttp(name));
        }
    }
    let (min, max) = ver
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<u32>().ok()?, b.trim().parse::<u32>().ok()?)))
        .filter(|(a, b)| a <= b)
        .ok_or_else(|| UrlError::BadVersion(clip(&ver, 40)))?;
    if !(min..=max).contains(&PROXY_VERSION) {
        return Err(UrlError::VersionOutOfRange { min, max });
    }
    Ok(Invocation {
        init_url: init,
        issuer_url: Some(url),
        cancel_url: Some(cncl),
        cookie: (!cookie.is_empty()).then_some(cookie),
        version: Some((min, max)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_input_is_clipped_in_errors() {
        let long = format!("ftp://{}", "x".repeat(100_000));
        let text = parse_invocation(&long).err().map(|e| e.to_string());
        let text = text.unwrap_or_default();
        assert!(text.len() < 400, "{text}");
        assert!(text.contains("100006 bytes in all"), "{text}");
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("été", 2), "ét… (5 bytes in all)");
    }

    #[test]
    fn the_desktop_form_has_the_same_parameters() {
        let inv = parse_invocation(
            "keygen2:?cookie=s%3Dabc&init=http%3A%2F%2F127.0.0.1%3A8080%2Fkeygen2%3Finit%3Dtrue\
             &url=http%3A%2F%2F127.0.0.1%3A8080%2Fkeygen2\
             &cncl=http%3A%2F%2F127.0.0.1%3A8080%2Fkeygen2%3Fabort%3Dtrue&ver=1-1",
        );
        let inv = inv.ok();
        assert_eq!(
            inv.as_ref().map(|i| i.init_url.as_str()),
            Some("http://127.0.0.1:8080/keygen2?init=true")
        );
        assert_eq!(
            inv.as_ref().and_then(|i| i.cookie.as_deref()),
            Some("s=abc")
        );
        assert_eq!(
            parse_invocation(
                "keygen2:?cookie=&init=http%3A%2F%2Fa%2F&url=http%3A%2F%2Fa%2F&ver=1-1"
            ),
            Err(UrlError::Missing("cncl"))
        );
    }
}
