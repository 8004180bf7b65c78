//! Per-call post-call results. A missing result is a 404 that says where its job is.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use haru_postcall::{Diary, JobKind, Mood, Quality, Schedule};

use super::bad_path;
use super::calls::found;
use crate::error::ApiResult;
use crate::{ApiError, ApiState};

/// "no diary for CA1 yet: job pending (attempt 2, last error: ...)".
async fn missing(st: &ApiState, sid: &str, kind: JobKind) -> ApiError {
    let job = st.postcall.find_job(sid, kind).await.ok().flatten();
    let why = match job {
        None => "no job queued".to_string(),
        Some(j) => {
            let mut s = format!(
                "job {} is {} (attempt {})",
                j.id,
                j.state.as_str(),
                j.attempts
            );
            if let Some(e) = j.last_error {
                s.push_str(&format!(", last error: {e}"));
            }
            s
        }
    };
    ApiError::not_found(format!("no {} for call {sid} yet: {why}", kind.as_str()))
}

async fn sid_of(st: &ApiState, sid: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    let Path(sid) = sid.map_err(bad_path)?;
    found(st, &sid).await?;
    Ok(sid)
}

pub async fn diary(
    State(st): State<ApiState>,
    sid: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Diary>> {
    let sid = sid_of(&st, sid).await?;
    match st.postcall.diary(&sid).await? {
        Some(d) => Ok(Json(d)),
        None => Err(missing(&st, &sid, JobKind::Diary).await),
    }
}

/// An empty list is a real answer once the job is done; before that it is a 404.
pub async fn schedules(
    State(st): State<ApiState>,
    sid: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Vec<Schedule>>> {
    let sid = sid_of(&st, sid).await?;
    let items = st.postcall.schedules(&sid).await?;
    let done = st
        .postcall
        .find_job(&sid, JobKind::Schedules)
        .await?
        .is_some_and(|j| j.finished_at.is_some() && j.state == haru_postcall::JobState::Done);
    if items.is_empty() && !done {
        return Err(missing(&st, &sid, JobKind::Schedules).await);
    }
    Ok(Json(items))
}

pub async fn mood(
    State(st): State<ApiState>,
    sid: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Mood>> {
    let sid = sid_of(&st, sid).await?;
    match st.postcall.mood(&sid).await? {
        Some(m) => Ok(Json(m)),
        None => Err(missing(&st, &sid, JobKind::Mood).await),
    }
}

pub async fn quality(
    State(st): State<ApiState>,
    sid: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Quality>> {
    let sid = sid_of(&st, sid).await?;
    match st.postcall.quality(&sid).await? {
        Some(q) => Ok(Json(q)),
        None => Err(missing(&st, &sid, JobKind::Quality).await),
    }
}
