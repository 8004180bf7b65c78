//! HTTP surface: OpenAI-compatible routes plus health.

mod chat;
mod speech;
mod transcribe;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::error::ApiError;
use crate::llm::LlmEngine;
use crate::models::Catalog;
use crate::stt_client::SttClient;
use crate::tts::TtsEngine;

pub struct AppState {
    pub catalog: Catalog,
    /// The chat models, in the catalog's order.
    pub llm: Vec<LlmEngine>,
    pub tts: TtsEngine,
    pub stt: SttClient,
}

/// OpenAI's upload limit for transcriptions.
const MAX_UPLOAD: usize = 25 * 1024 * 1024;

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/audio/speech", post(speech::speech))
        .route("/v1/audio/transcriptions", post(transcribe::transcriptions))
        .route("/v1/models", get(models))
        .route("/v1/models/{id}", get(model))
        .route("/healthz", get(healthz))
        .fallback(|| async {
            ApiError {
                status: StatusCode::NOT_FOUND,
                message: "Unknown route.".into(),
                kind: "invalid_request_error",
                param: None,
                code: Some("unknown_url"),
            }
        })
        .method_not_allowed_fallback(|| async {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                message: "Method not allowed for this route.".into(),
                kind: "invalid_request_error",
                param: None,
                code: Some("method_not_allowed"),
            }
        })
        .layer(DefaultBodyLimit::max(MAX_UPLOAD))
        .with_state(state)
}

async fn models(State(s): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let data: Vec<_> = s
        .catalog
        .all()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "haru-local"}))
        .collect();
    Json(json!({"object": "list", "data": data}))
}

async fn model(
    State(s): State<Arc<AppState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let wanted = id.to_ascii_lowercase();
    s.catalog
        .all()
        .find(|m| **m == wanted)
        .map(|m| Json(json!({"id": m, "object": "model", "created": 0, "owned_by": "haru-local"})))
        .ok_or_else(|| ApiError::unknown_model(&id))
}

async fn healthz(State(s): State<Arc<AppState>>) -> Response {
    if s.stt.healthy().await {
        Json(json!({"status": "ok"})).into_response()
    } else {
        ApiError::unavailable("STT worker is not running").into_response()
    }
}

/// Parse a JSON body with OpenAI-shaped errors (axum's default rejection is
/// plain text).
pub(crate) fn parse_json<T: DeserializeOwned>(
    body: Result<Json<serde_json::Value>, axum::extract::rejection::JsonRejection>,
) -> Result<T, ApiError> {
    let Json(value) =
        body.map_err(|e| ApiError::invalid(format!("Invalid JSON body: {}", e.body_text()), None))?;
    if !value.is_object() {
        return Err(ApiError::invalid(
            "The request body must be a JSON object.",
            None,
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| ApiError::invalid(format!("Invalid request: {e}"), None))
}

/// Current time for OpenAI's `created` fields.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
