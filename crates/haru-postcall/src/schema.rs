//! JSON schemas for the structured answers, and the one place that asks the model.
//!
//! OpenAI strict mode wants every property listed in `required` and
//! `additionalProperties: false`; optional values are therefore `["type", "null"]`.
//! Strict mode is a request, not a guarantee (other OpenAI-compatible servers ignore
//! it), so every answer is parsed and validated here too; one failed validation is
//! sent back to the model with the error, and a second is the attempt's error.

use haru_providers::{ChatMessage, ChatModel, ProviderError};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::Error;

/// `response_format` for a strict JSON-schema answer.
pub fn response_format(name: &str, schema: Value) -> Value {
    json!({
        "type": "json_schema",
        "json_schema": { "name": name, "strict": true, "schema": schema }
    })
}

fn nullable(t: &str) -> Value {
    json!({ "type": [t, "null"] })
}

pub const MOOD_LABELS: [&str; 7] = [
    "happy", "calm", "neutral", "tired", "sad", "anxious", "angry",
];

// The schemas carry every bound haru's validation checks that a grammar can express
// (lengths, counts, ranges as enums): a local model under a grammar sampler (haru-local)
// can then only answer within them, and none of its strings can run on until the token
// limit cuts the JSON off.

/// Mood scores a model may give: -1 (very negative) to 1 in quarter steps.
pub const MOOD_SCORES: [f64; 9] = [-1.0, -0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.0];

fn text(max: u32) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max })
}

/// A quote: one of the sentences said in the call, as an enum, so a model under a grammar
/// (or OpenAI's strict mode) can only copy real words, never paraphrase Haru's lines as
/// the caller's. Empty when nothing was said (callers then allow no items).
/// A very long call falls back to free text (validated all the same): OpenAI caps a
/// string enum of more than 250 values.
fn quote(choices: &[String]) -> Value {
    if choices.len() > MAX_QUOTE_CHOICES {
        return text(200);
    }
    json!({ "type": "string", "enum": choices })
}

const MAX_QUOTE_CHOICES: usize = 250;

/// An array of at most `max` `items`, or none at all when there is nothing to quote.
fn quoted_array(max: usize, choices: &[String], items: Value) -> Value {
    let max = if choices.is_empty() { 0 } else { max };
    json!({ "type": "array", "maxItems": max, "items": items })
}

pub fn diary() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["title", "paragraphs"],
        "properties": {
            "title": text(80),
            "paragraphs": { "type": "array", "minItems": 1, "maxItems": 6, "items": text(400) }
        }
    })
}

/// `quotes`: the call's sentences (caller's and Haru's: a plan Haru repeats back counts).
pub fn schedules(quotes: &[String]) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["items"],
        "properties": {
            "items": quoted_array(5, quotes, json!({
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["title", "kind", "quote", "when", "time"],
                    "properties": {
                        "title": text(80),
                        "kind": { "type": "string", "enum": ["plan", "appointment", "reminder"] },
                        "quote": quote(quotes),
                        "when": {
                            "type": "object",
                            "additionalProperties": false,
                            "required": ["day_offset", "weekday", "week_offset", "date", "month", "day"],
                            "properties": {
                                "day_offset": nullable("integer"),
                                "weekday": {
                                    "type": ["string", "null"],
                                    "enum": ["monday", "tuesday", "wednesday", "thursday",
                                             "friday", "saturday", "sunday", null]
                                },
                                "week_offset": nullable("integer"),
                                "date": { "anyOf": [text(10), { "type": "null" }] },
                                "month": nullable("integer"),
                                "day": nullable("integer")
                            }
                        },
                        "time": { "anyOf": [text(5), { "type": "null" }] }
                    }
            }))
        }
    })
}

/// `quotes`: the caller's sentences.
pub fn mood(quotes: &[String]) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["label", "score", "reason", "quotes"],
        "properties": {
            "label": { "type": "string", "enum": MOOD_LABELS },
            "score": { "type": "number", "enum": MOOD_SCORES },
            "reason": text(200),
            "quotes": quoted_array(3, quotes, quote(quotes))
        }
    })
}

/// Bounds of a memory update, shared by the schema and haru's own validation.
pub const MEMORY_REMEMBER_MAX: usize = 5;
pub const MEMORY_FORGET_MAX: usize = 10;
pub const MEMORY_TEXT_MAX: usize = 120;

/// `quotes`: the caller's sentences.
pub fn memory(quotes: &[String]) -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["remember", "forget"],
        "properties": {
            "remember": quoted_array(MEMORY_REMEMBER_MAX, quotes, json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["text", "quote"],
                "properties": {
                    "text": text(MEMORY_TEXT_MAX as u32),
                    "quote": quote(quotes)
                }
            })),
            "forget": { "type": "array", "maxItems": MEMORY_FORGET_MAX, "items": { "type": "integer" } }
        }
    })
}

/// A chat failure is transient (worth waiting for) unless the provider rejected the
/// request itself.
pub fn provider_error(e: ProviderError) -> Error {
    let permanent = matches!(&e, ProviderError::Http { status, .. }
        if (400..500).contains(status) && *status != 408 && *status != 429);
    Error::Provider {
        message: e.to_string(),
        permanent,
    }
}

/// Asks for a JSON answer matching `schema`, parsed as `T` and checked by `validate`;
/// on a bad answer, asks once more with the error, then gives up.
pub async fn ask<T: DeserializeOwned>(
    chat: &dyn ChatModel,
    messages: Vec<ChatMessage>,
    name: &str,
    schema: Value,
    validate: impl Fn(&T) -> Result<(), String>,
) -> Result<T, Error> {
    ask_preferring(chat, messages, name, schema, validate, |_: &T| Ok(())).await
}

/// Like [`ask`], with a second check that is a preference, not a rule: an answer that
/// passes `validate` but not `prefer` ("do not copy the caller's sentences") is sent back
/// once with the reason, and the second answer is kept if it passes `validate` alone. A
/// small model that cannot do better still leaves a result.
pub async fn ask_preferring<T: DeserializeOwned>(
    chat: &dyn ChatModel,
    mut messages: Vec<ChatMessage>,
    name: &str,
    schema: Value,
    validate: impl Fn(&T) -> Result<(), String>,
    prefer: impl Fn(&T) -> Result<(), String>,
) -> Result<T, Error> {
    // The schema is in the prompt too, for OpenAI-compatible servers that ignore
    // `response_format` (the answer is validated either way).
    messages.push(ChatMessage::system(format!(
        "Reply with one JSON object matching this JSON Schema, and nothing else:\n{schema}"
    )));
    let mut format = Some(response_format(name, schema));
    let mut last = String::new();
    // A valid answer that was only not as preferred: kept if the second try is worse.
    let mut fallback: Option<T> = None;
    for round in 0..2 {
        let answer = match chat.complete(&messages, format.clone()).await {
            Ok(a) => a,
            // A server without structured outputs rejects the parameter itself; the
            // prompt carries the schema, so ask again without it.
            Err(e) if format.is_some() && rejects_format(&e) => {
                tracing::warn!(job = name, error = %e, "structured output unsupported; retrying without");
                format = None;
                match chat.complete(&messages, None).await {
                    Ok(a) => a,
                    Err(e) => return fallback.ok_or_else(|| provider_error(e)),
                }
            }
            Err(e) => return fallback.ok_or_else(|| provider_error(e)),
        };
        let checked = serde_json::from_str::<T>(strip_fence(&answer))
            .map_err(|e| format!("answer is not valid JSON for the schema: {e}"))
            .and_then(|v| validate(&v).map(|()| v));
        let problem = match checked {
            Ok(v) => match prefer(&v) {
                Ok(()) => return Ok(v),
                Err(p) if round == 1 => {
                    tracing::info!(job = name, problem = %p, "answer kept although not as asked");
                    return Ok(v);
                }
                Err(p) => {
                    fallback = Some(v);
                    p
                }
            },
            Err(p) => p,
        };
        tracing::warn!(job = name, round, %problem, "model answer rejected");
        if round == 0 {
            messages.push(ChatMessage::assistant(answer));
            messages.push(ChatMessage::user(format!(
                "That answer was rejected: {problem}. Reply again with only the JSON \
                 object, following the schema exactly."
            )));
        }
        last = problem;
    }
    if let Some(v) = fallback {
        tracing::info!(
            job = name,
            "second answer invalid; the first, valid one is kept"
        );
        return Ok(v);
    }
    Err(Error::BadAnswer(last))
}

fn rejects_format(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Http { status: 400, message, .. }
        if message.contains("response_format") || message.contains("json_schema"))
}

/// Some OpenAI-compatible servers wrap JSON in a Markdown fence despite the schema.
fn strip_fence(s: &str) -> &str {
    let t = s.trim();
    let Some(inner) = t.strip_prefix("```") else {
        return t;
    };
    let inner = inner.strip_prefix("json").unwrap_or(inner);
    inner.strip_suffix("```").unwrap_or(inner).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_are_stripped() {
        assert_eq!(strip_fence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_fence(" {\"a\":1} "), "{\"a\":1}");
    }

    #[test]
    fn strict_schemas_require_every_property() {
        fn check(v: &Value) {
            if let Some(props) = v.get("properties").and_then(Value::as_object) {
                let req: Vec<&str> = v["required"]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                for (k, sub) in props {
                    assert!(req.contains(&k.as_str()), "{k} not required");
                    check(sub);
                }
                assert_eq!(v["additionalProperties"], json!(false));
            }
            if let Some(items) = v.get("items") {
                check(items);
            }
        }
        let quotes = vec!["내일 저녁 7시에 치과 예약이 있어요.".to_string()];
        check(&diary());
        check(&schedules(&quotes));
        check(&mood(&quotes));
        check(&memory(&quotes));
    }

    #[test]
    fn quotes_can_only_be_sentences_of_the_call() {
        let quotes = vec!["오늘 산책했어요.".to_string(), "기분이 좋아요.".to_string()];
        let m = mood(&quotes);
        assert_eq!(m["properties"]["quotes"]["items"]["enum"], json!(quotes));
        assert_eq!(m["properties"]["quotes"]["maxItems"], 3);
        let s = schedules(&quotes);
        assert_eq!(
            s["properties"]["items"]["items"]["properties"]["quote"]["enum"],
            json!(quotes)
        );
        // Nothing said: nothing can be quoted, so no item can be listed.
        assert_eq!(mood(&[])["properties"]["quotes"]["maxItems"], 0);
        assert_eq!(schedules(&[])["properties"]["items"]["maxItems"], 0);
        assert_eq!(memory(&[])["properties"]["remember"]["maxItems"], 0);
    }
}
