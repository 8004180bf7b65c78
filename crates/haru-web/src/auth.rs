//! Who may see the dashboard, and proof that a form came from it.
//!
//! The rule is the operator API's: with `HARU_API_TOKEN` set, a login with that token
//! gives a session cookie; without one the dashboard is off, unless
//! `HARU_API_LOCAL_ONLY=1` opens it to direct loopback clients (no proxy headers).
//!
//! The session cookie is stateless and signed (`expiry.nonce.mac`, HMAC-SHA256 under a
//! key derived from the token), so every instance behind a proxy accepts it and a
//! restart logs no one out; changing the token logs everyone out. Every form carries a
//! CSRF token derived from the session's nonce, checked on every POST, on top of
//! `SameSite=Strict`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, header};
use haru_api::auth::{direct_loopback, loopback_host};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

pub const SESSION_COOKIE: &str = "haru_session";
/// How long a login lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

#[derive(Clone)]
pub enum Mode {
    /// Log in with this token.
    Token(Arc<str>),
    /// No token: direct loopback clients only, no login.
    LocalOnly,
    /// No token and not local-only: every page says how to turn the dashboard on.
    Off,
}

pub struct Gate {
    mode: Mode,
    key: [u8; 32],
    /// `Secure` on cookies: the public URL is https (behind a TLS proxy or tunnel).
    secure: bool,
    /// Browser-call tickets already used (nonce → expiry), so each opens one call.
    used_tickets: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

/// How long a browser-call ticket may wait before its WebSocket opens.
pub const TICKET_TTL: Duration = Duration::from_secs(60);

/// The logged-in viewer of one request: what its forms must carry.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub csrf: String,
}

pub enum Access {
    Allowed(Viewer),
    /// Not logged in (or the session expired): the login page.
    Login,
    Off,
    /// No token, local-only, and this peer is not a direct loopback client.
    NotLocal,
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes a key of any length.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    for p in parts {
        m.update(p);
        m.update(b"\x1f");
    }
    m.finalize().into_bytes().into()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Gate {
    pub fn new(token: Option<&str>, local_only: bool, secure: bool) -> Self {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let (mode, key) = match token {
            // Derived, so instances sharing the token share the key; never the token itself,
            // so a leaked cookie says nothing about it.
            Some(t) => (
                Mode::Token(Arc::from(t)),
                mac(t.as_bytes(), &[b"haru-web session key v1"]),
            ),
            None => {
                let key: [u8; 32] = rand::random();
                (
                    if local_only {
                        Mode::LocalOnly
                    } else {
                        Mode::Off
                    },
                    key,
                )
            }
        };
        Self {
            mode,
            key,
            secure,
            used_tickets: Default::default(),
        }
    }

    /// A ticket for one browser call, for a viewer the access rule let in.
    pub fn issue_ticket(&self, now: u64) -> String {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let exp = now + TICKET_TTL.as_secs();
        let m = mac(
            &self.key,
            &[b"talk", exp.to_string().as_bytes(), nonce.as_bytes()],
        );
        format!("{exp}.{nonce}.{}", hex::encode(m))
    }

    /// Whether the ticket is ours, unexpired and unused; using it up.
    pub fn redeem_ticket(&self, ticket: &str, now: u64) -> bool {
        let mut it = ticket.split('.');
        let (Some(exp), Some(nonce), Some(given), None) =
            (it.next(), it.next(), it.next(), it.next())
        else {
            return false;
        };
        let expected = mac(&self.key, &[b"talk", exp.as_bytes(), nonce.as_bytes()]);
        let Ok(given) = hex::decode(given) else {
            return false;
        };
        let Ok(exp) = exp.parse::<u64>() else {
            return false;
        };
        if !bool::from(given.as_slice().ct_eq(&expected)) || exp <= now {
            return false;
        }
        let Ok(mut used) = self.used_tickets.lock() else {
            return false;
        };
        used.retain(|_, e| *e > now);
        used.insert(nonce.to_string(), exp).is_none()
    }

    pub fn now() -> u64 {
        now_secs()
    }

    pub fn mode(&self) -> &Mode {
        &self.mode
    }

    /// Whether `given` is the operator token (constant time).
    pub fn token_matches(&self, given: &str) -> bool {
        match &self.mode {
            // Digests of both, so neither the comparison nor its length says anything.
            Mode::Token(t) => {
                let a = mac(&self.key, &[b"token", given.trim().as_bytes()]);
                let b = mac(&self.key, &[b"token", t.as_bytes()]);
                bool::from(a.ct_eq(&b))
            }
            _ => false,
        }
    }

    /// A fresh session cookie value, valid for [`SESSION_TTL`] from `now`.
    pub fn new_session(&self, now: u64) -> String {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let exp = now + SESSION_TTL.as_secs();
        let m = mac(
            &self.key,
            &[b"session", exp.to_string().as_bytes(), nonce.as_bytes()],
        );
        format!("{exp}.{nonce}.{}", hex::encode(m))
    }

    /// The session's nonce if the cookie is ours and unexpired.
    pub fn verify_session(&self, value: &str, now: u64) -> Option<String> {
        let mut it = value.split('.');
        let (exp, nonce, given) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || nonce.len() != 32 {
            return None;
        }
        let expected = mac(&self.key, &[b"session", exp.as_bytes(), nonce.as_bytes()]);
        let given = hex::decode(given).ok()?;
        if !bool::from(given.as_slice().ct_eq(&expected)) {
            return None;
        }
        (exp.parse::<u64>().ok()? > now).then(|| nonce.to_string())
    }

    pub fn csrf_for(&self, nonce: &str) -> String {
        hex::encode(mac(&self.key, &[b"csrf", nonce.as_bytes()]))
    }

    /// Who this request is, by the rule above.
    pub fn access(&self, req: &Request) -> Access {
        match &self.mode {
            Mode::Off => Access::Off,
            Mode::LocalOnly => {
                if direct_loopback(peer(req), req.headers()) && loopback_host(req.headers()) {
                    Access::Allowed(Viewer {
                        csrf: self.csrf_for("local"),
                    })
                } else {
                    Access::NotLocal
                }
            }
            Mode::Token(_) => match cookie(req.headers(), SESSION_COOKIE)
                .and_then(|v| self.verify_session(v, now_secs()))
            {
                Some(nonce) => Access::Allowed(Viewer {
                    csrf: self.csrf_for(&nonce),
                }),
                None => Access::Login,
            },
        }
    }

    pub fn session_cookie(&self, value: &str) -> HeaderValue {
        self.cookie_header(SESSION_COOKIE, value, SESSION_TTL.as_secs())
    }

    pub fn cleared_session_cookie(&self) -> HeaderValue {
        self.cookie_header(SESSION_COOKIE, "", 0)
    }

    pub fn cookie_header(&self, name: &str, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let v = format!(
            "{name}={value}; Path=/app; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        );
        // Names and values are ours (hex, digits, dots, ko/en): always valid header bytes.
        HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    pub fn new_session_now(&self) -> String {
        self.new_session(now_secs())
    }
}

impl Viewer {
    /// A POST's CSRF field against this session's (constant time).
    pub fn csrf_ok(&self, given: &str) -> bool {
        given.len() == self.csrf.len() && bool::from(given.as_bytes().ct_eq(self.csrf.as_bytes()))
    }
}

/// One cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn peer(req: &Request) -> Option<SocketAddr> {
    let ext = req.extensions();
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| ext.get::<MockConnectInfo<SocketAddr>>().map(|m| m.0))
}

/// A form posted from another site: its `Origin` names a host other than ours.
/// (Browsers send `Origin` on every POST; its absence is left to the CSRF token.)
pub fn cross_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or("")
        .trim_end_matches('/');
    origin == "null" || !origin_host.eq_ignore_ascii_case(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_ours_unexpired_and_unforgeable() {
        let g = Gate::new(Some("secret-token"), false, false);
        let s = g.new_session(1_000);
        let nonce = g.verify_session(&s, 1_001).expect("fresh session");
        assert_eq!(nonce.len(), 32);
        assert!(
            g.verify_session(&s, 1_000 + SESSION_TTL.as_secs())
                .is_none(),
            "expired"
        );
        // Another token's gate (or a changed token) does not accept it.
        assert!(
            Gate::new(Some("other"), false, false)
                .verify_session(&s, 1_001)
                .is_none()
        );
        // A stretched expiry breaks the signature.
        let (_, rest) = s.split_once('.').unwrap();
        assert!(
            g.verify_session(&format!("99999999999.{rest}"), 1_001)
                .is_none()
        );
        assert!(g.verify_session("", 0).is_none());
        assert!(g.verify_session("1.2.3.4", 0).is_none());
        // Two gates on one token (two instances) agree.
        assert!(
            Gate::new(Some("secret-token"), false, false)
                .verify_session(&s, 1_001)
                .is_some()
        );
    }

    #[test]
    fn a_ticket_opens_one_call_and_expires() {
        let g = Gate::new(Some("t"), false, false);
        let t = g.issue_ticket(100);
        assert!(g.redeem_ticket(&t, 101));
        assert!(!g.redeem_ticket(&t, 101), "used once");
        let late = g.issue_ticket(100);
        assert!(
            !g.redeem_ticket(&late, 100 + TICKET_TTL.as_secs()),
            "expired"
        );
        assert!(!Gate::new(Some("u"), false, false).redeem_ticket(&g.issue_ticket(100), 101));
        // A session cookie is not a ticket.
        assert!(!g.redeem_ticket(&g.new_session(100), 101));
        assert!(!g.redeem_ticket("", 0));
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let g = Gate::new(Some("t"), false, false);
        let a = g.csrf_for("aaaa");
        let v = Viewer { csrf: a.clone() };
        assert!(v.csrf_ok(&a));
        assert!(!v.csrf_ok(&g.csrf_for("bbbb")));
        assert!(!v.csrf_ok(""));
    }

    #[test]
    fn the_token_is_compared_whole() {
        let g = Gate::new(Some("abc123"), false, false);
        assert!(g.token_matches("abc123"));
        assert!(g.token_matches(" abc123\n"));
        assert!(!g.token_matches("abc12"));
        assert!(!g.token_matches(""));
        assert!(!Gate::new(None, true, false).token_matches(""));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_behind_https() {
        let g = Gate::new(Some("t"), false, true);
        let c = g.session_cookie("v").to_str().unwrap().to_string();
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Secure"));
        let plain = Gate::new(Some("t"), false, false).session_cookie("v");
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }

    #[test]
    fn only_this_machines_names_are_local() {
        let host = |h: &'static str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_static(h));
            loopback_host(&m)
        };
        assert!(host("127.0.0.1:8000"));
        assert!(host("localhost:8000"));
        assert!(host("[::1]:8000"));
        assert!(host("127.0.0.1"));
        assert!(!host("evil.example:8000"), "a rebound name");
        assert!(!host("10.0.0.5:8000"));
        assert!(loopback_host(&HeaderMap::new()), "not a browser");
    }

    #[test]
    fn a_foreign_origin_is_named() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8000"));
        assert!(!cross_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8000"),
        );
        assert!(!cross_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(cross_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(cross_origin(&h));
    }
}
