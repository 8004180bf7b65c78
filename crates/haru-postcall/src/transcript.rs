//! What a job knows about a call: its record, spoken lines and turn timings, read from
//! the store.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use haru_store::{CallStore, Role, SqlStore};

use crate::dates::{local_date, parse_stored};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct Line {
    /// [`Role::User`] (the caller) or [`Role::Assistant`] (haru).
    pub role: Role,
    pub content: String,
    pub interrupted: bool,
    pub turn_index: i64,
    pub created_at: Option<DateTime<Utc>>,
}

impl Line {
    pub fn is_caller(&self) -> bool {
        self.role == Role::User
    }
}

#[derive(Debug, Clone)]
pub struct Turn {
    pub turn_index: i64,
    pub speech_ms: Option<i64>,
    pub first_audio_ms: Option<i64>,
    pub barge_in: bool,
    pub outcome: String,
}

#[derive(Debug, Clone)]
pub struct CallContext {
    pub call_sid: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub tz: Tz,
    /// Spoken lines only (DTMF and system messages are not part of the conversation).
    pub lines: Vec<Line>,
    pub turns: Vec<Turn>,
}

impl CallContext {
    pub async fn load(store: &SqlStore, call_sid: &str, tz: Tz) -> Result<Self> {
        let call = store
            .call(call_sid)
            .await?
            .ok_or_else(|| Error::UnknownCall(call_sid.to_string()))?;
        let started_at = parse_stored(&call.started_at).ok_or_else(|| {
            Error::Invalid(format!("call start `{}` is not RFC 3339", call.started_at))
        })?;
        let ended_at = call.ended_at.as_deref().and_then(parse_stored);
        let lines = store
            .messages(call_sid)
            .await?
            .into_iter()
            .filter(|m| matches!(m.role, Role::User | Role::Assistant))
            .map(|m| Line {
                role: m.role,
                content: m.content,
                interrupted: m.interrupted,
                turn_index: m.turn_index,
                created_at: parse_stored(&m.created_at),
            })
            .collect();
        let turns = store
            .turns(call_sid)
            .await?
            .into_iter()
            .map(|t| Turn {
                turn_index: t.turn_index,
                speech_ms: t.speech_ms,
                first_audio_ms: t.first_audio_ms,
                barge_in: t.barge_in,
                outcome: t.outcome,
            })
            .collect();
        Ok(Self {
            call_sid: call_sid.to_string(),
            started_at,
            ended_at,
            tz,
            lines,
            turns,
        })
    }

    /// The call's local date (when it started), used to date the diary.
    pub fn local_date(&self) -> NaiveDate {
        local_date(self.started_at, self.tz)
    }

    /// The transcript as the model reads it, one line per message, each with its local
    /// time so the model can tell which day a line was said on in a call over midnight.
    pub fn for_prompt(&self) -> String {
        self.prompt_lines(false, ("Caller", "Haru"))
    }

    /// The same, with the speakers named in the call's language: a Korean model that reads
    /// "Caller:" writes "Caller는 …" into a Korean mood or diary; "그분:" it writes as 그분.
    pub fn for_prompt_in(&self, language: &str) -> String {
        self.prompt_lines(false, labels(language))
    }

    /// Only the caller's lines, in the same form: what their diary is written from (small
    /// models otherwise copy Haru's questions into it as if the caller had said them).
    pub fn caller_lines_for_prompt(&self, language: &str) -> String {
        self.prompt_lines(true, labels(language))
    }

    fn prompt_lines(&self, caller_only: bool, (caller, haru): (&str, &str)) -> String {
        let mut out = String::new();
        for l in self.lines.iter().filter(|l| !caller_only || l.is_caller()) {
            let who = if l.is_caller() { caller } else { haru };
            let at = l
                .created_at
                .map(|t| {
                    t.with_timezone(&self.tz)
                        .format("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default();
            out.push_str(&format!("[{at}] {who}: {}\n", l.content.trim()));
        }
        out
    }

    /// The sentences said in the call (the caller's only, or everyone's), each once, in
    /// order: what a quote may be. A sentence ends at . ? ! or 。; one too long to quote
    /// is cut (still a substring of what was said).
    pub fn sentences(&self, caller_only: bool) -> Vec<String> {
        const MAX_CHARS: usize = 120;
        let mut out: Vec<String> = Vec::new();
        for l in self.lines.iter().filter(|l| !caller_only || l.is_caller()) {
            for sentence in split_sentences(&l.content) {
                let s: String = sentence.chars().take(MAX_CHARS).collect();
                let s = s.trim().to_string();
                if !normalise(&s).is_empty() && !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.lines.iter().all(|l| l.content.trim().is_empty())
    }
}

/// Speaker names for a prompt in `language`.
fn labels(language: &str) -> (&'static str, &'static str) {
    if language.starts_with("ko") {
        ("그분", "하루")
    } else {
        ("Caller", "Haru")
    }
}

/// A text's sentences, trimmed, each ending at . ? ! or 。 (the last one may not).
pub fn split_sentences(text: &str) -> Vec<&str> {
    text.split_inclusive(['.', '?', '!', '。'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Written in Korean: Hangul, and no more Latin letters than Hangul syllables (names such
/// as "Haru" or "TV" may stay; an English sentence may not). How a Korean call's diary and
/// mood reason are checked.
pub fn reads_as_korean(s: &str) -> bool {
    let hangul = s
        .chars()
        .filter(|c| ('\u{AC00}'..='\u{D7A3}').contains(c))
        .count();
    let latin = s.chars().filter(char::is_ascii_alphabetic).count();
    hangul > 0 && latin <= hangul
}

/// Lower-cased letters and digits only, so a quote matches whatever the spacing and
/// punctuation the model or STT used.
pub fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The first spoken line that contains `quote` (normalised), if any.
pub fn find_quote<'a>(lines: &'a [Line], quote: &str) -> Option<&'a Line> {
    find_in(lines.iter(), quote)
}

/// Like [`find_quote`], but only among the caller's lines: for evidence that must be
/// the caller's own words, not something Haru said.
pub fn find_caller_quote<'a>(lines: &'a [Line], quote: &str) -> Option<&'a Line> {
    find_in(lines.iter().filter(|l| l.is_caller()), quote)
}

fn find_in<'a>(mut lines: impl Iterator<Item = &'a Line>, quote: &str) -> Option<&'a Line> {
    let q = normalise(quote);
    if q.is_empty() {
        return None;
    }
    lines.find(|l| normalise(&l.content).contains(&q))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_may_name_haru_but_not_be_english() {
        assert!(reads_as_korean(
            "Caller는 Haru에게 산책 이야기를 즐겁게 했다."
        ));
        assert!(!reads_as_korean("Thank you for sharing your experience."));
        assert!(!reads_as_korean(
            "오늘 산책했다. Tell me more, what did you say?"
        ));
    }

    #[test]
    fn sentences_split_each_line_once() {
        let line = |role: &str, content: &str| Line {
            role: haru_store::Role::parse(role).expect("role"),
            content: content.into(),
            interrupted: false,
            turn_index: 1,
            created_at: None,
        };
        let ctx = CallContext {
            call_sid: "CA1".into(),
            started_at: Utc::now(),
            ended_at: None,
            tz: chrono_tz::Asia::Seoul,
            lines: vec![
                line("assistant", "안녕하세요! 오늘 어떠셨어요?"),
                line("user", "산책했어요. 내일 치과에 가요"),
                line("user", "산책했어요."),
                line("user", "..."),
            ],
            turns: Vec::new(),
        };
        assert_eq!(ctx.sentences(true), ["산책했어요.", "내일 치과에 가요"]);
        assert_eq!(
            ctx.sentences(false),
            [
                "안녕하세요!",
                "오늘 어떠셨어요?",
                "산책했어요.",
                "내일 치과에 가요"
            ]
        );
    }

    #[test]
    fn quotes_match_across_spacing_and_punctuation() {
        let lines = vec![Line {
            role: haru_store::Role::User,
            content: "내일 저녁 7시에, 친구랑 저녁 먹기로 했어요!".into(),
            interrupted: false,
            turn_index: 1,
            created_at: None,
        }];
        assert!(find_quote(&lines, "친구랑 저녁  먹기로 했어요").is_some());
        assert!(find_quote(&lines, "저녁 7시에 친구랑").is_some());
        assert!(find_quote(&lines, "치과 예약").is_none());
        assert!(find_quote(&lines, " ... ").is_none());
    }

    #[test]
    fn caller_quotes_ignore_harus_lines() {
        let line = |role: &str, content: &str| Line {
            role: haru_store::Role::parse(role).expect("role"),
            content: content.into(),
            interrupted: false,
            turn_index: 1,
            created_at: None,
        };
        let lines = vec![
            line("user", "손녀 이름은 지민이에요."),
            line("assistant", "지민이라는 이름 예쁘네요."),
        ];
        assert!(find_caller_quote(&lines, "손녀 이름은 지민이에요").is_some());
        assert!(find_caller_quote(&lines, "이름 예쁘네요").is_none());
        assert!(find_quote(&lines, "이름 예쁘네요").is_some());
    }
}
