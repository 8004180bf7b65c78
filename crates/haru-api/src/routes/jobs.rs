//! Job states, and re-running a job.

use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use haru_postcall::{Job, JobFilter, JobKind, JobState, Rerun};
use serde::Deserialize;

use super::calls::found;
use super::{Page, bad_path, bad_query};
use crate::error::ApiResult;
use crate::{ApiError, ApiState, filters};

#[derive(Deserialize)]
pub struct Params {
    state: Option<String>,
    kind: Option<String>,
    call_sid: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn kind(s: &str) -> ApiResult<JobKind> {
    JobKind::parse(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown job kind `{s}` (diary, schedules, mood, quality)"
        ))
    })
}

pub async fn list(
    State(st): State<ApiState>,
    q: Result<Query<Params>, QueryRejection>,
) -> ApiResult<Json<Page<Job>>> {
    let Query(p) = q.map_err(bad_query)?;
    let limit = filters::limit(p.limit).map_err(ApiError::bad_request)?;
    let offset = filters::offset(p.offset).map_err(ApiError::bad_request)?;
    let state = match p.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(JobState::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown job state `{s}` (pending, running, done, failed)"
            ))
        })?),
    };
    let kind = match p.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(kind(k)?),
    };
    let jobs = st
        .postcall
        .jobs(&JobFilter {
            call_sid: p.call_sid.filter(|s| !s.is_empty()),
            state,
            kind,
            limit: limit + 1,
            offset,
        })
        .await?;
    Ok(Json(Page::new(jobs, limit, offset)))
}

pub async fn for_call(
    State(st): State<ApiState>,
    sid: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Vec<Job>>> {
    let Path(sid) = sid.map_err(bad_path)?;
    found(&st, &sid).await?;
    let jobs = st
        .postcall
        .jobs(&JobFilter {
            call_sid: Some(sid),
            ..Default::default()
        })
        .await?;
    Ok(Json(jobs))
}

pub async fn one(
    State(st): State<ApiState>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<Json<Job>> {
    let Path(id) = id.map_err(bad_path)?;
    st.postcall
        .job(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no job {id}")))
}

fn answer(r: Rerun, what: &str) -> ApiResult<(StatusCode, Json<Job>)> {
    match r {
        Rerun::Queued(j) => Ok((StatusCode::ACCEPTED, Json(j))),
        Rerun::Busy(j) => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("job {} is running; try again when it has finished", j.id),
        )),
        Rerun::NotFound => Err(ApiError::not_found(format!("no job {what}"))),
    }
}

/// `202` with the queued job; `409` while it runs.
pub async fn rerun(
    State(st): State<ApiState>,
    id: Result<Path<i64>, PathRejection>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let Path(id) = id.map_err(bad_path)?;
    answer(st.postcall.rerun(id).await?, &id.to_string())
}

/// Re-runs one kind for a call, queueing it if it never was.
pub async fn rerun_kind(
    State(st): State<ApiState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> ApiResult<(StatusCode, Json<Job>)> {
    let Path((sid, k)) = p.map_err(bad_path)?;
    let kind = kind(&k)?;
    found(&st, &sid).await?;
    answer(
        st.postcall.rerun_kind(&sid, kind).await?,
        &format!("{k} for {sid}"),
    )
}
