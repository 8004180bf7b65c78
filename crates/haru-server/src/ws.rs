//! The Media Streams WebSocket: handshake, binding to the call, and frame intake.
//!
//! A stream is accepted only if its `start.customParameters.token` equals the token this
//! server issued for that call in the TwiML. After that, the reader only decodes and
//! forwards; all conversation logic lives in the session task. Bad frames are logged with
//! the call SID and skipped; they never reach the session and never touch another call.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use haru_audio::mulaw;
use haru_session::metrics as m;
use haru_session::{Input, Output, Session};
use haru_telephony::media::{MarkBody, MediaEncoder, MediaFrame, Start};
use haru_telephony::{Inbound, Outbound, sid};
use metrics::counter;
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::app::AppState;
use crate::budget::StreamBudget;
use crate::metrics::{LogLimiter, warn_limited};

/// Both sides of a call being recorded (`HARU_RECORD_CALLS=1`), shared by its reader and
/// writer; `None` when recording is off.
pub(crate) type Recording =
    Option<std::sync::Arc<std::sync::Mutex<haru_audio::recorder::CallRecorder>>>;

pub(crate) fn new_recording(state: &AppState) -> Recording {
    state
        .cfg
        .record_calls
        .then(|| std::sync::Arc::new(std::sync::Mutex::new(Default::default())))
}

/// What a transport passes through, as the recording sees it.
pub(crate) fn record_input(rec: &Recording, item: &Input) {
    if let (Some(r), Input::Audio(pcm)) = (rec, item)
        && let Ok(mut r) = r.lock()
    {
        r.caller(pcm);
    }
}

pub(crate) fn record_output(rec: &Recording, item: &Output) {
    let Some(r) = rec else { return };
    let Ok(mut r) = r.lock() else { return };
    match item {
        Output::Audio(ulaw) => r.haru(ulaw),
        Output::Clear => r.clear(),
        Output::Mark(_) | Output::HangUp => {}
    }
}

/// Stores the call's recording once the call is over (a failure is logged and counted).
pub(crate) async fn save_recording(state: &AppState, call_sid: &str, rec: Recording) {
    let Some(r) = rec else { return };
    let wav = match r.lock() {
        Ok(r) if !r.is_empty() => r.to_wav(),
        _ => return,
    };
    let result = state.store.save_recording(call_sid, &wav).await;
    stored(call_sid, "recording", result);
}

/// Largest text message we parse; Twilio's 20 ms media messages are ~400 bytes.
const MAX_MESSAGE: usize = 32 * 1024;
/// Largest decoded audio payload accepted in one message (1 s of 8 kHz µ-law).
const MAX_PAYLOAD: usize = 8_000;
/// Messages queued for a busy session before intake starts dropping them (10 s of audio).
const INPUT_QUEUE: usize = 500;
/// Outputs queued for the socket writer.
const OUTPUT_QUEUE: usize = 256;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn stream(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    // Streams that have not sent `start` yet are strangers: only so many may wait at once,
    // so a flood of silent upgrades cannot hold the server's sockets.
    let Ok(waiting) = state.streams_waiting.clone().try_acquire_owned() else {
        counter!(crate::metrics::STREAMS_REFUSED_TOTAL, "reason" => "too many waiting")
            .increment(1);
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too many media streams waiting to start",
        )
            .into_response();
    };
    // Twilio's messages are ~400 bytes: tungstenite's default 128 KiB buffers cost more memory
    // per call than everything else and ~10 % of CPU zeroing them (see BENCHMARKS.md).
    ws.max_message_size(1 << 20)
        .max_frame_size(1 << 20)
        .read_buffer_size(4096)
        .write_buffer_size(4096)
        .on_upgrade(move |socket| handle(socket, state, waiting))
}

type Sink = SplitSink<WebSocket, Message>;
type Source = SplitStream<WebSocket>;

async fn close(mut sink: Sink, code: u16, reason: &str) {
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason.to_string()),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
    let _ = sink.close().await;
}

async fn handle(socket: WebSocket, state: AppState, waiting: tokio::sync::OwnedSemaphorePermit) {
    let (sink, mut source) = socket.split();
    let start = match tokio::time::timeout(HANDSHAKE_TIMEOUT, wait_for_start(&mut source)).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            info!("media stream closed before `start`");
            return;
        }
        Err(_) => {
            counter!(crate::metrics::SLOW_CLIENTS_TOTAL, "stage" => "start").increment(1);
            warn_limited!(
                crate::metrics::EDGE_LOG,
                "media stream sent no `start` within {HANDSHAKE_TIMEOUT:?}; closing"
            );
            close(sink, 1008, "no start event").await;
            return;
        }
    };
    drop(waiting);
    // Before anything is stored or logged with them: identifiers of Twilio's shape only.
    if !sid::is_call_sid(&start.call_sid) || !sid::is_stream_sid(&start.stream_sid) {
        counter!(crate::metrics::STREAMS_REFUSED_TOTAL, "reason" => "malformed sid").increment(1);
        warn_limited!(
            crate::metrics::EDGE_LOG,
            call_sid_len = start.call_sid.len(),
            stream_sid_len = start.stream_sid.len(),
            "media stream rejected: CallSid/StreamSid are not Twilio identifiers"
        );
        close(sink, 1008, "malformed call or stream SID").await;
        return;
    }
    let call_sid = start.call_sid.clone();
    let stream_sid = start.stream_sid.clone();
    if let Err(reason) = authorize(&state, &start).await {
        counter!(crate::metrics::STREAMS_REFUSED_TOTAL, "reason" => reason).increment(1);
        warn_limited!(
            crate::metrics::EDGE_LOG,
            call_sid = %call_sid,
            stream_sid = %stream_sid,
            reason,
            "media stream rejected"
        );
        // One small row (both SIDs are 34 characters) for the operator's record.
        let r = state
            .store
            .record_stream_event(&call_sid, Some(&stream_sid), "rejected", Some(reason))
            .await;
        stored(&call_sid, "stream rejection", r);
        close(sink, 1008, reason).await;
        return;
    }
    let r = state
        .store
        .record_stream_event(&call_sid, Some(&stream_sid), "started", None)
        .await;
    stored(&call_sid, "stream start", r);

    let _here = Active::enter(&state, &call_sid);
    haru_session::log::call_start(&call_sid, &stream_sid);
    let (in_tx, in_rx) = mpsc::channel(INPUT_QUEUE);
    let (out_tx, out_rx) = mpsc::channel::<Output>(OUTPUT_QUEUE);
    let session = Session::new(call_sid.clone(), call_deps(&state, &call_sid).await, out_tx);
    let mut session = tokio::spawn(session.run(in_rx));
    let rec = new_recording(&state);
    let writer = tokio::spawn(write_loop(
        sink,
        out_rx,
        state.clone(),
        call_sid.clone(),
        stream_sid.clone(),
        rec.clone(),
    ));
    let ended_by = tokio::select! {
        why = read_loop(source, in_tx, &call_sid, &stream_sid, state.cfg.stream_max_speed, &rec) => why,
        r = &mut session => {
            if let Err(e) = r { warn!(call_sid = %call_sid, error = %e, "session task failed"); }
            "session ended"
        }
    };
    if !session.is_finished() {
        // The reader stopped (stop event or closed socket); the session saves and exits.
        if let Err(e) = (&mut session).await {
            warn!(call_sid = %call_sid, error = %e, "session task failed");
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
    save_recording(&state, &call_sid, rec).await;
    let r = state
        .store
        .record_stream_event(&call_sid, Some(&stream_sid), "closed", Some(ended_by))
        .await;
    stored(&call_sid, "stream close", r);
}

/// Marks a call as held by a session of this process, until dropped (a panic included).
pub(crate) struct Active {
    set: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    call_sid: String,
}

impl Active {
    pub(crate) fn enter(state: &AppState, call_sid: &str) -> Self {
        if let Ok(mut s) = state.active.lock() {
            s.insert(call_sid.to_string());
        }
        Self {
            set: state.active.clone(),
            call_sid: call_sid.to_string(),
        }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Ok(mut s) = self.set.lock() {
            s.remove(&self.call_sid);
        }
    }
}

/// The session's dependencies for this call: the person's own settings when the companion
/// knows them (language, greeting, memory), else the server's.
pub(crate) async fn call_deps(state: &AppState, call_sid: &str) -> haru_session::SessionDeps {
    let mut deps = state.deps.clone();
    let Some(hooks) = state.hooks.get() else {
        return deps;
    };
    // A slow lookup must not keep the caller in silence: past this, the defaults.
    let setup = tokio::time::timeout(
        Duration::from_secs(2),
        hooks.session_config(call_sid, &state.deps.cfg),
    )
    .await;
    match setup {
        Ok(Some(cfg)) => {
            if let Some(lang) = &cfg.language
                && let Some(stt) = deps.providers.stt.for_language(lang)
            {
                deps.providers.stt = stt;
            }
            deps.cfg = std::sync::Arc::new(cfg);
        }
        Ok(None) => {}
        Err(_) => warn!(
            call_sid,
            "the person's call settings took too long; using the defaults"
        ),
    }
    deps
}

/// A failed store write is logged with the call SID and counted, never silently dropped.
pub(crate) fn stored(call_sid: &str, what: &str, result: haru_store::Result<()>) {
    if let Err(e) = result {
        counter!(m::STORE_ERRORS_TOTAL).increment(1);
        warn!(call_sid, what, error = %e, "could not store");
    }
}

async fn wait_for_start(source: &mut Source) -> Option<Start> {
    while let Some(msg) = source.next().await {
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        };
        if text.len() > MAX_MESSAGE {
            warn!(len = text.len(), "oversized message before start; skipped");
            continue;
        }
        match serde_json::from_str::<Inbound>(&text) {
            Ok(Inbound::Start { start, .. }) => return Some(start),
            Ok(Inbound::Connected { .. }) | Ok(Inbound::Unknown) => {}
            Ok(other) => {
                counter!(m::BAD_MESSAGES_TOTAL).increment(1);
                warn!(event = ?std::mem::discriminant(&other), "message before `start`; skipped");
            }
            Err(e) => {
                counter!(m::BAD_MESSAGES_TOTAL).increment(1);
                warn!(error = %e, "invalid JSON before `start`; skipped");
            }
        }
    }
    None
}

/// The stream must carry the token issued for this call, and name the same call.
async fn authorize(state: &AppState, start: &Start) -> Result<(), &'static str> {
    let given = start
        .custom_parameters
        .get("token")
        .ok_or("missing stream token")?;
    if let Some(sid) = start.custom_parameters.get("callSid")
        && sid != &start.call_sid
    {
        return Err("stream parameters name another call");
    }
    let issued = state
        .store
        .stream_token(&start.call_sid)
        .await
        .map_err(|_| "store unavailable")?
        .ok_or("unknown call")?;
    if !bool::from(issued.as_bytes().ct_eq(given.as_bytes())) {
        return Err("wrong stream token");
    }
    // The token is good for one stream, once: a second stream, or a replay after the
    // call, finds the call already bound (or ended) and is refused.
    match state
        .store
        .claim_stream(&start.call_sid, &start.stream_sid)
        .await
    {
        Ok(true) => Ok(()),
        Ok(false) => Err("stream token already used"),
        Err(_) => Err("store unavailable"),
    }
}

async fn read_loop(
    mut source: Source,
    input: mpsc::Sender<Input>,
    call_sid: &str,
    stream_sid: &str,
    max_speed: f64,
    rec: &Recording,
) -> &'static str {
    let mut dropped: u64 = 0;
    // Decoded µ-law of the current frame, reused: no allocation per frame for it.
    let mut payload: Vec<u8> = Vec::with_capacity(MAX_PAYLOAD);
    let mut budget = StreamBudget::with_max_speed(Instant::now(), max_speed);
    // Repeated warnings about one stream: ten a second, the rest counted.
    let log = LogLimiter::new(10);
    while let Some(msg) = source.next().await {
        if let Err(why) = budget.message(Instant::now()) {
            return abuse(call_sid, why);
        }
        let text = match msg {
            Ok(Message::Text(t)) => t,
            Ok(Message::Close(_)) => return "socket closed",
            Ok(Message::Binary(_)) => {
                warn_limited!(log, call_sid, "binary WebSocket message; skipped");
                continue;
            }
            Ok(_) => continue,
            Err(e) => {
                warn_limited!(log, call_sid, error = %e, "WebSocket error; closing stream");
                return "socket error";
            }
        };
        if text.len() > MAX_MESSAGE {
            counter!(m::BAD_MESSAGES_TOTAL).increment(1);
            warn_limited!(
                log,
                call_sid,
                len = text.len(),
                "oversized message; skipped"
            );
            continue;
        }
        // The fast path: a media frame, decoded into a reused buffer.
        if let Some(frame) = MediaFrame::parse(&text) {
            if frame.stream_sid != stream_sid {
                counter!(m::BAD_MESSAGES_TOTAL).increment(1);
                warn_limited!(log, call_sid, got = %frame.stream_sid, "message for another stream; skipped");
                continue;
            }
            let (track, b64) = (frame.media.track, frame.media.payload);
            match media_input(track, b64, &mut payload, &mut budget, &log, call_sid) {
                Err(why) => return abuse(call_sid, why),
                Ok(Some(item)) => {
                    if hand_over(&input, item, call_sid, &mut dropped).is_err() {
                        return "session ended";
                    }
                }
                Ok(None) => {}
            }
            continue;
        }
        let parsed = match serde_json::from_str::<Inbound>(&text) {
            Ok(m) => m,
            Err(e) => {
                counter!(m::BAD_MESSAGES_TOTAL).increment(1);
                warn_limited!(log, call_sid, error = %e, "invalid message; skipped");
                continue;
            }
        };
        let (sid, item) = match parsed {
            Inbound::Media {
                media,
                stream_sid: sid,
                ..
            } => {
                let track = media.track.as_deref();
                match media_input(
                    track,
                    &media.payload,
                    &mut payload,
                    &mut budget,
                    &log,
                    call_sid,
                ) {
                    Err(why) => return abuse(call_sid, why),
                    Ok(Some(item)) => (sid, item),
                    Ok(None) => continue,
                }
            }
            Inbound::Mark {
                mark,
                stream_sid: sid,
                ..
            } => {
                if !budget.mark(Instant::now(), &mark.name) {
                    counter!(crate::metrics::FLOOD_DROPPED_TOTAL, "kind" => "mark").increment(1);
                    continue;
                }
                (sid, Input::Mark(mark.name))
            }
            Inbound::Dtmf {
                dtmf,
                stream_sid: sid,
                ..
            } => {
                if !budget.dtmf(Instant::now(), &dtmf.digit) {
                    counter!(crate::metrics::FLOOD_DROPPED_TOTAL, "kind" => "dtmf").increment(1);
                    continue;
                }
                (sid, Input::Dtmf(dtmf.digit))
            }
            Inbound::Stop {
                stream_sid: sid, ..
            } => (sid, Input::Stop),
            Inbound::Start { .. } => {
                warn_limited!(log, call_sid, "second `start` on a running stream; ignored");
                continue;
            }
            Inbound::Connected { .. } | Inbound::Unknown => continue,
        };
        if sid != stream_sid {
            counter!(m::BAD_MESSAGES_TOTAL).increment(1);
            warn_limited!(log, call_sid, got = %sid, "message for another stream; skipped");
            continue;
        }
        let stop = matches!(item, Input::Stop);
        record_input(rec, &item);
        if hand_over(&input, item, call_sid, &mut dropped).is_err() {
            return "session ended";
        }
        if stop {
            return "stop";
        }
    }
    "socket closed"
}

/// A media frame as the session's audio: `Ok(None)` when it is skipped (another track, or
/// a bad payload, counted and logged), `Err` when the stream broke its audio budget.
fn media_input(
    track: Option<&str>,
    b64: &str,
    buf: &mut Vec<u8>,
    budget: &mut StreamBudget,
    log: &LogLimiter,
    call_sid: &str,
) -> Result<Option<Input>, &'static str> {
    match audio_of(track, b64, buf) {
        Ok(Some(len)) => {
            budget.audio(Instant::now(), len)?;
            Ok(Some(Input::Audio(mulaw::decode(buf))))
        }
        Ok(None) => Ok(None),
        Err(why) => {
            counter!(m::BAD_MESSAGES_TOTAL).increment(1);
            warn_limited!(log, call_sid, why, "media frame skipped");
            Ok(None)
        }
    }
}

/// A media frame's audio, base64-decoded into `buf`: its length, `None` for another
/// track, or why it is skipped.
fn audio_of(
    track: Option<&str>,
    b64: &str,
    buf: &mut Vec<u8>,
) -> Result<Option<Duration>, &'static str> {
    if track.is_some_and(|t| t != "inbound" && t != "inbound_track") {
        return Ok(None);
    }
    // base64 is 4 characters per 3 bytes: refuse oversized payloads before decoding.
    if b64.len() / 4 * 3 > MAX_PAYLOAD + 3 {
        return Err("media payload too large");
    }
    buf.clear();
    base64::engine::general_purpose::STANDARD
        .decode_vec(b64.as_bytes(), buf)
        .map_err(|_| "media payload is not base64")?;
    if buf.len() > MAX_PAYLOAD {
        return Err("media payload too large");
    }
    Ok(Some(Duration::from_millis(buf.len() as u64 / 8)))
}

/// The stream broke its budget: closed with the reason, counted, logged once.
fn abuse(call_sid: &str, why: &'static str) -> &'static str {
    counter!(crate::metrics::STREAMS_CLOSED_TOTAL, "reason" => why).increment(1);
    warn!(call_sid, why, "closing an abusive media stream");
    why
}

/// The intake policy: the reader never waits on the session. Everything is `try_send` into
/// one bounded queue, so a stalled session costs dropped messages (counted, warned about at
/// powers of two), never a blocked socket or a growing buffer; `stop` ends the reader
/// either way. Err: the session is gone.
pub(crate) fn hand_over(
    input: &mpsc::Sender<Input>,
    item: Input,
    call_sid: &str,
    dropped: &mut u64,
) -> Result<(), ()> {
    let audio = matches!(item, Input::Audio(_));
    match input.try_send(item) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(_)) => {
            *dropped += 1;
            let metric = if audio {
                m::DROPPED_FRAMES_TOTAL
            } else {
                m::DROPPED_MESSAGES_TOTAL
            };
            counter!(metric).increment(1);
            if dropped.is_power_of_two() {
                warn!(
                    call_sid,
                    dropped = *dropped,
                    "session is behind; dropping messages"
                );
            }
            Ok(())
        }
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
    }
}

/// The only place that speaks Twilio's outbound protocol: audio becomes 20 ms base64
/// `media` messages for this `streamSid`, marks and `clear` their JSON, and a hang-up the
/// REST call that ends the phone call.
async fn write_loop(
    mut sink: Sink,
    mut out: mpsc::Receiver<Output>,
    state: AppState,
    call_sid: String,
    stream_sid: String,
    rec: Recording,
) {
    let media = MediaEncoder::new(&stream_sid);
    let mut open = true;
    while let Some(item) = out.recv().await {
        record_output(&rec, &item);
        if matches!(item, Output::HangUp) {
            hang_up(&state, &call_sid, &stream_sid).await;
            continue;
        }
        if !open {
            continue;
        }
        // The frames of one output go out in one write (feed, then one flush): fewer
        // syscalls per call; each is still its own message, as Twilio expects.
        let mut sent = Ok(());
        for msg in to_twilio(item, &stream_sid, &media) {
            sent = sink.feed(Message::Text(Utf8Bytes::from(msg))).await;
            if sent.is_err() {
                break;
            }
        }
        if sent.is_err() || sink.flush().await.is_err() {
            // Keep draining so the session never blocks on a dead socket.
            open = false;
        }
    }
    // Every sender is gone: the session ended (e.g. after a goodbye), so close politely.
    let _ = sink
        .send(Message::Close(Some(CloseFrame {
            code: 1000,
            reason: Utf8Bytes::from_static("call ended"),
        })))
        .await;
    let _ = sink.close().await;
}

/// The JSON text of each Twilio message an output becomes.
fn to_twilio(item: Output, stream_sid: &str, media: &MediaEncoder) -> Vec<String> {
    let stream_sid = stream_sid.to_string();
    match item {
        Output::Audio(audio) => audio
            .chunks(haru_audio::FRAME_SAMPLES)
            .map(|frame| media.encode(frame))
            .collect(),
        Output::Mark(name) => vec![
            Outbound::Mark {
                stream_sid,
                mark: MarkBody { name },
            }
            .to_json(),
        ],
        Output::Clear => vec![Outbound::Clear { stream_sid }.to_json()],
        Output::HangUp => Vec::new(),
    }
}

async fn hang_up(state: &AppState, call_sid: &str, stream_sid: &str) {
    if let Some(tw) = &state.twilio {
        match tw.hang_up(call_sid).await {
            Ok(outcome) => info!(call_sid, ?outcome, "hung up"),
            Err(e) => warn!(call_sid, error = %e, "hang-up request failed"),
        }
    }
    let r = state
        .store
        .record_stream_event(call_sid, Some(stream_sid), "hangup", None)
        .await;
    stored(call_sid, "hang-up", r);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_session_never_blocks_the_reader() {
        let (tx, rx) = mpsc::channel(2);
        let mut dropped = 0;
        for item in [
            Input::Audio(vec![0; 160]),
            Input::Mark("h1".into()),
            Input::Mark("h2".into()),
            Input::Dtmf("1".into()),
            Input::Stop,
        ] {
            // Returns at once even though nobody reads: no `.await` in the intake.
            assert_eq!(hand_over(&tx, item, "CA1", &mut dropped), Ok(()));
        }
        assert_eq!(dropped, 3);
        drop(rx);
        assert_eq!(hand_over(&tx, Input::Stop, "CA1", &mut dropped), Err(()));
    }

    #[test]
    fn outputs_become_twilio_messages_for_this_stream() {
        let enc = MediaEncoder::new("MZ1");
        let msgs = to_twilio(Output::Audio(vec![0xFF; 480]), "MZ1", &enc);
        assert_eq!(msgs.len(), 3, "one media message per 20 ms frame");
        let json = &msgs[0];
        assert!(json.contains("\"streamSid\":\"MZ1\""), "{json}");
        assert!(json.contains("\"event\":\"media\""), "{json}");
        let mark = to_twilio(Output::Mark("h7".into()), "MZ1", &enc)[0].clone();
        assert!(mark.contains("\"name\":\"h7\""), "{mark}");
        let clear = to_twilio(Output::Clear, "MZ1", &enc)[0].clone();
        assert!(clear.contains("\"event\":\"clear\""), "{clear}");
        assert!(to_twilio(Output::HangUp, "MZ1", &enc).is_empty());
    }
}
