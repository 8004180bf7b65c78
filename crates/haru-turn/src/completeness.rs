//! How finished an utterance sounds from its words alone, Korean- and English-aware.
//!
//! The speculative transcript haru requests at a pause is scored from 0 (certainly
//! mid-thought: a connective ending, a trailing particle or conjunction, a filler) to 1
//! (a finished sentence or question). Small rules, no model: it runs once per pause.

/// 0.0 = the caller is certainly going on, 1.0 = a finished sentence; 0.5 = no evidence.
pub fn completeness(text: &str) -> f32 {
    let t = text.trim();
    if t.is_empty() {
        return 0.5;
    }
    // Trailing off ("그래서…", "and then...") means more is coming.
    if t.ends_with("...") || t.ends_with('…') || t.ends_with("..") {
        return 0.1;
    }
    let punct = t.chars().last().filter(|c| ".?!,。？！、".contains(*c));
    let core = t.trim_end_matches(|c: char| !c.is_alphanumeric());
    let last = core
        .rsplit(|c: char| c.is_whitespace() || c == ',')
        .next()
        .unwrap_or("")
        .to_lowercase();
    let words = if core.chars().any(is_hangul) {
        korean(&last)
    } else {
        english(&last)
    };
    // "and then", "but so": a conjunction and its adverb still lead somewhere.
    let mut tail = core.split_whitespace().rev();
    let (w1, w2) = (tail.next().unwrap_or(""), tail.next().unwrap_or(""));
    if ["and", "but", "or", "so"].contains(&w2.to_lowercase().as_str())
        && ["then", "so", "also", "yeah"].contains(&w1.to_lowercase().as_str())
    {
        return 0.1;
    }
    // A lone "so" / "well" / "그래서" is a turn being started, not an answer.
    if core.split_whitespace().count() == 1 && OPENERS.contains(&last.as_str()) {
        return 0.1;
    }
    match (words, punct) {
        // A question or exclamation is finished whatever its last word ("뭐라고?", "Really?"),
        // unless it trails off on a filler or a conjunction.
        (Some(w), Some('?' | '？' | '!' | '！')) if w > 0.06 => 0.95,
        // Otherwise a word that cannot end a sentence outweighs the transcriber's full stop
        // (Whisper puts one on partial clauses too).
        (Some(w), _) if w < 0.3 => w,
        (_, Some('?' | '？')) => 0.95,
        (_, Some(',' | '、')) => 0.2,
        (Some(w), _) => w,
        (None, Some('!' | '！')) => 0.9,
        (None, Some('.' | '。')) => 0.8,
        (None, _) => 0.5,
    }
}

const OPENERS: &[&str] = &[
    "so",
    "well",
    "and",
    "but",
    "then",
    "그래서",
    "그리고",
    "그런데",
    "근데",
];

fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c) || ('\u{1100}'..='\u{11FF}').contains(&c)
}

const KO_FILLERS: &[&str] = &[
    "음",
    "으음",
    "어",
    "어어",
    "그",
    "저",
    "뭐",
    "막",
    "아",
    "에",
    "음음",
    "그니까",
];
const KO_CONJUNCTIONS: &[&str] = &[
    "그리고",
    "그래서",
    "그런데",
    "근데",
    "그러니까",
    "하지만",
    "그러면",
    "그럼",
    "또",
    "그러다가",
    "그래가지고",
    "그치만",
    "왜냐하면",
    "그러고",
    "그다음에",
    "그담에",
];
/// Endings that join a clause to what follows (-고, -서, -는데, -면서, -니까 ...).
const KO_CONNECTIVE: &[&str] = &[
    "는데",
    "은데",
    "인데",
    "던데",
    "면서",
    "으면서",
    "니까",
    "으니까",
    "지만",
    "다가",
    "도록",
    "려고",
    "으려고",
    "자마자",
    "는지",
    "은지",
    "든지",
    "거나",
    "고서",
    "어서",
    "아서",
    "해서",
    "고",
    "서",
    "며",
    "면",
    "러",
    "데",
];
/// Particles that leave the sentence open ("공원에", "친구랑", "아침은").
const KO_PARTICLES: &[&str] = &[
    "에서", "에게", "한테", "하고", "이랑", "으로", "까지", "부터", "처럼", "보다", "랑", "와",
    "과", "의", "도", "로", "만", "을", "를", "은", "는", "이", "가", "에",
];
/// Sentence-final endings (polite and plain; statements, questions, suggestions).
const KO_FINAL: &[&str] = &[
    "습니다",
    "니다",
    "세요",
    "어요",
    "아요",
    "에요",
    "예요",
    "네요",
    "군요",
    "지요",
    "죠",
    "까요",
    "래요",
    "나요",
    "거든요",
    "는데요",
    "데요",
    "요",
    "다",
    "까",
    "냐",
    "니",
    "지",
    "야",
    "네",
    "래",
    "자",
    "어",
    "아",
    "해",
];

fn korean(last: &str) -> Option<f32> {
    if KO_FILLERS.contains(&last) {
        return Some(0.05);
    }
    if KO_CONJUNCTIONS.contains(&last) {
        return Some(0.05);
    }
    // Polite finals end in 요 and outrank the connectives they contain ("는데요").
    if last.ends_with('요') {
        return Some(0.95);
    }
    // "-습니까/-ㅂ니까" ask a question; they are not the connective "-니까".
    if last.ends_with("습니까") || last.ends_with("입니까") {
        return Some(0.95);
    }
    if KO_CONNECTIVE.iter().any(|e| last.ends_with(e)) {
        return Some(0.15);
    }
    if last.chars().count() > 1 && KO_PARTICLES.iter().any(|p| last.ends_with(p)) {
        return Some(0.2);
    }
    if KO_FINAL.iter().any(|e| last.ends_with(e)) {
        return Some(0.85);
    }
    None
}

const EN_FILLERS: &[&str] = &["um", "uh", "er", "erm", "hmm", "mm", "uhm", "ah"];
/// Words a finished English sentence almost never ends on.
const EN_OPEN: &[&str] = &[
    "and", "but", "or", "because", "cause", "the", "a", "an", "to", "of", "in", "on", "at", "for",
    "with", "my", "your", "his", "her", "their", "our", "is", "was", "were", "are", "i", "if",
    "when", "that", "which", "who", "about", "from", "into", "just", "very", "really", "went",
    "got", "some", "this", "we", "they", "he", "she", "it's", "i'm", "and...",
];

fn english(last: &str) -> Option<f32> {
    if EN_FILLERS.contains(&last) {
        Some(0.05)
    } else if EN_OPEN.contains(&last) {
        Some(0.1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::completeness;

    fn done(t: &str) -> bool {
        completeness(t) >= 0.8
    }
    fn going_on(t: &str) -> bool {
        completeness(t) <= 0.2
    }

    #[test]
    fn korean_final_endings_finish_a_turn() {
        for t in [
            "오늘 공원에 갔어요.",
            "날씨가 정말 좋네요",
            "병원에 다녀왔습니다",
            "내일 뭐 하세요?",
            "그냥 집에 있었죠",
            "밥 먹었어",
            "친구를 만났는데요",
        ] {
            assert!(done(t), "{t}: {}", completeness(t));
        }
    }

    #[test]
    fn korean_connectives_particles_and_fillers_mean_more_is_coming() {
        for t in [
            "아침에 일어나서",
            "공원에 갔는데",
            "밥을 먹고",
            "산책하면서",
            "비가 오니까",
            "그래서",
            "그리고",
            "음",
            "친구랑",
            "아침에",
            "어제 병원에서",
            "그게 좀…",
        ] {
            assert!(going_on(t), "{t}: {}", completeness(t));
        }
    }

    #[test]
    fn whisper_punctuation_does_not_hide_an_open_ending() {
        // Transcribers often put a full stop on a partial clause.
        assert!(going_on("아침에 일어나서."));
        assert!(going_on("I went to the."));
        assert!(going_on("And then, um."));
    }

    #[test]
    fn english_open_words_and_fillers_mean_more_is_coming() {
        for t in [
            "I went to the",
            "and",
            "so, um",
            "I was talking with my",
            "because,",
        ] {
            assert!(going_on(t), "{t}: {}", completeness(t));
        }
        for t in [
            "I went to the dentist.",
            "What about you?",
            "That's great!",
            "No.",
        ] {
            assert!(done(t), "{t}: {}", completeness(t));
        }
    }

    #[test]
    fn questions_and_exclamations_are_finished_whatever_their_last_word() {
        for t in [
            "괜찮습니까?",
            "뭐라고?",
            "최고!",
            "어디 가는데?",
            "너는?",
            "Who is this?",
            "Really?",
            "Where are you from?",
            "What's it like?",
            "I think so.",
        ] {
            assert!(done(t), "{t}: {}", completeness(t));
        }
        // ...but not when they trail off on a filler or a conjunction.
        assert!(going_on("and um?"));
        assert!(going_on("So."));
        assert!(going_on("그래서."));
    }

    #[test]
    fn no_words_is_no_evidence() {
        assert_eq!(completeness(""), 0.5);
        assert_eq!(completeness("  "), 0.5);
        assert_eq!(completeness("dentist"), 0.5);
    }
}
