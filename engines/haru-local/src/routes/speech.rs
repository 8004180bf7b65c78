//! POST /v1/audio/speech: Kokoro (Korean) or espeak-ng speech as 24 kHz 16-bit mono PCM or WAV.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use serde::Deserialize;
use tokio_stream::wrappers::ReceiverStream;

use super::{AppState, parse_json};
use crate::audio::wav_from_pcm16;
use crate::error::ApiError;
use crate::tts::{MAX_INPUT_CHARS, OUTPUT_RATE};

#[derive(Deserialize)]
struct SpeechRequest {
    model: Option<String>,
    input: Option<String>,
    voice: Option<String>,
    response_format: Option<String>,
    speed: Option<f32>,
}

pub async fn speech(
    State(s): State<Arc<AppState>>,
    body: Result<Json<serde_json::Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req: SpeechRequest = parse_json(body)?;
    let model = req.model.ok_or_else(|| ApiError::missing("model"))?;
    s.catalog.check_tts(&model)?;
    let input = req.input.ok_or_else(|| ApiError::missing("input"))?;
    if input.trim().is_empty() {
        return Err(ApiError::invalid(
            "'input' must not be empty.",
            Some("input"),
        ));
    }
    if input.chars().count() > MAX_INPUT_CHARS {
        return Err(ApiError::invalid(
            format!("'input' is longer than {MAX_INPUT_CHARS} characters."),
            Some("input"),
        ));
    }
    let voice = s.tts.choose(
        &input,
        &model,
        req.voice
            .as_deref()
            .ok_or_else(|| ApiError::missing("voice"))?,
    )?;
    let speed = req.speed.unwrap_or(1.0);
    if !(0.25..=4.0).contains(&speed) {
        return Err(ApiError::invalid(
            "'speed' must be between 0.25 and 4.0.",
            Some("speed"),
        ));
    }
    // mp3/opus/aac/flac would need encoders we do not ship; wav is the
    // closest universally playable default.
    let format = req.response_format.map(|f| f.to_ascii_lowercase());
    match format.as_deref().unwrap_or("wav") {
        "pcm" => {
            let rx = s.tts.synthesize(&input, &voice, speed).await?;
            Ok((
                [(header::CONTENT_TYPE, "audio/pcm")],
                Body::from_stream(ReceiverStream::new(rx)),
            )
                .into_response())
        }
        "wav" => {
            let pcm = s.tts.synthesize_all(&input, &voice, speed).await?;
            Ok((
                [(header::CONTENT_TYPE, "audio/wav")],
                wav_from_pcm16(&pcm, OUTPUT_RATE),
            )
                .into_response())
        }
        other => Err(ApiError::invalid(
            format!("Unsupported response_format '{other}'; use pcm or wav."),
            Some("response_format"),
        )),
    }
}
