//! Public URLs built from `API_BASE_URL`.
//!
//! Behind a tunnel (ngrok and friends) the Host header is the tunnel's internal view, so the
//! webhook URL Twilio signed is rebuilt from configuration, never from the request.

/// The public base of this server, e.g. `https://abc.ngrok.io`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicBase {
    /// Scheme + host (+ port), no trailing slash.
    origin: String,
    secure: bool,
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "API_BASE_URL must be a host like `abc.ngrok.io` or an http(s) URL without path or query, got `{0}`"
)]
pub struct BadBase(pub String);

impl PublicBase {
    /// Accepts `host`, `host:port`, `https://host` or `http://host:port` (the seed used a bare host).
    pub fn parse(raw: &str) -> Result<Self, BadBase> {
        let trimmed = raw.trim().trim_end_matches('/');
        let (secure, rest) = if let Some(r) = trimmed.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = trimmed.strip_prefix("http://") {
            (false, r)
        } else if trimmed.contains("://") {
            return Err(BadBase(raw.to_string()));
        } else {
            (true, trimmed)
        };
        if rest.is_empty()
            || rest.contains(['/', '?', '#', ' ', '@'])
            || ::url::Url::parse(&format!("http://{rest}")).is_err()
        {
            return Err(BadBase(raw.to_string()));
        }
        let scheme = if secure { "https" } else { "http" };
        Ok(Self {
            origin: format!("{scheme}://{rest}"),
            secure,
        })
    }

    /// `https://host{path}`: the URL Twilio requests and signs.
    pub fn http_url(&self, path: &str) -> String {
        format!("{}{}", self.origin, path)
    }

    /// `wss://host{path}` (or `ws://` for a plain-http base used in local tests).
    pub fn ws_url(&self, path: &str) -> String {
        let host = self
            .origin
            .split_once("://")
            .map(|(_, h)| h)
            .unwrap_or(&self.origin);
        let scheme = if self.secure { "wss" } else { "ws" };
        format!("{scheme}://{host}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_host_means_https_and_wss() {
        let b = PublicBase::parse("abc.ngrok.io").unwrap();
        assert_eq!(
            b.http_url("/api/twilio/voice"),
            "https://abc.ngrok.io/api/twilio/voice"
        );
        assert_eq!(
            b.ws_url("/api/twilio/stream"),
            "wss://abc.ngrok.io/api/twilio/stream"
        );
    }

    #[test]
    fn http_base_gives_ws_for_local_tests() {
        let b = PublicBase::parse("http://127.0.0.1:8000/").unwrap();
        assert_eq!(b.ws_url("/s"), "ws://127.0.0.1:8000/s");
        assert_eq!(b.http_url("/v"), "http://127.0.0.1:8000/v");
    }

    #[test]
    fn rejects_paths_queries_and_other_schemes() {
        for bad in ["", "ftp://x", "https://x/y", "x?y=1", "a b"] {
            assert!(PublicBase::parse(bad).is_err(), "{bad}");
        }
    }
}
