//! The caller's overall mood: a fixed label, a -1..1 score, a reason and quotes.

use haru_providers::{ChatMessage, ChatModel};
use serde::{Deserialize, Serialize};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use crate::Result;
use crate::schema::{self, MOOD_LABELS};
use crate::transcript::{CallContext, find_caller_quote};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mood {
    pub call_sid: String,
    pub label: String,
    pub score: f64,
    pub reason: String,
    pub quotes: Vec<String>,
}

#[derive(Deserialize)]
struct Answer {
    label: String,
    score: f64,
    reason: String,
    quotes: Vec<String>,
}

fn validate(ctx: &CallContext, a: &Answer, language: &str) -> Result<(), String> {
    if !MOOD_LABELS.contains(&a.label.as_str()) {
        return Err(format!("label `{}` is not one of {MOOD_LABELS:?}", a.label));
    }
    if !a.score.is_finite() || !(-1.0..=1.0).contains(&a.score) {
        return Err(format!("score {} is outside -1..1", a.score));
    }
    if a.reason.trim().is_empty() {
        return Err("reason is empty".into());
    }
    if language.starts_with("ko") && !crate::transcript::reads_as_korean(&a.reason) {
        return Err("reason must be one Korean sentence, without English".into());
    }
    // Quotes are evidence: each must be something the caller actually said.
    for q in &a.quotes {
        if find_caller_quote(&ctx.lines, q).is_none() {
            return Err(format!("quote `{q}` is not something the caller said"));
        }
    }
    Ok(())
}

pub async fn compute(ctx: &CallContext, chat: &dyn ChatModel, language: &str) -> Result<Mood> {
    // Small local models write the language they are told in (see the diary job).
    let instructions = if language.starts_with("ko") {
        format!(
            "이 전화 통화에서 전화를 받은 분의 전반적인 기분을 판단하세요. `label`은 \
             {MOOD_LABELS:?} 중 하나, `score`는 -1(아주 나쁨)부터 1(아주 좋음)까지입니다. \
             `reason`은 그 이유를 한국어 한 문장으로 씁니다. `quotes`는 그 기분이 드러나는, \
             그분이 한 말을 그대로 최대 세 개 고릅니다. JSON만 답하세요."
        )
    } else {
        format!(
            "Judge the caller's overall mood in this phone call. `label` is one of \
             {MOOD_LABELS:?}; `score` runs from -1 (very negative) to 1 (very positive); \
             `reason` is one sentence in the language `{language}`; `quotes` are up to three \
             short phrases copied verbatim from the caller's lines that show it. JSON only."
        )
    };
    let messages = vec![
        ChatMessage::system(instructions),
        ChatMessage::user(format!("Transcript:\n{}", ctx.for_prompt())),
    ];
    let a: Answer = schema::ask(
        chat,
        messages,
        "mood",
        schema::mood(&ctx.sentences(true)),
        |a: &Answer| validate(ctx, a, language),
    )
    .await?;
    Ok(Mood {
        call_sid: ctx.call_sid.clone(),
        label: a.label,
        score: a.score,
        reason: a.reason.trim().to_string(),
        quotes: a.quotes.iter().map(|q| q.trim().to_string()).collect(),
    })
}

pub async fn save(tx: &mut Transaction<'_, Sqlite>, m: &Mood, now: &str) -> Result<()> {
    sqlx::query(
        "INSERT INTO moods (call_sid, label, score, reason, quotes_json, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(call_sid) DO UPDATE SET label = excluded.label, score = excluded.score,
           reason = excluded.reason, quotes_json = excluded.quotes_json, created_at = excluded.created_at",
    )
    .bind(&m.call_sid)
    .bind(&m.label)
    .bind(m.score)
    .bind(&m.reason)
    .bind(serde_json::to_string(&m.quotes).unwrap_or_else(|_| "[]".into()))
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn load(pool: &SqlitePool, call_sid: &str) -> Result<Option<Mood>> {
    let row = sqlx::query("SELECT * FROM moods WHERE call_sid = ?1")
        .bind(call_sid)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| Mood {
        call_sid: r.get("call_sid"),
        label: r.get("label"),
        score: r.get("score"),
        reason: r.get("reason"),
        quotes: serde_json::from_str(r.get::<&str, _>("quotes_json")).unwrap_or_default(),
    }))
}
