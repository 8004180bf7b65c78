//! A fake Twilio-side peer: a tiny haru stand-in that answers the voice webhook with TwiML
//! pointing at its own WebSocket, and replies to each caller utterance with scripted audio.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

pub const TOKEN: &str = "test-auth-token";

/// How the fake behaves.
#[derive(Clone, Default)]
pub struct Script {
    /// Send 500 ms of audio + mark "greet" right after `start`.
    pub greeting: bool,
    /// Close the socket once reply 1's mark has been echoed.
    pub close_after_reply_1: bool,
    /// Answer the voice webhook with a TwiML that has no stream.
    pub bad_twiml: bool,
    /// Serve a transcript at GET /api/calls/{sid}.
    pub transcript: bool,
    /// Point the TwiML at this stream URL instead of the fake's own WebSocket.
    pub stream_url: Option<String>,
}

/// Everything the fake saw and did, with wall-clock times.
#[derive(Default)]
pub struct Log {
    pub signature: Option<String>,
    pub signature_valid: bool,
    pub form: Vec<(String, String)>,
    /// Every text message received on the stream, parsed.
    pub received: Vec<(Instant, Value)>,
    /// What the fake sent: "audio:N" (first frame of reply N), "mark:NAME", "clear", "close".
    pub sent: Vec<(Instant, String)>,
}

impl Log {
    pub fn sent_at(&self, what: &str) -> Option<Instant> {
        self.sent.iter().find(|(_, w)| w == what).map(|(t, _)| *t)
    }

    /// When the echo of mark `name` arrived.
    pub fn echo_at(&self, name: &str) -> Option<Instant> {
        self.received
            .iter()
            .find(|(_, v)| v["event"] == "mark" && v["mark"]["name"] == name)
            .map(|(t, _)| *t)
    }

    pub fn events(&self) -> Vec<String> {
        self.received
            .iter()
            .map(|(_, v)| v["event"].as_str().unwrap_or("?").to_string())
            .collect()
    }
}

#[derive(Clone)]
struct Fake {
    base: String,
    script: Script,
    log: Arc<Mutex<Log>>,
}

/// Starts the fake on a loopback port; returns its base URL and log.
pub async fn start(script: Script) -> (String, Arc<Mutex<Log>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    let log = Arc::new(Mutex::new(Log::default()));
    let fake = Fake {
        base: base.clone(),
        script,
        log: log.clone(),
    };
    let app = Router::new()
        .route("/api/twilio/voice", post(voice))
        .route("/stream", get(stream))
        .route("/api/calls/{sid}", get(call_detail))
        .with_state(fake);
    // No Nagle, like any sane media server: otherwise small frames wait for delayed ACKs.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, log)
}

async fn voice(State(f): State<Fake>, headers: HeaderMap, body: Bytes) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let sig = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let url = format!("{}/api/twilio/voice", f.base);
    let valid = sig
        .as_deref()
        .is_some_and(|s| haru_telephony::signature::validate(TOKEN, &url, &form, s));
    {
        let mut log = f.log.lock().unwrap();
        log.signature = sig;
        log.signature_valid = valid;
        log.form = form;
    }
    if !valid {
        return (StatusCode::FORBIDDEN, "bad signature").into_response();
    }
    let xml = if f.script.bad_twiml {
        haru_telephony::twiml::say_and_hangup("sorry", "en-US")
    } else {
        let ws = f
            .script
            .stream_url
            .clone()
            .unwrap_or_else(|| format!("{}/stream", f.base.replace("http://", "ws://")));
        haru_telephony::twiml::connect_stream(&ws, &[("token", "t0k"), ("lang", "ko & en")])
    };
    ([("content-type", "text/xml")], xml).into_response()
}

async fn call_detail(State(f): State<Fake>, Path(sid): Path<String>) -> Response {
    if !f.script.transcript {
        return StatusCode::NOT_FOUND.into_response();
    }
    axum::Json(json!({
        "call_sid": sid,
        "messages": [
            {"role": "user", "content": "hello", "ts": 1},
            {"role": "assistant", "content": "hi there"}
        ]
    }))
    .into_response()
}

async fn stream(State(f): State<Fake>, ws: WebSocketUpgrade) -> Response {
    ws.on_upgrade(move |socket| session(socket, f))
}

/// A tone, µ-law encoded, `frames` × 20 ms.
fn bot_frames(frames: usize) -> Vec<String> {
    (0..frames)
        .map(|f| {
            let pcm: Vec<i16> = (0..160)
                .map(|i| {
                    let t = (f * 160 + i) as f64 / 8000.0;
                    ((t * 2.0 * std::f64::consts::PI * 440.0).sin() * 6000.0) as i16
                })
                .collect();
            B64.encode(haru_audio::mulaw::encode(&pcm))
        })
        .collect()
}

#[derive(Clone)]
struct Out {
    tx: mpsc::UnboundedSender<Message>,
    log: Arc<Mutex<Log>>,
    stream_sid: String,
}

impl Out {
    fn note(&self, what: impl Into<String>) {
        self.log
            .lock()
            .unwrap()
            .sent
            .push((Instant::now(), what.into()));
    }
    fn raw(&self, text: String) {
        let _ = self.tx.send(Message::Text(text.into()));
    }
    fn audio(&self, frames: usize, note: Option<String>) {
        if let Some(n) = note {
            self.note(n);
        }
        for payload in bot_frames(frames) {
            self.raw(
                json!({"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}})
                    .to_string(),
            );
        }
    }
    fn mark(&self, name: &str) {
        self.note(format!("mark:{name}"));
        self.raw(
            json!({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})
                .to_string(),
        );
    }
    fn clear(&self) {
        self.note("clear");
        self.raw(json!({"event": "clear", "streamSid": self.stream_sid}).to_string());
    }
}

fn is_voiced(payload: &str) -> bool {
    let Ok(bytes) = B64.decode(payload) else {
        return false;
    };
    let pcm = haru_audio::mulaw::decode(&bytes);
    let energy: f64 =
        pcm.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / pcm.len().max(1) as f64;
    energy.sqrt() > 500.0
}

async fn session(socket: WebSocket, f: Fake) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let close = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || close {
                break;
            }
        }
    });
    let mut out: Option<Out> = None;
    let mut voiced = 0u32;
    let mut silent = 0u32;
    let mut utterance = 0u32;
    // The last mark of the reply now playing; caller speech before its echo is a barge-in.
    let mut awaiting: Option<String> = None;
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(text.as_str()).unwrap();
        f.log
            .lock()
            .unwrap()
            .received
            .push((Instant::now(), v.clone()));
        match v["event"].as_str().unwrap_or("") {
            "start" => {
                let o = Out {
                    tx: tx.clone(),
                    log: f.log.clone(),
                    stream_sid: v["streamSid"].as_str().unwrap().to_string(),
                };
                // Garbage the simulator must skip without dropping the call.
                o.raw("this is not json".into());
                o.raw(
                    json!({"event": "media", "streamSid": "MZwrong", "media": {"payload": "/w=="}})
                        .to_string(),
                );
                if f.script.greeting {
                    o.audio(25, Some("audio:greet".into()));
                    o.mark("greet");
                    awaiting = Some("greet".into());
                }
                out = Some(o);
            }
            "mark" => {
                let name = v["mark"]["name"].as_str().unwrap_or("").to_string();
                if awaiting.as_deref() == Some(name.as_str()) {
                    awaiting = None;
                }
                if f.script.close_after_reply_1 && name == "r1" {
                    if let Some(o) = &out {
                        o.note("close");
                    }
                    let _ = tx.send(Message::Close(None));
                }
            }
            "media" => {
                let Some(o) = &out else { continue };
                if is_voiced(v["media"]["payload"].as_str().unwrap_or("")) {
                    voiced += 1;
                    silent = 0;
                    if awaiting.take().is_some() {
                        o.clear();
                    }
                } else {
                    silent += 1;
                    if voiced >= 5 && silent >= 10 {
                        voiced = 0;
                        utterance += 1;
                        awaiting = reply(o, utterance);
                    }
                }
            }
            "stop" => break,
            _ => {}
        }
    }
    drop(tx);
    drop(out);
    let _ = writer.await;
}

/// Reply N: 1 = 1 s + mark; 2 = 2 s with a mark every second; 3 = two 250 ms halves with a
/// pause between them (an underrun) and a mark.
fn reply(o: &Out, n: u32) -> Option<String> {
    match n {
        1 => {
            o.audio(50, Some("audio:1".into()));
            o.mark("r1");
            Some("r1".into())
        }
        2 => {
            o.audio(50, Some("audio:2".into()));
            o.mark("r2a");
            o.audio(50, None);
            o.mark("r2b");
            Some("r2b".into())
        }
        _ => {
            let o = o.clone();
            tokio::spawn(async move {
                o.audio(12, Some(format!("audio:{n}")));
                // 150 ms of wall time is 600 ms of call time at speed 4: the queue runs dry.
                tokio::time::sleep(Duration::from_millis(150)).await;
                o.audio(13, None);
                o.mark(&format!("r{n}"));
            });
            Some(format!("r{n}"))
        }
    }
}

/// Speech-like test audio at 8 kHz: a 180 Hz voice with harmonics, syllable-rate
/// amplitude modulation, then `tail_ms` of silence.
pub fn speech(ms: usize, tail_ms: usize) -> Vec<i16> {
    let n = ms * 8;
    let mut v: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f64 / 8000.0;
            let env = 0.6 + 0.4 * (t * 2.0 * std::f64::consts::PI * 4.0).sin();
            let f0 = 180.0 + 20.0 * (t * 3.0).sin();
            let s = (t * 2.0 * std::f64::consts::PI * f0).sin()
                + 0.5 * (t * 4.0 * std::f64::consts::PI * f0).sin()
                + 0.25 * (t * 6.0 * std::f64::consts::PI * f0).sin();
            (s * env * 7000.0) as i16
        })
        .collect();
    v.extend(std::iter::repeat_n(0, tail_ms * 8));
    v
}
