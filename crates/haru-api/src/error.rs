//! Every error leaves as `{"error": "..."}` with a fitting status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, m)
    }
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, m)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

// Internal failures are logged in full and reported briefly: the client cannot fix them.
impl From<haru_store::StoreError> for ApiError {
    fn from(e: haru_store::StoreError) -> Self {
        tracing::error!(error = %e, "api: store error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage error")
    }
}

impl From<haru_postcall::Error> for ApiError {
    fn from(e: haru_postcall::Error) -> Self {
        tracing::error!(error = %e, "api: post-call error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "storage error")
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
