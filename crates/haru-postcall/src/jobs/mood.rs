//! The caller's overall mood: a fixed label, a -1..1 score, a reason and quotes.

use haru_providers::{ChatMessage, ChatModel};
use serde::Deserialize;

pub use haru_store::postcall::Mood;

use crate::Result;
use crate::schema::{self, MOOD_LABELS};
use crate::transcript::{CallContext, find_caller_quote};

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

/// A reason is a judgement, not the transcript: in Korean it should neither name the
/// prompt's speaker labels ("Caller", "Haru") nor repeat a sentence of the call (Qwen 1.5B
/// appended haru's goodbye to its reasons).
fn prefer(ctx: &CallContext, a: &Answer, language: &str) -> Result<(), String> {
    if !language.starts_with("ko") {
        return Ok(());
    }
    let lower = a.reason.to_lowercase();
    if lower.contains("caller") || lower.contains("haru") {
        return Err(
            "write `reason` about 그분 in Korean, without the labels Caller or Haru".into(),
        );
    }
    let reason = crate::transcript::normalise(&a.reason);
    for s in ctx.sentences(false) {
        let n = crate::transcript::normalise(&s);
        if n.chars().count() >= 8 && reason.contains(&n) {
            return Err(format!(
                "`reason` copies the sentence `{s}` from the call; say in one sentence of \
                 your own why 그분 seemed so"
            ));
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
             `reason`은 그 이유를 한국어 한 문장으로, 그분을 '그분'이라 부르며 대화를 \
             옮기지 말고 '그분은 ~해서 ~해 보였다.'처럼 요약해 씁니다. `quotes`는 그 기분이 드러나는, \
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
        ChatMessage::user(format!(
            "{}\n{}",
            if language.starts_with("ko") {
                "통화 내용:"
            } else {
                "Transcript:"
            },
            ctx.for_prompt_in(language)
        )),
    ];
    let a: Answer = schema::ask_preferring(
        chat,
        messages,
        "mood",
        schema::mood(&ctx.sentences(true)),
        |a: &Answer| validate(ctx, a, language),
        |a: &Answer| prefer(ctx, a, language),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Line;
    use haru_store::Role;

    fn ctx(lines: &[(Role, &str)]) -> CallContext {
        CallContext {
            call_sid: "CA1".into(),
            started_at: chrono::Utc::now(),
            ended_at: None,
            tz: chrono_tz::Asia::Seoul,
            lines: lines
                .iter()
                .map(|(role, content)| Line {
                    role: *role,
                    content: content.to_string(),
                    interrupted: false,
                    turn_index: 1,
                    created_at: None,
                })
                .collect(),
            turns: vec![],
        }
    }

    fn reason(text: &str) -> Answer {
        serde_json::from_value(serde_json::json!({
            "label": "happy", "score": 0.5, "reason": text, "quotes": []
        }))
        .expect("answer")
    }

    #[test]
    fn a_korean_reason_neither_copies_the_call_nor_names_its_labels() {
        let c = ctx(&[
            (Role::User, "오늘 공원에서 산책을 했어요."),
            (Role::Assistant, "좋은 하루 보내세요. 안녕히 계세요."),
        ]);
        let copied = reason("그분은 산책을 했다. 좋은 하루 보내세요. 안녕히 계세요.");
        assert!(prefer(&c, &copied, "ko").is_err());
        assert!(prefer(&c, &reason("Caller는 산책을 즐겼다."), "ko").is_err());
        let own = reason("그분은 산책을 즐겁게 다녀와 기분이 좋아 보였다.");
        assert_eq!(prefer(&c, &own, "ko"), Ok(()));
        // English reasons are not checked this way.
        assert_eq!(prefer(&c, &copied, "en"), Ok(()));
    }
}
