//! Upcoming schedules across all calls.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use haru_postcall::Schedule;
use serde::Deserialize;

use super::{Page, bad_query};
use crate::error::ApiResult;
use crate::{ApiError, ApiState, filters};

#[derive(Deserialize)]
pub struct Params {
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn upcoming(
    State(st): State<ApiState>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult<Json<Page<Schedule>>> {
    let Query(p) = q.map_err(bad_query)?;
    let limit = filters::limit(p.limit).map_err(ApiError::bad_request)?;
    let offset = filters::offset(p.offset).map_err(ApiError::bad_request)?;
    let items = st.postcall.upcoming_schedules(limit + 1, offset).await?;
    Ok(Json(Page::new(items, limit, offset)))
}
