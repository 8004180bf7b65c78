//! One person: how their days went (charts), their diaries, what is coming, what haru
//! remembers of them, who cares for them, and when haru calls.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use haru_companion::person::PersonPatchInput;
use haru_store::companion::Person;
use maud::{Markup, html};
use serde::Deserialize;

use super::people::{overview, schedule_when};
use crate::layout::{Nav, csrf, shell};
use crate::{Ctx, WebError, WebState, charts, fmt};

async fn person_of(st: &WebState, ctx: &Ctx, id: &str) -> Result<Person, WebError> {
    st.db
        .person(id)
        .await
        .map_err(|e| WebError::store(ctx.lang, e))?
        .ok_or_else(|| WebError::not_found(ctx.lang))
}

#[derive(Deserialize, Default)]
pub struct Flash {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn page(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Query(flash): Query<Flash>,
) -> Result<Markup, WebError> {
    let t = ctx.lang.t();
    let err = |e| WebError::store(ctx.lang, e);
    let p = person_of(&st, &ctx, &id).await?;
    let live = super::people::live_by_person(&st).await.map_err(err)?;
    let sid = live
        .iter()
        .find(|(pid, _)| *pid == p.id)
        .map(|(_, s)| s.as_str());
    let o = overview(&st, &p, sid, 30).await.map_err(err)?;
    let diaries = st.db.diaries_of(&p.id, 60).await.map_err(err)?;
    let upcoming = st
        .db
        .schedules_of(&p.id, Some(&fmt::utc(Utc::now())), 50)
        .await
        .map_err(err)?;
    let memory = st.db.memory_items(&p.id).await.map_err(err)?;
    let moods = st.db.moods_of(&p.id, 200).await.map_err(err)?;
    let calendar = format!(
        "{}/api/people/{}/calendar.ics?token={}",
        st.public_base.trim_end_matches('/'),
        p.id,
        p.calendar_token
    );
    let mut calls = o.trends.calls.clone();
    calls.reverse();
    let body = html! {
        h1 { (p.name) " " (o.today.badge(t)) }
        @if flash.saved.is_some() { p.notice role="status" { (t.saved) } }
        div.grid {
            section.card {
                h2 { (t.mood_chart) }
                (charts::mood_chart(&o.trends.days, t.mood_chart))
            }
            section.card {
                h2 { (t.answered_chart) }
                (charts::answered_chart(&o.trends.days, t.answered_chart, t.days_answered, t.days_missed))
            }
        }
        div.grid {
            section.card #upcoming {
                h2 { (t.upcoming) }
                @if upcoming.is_empty() { p.muted { (t.no_upcoming) } }
                ul.plain {
                    @for s in &upcoming {
                        li { strong { (schedule_when(s)) } " " (s.title)
                             blockquote { (s.quote) } }
                    }
                }
                p { a href=(calendar) { (t.calendar_feed) } }
            }
            section.card #settings {
                h2 { (t.settings) }
                dl.facts {
                    dt { (t.phone) } dd { (p.phone) }
                    dt { "TZ" } dd { (p.timezone) }
                }
                form method="post" action={"/app/people/" (p.id) "/settings"} {
                    (csrf(&ctx))
                    p {
                        label for="call_time" { (t.call_time) " " }
                        input #call_time type="time" name="call_time" required
                            value=(p.call_times.first().map(String::as_str).unwrap_or("10:00"));
                    }
                    p {
                        label {
                            input type="checkbox" name="active" value="on" checked[p.active];
                            " " (t.calls_active)
                        }
                    }
                    button type="submit" { (t.save) }
                }
                h2 { (t.caregivers) }
                @if p.caregivers.is_empty() { p.muted { (t.no_caregivers) } }
                ul.plain {
                    @for c in &p.caregivers {
                        li { (c.name)
                            @if let Some(s) = &c.sms { " · SMS " (s) }
                            @if let Some(e) = &c.email { " · " (e) }
                            @if c.webhook_url.is_some() { " · webhook" } }
                    }
                }
            }
        }
        section.card #diaries {
            h2 { (t.diaries) }
            @if diaries.is_empty() { p.muted { (t.no_diaries) } }
            @for d in &diaries {
                article.diary lang=(p.language) {
                    h3 { (d.local_date) " · " (d.title) " " a.muted href={"/app/calls/" (d.call_sid)} { "↗" } }
                    @for para in &d.paragraphs { p { (para) } }
                }
            }
        }
        section.card #memory {
            h2 { (t.memory) }
            @if memory.is_empty() { p.muted { (t.no_memory) } }
            ul.plain {
                @for m in &memory {
                    li data-memory=(m.id) {
                        (m.text)
                        @if let Some(q) = &m.quote { blockquote { (q) } }
                        form.inline method="post" action={"/app/people/" (p.id) "/memory/" (m.id) "/delete"} {
                            (csrf(&ctx))
                            button.small type="submit" { (t.delete) }
                        }
                    }
                }
            }
        }
        section.card #calls {
            h2 { (t.recent_calls) }
            @if calls.is_empty() { p.muted { (t.no_calls) } }
            table {
                thead { tr { th { (t.started) } th { (t.status) } th { (t.mood) } th.num { "words" } } }
                tbody {
                    @for c in &calls {
                        @let mood = moods.iter().find(|m| m.call_sid == c.call_sid);
                        tr {
                            td { a href={"/app/calls/" (c.call_sid)} { (c.date) } }
                            td { @if let Some(s) = c.talk_seconds { (format!("{}:{:02}", s / 60, s % 60)) } }
                            td { @if let Some(m) = mood { (m.label) " " (format!("{:+.2}", m.score)) } }
                            td.num { (c.words) }
                        }
                    }
                }
            }
        }
    };
    Ok(shell(
        &ctx,
        st.gate.mode(),
        &p.name,
        Some(Nav::People),
        body,
    ))
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    call_time: String,
    #[serde(default)]
    active: Option<String>,
}

/// Call time and pause/resume, validated as the API validates them.
pub async fn settings(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(id): Path<String>,
    Form(f): Form<SettingsForm>,
) -> Result<Response, WebError> {
    if !ctx.viewer.csrf_ok(&f.csrf) {
        return Err(WebError::forbidden(ctx.lang));
    }
    let p = person_of(&st, &ctx, &id).await?;
    let mut times = p.call_times.clone();
    let time = f.call_time.trim().to_string();
    // The form edits the first call time; others (set through the API) stay.
    if times.is_empty() {
        times.push(time);
    } else {
        times[0] = time;
    }
    let input = PersonPatchInput {
        call_times: Some(times),
        active: Some(f.active.as_deref() == Some("on")),
        ..Default::default()
    };
    let back = format!("/app/people/{}", p.id);
    let patch = match input.validate(&p) {
        Ok(patch) => patch,
        Err(e) => {
            return Err(WebError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                e.to_string(),
            ));
        }
    };
    match st.db.update_person(&p.id, &patch).await {
        Ok(Ok(Some(_))) => {
            tracing::info!(person = %p.id, "dashboard: settings saved");
            Ok(Redirect::to(&format!("{back}?saved=1")).into_response())
        }
        Ok(Ok(None)) => Err(WebError::not_found(ctx.lang)),
        Ok(Err(e)) => Err(WebError::new(StatusCode::CONFLICT, e.to_string())),
        Err(e) => Err(WebError::store(ctx.lang, e)),
    }
}

pub async fn forget(
    State(st): State<WebState>,
    ctx: Ctx,
    Path((id, item)): Path<(String, i64)>,
    Form(f): Form<super::CsrfForm>,
) -> Result<Response, WebError> {
    if !ctx.viewer.csrf_ok(&f.csrf) {
        return Err(WebError::forbidden(ctx.lang));
    }
    let removed = st
        .db
        .delete_memory_item(&id, item)
        .await
        .map_err(|e| WebError::store(ctx.lang, e))?;
    if !removed {
        return Err(WebError::not_found(ctx.lang));
    }
    tracing::info!(person = %id, item, "dashboard: memory item deleted");
    Ok(Redirect::to(&format!("/app/people/{id}#memory")).into_response())
}
