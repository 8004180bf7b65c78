//! haru's dashboard, served by haru itself under `/app`: the people called and how their
//! days go, each call's conversation and results, calls in progress as they happen, and
//! alerts to acknowledge. Server-rendered HTML (maud escapes every value it writes, so
//! what callers and models said is always text), one stylesheet, one small script for
//! the live page; no build step.
//!
//! It reads and writes only through `haru-store`; it knows nothing of calls in progress
//! beyond what the store has (so the live page works across instances).
//!
//! ```ignore
//! let app = router.merge(haru_web::router(state));
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
//! ```

pub mod auth;
mod charts;
mod error;
mod fmt;
pub mod i18n;
mod layout;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use haru_postcall::PostCall;
use haru_store::{CallStore, SqlStore};

pub use auth::Gate;
use auth::{Access, Viewer};
pub use error::WebError;
use i18n::Lang;

#[derive(Clone)]
pub struct WebState {
    pub store: Arc<dyn CallStore>,
    pub db: Arc<SqlStore>,
    pub postcall: Arc<PostCall>,
    pub gate: Arc<Gate>,
    /// `API_BASE_URL` as an http(s) URL, for the calendar-feed links.
    pub public_base: String,
    /// Where calls with no known person are shown (`HARU_TIMEZONE`).
    pub timezone: chrono_tz::Tz,
}

impl WebState {
    pub fn tz_of(&self, person_tz: Option<&str>) -> chrono_tz::Tz {
        person_tz
            .and_then(|t| t.parse().ok())
            .unwrap_or(self.timezone)
    }
}

/// What every page handler gets: the viewer's language and their form token.
pub struct Ctx {
    pub lang: Lang,
    pub viewer: Viewer,
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let lang = Lang::from_headers(&parts.headers);
        let viewer = parts
            .extensions
            .get::<Viewer>()
            .cloned()
            .ok_or_else(|| WebError::forbidden(lang))?;
        Ok(Ctx { lang, viewer })
    }
}

/// The `/app` routes. No fallback, so it merges into the server's router.
pub fn router(state: WebState) -> Router {
    let guarded = pages::routes()
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state.clone());
    Router::new()
        .merge(guarded)
        .merge(pages::open_routes().with_state(state))
        .layer(axum::middleware::from_fn(security_headers))
}

/// Every guarded page: the access rule, and no form posted from another site.
async fn guard(State(st): State<WebState>, mut req: Request, next: Next) -> Response {
    let lang = Lang::from_headers(req.headers());
    match st.gate.access(&req) {
        Access::Allowed(viewer) => {
            if req.method() == Method::POST && auth::cross_origin(req.headers()) {
                return WebError::forbidden(lang).into_response();
            }
            req.extensions_mut().insert(viewer);
            next.run(req).await
        }
        Access::Login => {
            if req.method() == Method::GET {
                let path = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/app");
                let next = pages::login::encode_next(path);
                Redirect::to(&format!("/app/login?next={next}")).into_response()
            } else {
                WebError::new(StatusCode::UNAUTHORIZED, lang.t().login_hint).into_response()
            }
        }
        Access::Off => WebError::new(StatusCode::FORBIDDEN, lang.t().dashboard_off).into_response(),
        Access::NotLocal => {
            WebError::new(StatusCode::FORBIDDEN, lang.t().dashboard_off).into_response()
        }
    }
}

/// A strict content policy: no inline script runs, even if something slipped through
/// the escaping; pages are not framed, sniffed or cached.
async fn security_headers(req: Request, next: Next) -> Response {
    let is_asset = req.uri().path().starts_with("/app/assets/");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             media-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; \
             frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    resp
}
