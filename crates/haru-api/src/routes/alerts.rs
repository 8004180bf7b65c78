//! Alerts: list (open or all, per person) and acknowledge.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use haru_store::companion::{Alert, AlertFilter};
use serde::Deserialize;

use super::{Page, bad_path, bad_query};
use crate::error::ApiResult;
use crate::{ApiError, ApiState};

#[derive(Deserialize)]
pub struct AlertQuery {
    #[serde(default)]
    person: Option<String>,
    /// `open=true`: only alerts not acknowledged yet.
    #[serde(default)]
    open: Option<bool>,
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

pub async fn list(
    State(st): State<ApiState>,
    q: Result<Query<AlertQuery>, QueryRejection>,
) -> ApiResult<Json<Page<Alert>>> {
    let Query(q) = q.map_err(bad_query)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let offset = crate::filters::offset(q.offset).map_err(ApiError::bad_request)?;
    let items = st
        .db
        .alerts(&AlertFilter {
            person_id: q.person,
            open: q.open.unwrap_or(false),
            limit: limit + 1,
            offset,
        })
        .await?;
    Ok(Json(Page::new(items, limit, offset)))
}

pub async fn one(
    State(st): State<ApiState>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Json<Alert>> {
    let Path(id) = id.map_err(bad_path)?;
    st.db
        .alert(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))
}

#[derive(Deserialize, Default)]
struct AckBody {
    #[serde(default)]
    by: Option<String>,
}

/// Acknowledges once; acknowledging again keeps the first time and name.
pub async fn ack(
    State(st): State<ApiState>,
    id: Result<Path<i64>, PathRejection>,
    body: Bytes,
) -> ApiResult<Json<Alert>> {
    let Path(id) = id.map_err(bad_path)?;
    let b: AckBody = if body.iter().all(u8::is_ascii_whitespace) {
        AckBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))?
    };
    let by: String =
        b.by.unwrap_or_else(|| "operator".into())
            .chars()
            .take(100)
            .collect();
    st.db
        .ack_alert(id, &by)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no alert {id}")))
}
