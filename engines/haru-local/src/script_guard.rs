//! The script guard: haru speaks Korean and English, and small multilingual models drift
//! into Chinese or Japanese mid-answer. Every token that would write a Han ideograph, kana
//! or bopomofo is banned from sampling (logit −∞), including the byte-level tokens that
//! could start one, so no such character can appear however the model spells it.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

/// Characters haru never says: CJK radicals, kana, bopomofo, CJK ideographs (unified,
/// extension A, compatibility) and half-width kana. Hangul, Latin, digits and punctuation
/// stay.
fn banned_char(c: char) -> bool {
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

/// Whether a token's bytes could write a banned character: a whole one, or the start of
/// one that later byte tokens would complete (UTF-8 lead bytes E3–E9, F0 A0–F0 BF; a lone
/// E3 or F0 could start one, so it goes too — Hangul's lead bytes are EA–ED).
pub fn is_banned_piece(bytes: &[u8]) -> bool {
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        let len = match rest[0] {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => {
                // A continuation byte: part of a character begun by an earlier token,
                // whose lead byte this guard already judged.
                i += 1;
                continue;
            }
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

/// Every token of `model` the guard bans.
pub fn banned_tokens(model: &LlamaModel) -> Vec<LlamaToken> {
    model
        .tokens(false)
        .filter(|(_, bytes)| is_banned_piece(bytes))
        .map(|(t, _)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::is_banned_piece;

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
