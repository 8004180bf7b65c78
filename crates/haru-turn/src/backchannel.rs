//! Backchannels: the "응", "네", "uh-huh" a listener says to show they are following, not
//! to take the turn.

/// Words that, said alone, are a listener's signal ("go on") rather than a turn.
const BACKCHANNELS: &[&str] = &[
    // Korean
    "응",
    "으응",
    "응응",
    "네",
    "네네",
    "예",
    "예예",
    "음",
    "음음",
    "어",
    "아",
    "아하",
    "아아",
    "그래",
    "그래요",
    "그렇구나",
    "그렇군요",
    "그렇죠",
    "맞아",
    "맞아요",
    "그럼",
    "그럼요",
    // English
    "uh-huh",
    "uh huh",
    "mm-hmm",
    "mm hmm",
    "mhm",
    "mm",
    "hmm",
    "yeah",
    "yep",
    "yes",
    "okay",
    "ok",
    "right",
    "i see",
    "sure",
    "oh",
];

/// Whether `text` (a transcript) is nothing but a backchannel, repeated or not:
/// "네.", "응 응", "Uh-huh.", "Yeah, yeah." — but not "네, 그런데요" or "Yes, I did".
pub fn is_backchannel(text: &str) -> bool {
    let t: String = text
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == ' ' {
                c
            } else {
                ' '
            }
        })
        .collect();
    let words: Vec<&str> = t.split_whitespace().collect();
    if words.is_empty() || words.len() > 4 {
        return false;
    }
    let joined = words.join(" ");
    if BACKCHANNELS.contains(&joined.as_str()) {
        return true;
    }
    words.iter().all(|w| BACKCHANNELS.contains(w))
}

#[cfg(test)]
mod tests {
    use super::is_backchannel;

    #[test]
    fn listener_signals_in_both_languages() {
        for t in [
            "네.",
            "응 응",
            "예, 예.",
            "아하",
            "그렇구나.",
            "Uh-huh.",
            "Mm-hmm",
            "Yeah, yeah.",
            "I see.",
        ] {
            assert!(is_backchannel(t), "{t}");
        }
    }

    #[test]
    fn a_real_answer_or_a_new_thought_is_not_one() {
        for t in [
            "네, 그런데요",
            "아니요",
            "Yes, I did.",
            "No.",
            "Okay so I went out",
            "",
            "...",
        ] {
            assert!(!is_backchannel(t), "{t}");
        }
    }
}
