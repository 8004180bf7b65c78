//! Chat LLM: `POST {base}/chat/completions`, streamed over SSE, or one JSON answer.

use std::pin::Pin;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::sse::SseParser;
use crate::{Endpoint, ProviderError};

const STAGE: &str = "llm";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn system(c: impl Into<String>) -> Self {
        Self {
            role: "system".into(),
            content: c.into(),
        }
    }
    pub fn user(c: impl Into<String>) -> Self {
        Self {
            role: "user".into(),
            content: c.into(),
        }
    }
    pub fn assistant(c: impl Into<String>) -> Self {
        Self {
            role: "assistant".into(),
            content: c.into(),
        }
    }
}

/// Text deltas as they arrive; ends after `[DONE]`, or with an error if the stream breaks.
pub type TokenStream = Pin<Box<dyn Stream<Item = Result<String, ProviderError>> + Send>>;

#[async_trait]
pub trait ChatModel: Send + Sync + 'static {
    async fn stream(&self, messages: &[ChatMessage]) -> Result<TokenStream, ProviderError>;
    /// One complete answer; `response_format` is passed through (e.g. a `json_schema`).
    async fn complete(
        &self,
        messages: &[ChatMessage],
        response_format: Option<serde_json::Value>,
    ) -> Result<String, ProviderError>;
}

#[derive(Debug, Clone)]
pub struct OpenAiChat {
    http: reqwest::Client,
    endpoint: Endpoint,
    model: String,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
}

impl OpenAiChat {
    pub fn new(http: reqwest::Client, endpoint: Endpoint, model: &str) -> Self {
        Self {
            http,
            endpoint,
            model: model.to_string(),
            max_tokens: None,
            temperature: None,
        }
    }

    pub fn with_limits(mut self, max_tokens: Option<u32>, temperature: Option<f32>) -> Self {
        self.max_tokens = max_tokens;
        self.temperature = temperature;
        self
    }

    fn body(&self, messages: &[ChatMessage], stream: bool) -> serde_json::Value {
        let mut body = serde_json::json!({
            "model": self.model,
            "messages": messages,
            "stream": stream,
        });
        if let Some(m) = self.max_tokens {
            body["max_tokens"] = m.into();
        }
        if let Some(t) = self.temperature {
            body["temperature"] = t.into();
        }
        body
    }

    async fn post(&self, body: &serde_json::Value) -> Result<reqwest::Response, ProviderError> {
        let req = self
            .http
            .post(self.endpoint.url("/chat/completions"))
            .json(body);
        self.endpoint.send(STAGE, req).await
    }
}

fn protocol(message: impl Into<String>) -> ProviderError {
    ProviderError::Protocol {
        stage: STAGE,
        message: message.into(),
    }
}

/// What one SSE event means for the token stream.
enum Event {
    Delta(String),
    Done,
    Nothing,
}

fn interpret(data: &str) -> Result<Event, ProviderError> {
    if data.trim() == "[DONE]" {
        return Ok(Event::Done);
    }
    let v: serde_json::Value =
        serde_json::from_str(data).map_err(|e| protocol(format!("bad SSE chunk: {e}")))?;
    if let Some(err) = v.get("error") {
        let msg = err["message"].as_str().unwrap_or("unknown error");
        return Err(protocol(format!("error event: {msg}")));
    }
    match v["choices"][0]["delta"]["content"].as_str() {
        Some(s) if !s.is_empty() => Ok(Event::Delta(s.to_string())),
        _ => Ok(Event::Nothing),
    }
}

#[async_trait]
impl ChatModel for OpenAiChat {
    async fn stream(&self, messages: &[ChatMessage]) -> Result<TokenStream, ProviderError> {
        let resp = self.post(&self.body(messages, true)).await?;
        let bytes = resp.bytes_stream();
        struct St<B> {
            bytes: B,
            parser: SseParser,
            queue: std::collections::VecDeque<String>,
            finished: bool,
        }
        let state = St {
            bytes: Box::pin(bytes),
            parser: SseParser::new(),
            queue: Default::default(),
            finished: false,
        };
        let s = futures::stream::unfold(state, |mut st| async move {
            loop {
                if st.finished {
                    return None;
                }
                if let Some(data) = st.queue.pop_front() {
                    match interpret(&data) {
                        Ok(Event::Delta(t)) => return Some((Ok(t), st)),
                        Ok(Event::Nothing) => continue,
                        Ok(Event::Done) => return None,
                        Err(e) => {
                            st.finished = true;
                            return Some((Err(e), st));
                        }
                    }
                }
                match st.bytes.next().await {
                    Some(Ok(chunk)) => st.queue.extend(st.parser.push(&chunk)),
                    Some(Err(e)) => {
                        st.finished = true;
                        return Some((Err(ProviderError::transport(STAGE, e)), st));
                    }
                    None => {
                        st.finished = true;
                        return Some((Err(protocol("stream ended before [DONE]")), st));
                    }
                }
            }
        });
        Ok(Box::pin(s))
    }

    async fn complete(
        &self,
        messages: &[ChatMessage],
        response_format: Option<serde_json::Value>,
    ) -> Result<String, ProviderError> {
        let mut body = self.body(messages, false);
        if let Some(rf) = response_format {
            body["response_format"] = rf;
        }
        let resp = self.post(&body).await?;
        let v: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| protocol(format!("not a chat completion: {}", e.without_url())))?;
        v["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| protocol("chat completion without message content"))
    }
}
