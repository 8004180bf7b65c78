//! People (the daily companion): CRUD, "call now", memory, diaries, schedules, trends,
//! and the public calendar feed (its own secret token instead of the operator's).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDate, Utc};
use haru_companion::person::{PersonInput, PersonPatchInput};
use haru_store::companion::Person;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Page, bad_path, bad_query};
use crate::error::ApiResult;
use crate::{ApiError, ApiState};

fn companion(st: &ApiState) -> ApiResult<&haru_companion::Companion> {
    st.companion.as_deref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daily companion is not running",
        )
    })
}

/// The person as the API shows them, with their calendar-feed URL and next call.
pub fn person_json(st: &ApiState, p: &Person) -> Value {
    let mut v = serde_json::to_value(p).unwrap_or(Value::Null);
    let url = format!(
        "{}/api/people/{}/calendar.ics?token={}",
        st.public_base.trim_end_matches('/'),
        p.id,
        p.calendar_token
    );
    let next = haru_companion::plan::DailyPlan::new(
        &p.timezone,
        &p.call_times,
        &p.days,
        u32::try_from(p.window_minutes).unwrap_or(60),
    )
    .ok()
    .filter(|_| p.active)
    .and_then(|plan| plan.next_slot(Utc::now()))
    .map(|s| s.due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if let Value::Object(m) = &mut v {
        m.insert("calendar_url".into(), Value::String(url));
        m.insert(
            "next_call_at".into(),
            next.map(Value::String).unwrap_or(Value::Null),
        );
    }
    v
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))
}

fn invalid(e: haru_companion::person::Invalid) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
}

fn taken(e: haru_store::companion::PhoneTaken) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, e.to_string())
}

async fn person_of(st: &ApiState, id: Result<Path<String>, PathRejection>) -> ApiResult<Person> {
    let Path(id) = id.map_err(bad_path)?;
    st.db
        .person(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no person {id}")))
}

pub async fn create(
    State(st): State<ApiState>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let input: PersonInput = json_body(&body)?;
    let new = input.validate().map_err(invalid)?;
    let p = st.db.add_person(&new).await?.map_err(taken)?;
    tracing::info!(person = %p.id, "person added");
    Ok((StatusCode::CREATED, Json(person_json(&st, &p))))
}

#[derive(Deserialize)]
pub struct PageQuery {
    #[serde(default)]
    limit: Option<i64>,
    #[serde(default)]
    offset: Option<i64>,
}

pub async fn list(
    State(st): State<ApiState>,
    q: Result<Query<PageQuery>, QueryRejection>,
) -> ApiResult<Json<Page<Value>>> {
    let Query(q) = q.map_err(bad_query)?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let offset = crate::filters::offset(q.offset).map_err(ApiError::bad_request)?;
    let people = st.db.people(false, limit + 1, offset).await?;
    let items = people.iter().map(|p| person_json(&st, p)).collect();
    Ok(Json(Page::new(items, limit, offset)))
}

pub async fn one(
    State(st): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let p = person_of(&st, id).await?;
    let mut v = person_json(&st, &p);
    let slots = st.db.slots_of(&p.id, 14).await?;
    if let Value::Object(m) = &mut v {
        m.insert(
            "recent_calls".into(),
            serde_json::to_value(slots).unwrap_or(Value::Null),
        );
    }
    Ok(Json(v))
}

pub async fn update(
    State(st): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let current = person_of(&st, id).await?;
    let input: PersonPatchInput = json_body(&body)?;
    let patch = input.validate(&current).map_err(invalid)?;
    let p = st
        .db
        .update_person(&current.id, &patch)
        .await?
        .map_err(taken)?
        .ok_or_else(|| ApiError::not_found(format!("no person {}", current.id)))?;
    Ok(Json(person_json(&st, &p)))
}

/// Erases the person and everything of theirs; says what it removed.
pub async fn erase(
    State(st): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<haru_store::companion::Erasure>> {
    let Path(id) = id.map_err(bad_path)?;
    match st.db.erase_person(&id).await? {
        Some(e) => {
            tracing::info!(person = %id, "person erased");
            Ok(Json(e))
        }
        None => Err(ApiError::not_found(format!("no person {id}"))),
    }
}

pub async fn call_now(
    State(st): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let p = person_of(&st, id).await?;
    let c = companion(&st)?;
    match c.call_now(&p.id, Utc::now()).await {
        Ok(Some(placed)) => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "call_sid": placed.call_sid, "person_id": p.id, "to": p.phone })),
        )),
        Ok(None) => Err(ApiError::not_found(format!("no person {}", p.id))),
        Err(haru_companion::Error::Unavailable(m)) => {
            Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m))
        }
        Err(haru_companion::Error::Twilio(e)) => Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("Twilio refused the call: {e}"),
        )),
        Err(haru_companion::Error::Store(e)) => Err(e.into()),
    }
}

pub async fn memory(
    State(st): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let p = person_of(&st, id).await?;
    let items = st.db.memory_items(&p.id).await?;
    Ok(Json(json!({ "items": items })))
}

pub async fn forget(
    State(st): State<ApiState>,
    ids: Result<Path<(String, i64)>, PathRejection>,
) -> ApiResult<StatusCode> {
    let Path((id, item)) = ids.map_err(bad_path)?;
    if st.db.delete_memory_item(&id, item).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "person {id} has no memory item {item}"
        )))
    }
}

pub async fn diaries(
    State(st): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let p = person_of(&st, id).await?;
    let d = st.db.diaries_of(&p.id, 100).await?;
    Ok(Json(json!({ "items": d })))
}

pub async fn schedules(
    State(st): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<Value>> {
    let p = person_of(&st, id).await?;
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let s = st.db.schedules_of(&p.id, Some(&now), 500).await?;
    Ok(Json(json!({ "items": s })))
}

#[derive(Deserialize)]
pub struct RangeQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// Mood, answered/missed calls per day, talk time and words per call; the last 30 days by
/// default, at most 366.
pub async fn trends(
    State(st): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<RangeQuery>, QueryRejection>,
) -> ApiResult<Json<haru_companion::trends::Trends>> {
    let p = person_of(&st, id).await?;
    let Query(q) = q.map_err(bad_query)?;
    let tz: chrono_tz::Tz = p.timezone.parse().unwrap_or(chrono_tz::Asia::Seoul);
    let today = Utc::now().with_timezone(&tz).date_naive();
    let date = |s: &Option<String>, name: &str, default: NaiveDate| -> ApiResult<NaiveDate> {
        match s {
            None => Ok(default),
            Some(s) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| ApiError::bad_request(format!("{name} must be YYYY-MM-DD"))),
        }
    };
    let to = date(&q.to, "to", today)?;
    let from = date(&q.from, "from", to - chrono::Duration::days(29))?;
    if from > to || (to - from).num_days() > 366 {
        return Err(ApiError::bad_request(
            "from must be before to, at most 366 days apart",
        ));
    }
    let (a, b) = haru_companion::trends::utc_bounds(tz, from, to);
    let ts = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let calls = st.db.calls_of(&p.id, &ts(a), &ts(b)).await?;
    let slots = st
        .db
        .slots_between(
            &p.id,
            &ts(a - chrono::Duration::days(1)),
            &ts(b + chrono::Duration::days(1)),
        )
        .await?;
    Ok(Json(haru_companion::trends::trends(
        tz, from, to, &calls, &slots,
    )))
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: Option<String>,
}

/// `GET /api/people/{id}/calendar.ics?token=...`: public, opened by the person's own secret
/// (calendar apps cannot send bearer tokens). A wrong token is a 404, like a wrong id.
pub async fn calendar(
    State(st): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(id) = id.map_err(bad_path)?;
    let Query(q) = q.map_err(bad_query)?;
    let token = q.token.unwrap_or_default();
    let Some(p) = st.db.person_by_calendar_token(&id, &token).await? else {
        return Err(ApiError::not_found("no such calendar"));
    };
    let items = st.db.schedules_of(&p.id, None, 2000).await?;
    let now = Utc::now();
    let events: Vec<haru_companion::ical::CalEvent> = items
        .iter()
        .filter_map(|s| haru_companion::ical::event_for_schedule(s, now))
        .collect();
    let body = haru_companion::ical::calendar(&format!("haru: {}", p.name), &events);
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CACHE_CONTROL, "private, max-age=300"),
        ],
        body,
    )
        .into_response())
}
