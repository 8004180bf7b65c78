//! Alerts, open first: what was noticed, the words it was noticed in, and who
//! acknowledged it.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use haru_store::companion::AlertFilter;
use maud::{Markup, html};

use crate::layout::{Nav, csrf, shell};
use crate::{Ctx, WebError, WebState, fmt};

pub async fn page(State(st): State<WebState>, ctx: Ctx) -> Result<Markup, WebError> {
    let t = ctx.lang.t();
    let err = |e| WebError::store(ctx.lang, e);
    // Every open alert (however old), then the latest acknowledged ones.
    let mut alerts = st
        .db
        .alerts(&AlertFilter {
            open: true,
            limit: 500,
            ..Default::default()
        })
        .await
        .map_err(err)?;
    let recent = st
        .db
        .alerts(&AlertFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .map_err(err)?;
    alerts.extend(recent.into_iter().filter(|a| a.acked_at.is_some()));
    let people = st.db.people(false, 1000, 0).await.map_err(err)?;
    let name = |id: &Option<String>| {
        id.as_ref()
            .and_then(|id| people.iter().find(|p| &p.id == id))
            .map(|p| (p.id.clone(), p.name.clone()))
    };
    let body = html! {
        h1 { (t.alerts) }
        @if alerts.is_empty() { p.muted { (t.no_alerts) } }
        @for a in &alerts {
            section.card.alert id={"alert-" (a.id)} data-state=(if a.acked_at.is_some() { "acked" } else { "open" }) {
                h2 {
                    @if a.acked_at.is_none() { span.badge.alert { (t.open) } " " }
                    (a.kind.as_str()) " · "
                    @match name(&a.person_id) {
                        Some((id, n)) => a href={"/app/people/" (id)} { (n) },
                        None => span.muted { "—" },
                    }
                }
                p { (a.summary) }
                p.muted { (fmt::local(&a.created_at, st.timezone)) }
                @if !a.evidence.is_empty() {
                    h3 { (t.evidence) }
                    @for e in &a.evidence {
                        blockquote {
                            (e.quote)
                            @if let Some(sid) = &e.call_sid { " " a href={"/app/calls/" (sid)} { "↗" } }
                        }
                    }
                }
                @match &a.acked_at {
                    Some(at) => p.notice { (t.acked) " · " (fmt::local(at, st.timezone)) " · " (a.acked_by.as_deref().unwrap_or("")) },
                    None => form method="post" action={"/app/alerts/" (a.id) "/ack"} {
                        (csrf(&ctx))
                        button type="submit" { (t.ack) }
                    },
                }
            }
        }
    };
    Ok(shell(
        &ctx,
        st.gate.mode(),
        t.alerts,
        Some(Nav::Alerts),
        body,
    ))
}

pub async fn ack(
    State(st): State<WebState>,
    ctx: Ctx,
    Path(id): Path<i64>,
    Form(f): Form<super::CsrfForm>,
) -> Result<Response, WebError> {
    if !ctx.viewer.csrf_ok(&f.csrf) {
        return Err(WebError::forbidden(ctx.lang));
    }
    let acked = st
        .db
        .ack_alert(id, "dashboard")
        .await
        .map_err(|e| WebError::store(ctx.lang, e))?;
    if acked.is_none() {
        return Err(WebError::not_found(ctx.lang));
    }
    tracing::info!(alert = id, "dashboard: alert acknowledged");
    Ok(Redirect::to(&format!("/app/alerts#alert-{id}")).into_response())
}
