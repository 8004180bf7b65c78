//! Twilio's identifiers: a two-letter prefix and 32 hex digits (`CA…` calls, `AC…`
//! accounts, `MZ…` media streams). Checked before anything carrying one is stored, so a
//! forged 29 KB "CallSid" never reaches the database.

/// `CA` + 32 hex digits.
pub fn is_call_sid(s: &str) -> bool {
    is_sid("CA", s)
}

/// `AC` + 32 hex digits.
pub fn is_account_sid(s: &str) -> bool {
    is_sid("AC", s)
}

/// `MZ` + 32 hex digits.
pub fn is_stream_sid(s: &str) -> bool {
    is_sid("MZ", s)
}

fn is_sid(prefix: &str, s: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_prefix_and_32_hex_digits_pass() {
        assert!(is_call_sid("CA0123456789abcdef0123456789ABCDEF"));
        assert!(is_stream_sid("MZ0123456789abcdef0123456789abcdef"));
        assert!(is_account_sid("AC0123456789abcdef0123456789abcdef"));
        for bad in [
            "",
            "CA",
            "CA0123456789abcdef0123456789abcde",   // 31 digits
            "CA0123456789abcdef0123456789abcdef0", // 33
            "MZ0123456789abcdef0123456789abcdef",  // wrong prefix
            "CA0123456789abcdef0123456789abcdeg",  // not hex
            "CA０123456789abcdef0123456789abcde",  // multi-byte
        ] {
            assert!(!is_call_sid(bad), "{bad:?}");
        }
        assert!(!is_call_sid(&format!("CA{}", "a".repeat(29_000))));
    }
}
