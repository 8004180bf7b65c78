//! The browser transport: the same call session as a phone call, fed by a microphone over
//! a WebSocket instead of Twilio's Media Streams. It only maps its messages onto the
//! session's `Input`/`Output`; nothing in the session knows which transport it has.
//!
//! Wire format (`GET /api/browser/stream?ticket=...`):
//! - browser → haru: binary messages of 16-bit little-endian mono PCM at 8 kHz (any
//!   length up to 1 s); text `{"type":"mark","name":"h3"}` once the audio before that mark
//!   has played; `{"type":"stop"}` to hang up.
//! - haru → browser: `{"type":"start","call_sid":"CA…"}` first; then binary µ-law 8 kHz
//!   audio to play in order; `{"type":"mark","name":…}`, `{"type":"clear"}` (drop what has
//!   not played: the caller talked over haru) and `{"type":"hangup"}`.
//!
//! A stream needs a ticket that the dashboard issued to a logged-in viewer (one use,
//! short-lived; checked by the [`TicketCheck`] installed at start-up). Without one, or
//! from another origin, the upgrade is refused.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use haru_session::{Input, Output, Session};
use haru_store::NewCall;
use metrics::counter;
use serde::Deserialize;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::app::AppState;
use crate::budget::StreamBudget;
use crate::ws::{
    Active, call_deps, hand_over, new_recording, record_input, record_output, save_recording,
    stored,
};

/// Whether a browser-call ticket is valid; redeeming it uses it up.
pub trait TicketCheck: Send + Sync + 'static {
    fn redeem(&self, ticket: &str) -> bool;
}

pub type SharedTickets = std::sync::Arc<std::sync::OnceLock<std::sync::Arc<dyn TicketCheck>>>;

/// One second of 8 kHz 16-bit audio: the largest binary message accepted.
const MAX_AUDIO_BYTES: usize = 16_000;
const INPUT_QUEUE: usize = 500;
const OUTPUT_QUEUE: usize = 256;

#[derive(Deserialize)]
pub struct TicketQuery {
    #[serde(default)]
    ticket: String,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum FromBrowser {
    Mark { name: String },
    Stop,
}

fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Not a browser (no Origin): the ticket alone decides.
        return true;
    };
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, h)| h.trim_end_matches('/').eq_ignore_ascii_case(host))
}

pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<TicketQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let ok = same_origin(&headers)
        && state
            .browser_tickets
            .get()
            .is_some_and(|t| t.redeem(&q.ticket));
    if !ok {
        counter!(crate::metrics::STREAMS_REFUSED_TOTAL, "reason" => "browser ticket").increment(1);
        return (
            StatusCode::FORBIDDEN,
            "a browser call needs a dashboard ticket",
        )
            .into_response();
    }
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| handle(socket, state))
}

fn control(v: serde_json::Value) -> Message {
    Message::Text(Utf8Bytes::from(v.to_string()))
}

async fn handle(socket: WebSocket, state: AppState) {
    let (mut sink, mut source) = socket.split();
    let call_sid = format!("CA{:032x}", rand::random::<u128>());
    let stream_sid = format!("MZ{:032x}", rand::random::<u128>());
    let r = state
        .store
        .upsert_call(&NewCall {
            call_sid: call_sid.clone(),
            direction: "browser".into(),
            ..Default::default()
        })
        .await;
    stored(&call_sid, "browser call", r);
    match state.store.claim_stream(&call_sid, &stream_sid).await {
        Ok(true) => {}
        other => {
            warn!(call_sid = %call_sid, ?other, "browser call could not be opened in the store");
            let _ = sink.close().await;
            return;
        }
    }
    let r = state
        .store
        .record_stream_event(&call_sid, Some(&stream_sid), "started", Some("browser"))
        .await;
    stored(&call_sid, "stream start", r);
    if sink
        .send(control(
            serde_json::json!({"type": "start", "call_sid": call_sid}),
        ))
        .await
        .is_err()
    {
        return;
    }
    let _here = Active::enter(&state, &call_sid);
    haru_session::log::call_start(&call_sid, &stream_sid);
    let (in_tx, in_rx) = mpsc::channel(INPUT_QUEUE);
    let (out_tx, mut out_rx) = mpsc::channel::<Output>(OUTPUT_QUEUE);
    let session = Session::new(call_sid.clone(), call_deps(&state, &call_sid).await, out_tx);
    let mut session = tokio::spawn(session.run(in_rx));
    let rec = new_recording(&state);
    let rec_out = rec.clone();
    let writer = tokio::spawn(async move {
        let mut open = true;
        while let Some(item) = out_rx.recv().await {
            record_output(&rec_out, &item);
            if !open {
                continue;
            }
            let msg = match item {
                Output::Audio(mulaw) => Message::Binary(mulaw.into()),
                Output::Mark(name) => control(serde_json::json!({"type": "mark", "name": name})),
                Output::Clear => control(serde_json::json!({"type": "clear"})),
                Output::HangUp => control(serde_json::json!({"type": "hangup"})),
            };
            open = sink.send(msg).await.is_ok();
        }
        let _ = sink.close().await;
    });
    let reader = async {
        let mut budget = StreamBudget::with_max_speed(Instant::now(), state.cfg.stream_max_speed);
        let mut dropped = 0u64;
        while let Some(msg) = source.next().await {
            let now = Instant::now();
            let item = match msg {
                Ok(Message::Binary(b)) => {
                    if b.len() > MAX_AUDIO_BYTES || b.len() % 2 != 0 {
                        return "malformed audio";
                    }
                    let pcm: Vec<i16> = b
                        .chunks_exact(2)
                        .map(|c| i16::from_le_bytes([c[0], c[1]]))
                        .collect();
                    let len = Duration::from_micros(pcm.len() as u64 * 125);
                    if let Err(why) = budget.audio(now, len) {
                        return why;
                    }
                    Input::Audio(pcm)
                }
                Ok(Message::Text(t)) => match serde_json::from_str::<FromBrowser>(t.as_str()) {
                    Ok(FromBrowser::Mark { name }) if budget.mark(now, &name) => Input::Mark(name),
                    Ok(FromBrowser::Mark { .. }) => continue,
                    Ok(FromBrowser::Stop) => Input::Stop,
                    Err(_) => {
                        warn!(call_sid = %call_sid, "browser call: unreadable message skipped");
                        continue;
                    }
                },
                Ok(Message::Close(_)) | Err(_) => return "browser closed",
                Ok(_) => continue,
            };
            let stop = matches!(item, Input::Stop);
            record_input(&rec, &item);
            if hand_over(&in_tx, item, &call_sid, &mut dropped).is_err() || stop {
                return "stop";
            }
        }
        "browser closed"
    };
    let ended_by = tokio::select! {
        why = reader => why,
        r = &mut session => {
            if let Err(e) = r { warn!(call_sid = %call_sid, error = %e, "session task failed"); }
            "session ended"
        }
    };
    if ended_by != "stop" && ended_by != "session ended" {
        let _ = in_tx.try_send(Input::Closed);
    }
    drop(in_tx);
    if !session.is_finished()
        && let Err(e) = (&mut session).await
    {
        warn!(call_sid = %call_sid, error = %e, "session task failed");
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    save_recording(&state, &call_sid, rec).await;
    info!(call_sid = %call_sid, ended_by, "browser call ended");
    let r = state
        .store
        .record_stream_event(&call_sid, Some(&stream_sid), "closed", Some(ended_by))
        .await;
    stored(&call_sid, "stream close", r);
}
