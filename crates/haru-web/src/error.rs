//! Errors as small HTML pages in the viewer's language.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::i18n::Lang;

#[derive(Debug)]
pub struct WebError {
    pub status: StatusCode,
    pub message: String,
}

impl WebError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn not_found(lang: Lang) -> Self {
        Self::new(StatusCode::NOT_FOUND, lang.t().not_found)
    }
    pub fn bad_request(lang: Lang, detail: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            format!("{} {detail}", lang.t().bad_request),
        )
    }
    pub fn forbidden(lang: Lang) -> Self {
        Self::new(StatusCode::FORBIDDEN, lang.t().forbidden)
    }
    /// The cause goes to the log, not the page.
    pub fn store(lang: Lang, e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "dashboard: store read failed");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, lang.t().store_error)
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let body = html! {
            (maud::DOCTYPE)
            html {
                head {
                    meta charset="utf-8";
                    title { "haru" }
                    link rel="stylesheet" href="/app/assets/app.css";
                }
                body {
                    main.narrow {
                        h1 { "haru" }
                        p.error { (self.message) }
                        p { a href="/app" { "/app" } }
                    }
                }
            }
        };
        (self.status, body).into_response()
    }
}
