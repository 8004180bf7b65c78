//! POST /v1/audio/transcriptions (multipart WAV upload).

use std::sync::Arc;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::header;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;

use super::AppState;
use crate::audio::decode_wav;
use crate::error::ApiError;

const WHISPER_RATE: u32 = 16_000;

pub async fn transcriptions(
    State(s): State<Arc<AppState>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut form = multipart.map_err(|e| {
        ApiError::invalid(
            format!("Expected a multipart/form-data body: {}", e.body_text()),
            None,
        )
    })?;
    let mut file = None;
    let mut model = None;
    let mut language = None;
    let mut format = None;
    loop {
        let field = form.next_field().await.map_err(|e| {
            ApiError::invalid(format!("Malformed multipart body: {}", e.body_text()), None)
        })?;
        let Some(field) = field else { break };
        let name = field.name().unwrap_or_default().to_string();
        let read_err = |e: axum::extract::multipart::MultipartError| {
            ApiError::invalid(
                format!("Malformed multipart field '{name}': {}", e.body_text()),
                None,
            )
        };
        match name.as_str() {
            "file" => file = Some(field.bytes().await.map_err(read_err)?),
            "model" => model = Some(field.text().await.map_err(read_err)?),
            "language" => language = Some(field.text().await.map_err(read_err)?),
            "response_format" => format = Some(field.text().await.map_err(read_err)?),
            _ => {} // prompt, temperature, ...: accepted and ignored
        }
    }

    let model = model.ok_or_else(|| ApiError::missing("model"))?;
    s.catalog.check_stt(model.trim())?;
    let file = file.ok_or_else(|| ApiError::missing("file"))?;
    let format = format.map(|f| f.trim().to_ascii_lowercase());
    let format = format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "text" | "verbose_json") {
        return Err(ApiError::invalid(
            format!("Unsupported response_format '{format}'; use json, text or verbose_json."),
            Some("response_format"),
        ));
    }
    let language = language
        .map(|l| l.trim().to_ascii_lowercase())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "en".into());

    // Decoding is CPU work (resampling); keep it off the async workers.
    let samples = tokio::task::spawn_blocking(move || decode_wav(&file, WHISPER_RATE))
        .await
        .map_err(|e| ApiError::internal(format!("decoder panicked: {e}")))??;
    let duration = samples.len() as f64 / f64::from(WHISPER_RATE);
    let started = std::time::Instant::now();
    let text = s.stt.transcribe(&samples, &language).await?;
    tracing::info!(
        audio_s = duration,
        ms = started.elapsed().as_millis() as u64,
        "transcribed"
    );

    Ok(match format {
        "text" => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response(),
        "verbose_json" => Json(json!({
            "task": "transcribe",
            "language": language,
            "duration": duration,
            "text": text,
        }))
        .into_response(),
        _ => Json(json!({ "text": text })).into_response(),
    })
}
