//! haru's REST API (JSON) over calls and their post-call results, and the `haru calls`
//! / `haru show` CLI helpers.
//!
//! Serve it with peer addresses, or loopback-only mode rejects every request:
//! ```ignore
//! let app = server_router.merge(haru_api::router(state));
//! axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await?;
//! ```

pub mod auth;
pub mod cli;
mod error;
pub mod filters;
mod openapi;
pub mod people_cli;
mod routes;

use std::sync::Arc;

use axum::Router;
use haru_postcall::PostCall;
use haru_store::CallStore;

pub use error::ApiError;

#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<dyn CallStore>,
    pub postcall: Arc<PostCall>,
    /// `HARU_API_TOKEN`. Without one the API is disabled, unless `local_only`.
    pub api_token: Option<String>,
    /// `HARU_API_LOCAL_ONLY=1`: with no token, serve a real loopback peer whose request
    /// carries no forwarding headers (behind a tunnel or proxy every peer is loopback).
    pub local_only: bool,
    /// The same database as `store`, for the daily companion's tables.
    pub db: Arc<haru_store::SqlStore>,
    /// The scheduler and alert sender (`None`: people can be managed, not called).
    pub companion: Option<Arc<haru_companion::Companion>>,
    /// `API_BASE_URL`, for the calendar-feed links.
    pub public_base: String,
}

/// Routes under `/api/...` (authenticated) and `/openapi.json` (public). No fallback,
/// so it merges into the server's router.
pub fn router(state: ApiState) -> Router {
    let access = auth::Access {
        token: state
            .api_token
            .clone()
            .filter(|t| !t.trim().is_empty())
            .map(Arc::<str>::from),
        local_only: state.local_only,
    };
    routes::api()
        .route_layer(axum::middleware::from_fn_with_state(access, auth::require))
        .with_state(state.clone())
        .merge(routes::public().with_state(state))
        .merge(openapi::router())
}
