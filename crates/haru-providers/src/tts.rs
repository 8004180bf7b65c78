//! Text-to-speech: `POST {base}/audio/speech` with `response_format: pcm` (s16le mono 24 kHz),
//! read as a stream so the first bytes can be played before synthesis finishes.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::{Stream, StreamExt};

use crate::{Endpoint, ProviderError};

const STAGE: &str = "tts";

/// Raw s16le PCM bytes in arbitrary-sized pieces (a piece may split a sample).
pub type AudioStream = Pin<Box<dyn Stream<Item = Result<Bytes, ProviderError>> + Send>>;

#[async_trait]
pub trait Synthesizer: Send + Sync + 'static {
    /// Sample rate of the PCM this synthesizer produces.
    fn sample_rate(&self) -> u32;
    async fn synthesize(&self, text: &str) -> Result<AudioStream, ProviderError>;
}

#[derive(Debug, Clone)]
pub struct OpenAiSynthesizer {
    http: reqwest::Client,
    endpoint: Endpoint,
    model: String,
    voice: String,
    /// OpenAI's `speed` (0.25–4.0); `None` leaves the server's default (1.0).
    speed: Option<f32>,
}

impl OpenAiSynthesizer {
    /// OpenAI's `pcm` format is fixed at 24 kHz.
    pub const RATE: u32 = 24_000;

    pub fn new(http: reqwest::Client, endpoint: Endpoint, model: &str, voice: &str) -> Self {
        Self {
            http,
            endpoint,
            model: model.to_string(),
            voice: voice.to_string(),
            speed: None,
        }
    }

    /// Speak at `speed` × normal (older listeners follow slower speech more easily).
    pub fn with_speed(mut self, speed: Option<f32>) -> Self {
        self.speed = speed;
        self
    }
}

#[async_trait]
impl Synthesizer for OpenAiSynthesizer {
    fn sample_rate(&self) -> u32 {
        Self::RATE
    }

    async fn synthesize(&self, text: &str) -> Result<AudioStream, ProviderError> {
        let mut body = serde_json::json!({
            "model": self.model,
            "input": text,
            "voice": self.voice,
            "response_format": "pcm",
        });
        if let Some(speed) = self.speed {
            body["speed"] = speed.into();
        }
        let req = self
            .http
            .post(self.endpoint.url("/audio/speech"))
            .json(&body);
        let resp = self.endpoint.send(STAGE, req).await?;
        // A JSON or HTML body with 200 is a misbehaving proxy, not audio: refuse to play it.
        let ctype = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if ctype.starts_with("text/") || ctype.contains("json") {
            return Err(ProviderError::Protocol {
                stage: STAGE,
                message: format!("expected PCM audio, got content type `{ctype}`"),
            });
        }
        let s = resp
            .bytes_stream()
            .map(|r| r.map_err(|e| ProviderError::transport(STAGE, e)));
        Ok(Box::pin(s))
    }
}
