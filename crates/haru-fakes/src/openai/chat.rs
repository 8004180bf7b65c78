//! `POST /v1/chat/completions`: JSON or SSE-streamed replies, paced by token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::sse::{BodyWriter, Closed, event, streaming_body};
use super::{
    Endpoint, FakeOpenAiConfig, Fault, ReplyRule, Shared, delay, generic_fault, interval_for_rate,
    invalid, missing, require_json_content_type, server_error, unix_now,
};
use crate::record::{RecordedBody, other_body};

const ROLES: [&str; 6] = [
    "developer",
    "system",
    "user",
    "assistant",
    "tool",
    "function",
];

/// What we need from a valid request.
struct ChatRequest {
    model: String,
    stream: bool,
    include_usage: bool,
    last_user_text: String,
    prompt_chars: usize,
    /// `response_format.json_schema.name`, when the request asks for one.
    schema_name: Option<String>,
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body);
    let recorded = match &parsed {
        Ok(v) => RecordedBody::Json(v.clone()),
        Err(_) => other_body(&body),
    };
    let cfg = match shared.begin(Endpoint::ChatCompletions, &uri, &headers, recorded) {
        Ok(cfg) => cfg,
        Err(resp) => return resp,
    };
    if let Err(resp) = require_json_content_type(&headers) {
        return resp;
    }
    let Ok(value) = parsed else {
        return invalid(
            "We could not parse the JSON body of your request. (HINT: This likely means you \
             aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)",
            None,
            None,
        );
    };
    let req = match validate(&value) {
        Ok(req) => req,
        Err(resp) => return resp,
    };

    let fault = shared.take_fault(Endpoint::ChatCompletions);
    let content_type = if req.stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    if let Some(f) = &fault
        && let Some(resp) = generic_fault(&shared, f, content_type).await
    {
        return resp;
    }
    let reply = match fault {
        Some(Fault::EmptyTranscript) => "  ".to_owned(),
        _ => reply_text(
            &shared,
            &cfg,
            &req.last_user_text,
            req.schema_name.as_deref(),
        ),
    };
    let reply = Reply {
        id: format!("chatcmpl-fake{:016x}", shared.next_serial()),
        created: unix_now(),
        tokens: tokenize(&reply),
        text: reply,
        req,
    };
    match (reply.req.stream, fault) {
        (true, fault) => stream(shared, cfg, reply, fault),
        (false, Some(Fault::ErrorEvent)) => server_error(),
        (false, fault) => whole(&shared, &cfg, reply, fault == Some(Fault::BrokenStream)).await,
    }
}

fn validate(v: &Value) -> Result<ChatRequest, Response> {
    let Some(obj) = v.as_object() else {
        return Err(invalid(
            "Invalid type for request body: expected an object.",
            None,
            Some("invalid_type"),
        ));
    };
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(invalid("you must provide a model parameter", None, None));
        }
        Some(_) => return Err(type_error("model", "a string")),
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) => m,
        None | Some(Value::Null) => return Err(missing("messages")),
        Some(_) => return Err(type_error("messages", "an array")),
    };
    if messages.is_empty() {
        return Err(invalid(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got \
             an empty array instead.",
            Some("messages"),
            Some("empty_array"),
        ));
    }
    let mut last_user_text = String::new();
    let mut prompt_chars = 0;
    for (i, msg) in messages.iter().enumerate() {
        let role = match msg.get("role") {
            Some(Value::String(r)) => r.as_str(),
            None => return Err(missing(&format!("messages[{i}].role"))),
            Some(_) => return Err(type_error(&format!("messages[{i}].role"), "a string")),
        };
        if !ROLES.contains(&role) {
            return Err(invalid(
                format!(
                    "Invalid value: '{role}'. Supported values are: 'developer', 'system', \
                     'user', 'assistant', 'tool', and 'function'."
                ),
                Some(&format!("messages[{i}].role")),
                Some("invalid_value"),
            ));
        }
        let text = match msg.get("content") {
            Some(c) => content_text(c).ok_or_else(|| {
                type_error(&format!("messages[{i}].content"), "a string or array")
            })?,
            // Assistant messages may carry only tool calls.
            None if role == "assistant" => String::new(),
            None => return Err(missing(&format!("messages[{i}].content"))),
        };
        prompt_chars += text.chars().count();
        if role == "user" {
            last_user_text = text;
        }
    }
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(type_error("stream", "a boolean")),
    };
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(ChatRequest {
        model,
        stream,
        include_usage,
        last_user_text,
        prompt_chars,
        schema_name: obj
            .get("response_format")
            .and_then(|f| f.get("json_schema"))
            .and_then(|s| s.get("name"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

fn type_error(param: &str, expected: &str) -> Response {
    invalid(
        format!("Invalid type for '{param}': expected {expected}."),
        Some(param),
        Some("invalid_type"),
    )
}

/// Text of a message `content`: a string, or the text parts of an array.
fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Null => Some(String::new()),
        Value::Array(parts) => Some(
            parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        _ => None,
    }
}

fn reply_text(
    shared: &Shared,
    cfg: &FakeOpenAiConfig,
    heard: &str,
    schema: Option<&str>,
) -> String {
    match &cfg.reply {
        ReplyRule::BySchema(answers) => schema
            .and_then(|name| answers.iter().find(|(n, _)| n == name))
            .map(|(_, body)| body.clone())
            .unwrap_or_else(|| echo(heard)),
        ReplyRule::Fixed(text) => text.clone(),
        ReplyRule::Sequence(items) => Shared::pick(&shared.reply_seq, items).to_owned(),
        ReplyRule::Echo => echo(heard),
    }
}

/// Splits into word-ish tokens, each keeping its trailing whitespace, so the
/// concatenation of all tokens is exactly `text`.
pub(crate) fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_space = false;
    for c in text.chars() {
        if !c.is_whitespace() && in_space && !current.trim().is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
        in_space = c.is_whitespace();
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

struct Reply {
    id: String,
    created: u64,
    text: String,
    tokens: Vec<String>,
    req: ChatRequest,
}

impl Reply {
    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> String {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.req.model,
            "system_fingerprint": "fp_haru_fake",
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        if self.req.include_usage {
            chunk["usage"] = Value::Null;
        }
        event(&chunk.to_string())
    }

    fn usage(&self) -> Value {
        // Rough: ~4 chars per prompt token, one completion token per piece.
        let prompt = (self.req.prompt_chars / 4).max(1);
        let completion = self.tokens.len();
        json!({
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        })
    }
}

/// Streams the reply as SSE from a spawned task, one token per tick.
fn stream(
    shared: Arc<Shared>,
    cfg: Arc<FakeOpenAiConfig>,
    reply: Reply,
    fault: Option<Fault>,
) -> Response {
    let seed = cfg.awkward_chunking.then(|| shared.next_serial());
    let (writer, body) = streaming_body(shared.cancel.clone(), seed);
    let start = Instant::now();
    tokio::spawn(async move {
        // Errors only mean the client left or the server stops.
        let _ = write_stream(writer, &cfg, &reply, fault, start).await;
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

async fn write_stream(
    mut w: BodyWriter,
    cfg: &FakeOpenAiConfig,
    reply: &Reply,
    fault: Option<Fault>,
    start: Instant,
) -> Result<(), Closed> {
    let first = start + cfg.llm_first_token_delay;
    let step = interval_for_rate(cfg.llm_tokens_per_sec);
    // Faults strike half-way so the client has already seen some text.
    let cut_at = match fault {
        Some(Fault::BrokenStream | Fault::ErrorEvent) => Some(reply.tokens.len() / 2),
        _ => None,
    };
    // Events due at the same moment go out as one buffer, so awkward pieces
    // also straddle event boundaries.
    let mut pending = reply.chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        None,
    );
    for (i, token) in reply.tokens.iter().enumerate() {
        w.sleep_until(first + step * i as u32).await?;
        if cut_at == Some(i) {
            return cut(w, pending, fault).await;
        }
        pending.push_str(&reply.chunk(json!({"content": token}), None));
        w.send(Bytes::from(std::mem::take(&mut pending))).await?;
    }
    if cut_at.is_some() {
        // Empty reply: nothing to cut half-way through.
        w.sleep_until(first).await?;
        return cut(w, pending, fault).await;
    }
    pending.push_str(&reply.chunk(json!({}), Some("stop")));
    if reply.req.include_usage {
        let usage = json!({
            "id": reply.id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.req.model,
            "system_fingerprint": "fp_haru_fake",
            "choices": [],
            "usage": reply.usage(),
        });
        pending.push_str(&event(&usage.to_string()));
    }
    pending.push_str(&event("[DONE]"));
    w.send(Bytes::from(pending)).await
}

async fn cut(mut w: BodyWriter, mut pending: String, fault: Option<Fault>) -> Result<(), Closed> {
    if fault == Some(Fault::ErrorEvent) {
        let err = json!({"error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": null,
            "code": null,
        }});
        pending.push_str(&event(&err.to_string()));
        // The stream then ends cleanly, without `[DONE]`, as OpenAI does.
        return w.send(Bytes::from(pending)).await;
    }
    if !pending.is_empty() {
        w.send(Bytes::from(pending)).await?;
    }
    w.fail().await;
    Ok(())
}

/// A whole `chat.completion` after the time generation would have taken.
async fn whole(shared: &Shared, cfg: &FakeOpenAiConfig, reply: Reply, broken: bool) -> Response {
    let step = interval_for_rate(cfg.llm_tokens_per_sec);
    let generation = step * reply.tokens.len().saturating_sub(1) as u32;
    if !delay(shared, cfg.llm_first_token_delay + generation).await {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let body = json!({
        "id": reply.id,
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.req.model,
        "system_fingerprint": "fp_haru_fake",
        "choices": [{
            "index": 0,
            "message": {
                "role": "assistant",
                "content": reply.text,
                "refusal": null,
                "annotations": [],
            },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": reply.usage(),
        "service_tier": "default",
    })
    .to_string();
    if broken {
        return super::truncated(shared, "application/json", Bytes::from(body));
    }
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn echo(heard: &str) -> String {
    let heard = heard.trim().trim_end_matches(['.', '!', '?', '。']);
    if heard.is_empty() {
        "I heard nothing. Could you say that again?".to_owned()
    } else {
        format!("I heard: {heard}. Tell me more.")
    }
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn tokens_keep_trailing_space_and_rejoin() {
        let text = "  Hello there,  friend. 안녕하세요 반가워요!";
        let tokens = tokenize(text);
        assert_eq!(tokens.concat(), text);
        assert_eq!(tokens[0], "  Hello ");
        assert_eq!(tokens[1], "there,  ");
        assert_eq!(tokens.len(), 5);
    }
}
