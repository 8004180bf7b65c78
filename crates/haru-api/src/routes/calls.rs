//! Calls: the list with filters and paging, one call in full, its transcript as text.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Page, bad_path, bad_query};
use crate::error::ApiResult;
use crate::{ApiError, ApiState, filters};

#[derive(Deserialize)]
pub struct ListParams {
    from: Option<String>,
    until: Option<String>,
    phone: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

pub async fn list(
    State(st): State<ApiState>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> ApiResult<Json<Page<haru_store::CallRecord>>> {
    let Query(p) = q.map_err(bad_query)?;
    let tz = st.postcall.config().timezone;
    let bound = |name, v: &Option<String>, until| {
        v.as_deref()
            .map(|v| filters::bound(name, v, tz, until))
            .transpose()
            .map_err(ApiError::bad_request)
    };
    let limit = filters::limit(p.limit).map_err(ApiError::bad_request)?;
    let offset = filters::offset(p.offset).map_err(ApiError::bad_request)?;
    let filter = haru_store::CallFilter {
        from: bound("from", &p.from, false)?,
        until: bound("until", &p.until, true)?,
        phone: p.phone.filter(|s| !s.is_empty()),
        status: p.status.filter(|s| !s.is_empty()),
        limit: limit + 1,
        offset,
    };
    let calls = st.store.list_calls(&filter).await?;
    Ok(Json(Page::new(calls, limit, offset)))
}

pub async fn found(st: &ApiState, sid: &str) -> ApiResult<haru_store::CallRecord> {
    st.store
        .call(sid)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no call {sid}")))
}

pub async fn one(
    State(st): State<ApiState>,
    sid: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let Path(sid) = sid.map_err(bad_path)?;
    let call = found(&st, &sid).await?;
    let jobs = st
        .postcall
        .jobs(&haru_postcall::JobFilter {
            call_sid: Some(sid.clone()),
            ..Default::default()
        })
        .await?;
    Ok(Json(json!({
        "call": call,
        "messages": st.store.messages(&sid).await?,
        "turns": st.store.turns(&sid).await?,
        "status_events": st.store.status_events(&sid).await?,
        "stream_events": st.store.stream_events(&sid).await?,
        "jobs": jobs,
    })))
}

/// Plain text, one line per message, as `haru show` prints it.
pub async fn transcript(
    State(st): State<ApiState>,
    sid: Result<Path<String>, PathRejection>,
) -> ApiResult<String> {
    let Path(sid) = sid.map_err(bad_path)?;
    let call = found(&st, &sid).await?;
    let messages = st.store.messages(&sid).await?;
    Ok(crate::cli::transcript_text(
        &call,
        &messages,
        st.postcall.config().timezone,
    ))
}
