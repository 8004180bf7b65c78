//! The script guard's test, shared by haru-local (the LLM) and haru-local-stt (Whisper):
//! haru speaks Korean and English, and small multilingual models drift into Chinese or
//! Japanese mid-answer (and Whisper, with Korean forced, still writes kana for unclear
//! syllables). Each engine bans every token whose bytes [`is_banned_piece`] rejects.

/// Characters haru never says: CJK radicals, kana, bopomofo, CJK ideographs (unified,
/// extension A, compatibility) and half-width kana. Hangul, Latin, digits and punctuation
/// stay.
pub fn banned_char(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FDF
        | 0x3040..=0x30FF
        | 0x3100..=0x312F
        | 0x31A0..=0x31FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0xFF66..=0xFF9F
        | 0x20000..=0x3FFFF)
}

/// The length of the UTF-8 character a lead byte starts; `None` for a continuation byte
/// (or one that never starts a character).
fn utf8_len(lead: u8) -> Option<usize> {
    match lead {
        0x00..=0x7F => Some(1),
        0xC0..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF7 => Some(4),
        _ => None,
    }
}

/// Whether a token's bytes could write a banned character: a whole one, or the start of
/// one that later byte tokens would complete (UTF-8 lead bytes E3–E9, F0 A0–F0 BF; a lone
/// E3 or F0 could start one, so it goes too — Hangul's lead bytes are EA–ED).
pub fn is_banned_piece(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let Some(len) = utf8_len(rest[0]) else {
            // A continuation byte: part of a character begun by an earlier token, whose
            // lead byte this guard already judged.
            i += 1;
            continue;
        };
        if rest.len() < len {
            // Truncated: judge by what is there.
            return match rest {
                [0xE3] | [0xF0] => true,
                [0xE3, b, ..] => matches!(b, 0x81..=0x83 | 0x90..=0xBF),
                [0xE4..=0xE9, ..] => true,
                [0xF0, b, ..] => (0xA0..=0xBF).contains(b),
                [0xE2, 0xBA..=0xBF, ..] => true,
                _ => false,
            };
        }
        if let Ok(s) = std::str::from_utf8(&rest[..len])
            && s.chars().any(banned_char)
        {
            return true;
        }
        i += len;
    }
    false
}

/// What a Korean transcript is written in: Hangul (syllables, jamo, compatibility jamo),
/// ASCII digits, punctuation and spaces, and general punctuation (… “ ”). Latin letters
/// are left out on purpose: Whisper writes Korean speech in Hangul, and when it cannot
/// make a syllable out, a Latin or Cyrillic guess ("ku'n'n'n'…", "пион") only loops or
/// misleads, while the nearest Hangul keeps the sentence readable.
pub fn korean_char(c: char) -> bool {
    matches!(c as u32,
        0xAC00..=0xD7A3 | 0x1100..=0x11FF | 0x3130..=0x318F | 0x2000..=0x206F)
        || (c.is_ascii() && !c.is_ascii_alphabetic() && !c.is_ascii_control())
}

/// Whether a token's bytes can only write [`korean_char`]s: every whole character is one,
/// and a truncated last character could still become one. Leading continuation bytes
/// finish a character an earlier token began (judged with that token).
pub fn is_korean_piece(bytes: &[u8]) -> bool {
    let mut i = 0;
    // Skip the continuation bytes of a character begun by an earlier token.
    while i < bytes.len() && (0x80..=0xBF).contains(&bytes[i]) {
        i += 1;
    }
    while i < bytes.len() {
        let rest = &bytes[i..];
        // A stray continuation byte mid-token is not UTF-8 we write.
        let Some(len) = utf8_len(rest[0]) else {
            return false;
        };
        if rest.len() < len {
            return match rest {
                [0xEA] | [0xEB] | [0xEC] | [0xED] | [0xE1] | [0xE2] | [0xE3] => true,
                [0xEA, b] => (0xB0..=0xBF).contains(b),
                [0xEB | 0xEC, _] => true,
                [0xED, b] => (0x80..=0x9E).contains(b),
                [0xE1, b] => (0x84..=0x87).contains(b),
                [0xE2, b] => (0x80..=0x81).contains(b),
                [0xE3, b] => (0x84..=0x86).contains(b),
                _ => false,
            };
        }
        match std::str::from_utf8(&rest[..len]) {
            Ok(s) if s.chars().all(korean_char) => {}
            _ => return false,
        }
        i += len;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::{is_banned_piece, is_korean_piece};

    #[test]
    fn korean_pieces_are_hangul_digits_and_punctuation() {
        for s in [
            " 안녕하세요",
            "끊을게요.",
            " 7시에",
            "ㅋㅋ",
            "…",
            "“네”",
            "?",
            " ",
        ] {
            assert!(is_korean_piece(s.as_bytes()), "{s}");
        }
        for s in ["ku", "'n", " TV", "пион", "くの", "中", "é"] {
            assert!(!is_korean_piece(s.as_bytes()), "{s}");
        }
        // 한 = ED 95 9C: its lead byte, and lead + second byte, could become Hangul.
        assert!(is_korean_piece(&[0xED]));
        assert!(is_korean_piece(&[0xED, 0x95]));
        // ED A0.. are surrogates, never Hangul; E4 starts Han.
        assert!(!is_korean_piece(&[0xED, 0xA0]));
        assert!(!is_korean_piece(&[0xE4]));
        // The tail of a syllable an earlier token began, then a whole one.
        let mut tail = vec![0x95, 0x9C];
        tail.extend_from_slice("국".as_bytes());
        assert!(is_korean_piece(&tail));
    }

    #[test]
    fn chinese_and_japanese_are_banned_korean_and_english_are_not() {
        for s in ["你好", "日本", "こんにちは", "カタカナ", "中", "ㄅ", "𠀀"] {
            assert!(is_banned_piece(s.as_bytes()), "{s}");
        }
        for s in [
            "안녕하세요",
            "오늘 하루는 어떠셨어요?",
            "Hello, world!",
            "12:30",
            "ㅋㅋ",
            "…",
            "“네”",
            "—",
        ] {
            assert!(!is_banned_piece(s.as_bytes()), "{s}");
        }
    }

    #[test]
    fn byte_tokens_that_could_start_a_banned_character_are_banned() {
        // 中 = E4 B8 AD: its lead byte alone, or with one more byte.
        assert!(is_banned_piece(&[0xE4]));
        assert!(is_banned_piece(&[0xE4, 0xB8]));
        // Kana start E3 81..83; a lone E3 could be either.
        assert!(is_banned_piece(&[0xE3]));
        assert!(is_banned_piece(&[0xE3, 0x81]));
        // Hangul syllables start EA..ED: allowed, alone or truncated.
        assert!(!is_banned_piece(&[0xEA]));
        assert!(!is_banned_piece(&[0xEC, 0x95]));
        // Continuation bytes alone finish what an allowed lead began.
        assert!(!is_banned_piece(&[0x95, 0x88]));
        // " 한" preceded by ASCII, then a truncated Han start at the end.
        let mut mixed = " 한".as_bytes().to_vec();
        mixed.push(0xE5);
        assert!(is_banned_piece(&mixed));
    }
}
