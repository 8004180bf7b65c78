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

    /// Sends a prepared request with the key attached; a non-2xx answer becomes an error
    /// carrying the provider's own message.
    pub(crate) async fn send(
        &self,
        stage: &'static str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ProviderError> {
        let req = match &self.api_key {
            Some(k) => req.bearer_auth(k),
            None => req,
        };
        let resp = req
            .send()
            .await
            .map_err(|e| ProviderError::transport(stage, e))?;
        if !resp.status().is_success() {
            return Err(ProviderError::from_response(stage, resp).await);
        }
        Ok(resp)
    }
}
