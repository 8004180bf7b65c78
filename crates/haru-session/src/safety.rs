//! Words that cannot wait for the diary: health emergencies and despair. When the caller
//! says one, haru answers at once with a fixed, calm reply (no LLM in between, so it cannot
//! be talked out of it or be slow), and the call raises an alert with the quote.

use haru_store::AlertKind;

#[derive(Debug, Clone, PartialEq)]
pub struct Safety {
    /// Health or emergency phrases (substring match after normalising).
    pub emergency: Vec<String>,
    /// Phrases of despair or self-harm.
    pub distress: Vec<String>,
    pub emergency_reply: String,
    pub distress_reply: String,
    /// Emergency phrases that name pain without saying where or how bad ("아파요"): a
    /// [`Safety::softeners`] word right before them makes them mild, not an emergency.
    pub mild_when_softened: Vec<String>,
    /// "좀", "조금", "a bit": "이가 좀 아파서 내일 치과에 가요" is a toothache the diary
    /// notes, not a reason to tell the family to call an ambulance.
    pub softeners: Vec<String>,
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

impl Safety {
    pub fn korean() -> Self {
        Self {
            emergency: list(&[
                "아파요",
                "아프다",
                "아파서",
                "쓰러졌",
                "쓰러질",
                "숨이 차",
                "숨쉬기",
                "숨을 못",
                "119",
                "가슴이 아",
                // The chest is never mild: a softener must not hide it.
                "가슴이 좀 아",
                "가슴이 조금 아",
                "가슴이 약간 아",
                "가슴이 답답",
                "넘어졌",
                "일어날 수가 없",
                "피가 나",
                "어지러워",
                "구급차",
                "응급",
            ]),
            distress: list(&[
                "죽고 싶",
                "죽고싶",
                "살기 싫",
                "살고 싶지 않",
                "자살",
                "사라지고 싶",
                "끝내고 싶",
            ]),
            emergency_reply: "많이 걱정돼요. 지금 위급하시면 바로 119에 전화하세요. \
                              가족분께도 바로 알려 드릴게요. 천천히 숨 쉬시고, 제가 여기 있을게요."
                .into(),
            distress_reply: "그렇게 힘드셨군요. 말씀해 주셔서 고마워요. 혼자가 아니에요. \
                             지금 바로 109에 전화하시면 상담 선생님과 이야기하실 수 있어요. \
                             가족분께도 알려 드릴게요."
                .into(),
            mild_when_softened: list(&["아파요", "아프다", "아파서"]),
            softeners: list(&["좀", "조금", "약간", "살짝"]),
        }
    }

    pub fn english() -> Self {
        Self {
            emergency: list(&[
                "i fell",
                "i've fallen",
                "i have fallen",
                "chest pain",
                "my chest hurts",
                "can't breathe",
                "cannot breathe",
                "short of breath",
                "i'm bleeding",
                "ambulance",
                "911",
                "emergency",
                "i can't get up",
                "heart attack",
                "stroke",
            ]),
            distress: list(&[
                "want to die",
                "kill myself",
                "end my life",
                "suicide",
                "don't want to live",
                "no reason to live",
            ]),
            emergency_reply: "I'm worried about you. If this is an emergency, please call 911 or \
                              your local emergency number now. I'm letting your family know \
                              right away. Breathe slowly; I'm here with you."
                .into(),
            distress_reply: "I'm so sorry you're feeling this way, and thank you for telling me. \
                             You're not alone. Please call or text 988 to talk with someone now. \
                             I'm letting your family know."
                .into(),
            // English pain phrases already say where ("chest pain"): none is mild.
            mild_when_softened: Vec::new(),
            softeners: Vec::new(),
        }
    }

    /// The phrases for a language code (`ko`, `en`); Korean for anything else.
    pub fn for_language(language: &str) -> Self {
        if language.starts_with("en") {
            Self::english()
        } else {
            Self::korean()
        }
    }

    /// What the caller's words signal, and the phrase that matched. Despair wins over an
    /// emergency when both are said: its reply points to the right help.
    pub fn detect(&self, text: &str) -> Option<(AlertKind, &str)> {
        let said = normalise(text);
        let no_softeners: &[String] = &[];
        let hit = |phrases: &'_ [String]| -> Option<usize> {
            phrases.iter().position(|p| {
                let softeners = if self.mild_when_softened.contains(p) {
                    &self.softeners[..]
                } else {
                    no_softeners
                };
                contains_phrase(&said, &normalise(p), softeners)
            })
        };
        if let Some(i) = hit(&self.distress) {
            return Some((AlertKind::Distress, self.distress[i].as_str()));
        }
        hit(&self.emergency).map(|i| (AlertKind::Emergency, self.emergency[i].as_str()))
    }

    pub fn reply(&self, kind: AlertKind) -> &str {
        match kind {
            AlertKind::Distress => &self.distress_reply,
            _ => &self.emergency_reply,
        }
    }
}

/// `phrase` starts a word of `said` (both normalised). It must also end one when it ends
/// in a Latin letter or digit followed by another ("fell" is not "fellow"); Korean endings
/// and particles may follow ("쓰러졌" in "쓰러졌어요", "119" in "119에").
/// An occurrence right after a denial ("안") or one of `softeners` does not count.
fn contains_phrase(said: &str, phrase: &str, softeners: &[String]) -> bool {
    let p = phrase.trim();
    if p.is_empty() {
        return false;
    }
    let needle = format!(" {p}");
    let mut from = 0;
    while let Some(i) = said[from..].find(&needle) {
        let at = from + i;
        let end = at + needle.len();
        let whole = match said[end..].chars().next() {
            Some(c) => {
                !(c.is_ascii_alphanumeric() && p.ends_with(|e: char| e.is_ascii_alphanumeric()))
            }
            None => true,
        };
        let before = &said[..at];
        let softened = before
            .split_whitespace()
            .next_back()
            .is_some_and(|w| softeners.iter().any(|s| s == w));
        if whole && !negated(before) && !softened {
            return true;
        }
        from = at + 1;
    }
    false
}

/// The word before a match denies it: "안 아파요", "no emergency", "not a stroke".
fn negated(before: &str) -> bool {
    let last = before.split_whitespace().next_back().unwrap_or("");
    matches!(
        last,
        "안" | "no" | "not" | "never" | "don't" | "isn't" | "wasn't"
    )
}

/// Lower case, apostrophes unified, runs of whitespace and punctuation as one space, so
/// "I  fell!" and "i fell" match, and "can’t" matches "can't".
fn normalise(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(' ');
    for c in s.chars() {
        let c = if c == '’' { '\'' } else { c };
        if c.is_alphanumeric() || c == '\'' || ('\u{AC00}'..='\u{D7A3}').contains(&c) {
            out.extend(c.to_lowercase());
        } else if !out.ends_with(' ') {
            out.push(' ');
        }
    }
    if !out.ends_with(' ') {
        out.push(' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_emergencies_and_despair_are_heard() {
        let s = Safety::korean();
        assert_eq!(
            s.detect("아까 화장실에서 쓰러졌어요").map(|d| d.0),
            Some(AlertKind::Emergency)
        );
        assert_eq!(
            s.detect("숨이 차서 힘들어요").map(|d| d.0),
            Some(AlertKind::Emergency)
        );
        assert_eq!(
            s.detect("그냥 죽고 싶어요").map(|d| d.0),
            Some(AlertKind::Distress)
        );
        assert_eq!(s.detect("오늘은 시장에 다녀왔어요"), None);
    }

    #[test]
    fn english_matching_ignores_case_punctuation_and_curly_quotes() {
        let s = Safety::english();
        assert_eq!(
            s.detect("I FELL, in the kitchen!").map(|d| d.0),
            Some(AlertKind::Emergency)
        );
        assert_eq!(
            s.detect("I can’t breathe well").map(|d| d.1),
            Some("can't breathe")
        );
        assert_eq!(
            s.detect("Sometimes I want to die").map(|d| d.0),
            Some(AlertKind::Distress)
        );
        // Whole words: "strokes" of a brush are not a stroke, "fellow" is not "fell".
        assert_eq!(s.detect("I painted with broad strokes, my fellow"), None);
    }

    #[test]
    fn a_denial_is_not_an_emergency() {
        let k = Safety::korean();
        assert_eq!(k.detect("다리는 이제 안 아파요"), None);
        assert_eq!(
            k.detect("다리가 너무 아파요").map(|d| d.0),
            Some(AlertKind::Emergency)
        );
        let e = Safety::english();
        assert_eq!(e.detect("No emergency, just calling"), None);
        assert_eq!(
            e.detect("It's an emergency").map(|d| d.0),
            Some(AlertKind::Emergency)
        );
    }

    #[test]
    fn a_little_pain_is_not_an_emergency_but_the_chest_always_is() {
        let k = Safety::korean();
        assert_eq!(k.detect("내일 치과 예약이 있어요. 이가 좀 아파서요."), None);
        assert_eq!(k.detect("무릎이 조금 아파요"), None);
        assert_eq!(
            k.detect("무릎이 너무 아파요").map(|d| d.0),
            Some(AlertKind::Emergency)
        );
        assert_eq!(
            k.detect("가슴이 좀 아파요").map(|d| d.0),
            Some(AlertKind::Emergency)
        );
        // A softener only softens pain: "좀 어지러워요" still counts, as does a fall.
        assert_eq!(
            k.detect("좀 어지러워요").map(|d| d.0),
            Some(AlertKind::Emergency)
        );
        assert_eq!(
            k.detect("아까 좀 넘어졌어요").map(|d| d.0),
            Some(AlertKind::Emergency)
        );
    }

    #[test]
    fn despair_wins_over_an_emergency() {
        let s = Safety::korean();
        assert_eq!(
            s.detect("아파요 그냥 죽고 싶어요").map(|d| d.0),
            Some(AlertKind::Distress)
        );
    }
}
