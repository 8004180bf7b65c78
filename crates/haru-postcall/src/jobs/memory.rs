//! Memory: what haru keeps of a person from one call to the next — things the caller
//! asked to be remembered and durable facts worth following up — and what the caller
//! asked to forget.
//!
//! The model proposes; haru checks. Every new item needs a quote the caller said in
//! this call, and nothing is forgotten unless the caller asked for it in this call and
//! the id is one of *this person's* items, so a model cannot invent memories, erase them
//! on its own, or touch another person's.

use haru_providers::{ChatMessage, ChatModel};
use haru_store::SqlStore;
use haru_store::companion::MemoryItem;
use serde::Deserialize;

use crate::Result;
use crate::schema::{self, MEMORY_FORGET_MAX, MEMORY_REMEMBER_MAX, MEMORY_TEXT_MAX};
use crate::transcript::{CallContext, find_caller_quote, normalise};

/// How many items a person keeps; the oldest go first.
pub const MAX_ITEMS: i64 = 30;

/// What a caller says to ask for forgetting, matched normalised (so spacing and
/// punctuation do not matter) on the caller's lines only.
const FORGET_PHRASES: [&str; 7] = [
    "잊어",
    "잊어버",
    "지워 주",
    "기억하지 마",
    "forget",
    "don't remember",
    "delete that",
];

/// "Don't forget" contains "forget" (and "잊어버리지 마" contains "잊어버") but asks the
/// opposite; these are cut out before looking for a request.
const NOT_FORGET: [&str; 5] = [
    "don't forget",
    "do not forget",
    "never forget",
    "잊어버리지 마",
    "잊어버리지 말",
];

/// One call's change to a person's memory, checked and ready to write.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Update {
    pub person_id: String,
    /// Ids of this person's items, each once.
    pub forget: Vec<i64>,
    /// `(text, quote)`, new items only.
    pub remember: Vec<(String, String)>,
    /// Proposed items dropped because the person already had them.
    pub duplicates: usize,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.forget.is_empty() && self.remember.is_empty()
    }

    /// The job's `detail`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "remembered {}, forgot {}",
            self.remember.len(),
            self.forget.len()
        );
        if self.duplicates > 0 {
            s.push_str(&format!("; {} already known", self.duplicates));
        }
        s
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The call was not with a known person: there is no one to remember things for.
    NoPerson,
    Update(Update),
}

#[derive(Deserialize)]
struct Answer {
    remember: Vec<Proposed>,
    forget: Vec<i64>,
}

#[derive(Deserialize)]
struct Proposed {
    text: String,
    quote: String,
}

/// Did the caller ask, somewhere in this call, for something to be forgotten?
pub fn caller_asked_to_forget(ctx: &CallContext) -> bool {
    ctx.lines
        .iter()
        .filter(|l| l.is_caller())
        .any(|l| asks_to_forget(&l.content))
}

fn asks_to_forget(said: &str) -> bool {
    let mut s = normalise(said);
    for not in NOT_FORGET {
        s = s.replace(&normalise(not), " ");
    }
    FORGET_PHRASES.iter().any(|p| s.contains(&normalise(p)))
}

fn validate(ctx: &CallContext, items: &[MemoryItem], a: &Answer) -> Result<(), String> {
    if a.remember.len() > MEMORY_REMEMBER_MAX {
        return Err(format!(
            "`remember` has {} items; at most {MEMORY_REMEMBER_MAX}",
            a.remember.len()
        ));
    }
    if a.forget.len() > MEMORY_FORGET_MAX {
        return Err(format!(
            "`forget` has {} ids; at most {MEMORY_FORGET_MAX}",
            a.forget.len()
        ));
    }
    for r in &a.remember {
        if normalise(&r.text).is_empty() {
            return Err("a `remember` text is empty".into());
        }
        let n = r.text.trim().chars().count();
        if n > MEMORY_TEXT_MAX {
            return Err(format!(
                "`remember` text `{}` is {n} characters; at most {MEMORY_TEXT_MAX}",
                r.text.trim()
            ));
        }
        if find_caller_quote(&ctx.lines, &r.quote).is_none() {
            return Err(format!(
                "quote `{}` is not something the caller said in this call",
                r.quote
            ));
        }
    }
    if let Some(id) = a
        .forget
        .iter()
        .find(|id| !items.iter().any(|i| i.id == **id))
    {
        return Err(format!(
            "`forget` id {id} is not one of the listed memory items"
        ));
    }
    if !a.forget.is_empty() && !caller_asked_to_forget(ctx) {
        return Err(
            "`forget` must be empty: the caller did not ask to forget anything in this call".into(),
        );
    }
    Ok(())
}

/// Turns a validated answer into the update: forget ids once each, and no item the
/// person already has (kept ones, that is) or the answer already listed.
fn plan(person_id: &str, items: &[MemoryItem], a: Answer) -> Update {
    let mut forget = a.forget;
    forget.sort_unstable();
    forget.dedup();
    // An item being forgotten does not count as known: forgetting and re-stating a
    // fact in one call is how a caller corrects it.
    let mut known: Vec<String> = items
        .iter()
        .filter(|i| !forget.contains(&i.id))
        .map(|i| normalise(&i.text))
        .collect();
    let mut remember = Vec::new();
    let mut duplicates = 0;
    for r in a.remember {
        let key = normalise(&r.text);
        if known.contains(&key) {
            duplicates += 1;
            continue;
        }
        known.push(key);
        remember.push((r.text.trim().to_string(), r.quote.trim().to_string()));
    }
    Update {
        person_id: person_id.to_string(),
        forget,
        remember,
        duplicates,
    }
}

fn listed(items: &[MemoryItem]) -> String {
    if items.is_empty() {
        return "(none)\n".into();
    }
    items
        .iter()
        .map(|i| format!("[id {}] {}\n", i.id, i.text.trim()))
        .collect()
}

pub async fn compute(store: &SqlStore, ctx: &CallContext, chat: &dyn ChatModel) -> Result<Outcome> {
    let Some(person) = store.person_for_call(&ctx.call_sid).await? else {
        return Ok(Outcome::NoPerson);
    };
    if ctx.is_empty() {
        return Ok(Outcome::Update(Update {
            person_id: person.id,
            ..Update::default()
        }));
    }
    let items = store.memory_items(&person.id).await?;
    let language = &person.language;
    let messages = vec![
        ChatMessage::system(format!(
            "You keep Haru's memory of the caller, {name}, whom Haru phones every day. From \
             this call, list in `remember` (at most {MEMORY_REMEMBER_MAX}) what the caller \
             asked Haru to remember, and durable facts about the caller's life worth following \
             up in later calls (family, health, plans, routines); no small talk or passing \
             moods, and nothing already in memory. Each `text` is one short sentence (at most \
             {MEMORY_TEXT_MAX} characters) in the language `{language}`, in the third person \
             about the caller; `quote` is the caller's words it came from, copied verbatim \
             from one of the caller's lines (never Haru's). `forget` lists the ids of memory \
             items the caller asked in this call to be forgotten, and nothing else: if the \
             caller did not ask to forget anything, it is empty. Empty lists are a fine \
             answer. JSON only.",
            name = person.name.trim(),
        )),
        ChatMessage::user(format!(
            "Memory items:\n{}\nTranscript:\n{}",
            listed(&items),
            ctx.for_prompt()
        )),
    ];
    let a: Answer = schema::ask(
        chat,
        messages,
        "memory",
        schema::memory(&ctx.sentences(true)),
        |a: &Answer| validate(ctx, &items, a),
    )
    .await?;
    Ok(Outcome::Update(plan(&person.id, &items, a)))
}

/// Writes the update in the store's own transaction (forgets only this person's ids,
/// trims to [`MAX_ITEMS`]).
pub async fn save(store: &SqlStore, call_sid: &str, u: &Update) -> Result<()> {
    store
        .update_memory(&u.person_id, call_sid, &u.forget, &u.remember, MAX_ITEMS)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Line;

    fn ctx(lines: &[(&str, &str)]) -> CallContext {
        CallContext {
            call_sid: "CA1".into(),
            started_at: chrono::Utc::now(),
            ended_at: None,
            tz: chrono_tz::Asia::Seoul,
            lines: lines
                .iter()
                .map(|(role, content)| Line {
                    role: haru_store::Role::parse(role).expect("role"),
                    content: content.to_string(),
                    interrupted: false,
                    turn_index: 1,
                    created_at: None,
                })
                .collect(),
            turns: vec![],
        }
    }

    fn item(id: i64, text: &str) -> MemoryItem {
        MemoryItem {
            id,
            person_id: "p1".into(),
            text: text.into(),
            quote: None,
            call_sid: None,
            created_at: String::new(),
        }
    }

    fn answer(remember: &[(&str, &str)], forget: &[i64]) -> Answer {
        Answer {
            remember: remember
                .iter()
                .map(|(t, q)| Proposed {
                    text: t.to_string(),
                    quote: q.to_string(),
                })
                .collect(),
            forget: forget.to_vec(),
        }
    }

    #[test]
    fn forget_requests_are_recognised_and_negations_are_not() {
        for said in [
            "지민이 얘기는 잊어 주세요",
            "그건 잊어버려",
            "그거 지워주세요",
            "그건 기억하지 마세요",
            "Please FORGET that.",
            "I'd rather you didn't — don't remember that.",
            "Delete that, please",
        ] {
            assert!(asks_to_forget(said), "{said}");
        }
        for said in [
            "꼭 기억해 주세요",
            "잊어버리지 마세요",
            "Don't forget my birthday!",
            "Never forget it",
            "remember that my son visits on Sundays",
        ] {
            assert!(!asks_to_forget(said), "{said}");
        }
    }

    #[test]
    fn only_the_callers_lines_count() {
        let c = ctx(&[
            ("assistant", "잊어 드릴까요?"),
            ("user", "아니요, 괜찮아요."),
        ]);
        assert!(!caller_asked_to_forget(&c));
        let items = [item(7, "손녀 이름은 지민")];
        let err = validate(&c, &items, &answer(&[], &[7])).unwrap_err();
        assert!(err.contains("did not ask to forget"), "{err}");
        let err = validate(&c, &items, &answer(&[("x", "잊어 드릴까요")], &[])).unwrap_err();
        assert!(err.contains("not something the caller said"), "{err}");
    }

    #[test]
    fn unknown_ids_and_long_texts_are_rejected() {
        let c = ctx(&[("user", "그건 잊어 주세요. 손녀 이름은 지민이에요.")]);
        let items = [item(7, "손녀 이름은 지민")];
        assert!(validate(&c, &items, &answer(&[], &[7])).is_ok());
        let err = validate(&c, &items, &answer(&[], &[8])).unwrap_err();
        assert!(err.contains("id 8"), "{err}");
        let long = "가".repeat(MEMORY_TEXT_MAX + 1);
        let err = validate(&c, &items, &answer(&[(&long, "손녀 이름은")], &[])).unwrap_err();
        assert!(err.contains("characters"), "{err}");
    }

    #[test]
    fn duplicates_are_dropped_unless_the_old_item_is_forgotten() {
        let items = [item(1, "손녀 이름은 지민"), item(2, "아들은 일요일에 온다")];
        let u = plan(
            "p1",
            &items,
            answer(
                &[
                    ("손녀 이름은 지민.", "q"),
                    ("아들은 일요일에 온다", "q"),
                    ("딸은 부산에 산다", "q"),
                    ("딸은 부산에 산다!", "q"),
                ],
                &[2, 2],
            ),
        );
        assert_eq!(u.forget, [2]);
        assert_eq!(
            u.remember,
            [
                ("아들은 일요일에 온다".to_string(), "q".to_string()),
                ("딸은 부산에 산다".to_string(), "q".to_string()),
            ]
        );
        assert_eq!(u.duplicates, 2);
        assert_eq!(u.summary(), "remembered 2, forgot 1; 2 already known");
    }
}
