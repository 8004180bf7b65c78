//! Test support: the real haru app on a random loopback port, and a raw Twilio-like
//! WebSocket client for protocol-level tests.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use haru_server::{AppState, Config};
use haru_store::CallStore;
use haru_telephony::signature;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub const AUTH_TOKEN: &str = "test-auth-token-0123456789";
pub const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";

pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub state: AppState,
    pub store: Arc<dyn CallStore>,
    pub shutdown: CancellationToken,
    pub ended: tokio::sync::mpsc::UnboundedReceiver<haru_session::CallEnded>,
    pub db_path: std::path::PathBuf,
}

impl TestServer {
    /// Starts haru with `env` on top of test defaults (signatures on, no greeting).
    pub async fn start(env: &[(&str, &str)]) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let db_path = std::env::temp_dir().join(format!(
            "haru-it-{}-{}.db",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut map: HashMap<String, String> = HashMap::new();
        map.insert("API_BASE_URL".into(), format!("http://{addr}"));
        map.insert(
            "HARU_DATABASE_URL".into(),
            format!("sqlite:{}", db_path.display()),
        );
        map.insert("TWILIO_AUTH_TOKEN".into(), AUTH_TOKEN.into());
        map.insert("HARU_GREETING".into(), String::new());
        map.insert("OPENAI_BASE_URL".into(), "http://127.0.0.1:9/v1".into());
        for (k, v) in env {
            map.insert(k.to_string(), v.to_string());
        }
        let cfg = Config::from_source(&haru_server::config::Source(move |k| map.get(k).cloned()))
            .unwrap();
        let app = haru_server::build(cfg).await.unwrap();
        let state = app.state.clone();
        let store = state.store.clone();
        let shutdown = CancellationToken::new();
        let (router, _state, ended) = app.into_parts();
        let token = shutdown.clone();
        let limits = state.cfg.limits.clone();
        tokio::spawn(async move {
            let _ = haru_server::App::serve_router_with(listener, router, limits, token).await;
        });
        TestServer {
            addr,
            base: format!("http://{addr}"),
            state,
            store,
            shutdown,
            ended,
            db_path,
        }
    }

    /// Waits until the start-up synthesis of the fixed phrases is done (the providers
    /// must be reachable), so a later TTS fault meets a warm cache, as in production.
    pub async fn phrases_cached(&self) {
        let c = &self.state.deps.cfg;
        let mut texts = vec![c.apology.clone(), c.goodbye.clone(), c.idle_prompt.clone()];
        texts.extend(c.acks.iter().cloned());
        let phrases = self.state.deps.phrases.clone();
        eventually("fixed phrases cached", Duration::from_secs(10), || {
            let ok = texts.iter().all(|t| phrases.lookup(t).is_some());
            async move { ok }
        })
        .await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs a form signed the way Twilio signs it.
    pub async fn post_signed(&self, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
        let owned: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let sig = signature::compute(AUTH_TOKEN, &self.url(path), &owned);
        reqwest::Client::new()
            .post(self.url(path))
            .header("X-Twilio-Signature", sig)
            .form(params)
            .send()
            .await
            .unwrap()
    }

    /// Runs the voice webhook for `call_sid` and returns the stream URL and its parameters.
    pub async fn answer(&self, call_sid: &str) -> (String, Vec<(String, String)>) {
        let resp = self
            .post_signed(
                "/api/twilio/voice",
                &[
                    ("CallSid", call_sid),
                    ("AccountSid", ACCOUNT_SID),
                    ("From", "+821012345678"),
                    ("To", "+15005550006"),
                    ("Direction", "inbound"),
                    ("CallStatus", "ringing"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 200);
        parse_twiml(&resp.text().await.unwrap())
    }
}

/// Pulls `<Stream url>` and its `<Parameter>`s out of TwiML (test-only, string based).
pub fn parse_twiml(xml: &str) -> (String, Vec<(String, String)>) {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
        let end = tag[start..].find('"')? + start;
        Some(
            tag[start..end]
                .replace("&amp;", "&")
                .replace("&quot;", "\""),
        )
    };
    let stream_tag = &xml[xml.find("<Stream ").expect("Stream in TwiML")..];
    let url = attr(stream_tag, "url").unwrap();
    let params = xml
        .match_indices("<Parameter ")
        .map(|(i, _)| {
            let tag = &xml[i..i + xml[i..].find("/>").unwrap()];
            (attr(tag, "name").unwrap(), attr(tag, "value").unwrap())
        })
        .collect();
    (url, params)
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A raw Twilio-like stream: the test drives every message itself.
pub struct RawStream {
    pub ws: Ws,
    pub stream_sid: String,
    pub call_sid: String,
}

impl RawStream {
    pub async fn connect(url: &str) -> Ws {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws
    }

    pub async fn open(url: &str, call_sid: &str, params: &[(String, String)]) -> RawStream {
        let mut ws = Self::connect(url).await;
        let stream_sid = format!("MZ{}", &call_sid[2..]);
        send_json(
            &mut ws,
            serde_json::json!({"event":"connected","protocol":"Call","version":"1.0.0"}),
        )
        .await;
        send_json(&mut ws, start_msg(call_sid, &stream_sid, params)).await;
        RawStream {
            ws,
            stream_sid,
            call_sid: call_sid.into(),
        }
    }

    pub async fn media(&mut self, pcm: &[i16]) {
        let payload =
            base64::engine::general_purpose::STANDARD.encode(haru_audio::mulaw::encode(pcm));
        let sid = self.stream_sid.clone();
        send_json(&mut self.ws, serde_json::json!({"event":"media","streamSid":sid,"media":{"track":"inbound","chunk":"1","timestamp":"0","payload":payload}})).await;
    }

    pub async fn raw(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string().into()))
            .await
            .unwrap();
    }

    pub async fn stop(&mut self) {
        let (sid, call) = (self.stream_sid.clone(), self.call_sid.clone());
        send_json(&mut self.ws, serde_json::json!({"event":"stop","streamSid":sid,"stop":{"accountSid":ACCOUNT_SID,"callSid":call}})).await;
    }

    /// Waits for the server to close the socket; returns the close code if any.
    pub async fn closed(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return Some(frame.map(|f| u16::from(f.code)).unwrap_or(1005));
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return Some(1006),
                Err(_) => return None,
            }
        }
    }
}

/// POSTs a form to `base` + `path`, signed the way Twilio signs it.
pub async fn post_signed_to(base: &str, path: &str, params: &[(&str, &str)]) -> reqwest::Response {
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let url = format!("{base}{path}");
    let sig = signature::compute(AUTH_TOKEN, &url, &owned);
    reqwest::Client::new()
        .post(url)
        .header("X-Twilio-Signature", sig)
        .form(params)
        .send()
        .await
        .unwrap()
}

/// A fake Twilio REST API that accepts this module's account SID and auth token.
pub async fn fake_twilio() -> haru_fakes::FakeTwilio {
    haru_fakes::FakeTwilio::start(haru_fakes::FakeTwilioConfig {
        account_sid: ACCOUNT_SID.into(),
        auth_token: AUTH_TOKEN.into(),
        ..Default::default()
    })
    .await
    .unwrap()
}

pub fn start_msg(
    call_sid: &str,
    stream_sid: &str,
    params: &[(String, String)],
) -> serde_json::Value {
    let custom: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::json!({
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": stream_sid,
        "start": {
            "accountSid": ACCOUNT_SID,
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "customParameters": custom,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
        }
    })
}

pub async fn send_json(ws: &mut Ws, v: serde_json::Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

pub fn call_sid(n: u32) -> String {
    format!("CA{:032x}", n as u128 * 7919 + 12345)
}

pub fn fixture(name: &str) -> Vec<i16> {
    let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let pcm = haru_audio::decode_wav_mono(&bytes).unwrap();
    haru_audio::resample(&pcm.samples, pcm.rate, 8000).unwrap()
}

/// Polls the store until `f` holds (the server writes asynchronously to the test).
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for: {what}");
}
