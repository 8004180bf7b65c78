//! Speech-to-text: `POST {base}/audio/transcriptions`, a WAV built in memory, multipart.

use async_trait::async_trait;
use serde::Deserialize;

use crate::{Endpoint, ProviderError};

const STAGE: &str = "stt";

#[async_trait]
pub trait Transcriber: Send + Sync + 'static {
    /// Transcribes one utterance of mono 16-bit PCM at `rate` Hz.
    async fn transcribe(&self, pcm: &[i16], rate: u32) -> Result<String, ProviderError>;

    /// The same transcriber forced to `language` (`ko`, `en`), for a call whose language is
    /// known. `None`: this transcriber cannot be told (it keeps its own setting).
    fn for_language(&self, language: &str) -> Option<std::sync::Arc<dyn Transcriber>> {
        let _ = language;
        None
    }
}

#[derive(Debug, Clone)]
pub struct OpenAiTranscriber {
    http: reqwest::Client,
    endpoint: Endpoint,
    model: String,
    language: Option<String>,
}

#[derive(Deserialize)]
struct TranscriptionResponse {
    text: String,
}

impl OpenAiTranscriber {
    pub fn new(
        http: reqwest::Client,
        endpoint: Endpoint,
        model: &str,
        language: Option<&str>,
    ) -> Self {
        Self {
            http,
            endpoint,
            model: model.to_string(),
            language: language.filter(|l| !l.is_empty()).map(str::to_string),
        }
    }
}

#[async_trait]
impl Transcriber for OpenAiTranscriber {
    fn for_language(&self, language: &str) -> Option<std::sync::Arc<dyn Transcriber>> {
        let mut t = self.clone();
        t.language = Some(language.to_string()).filter(|l| !l.is_empty());
        Some(std::sync::Arc::new(t))
    }

    async fn transcribe(&self, pcm: &[i16], rate: u32) -> Result<String, ProviderError> {
        let wav = haru_audio::encode_wav(pcm, rate);
        let file = reqwest::multipart::Part::bytes(wav)
            .file_name("utterance.wav")
            .mime_str("audio/wav")
            .map_err(|e| ProviderError::transport(STAGE, e))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", self.model.clone())
            .text("response_format", "json");
        if let Some(lang) = &self.language {
            form = form.text("language", lang.clone());
        }
        let req = self
            .http
            .post(self.endpoint.url("/audio/transcriptions"))
            .multipart(form);
        let resp = self.endpoint.send(STAGE, req).await?;
        let body = resp
            .bytes()
            .await
            .map_err(|e| ProviderError::transport(STAGE, e))?;
        let parsed: TranscriptionResponse =
            serde_json::from_slice(&body).map_err(|e| ProviderError::Protocol {
                stage: STAGE,
                message: format!("not a transcription JSON: {e}"),
            })?;
        Ok(parsed.text.trim().to_string())
    }
}
