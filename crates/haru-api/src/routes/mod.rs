//! Route table; one module per resource.

mod alerts;
mod calls;
mod jobs;
pub(crate) mod people;
mod results;
mod schedules;

use axum::Router;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::routing::{delete, get, post};
use serde::Serialize;

use crate::{ApiError, ApiState};

pub fn api() -> Router<ApiState> {
    Router::new()
        .route("/api/calls", get(calls::list))
        .route("/api/calls/{sid}", get(calls::one))
        .route("/api/calls/{sid}/transcript", get(calls::transcript))
        .route("/api/calls/{sid}/diary", get(results::diary))
        .route("/api/calls/{sid}/schedules", get(results::schedules))
        .route("/api/calls/{sid}/mood", get(results::mood))
        .route("/api/calls/{sid}/quality", get(results::quality))
        .route("/api/calls/{sid}/jobs", get(jobs::for_call))
        .route("/api/calls/{sid}/jobs/{kind}/rerun", post(jobs::rerun_kind))
        .route("/api/schedules/upcoming", get(schedules::upcoming))
        .route("/api/jobs", get(jobs::list))
        .route("/api/jobs/{id}", get(jobs::one))
        .route("/api/jobs/{id}/rerun", post(jobs::rerun))
        .route("/api/people", get(people::list).post(people::create))
        .route(
            "/api/people/{id}",
            get(people::one).patch(people::update).delete(people::erase),
        )
        .route("/api/people/{id}/call", post(people::call_now))
        .route("/api/people/{id}/memory", get(people::memory))
        .route("/api/people/{id}/memory/{item}", delete(people::forget))
        .route("/api/people/{id}/diaries", get(people::diaries))
        .route("/api/people/{id}/schedules", get(people::schedules))
        .route("/api/people/{id}/trends", get(people::trends))
        .route("/api/alerts", get(alerts::list))
        .route("/api/alerts/{id}", get(alerts::one))
        .route("/api/alerts/{id}/ack", post(alerts::ack))
}

/// Routes opened by their own secret rather than the operator's token.
pub fn public() -> Router<ApiState> {
    Router::new().route("/api/people/{id}/calendar.ics", get(people::calendar))
}

/// A page of items; `next_offset` is absent on the last page.
#[derive(Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub limit: i64,
    pub offset: i64,
    pub next_offset: Option<i64>,
}

impl<T> Page<T> {
    /// `items` was fetched with `limit + 1` to learn whether more follow.
    pub fn new(mut items: Vec<T>, limit: i64, offset: i64) -> Self {
        let more = items.len() as i64 > limit;
        items.truncate(usize::try_from(limit).unwrap_or(0));
        Self {
            items,
            limit,
            offset,
            next_offset: more.then(|| offset.saturating_add(limit)),
        }
    }
}

// Axum's own rejections are plain text; these keep every error JSON.
pub fn bad_query(e: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("bad query: {}", e.body_text()))
}

pub fn bad_path(e: PathRejection) -> ApiError {
    ApiError::bad_request(format!("bad path: {}", e.body_text()))
}
