//! Calls in progress, their words appearing as they are said.
//!
//! The page lists what the store has; `/app/live/events` then streams new messages as
//! server-sent events. It polls the store rather than listening to sessions, so it shows
//! every instance's calls and survives a restart of either side; the store has each
//! caller's words once the turn is committed, and haru's once they were heard.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use haru_store::{CallFilter, CallRecord};
use maud::{Markup, html};
use serde_json::json;

use super::call::bubble;
use crate::layout::{Nav, shell};
use crate::{Ctx, WebError, WebState, fmt};

/// How often the stream looks for new words.
const POLL: Duration = Duration::from_millis(500);
/// A stream ends after this; the browser reconnects through the login check again, so a
/// logged-out or expired viewer stops receiving.
const STREAM_MAX: Duration = Duration::from_secs(600);

/// Calls in progress on any instance, from the store.
pub async fn live_calls(st: &WebState) -> haru_store::Result<Vec<CallRecord>> {
    let calls = st
        .store
        .list_calls(&CallFilter {
            status: Some("in-progress".into()),
            limit: 500,
            ..Default::default()
        })
        .await?;
    Ok(calls.into_iter().filter(|c| c.ended_at.is_none()).collect())
}

pub async fn page(State(st): State<WebState>, ctx: Ctx) -> Result<Markup, WebError> {
    let t = ctx.lang.t();
    let err = |e| WebError::store(ctx.lang, e);
    let calls = live_calls(&st).await.map_err(err)?;
    let mut sections = vec![];
    for c in &calls {
        let person = match &c.person_id {
            Some(id) => st.db.person(id).await.map_err(err)?,
            None => None,
        };
        let messages = st.store.messages(&c.call_sid).await.map_err(err)?;
        sections.push((c, person, messages));
    }
    let body = html! {
        h1 { (t.live) }
        p.muted { (t.live_hint) }
        div #live data-caller=(t.caller) data-haru=(t.haru) {
            @if calls.is_empty() { p #live-empty.muted { (t.live_none) } }
            @for (c, person, messages) in &sections {
                section.card.live-call id={"call-" (c.call_sid)} data-call-sid=(c.call_sid) {
                    h2 {
                        a href={"/app/calls/" (c.call_sid)} {
                            @match person { Some(p) => (p.name), None => (c.from_number.as_deref().unwrap_or(&c.call_sid)) }
                        }
                        " " span.muted { (fmt::local(&c.started_at, st.timezone)) }
                    }
                    div.conversation { @for m in messages { (bubble(m, t)) } }
                }
            }
        }
        script src="/app/assets/live.js" {}
    };
    Ok(shell(&ctx, st.gate.mode(), t.live, Some(Nav::Live), body))
}

fn message_event(m: &haru_store::Message) -> Event {
    let data = json!({
        "id": m.id, "call_sid": m.call_sid, "role": m.role.as_str(),
        "content": m.content, "interrupted": m.interrupted,
    });
    Event::default().event("message").data(data.to_string())
}

struct Poller {
    st: WebState,
    /// The newest message id sent, per live call.
    sent: HashMap<String, i64>,
    queue: std::collections::VecDeque<Event>,
    first: bool,
    until: tokio::time::Instant,
}

impl Poller {
    async fn poll(&mut self) {
        let calls = match live_calls(&self.st).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "live page: store read failed");
                return;
            }
        };
        let now: HashSet<&str> = calls.iter().map(|c| c.call_sid.as_str()).collect();
        let gone: Vec<String> = self
            .sent
            .keys()
            .filter(|sid| !now.contains(sid.as_str()))
            .cloned()
            .collect();
        for sid in gone {
            self.sent.remove(&sid);
            self.queue
                .push_back(Event::default().event("ended").data(sid));
        }
        for c in &calls {
            let Ok(messages) = self.st.store.messages(&c.call_sid).await else {
                continue;
            };
            let last = self.sent.entry(c.call_sid.clone()).or_insert(0);
            let after = *last;
            for m in messages.iter().filter(|m| m.id > after) {
                self.queue.push_back(message_event(m));
                *last = m.id;
            }
        }
    }
}

pub async fn events(
    State(st): State<WebState>,
    _ctx: Ctx,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let poller = Poller {
        st,
        sent: HashMap::new(),
        queue: Default::default(),
        first: true,
        until: tokio::time::Instant::now() + STREAM_MAX,
    };
    let stream = futures::stream::unfold(poller, |mut p| async move {
        loop {
            if let Some(ev) = p.queue.pop_front() {
                return Some((Ok(ev), p));
            }
            if tokio::time::Instant::now() >= p.until {
                return None;
            }
            if !p.first {
                tokio::time::sleep(POLL).await;
            }
            p.first = false;
            p.poll().await;
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
