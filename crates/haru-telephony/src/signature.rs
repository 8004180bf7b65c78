//! `X-Twilio-Signature`: base64(HMAC-SHA1(auth token, URL + sorted POST params)).
//!
//! Mirrors Twilio's own validators: parameters sorted by name (and repeated values sorted),
//! the URL tried both with and without an explicit port, and a constant-time comparison.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

type HmacSha1 = Hmac<Sha1>;

/// Computes the signature Twilio would send for `url` and form `params`.
pub fn compute(auth_token: &str, url: &str, params: &[(String, String)]) -> String {
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha1::new_from_slice(auth_token.as_bytes()).expect("hmac key");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    STANDARD.encode(mac.finalize().into_bytes())
}

/// True when `signature` matches `url` as given, without its port, or with the scheme's
/// default port added, the three forms Twilio's reference validators accept.
pub fn validate(auth_token: &str, url: &str, params: &[(String, String)], signature: &str) -> bool {
    let candidates = url_variants(url);
    let mut ok = false;
    for candidate in candidates {
        let expected = compute(auth_token, &candidate, params);
        // Evaluate every candidate so timing does not reveal which form matched.
        ok |= bool::from(expected.as_bytes().ct_eq(signature.trim().as_bytes()));
    }
    ok
}

fn url_variants(raw: &str) -> Vec<String> {
    let mut out = vec![raw.to_string()];
    let Ok(parsed) = ::url::Url::parse(raw) else {
        return out;
    };
    let default = match parsed.scheme() {
        "https" => 443,
        "http" => 80,
        _ => return out,
    };
    // `Url` hides a default port, so rebuild both forms textually from the parsed parts.
    let host = match parsed.host_str() {
        Some(h) => h.to_string(),
        None => return out,
    };
    let rest = &raw[raw.find(&host).map(|i| i + host.len()).unwrap_or(raw.len())..];
    let after_port = match rest.strip_prefix(':') {
        Some(r) => &r[r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len())..],
        None => rest,
    };
    let prefix = &raw[..raw.find(&host).unwrap_or(0)];
    out.push(format!("{prefix}{host}{after_port}"));
    out.push(format!("{prefix}{host}:{default}{after_port}"));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    // The example from Twilio's security documentation and its reference validator tests.
    const TOKEN: &str = "12345";
    const URL: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";

    fn doc_params() -> Vec<(String, String)> {
        p(&[
            ("CallSid", "CA1234567890ABCDE"),
            ("Caller", "+14158675309"),
            ("Digits", "1234"),
            ("From", "+14158675309"),
            ("To", "+18005551212"),
        ])
    }

    #[test]
    fn matches_twilio_documented_example() {
        assert_eq!(
            compute(TOKEN, URL, &doc_params()),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
        assert!(validate(
            TOKEN,
            URL,
            &doc_params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
    }

    #[test]
    fn parameter_order_does_not_matter() {
        let mut params = doc_params();
        params.reverse();
        assert_eq!(compute(TOKEN, URL, &params), "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    }

    #[test]
    fn repeated_keys_match_reference() {
        let params = p(&[
            ("Sid", "CA123"),
            ("SidAccount", "AC123"),
            ("Digits", "5678"),
            ("Digits", "1234"),
        ]);
        assert_eq!(compute(TOKEN, URL, &params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    }

    #[test]
    fn explicit_default_port_is_tolerated_both_ways() {
        // Signed with :443, requested without.
        assert!(validate(
            TOKEN,
            URL,
            &doc_params(),
            "kvajT1Ptam85bY51eRf/AJRuM3w="
        ));
        // Signed without a port, configured with :443.
        let with_port = URL.replace(".com", ".com:443");
        assert!(validate(
            TOKEN,
            &with_port,
            &doc_params(),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        ));
        // Plain http gets :80.
        let http = URL.replace("https", "http");
        assert!(validate(
            TOKEN,
            &http,
            &doc_params(),
            "0ZXoZLH/DfblKGATFgpif+LLRf4="
        ));
    }

    #[test]
    fn tampering_fails() {
        let sig = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";
        let mut body = doc_params();
        body[2].1 = "9999".into();
        assert!(!validate(TOKEN, URL, &body, sig));
        assert!(!validate(
            TOKEN,
            "https://evil.com/myapp.php?foo=1&bar=2",
            &doc_params(),
            sig
        ));
        assert!(!validate("54321", URL, &doc_params(), sig));
        assert!(!validate(TOKEN, URL, &doc_params(), ""));
    }

    #[test]
    fn korean_values_are_signed_as_utf8() {
        let params = p(&[("SpeechResult", "안녕하세요 오늘 날씨"), ("CallSid", "CA1")]);
        let sig = compute(TOKEN, URL, &params);
        assert!(validate(TOKEN, URL, &params, &sig));
        let other = p(&[
            ("SpeechResult", "안녕하세요 오늘 날씨!"),
            ("CallSid", "CA1"),
        ]);
        assert!(!validate(TOKEN, URL, &other, &sig));
    }
}
