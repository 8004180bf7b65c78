//! The diary: a first-person entry in the caller's language, drawn only from the call.

use haru_providers::{ChatMessage, ChatModel};
use serde::{Deserialize, Serialize};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::Result;
use crate::schema;
use crate::transcript::CallContext;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diary {
    pub call_sid: String,
    /// The call's local date (`YYYY-MM-DD`), when it started.
    pub local_date: String,
    pub language: String,
    pub title: String,
    pub paragraphs: Vec<String>,
}

#[derive(Deserialize)]
struct Answer {
    title: String,
    paragraphs: Vec<String>,
}

fn has_hangul(s: &str) -> bool {
    s.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

fn validate(a: &Answer, language: &str) -> Result<(), String> {
    if a.title.trim().is_empty() {
        return Err("title is empty".into());
    }
    let n = a.paragraphs.iter().filter(|p| !p.trim().is_empty()).count();
    if !(2..=6).contains(&n) || n != a.paragraphs.len() {
        return Err(format!(
            "expected 2 to 6 non-empty paragraphs, got {} ({} non-empty)",
            a.paragraphs.len(),
            n
        ));
    }
    // A cheap check that the model kept to the caller's language.
    if language.starts_with("ko") && !has_hangul(&a.paragraphs.concat()) {
        return Err("the diary must be written in Korean".into());
    }
    Ok(())
}

pub async fn compute(ctx: &CallContext, chat: &dyn ChatModel, language: &str) -> Result<Diary> {
    let date = ctx.local_date();
    let messages = vec![
        ChatMessage::system(format!(
            "You write the caller's diary after a phone call with Haru, a friendly voice \
             companion. Write in the first person, as the caller, in the language `{language}`. \
             Give it a short title and 2 to 6 short paragraphs. Use only what was said in the \
             call: invent no events, names, feelings or details. The diary is for {date}. \
             Answer with JSON only."
        )),
        ChatMessage::user(format!("Transcript:\n{}", ctx.for_prompt())),
    ];
    let a: Answer = schema::ask(chat, messages, "diary", schema::diary(), |a: &Answer| {
        validate(a, language)
    })
    .await?;
    Ok(Diary {
        call_sid: ctx.call_sid.clone(),
        local_date: date.format("%Y-%m-%d").to_string(),
        language: language.to_string(),
        title: a.title.trim().to_string(),
        paragraphs: a.paragraphs.iter().map(|p| p.trim().to_string()).collect(),
    })
}

pub async fn save(tx: &mut Transaction<'_, Sqlite>, d: &Diary, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO diaries (call_sid, local_date, language, title, paragraphs_json, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(call_sid) DO UPDATE SET local_date = excluded.local_date,
           language = excluded.language, title = excluded.title,
           paragraphs_json = excluded.paragraphs_json, created_at = excluded.created_at",
    )
    .bind(&d.call_sid)
    .bind(&d.local_date)
    .bind(&d.language)
    .bind(&d.title)
    .bind(serde_json::to_string(&d.paragraphs).unwrap_or_else(|_| "[]".into()))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn load(pool: &SqlitePool, call_sid: &str) -> Result<Option<Diary>> {
    let row = sqlx::query("SELECT * FROM diaries WHERE call_sid = ?1")
        .bind(call_sid)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| Diary {
        call_sid: r.get("call_sid"),
        local_date: r.get("local_date"),
        language: r.get("language"),
        title: r.get("title"),
        paragraphs: serde_json::from_str(r.get::<&str, _>("paragraphs_json")).unwrap_or_default(),
    }))
}
