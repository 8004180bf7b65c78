//! Speech-to-text, LLM and text-to-speech behind three small traits, with OpenAI-compatible
//! HTTP implementations whose base URL is configurable (OpenAI, Groq, Ollama, vLLM, haru-local).

pub mod chat;
pub mod error;
pub mod sse;
pub mod stt;
pub mod tts;

pub use chat::{ChatMessage, ChatModel, OpenAiChat, TokenStream};
pub use error::ProviderError;
pub use stt::{OpenAiTranscriber, Transcriber};
pub use tts::{AudioStream, OpenAiSynthesizer, Synthesizer};

/// Where an OpenAI-compatible API lives and how to authenticate.
#[derive(Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Endpoint {
    pub fn new(base_url: &str, api_key: Option<&str>) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.filter(|k| !k.is_empty()).map(str::to_string),
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub(crate) fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }
}
