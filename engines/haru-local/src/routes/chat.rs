//! POST /v1/chat/completions, plain and streamed (SSE).

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::response::sse::{Event as SseEvent, Sse};
use axum::response::{IntoResponse, Json, Response};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::wrappers::ReceiverStream;

use super::{AppState, parse_json, unix_now};
use crate::error::ApiError;
use crate::llm::{Event, GenParams, Turn, Usage};

/// Default answer length when the client sets none: a phone turn is short.
const DEFAULT_MAX_TOKENS: u32 = 256;
/// SmolLM2's recommended sampling when the client does not choose.
const DEFAULT_TEMPERATURE: f32 = 0.2;
const DEFAULT_TOP_P: f32 = 0.9;

#[derive(Deserialize)]
struct ChatRequest {
    model: Option<String>,
    messages: Option<Vec<Message>>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    frequency_penalty: Option<f32>,
    presence_penalty: Option<f32>,
    seed: Option<u64>,
    stop: Option<Stop>,
    n: Option<u32>,
    response_format: Option<Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize)]
struct Message {
    role: String,
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

pub async fn completions(
    State(s): State<Arc<AppState>>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let mut req: ChatRequest = parse_json(body)?;
    let model = req
        .model
        .clone()
        .ok_or_else(|| ApiError::missing("model"))?;
    let which = s.catalog.check_llm(&model)?;
    let (turns, params) = validate(req.messages.take(), &req)?;
    let include_usage = req.stream_options.as_ref().is_some_and(|o| o.include_usage);

    let llm = s
        .llm
        .get(which)
        .ok_or_else(|| ApiError::unknown_model(&model))?;
    let mut rx = llm.generate(turns, params)?;
    // Wait for the first event so request errors (e.g. context too long)
    // become a proper 4xx instead of an error inside a 200 stream.
    let first = rx
        .recv()
        .await
        .ok_or_else(|| ApiError::internal("the LLM worker dropped the request"))?;
    if let Event::Error(e) = first {
        return Err(e);
    }
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let model_id = s.catalog.llm_id(which).to_string();
    let created = unix_now();

    if !req.stream {
        let mut content = String::new();
        let mut event = Some(first);
        let usage = loop {
            // (not `Option::or`: its argument would be awaited eagerly and
            // swallow the second event)
            let next = match event.take() {
                Some(e) => Some(e),
                None => rx.recv().await,
            };
            match next {
                Some(Event::Delta(d)) => content.push_str(&d),
                Some(Event::Done(u)) => break u,
                Some(Event::Error(e)) => return Err(e),
                None => return Err(ApiError::internal("the LLM worker stopped mid-answer")),
            }
        };
        return Ok(Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model_id,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": null,
                "finish_reason": finish_reason(&usage),
            }],
            "usage": usage_json(&usage),
        }))
        .into_response());
    }

    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_id,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        })
    };
    let opening = chunk(json!({"role": "assistant", "content": ""}), None);
    let events = futures::stream::once(async { first }).chain(ReceiverStream::new(rx));
    let body = events
        .flat_map(move |ev| {
            let out: Vec<Value> = match ev {
                Event::Delta(d) => vec![chunk(json!({"content": d}), None)],
                Event::Done(u) => {
                    let mut v = vec![chunk(json!({}), Some(finish_reason(&u)))];
                    if include_usage {
                        let mut last = chunk(json!({}), None);
                        last["choices"] = json!([]);
                        last["usage"] = usage_json(&u);
                        v.push(last);
                    }
                    v
                }
                Event::Error(e) => vec![e.body()],
            };
            futures::stream::iter(out)
        })
        .map(|v| v.to_string());
    let stream = futures::stream::once(async move { opening.to_string() })
        .chain(body)
        .chain(futures::stream::once(async { "[DONE]".to_string() }))
        .map(|data| Ok::<_, Infallible>(SseEvent::default().data(data)));
    Ok(Sse::new(stream).into_response())
}

fn validate(
    messages: Option<Vec<Message>>,
    req: &ChatRequest,
) -> Result<(Vec<Turn>, GenParams), ApiError> {
    let messages = messages.ok_or_else(|| ApiError::missing("messages"))?;
    if messages.is_empty() {
        return Err(ApiError::invalid(
            "'messages' must not be empty.",
            Some("messages"),
        ));
    }
    let mut turns = Vec::with_capacity(messages.len());
    for m in messages {
        let role = match m.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            other => {
                return Err(ApiError::invalid(
                    format!("Unsupported message role '{other}'."),
                    Some("messages"),
                ));
            }
        };
        let content = match m.content {
            None => String::new(),
            Some(Content::Text(t)) => t,
            Some(Content::Parts(parts)) => parts
                .into_iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text)
                .collect::<Vec<_>>()
                .join("\n"),
        };
        turns.push(Turn {
            role: role.into(),
            content,
        });
    }
    if req.n.is_some_and(|n| n != 1) {
        return Err(ApiError::invalid("Only n=1 is supported.", Some("n")));
    }
    let max_tokens = req
        .max_completion_tokens
        .or(req.max_tokens)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    if max_tokens == 0 {
        return Err(ApiError::invalid(
            "'max_tokens' must be at least 1.",
            Some("max_tokens"),
        ));
    }
    let temperature = req.temperature.unwrap_or(DEFAULT_TEMPERATURE);
    if !(0.0..=2.0).contains(&temperature) {
        return Err(ApiError::invalid(
            "'temperature' must be between 0 and 2.",
            Some("temperature"),
        ));
    }
    let top_p = req.top_p.unwrap_or(DEFAULT_TOP_P);
    if !(0.0..=1.0).contains(&top_p) {
        return Err(ApiError::invalid(
            "'top_p' must be between 0 and 1.",
            Some("top_p"),
        ));
    }
    let penalty = |v: Option<f32>, name: &'static str| match v.unwrap_or(0.0) {
        p if (-2.0..=2.0).contains(&p) => Ok(p),
        _ => Err(ApiError::invalid(
            format!("'{name}' must be between -2 and 2."),
            Some(name),
        )),
    };
    let stop = match &req.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s.clone()],
        Some(Stop::Many(v)) if v.len() <= 4 => v.clone(),
        Some(Stop::Many(_)) => {
            return Err(ApiError::invalid("At most 4 stop sequences.", Some("stop")));
        }
    };
    let seed = req.seed.map_or_else(
        || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        },
        |s| s as u32,
    );
    let grammar = grammar_for(req.response_format.as_ref())?;
    Ok((
        turns,
        GenParams {
            grammar,
            max_tokens: max_tokens as usize,
            temperature,
            top_p,
            frequency_penalty: penalty(req.frequency_penalty, "frequency_penalty")?,
            presence_penalty: penalty(req.presence_penalty, "presence_penalty")?,
            seed,
            stop,
        },
    ))
}

/// `response_format` as a llama.cpp grammar: `json_schema` through llama.cpp's own
/// JSON-Schema → GBNF converter, `json_object` as any JSON object, `text` (or none) free.
/// The sampler can then only produce text of that shape.
fn grammar_for(format: Option<&Value>) -> Result<Option<String>, ApiError> {
    let bad = |m: String| ApiError::invalid(m, Some("response_format"));
    let Some(format) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    let schema = match format.get("type").and_then(Value::as_str) {
        Some("text") => return Ok(None),
        Some("json_object") => json!({"type": "object"}),
        Some("json_schema") => format
            .get("json_schema")
            .and_then(|j| j.get("schema"))
            .cloned()
            .ok_or_else(|| bad("'response_format.json_schema.schema' is required.".into()))?,
        Some(other) => {
            return Err(bad(format!(
                "Unsupported response_format type '{other}'; use text, json_object or json_schema."
            )));
        }
        None => return Err(bad("'response_format.type' is required.".into())),
    };
    // The converter is C++ and aborts on some malformed input; only hand it objects.
    if !schema.is_object() {
        return Err(bad(
            "'response_format.json_schema.schema' must be an object.".into(),
        ));
    }
    llama_cpp_2::json_schema_to_grammar(&schema.to_string())
        .map(Some)
        .map_err(|e| bad(format!("This JSON schema cannot be enforced: {e}")))
}

fn finish_reason(u: &Usage) -> &'static str {
    if u.stopped { "stop" } else { "length" }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    })
}
