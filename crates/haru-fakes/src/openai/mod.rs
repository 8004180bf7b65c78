//! Fake OpenAI-compatible server: transcriptions, chat completions, speech.

mod chat;
mod speech;
mod sse;
mod stt;

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::record::{RecordedBody, RecordedRequest, RequestLog, header_pairs, lock};
use crate::server::ServerHandle;

pub use speech::TTS_SAMPLE_RATE;

/// OpenAI's documented upload limit is 25 MB; allow a little multipart overhead.
const BODY_LIMIT: usize = 26 * 1024 * 1024;

/// Behaviour of a [`FakeOpenAi`]. Can be swapped at runtime with
/// [`FakeOpenAi::set_config`] / [`FakeOpenAi::update_config`]; requests
/// already in flight keep the config they started with.
#[derive(Debug, Clone)]
pub struct FakeOpenAiConfig {
    /// Time before a transcription response is sent. Default 150 ms.
    pub stt_delay: Duration,
    /// Time from request to the first streamed chat token. Default 200 ms.
    pub llm_first_token_delay: Duration,
    /// Chat token rate after the first token; a "token" is one word-ish piece
    /// including its trailing whitespace. `<= 0` or non-finite means "no
    /// pacing". Default 50.
    pub llm_tokens_per_sec: f64,
    /// Time from request to the first byte of speech audio. Default 150 ms.
    pub tts_first_byte_delay: Duration,
    /// Audio length per input character (before `speed`), so replies have a
    /// plausible duration. Default 60 ms.
    pub tts_ms_per_char: u32,
    /// How much faster than real time speech audio is streamed after the
    /// first byte (real TTS services generate ahead of playback). Default 2.0;
    /// `<= 0` or non-finite means "as fast as possible".
    pub tts_speedup: f64,
    /// What transcriptions return.
    pub stt: SttRule,
    /// What chat completions reply.
    pub reply: ReplyRule,
    /// Write SSE bodies in small odd-sized pieces that split lines, JSON and
    /// multi-byte UTF-8 characters, as real proxies do. Default true.
    pub awkward_chunking: bool,
    /// When set, every request must carry `Authorization: Bearer <key>`.
    pub require_api_key: Option<String>,
    /// How many requests [`FakeOpenAi::requests`] keeps (oldest dropped).
    /// Only read at start. Default 10 000; 0 disables recording.
    pub max_recorded_requests: usize,
}

impl Default for FakeOpenAiConfig {
    fn default() -> Self {
        Self {
            stt_delay: Duration::from_millis(150),
            llm_first_token_delay: Duration::from_millis(200),
            llm_tokens_per_sec: 50.0,
            tts_first_byte_delay: Duration::from_millis(150),
            tts_ms_per_char: 60,
            tts_speedup: 2.0,
            stt: SttRule::Fixed("Hello, I would like to book a table for two.".into()),
            reply: ReplyRule::Echo,
            awkward_chunking: true,
            require_api_key: None,
            max_recorded_requests: 10_000,
        }
    }
}

impl FakeOpenAiConfig {
    /// Defaults with near-zero latencies, for unit and integration tests.
    pub fn fast() -> Self {
        Self {
            stt_delay: Duration::ZERO,
            llm_first_token_delay: Duration::from_millis(5),
            llm_tokens_per_sec: 1000.0,
            tts_first_byte_delay: Duration::ZERO,
            tts_speedup: 50.0,
            ..Self::default()
        }
    }
}

/// What `POST /v1/audio/transcriptions` returns as `text`.
#[derive(Debug, Clone)]
pub enum SttRule {
    /// Always this text.
    Fixed(String),
    /// Each request takes the next entry; the last one repeats.
    Sequence(Vec<String>),
    /// The entry whose duration is nearest the uploaded WAV's duration
    /// (first entry for non-WAV uploads).
    ByDuration(Vec<(Duration, String)>),
}

/// What `POST /v1/chat/completions` replies.
#[derive(Debug, Clone)]
pub enum ReplyRule {
    /// `"I heard: {last user message}. Tell me more."` (two sentences, so
    /// sentence-splitting TTS pipelines get more than one piece).
    Echo,
    /// Always this text.
    Fixed(String),
    /// Canned bodies (e.g. JSON for structured-output jobs); each request
    /// takes the next, the last one repeats.
    Sequence(Vec<String>),
    /// The body for the request's `response_format.json_schema.name` (jobs that may
    /// run in any order, on any instance); `Echo` for requests without one.
    BySchema(Vec<(String, String)>),
}

/// A failure to inject into an endpoint's responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Respond with this status and an OpenAI error body.
    HttpStatus(u16),
    /// Accept the request and never answer (until shutdown).
    Hang,
    /// Start a 200 response and cut the connection half-way through the body
    /// (no `[DONE]` for SSE, truncated PCM / JSON otherwise).
    BrokenStream,
    /// Streaming chat: half the tokens, then `data: {"error":{...}}` and the
    /// end of the stream. Other endpoints / non-streaming chat: HTTP 500 with
    /// an OpenAI error body.
    ErrorEvent,
    /// 200 with a `text/html` body (what a misbehaving proxy returns), on any
    /// endpoint.
    GarbageAudio,
    /// 200 with an empty body, on any endpoint.
    EmptyAudio,
    /// Transcriptions: `{"text":"  "}`. Chat: whitespace-only reply. Speech:
    /// same as [`Fault::EmptyAudio`].
    EmptyTranscript,
}

/// The fake's endpoints, for fault injection and request filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/audio/transcriptions`
    Transcriptions,
    /// `POST /v1/chat/completions`
    ChatCompletions,
    /// `POST /v1/audio/speech`
    Speech,
}

impl Endpoint {
    fn index(self) -> usize {
        match self {
            Endpoint::Transcriptions => 0,
            Endpoint::ChatCompletions => 1,
            Endpoint::Speech => 2,
        }
    }
}

struct FaultSlot {
    fault: Fault,
    /// `None`: until cleared.
    remaining: Option<u32>,
}

/// State shared by all handlers. Every lock here is held only for a few
/// instructions and never across an `.await`.
pub(crate) struct Shared {
    config: RwLock<Arc<FakeOpenAiConfig>>,
    faults: Mutex<HashMap<Endpoint, FaultSlot>>,
    log: RequestLog<RecordedRequest>,
    counts: [AtomicU64; 3],
    stt_seq: AtomicUsize,
    reply_seq: AtomicUsize,
    /// Seeds ids and chunking patterns so each response differs.
    serial: AtomicU64,
    /// Cancelled on shutdown so hanging / streaming responses end promptly.
    pub(crate) cancel: CancellationToken,
}

impl Shared {
    pub(crate) fn config(&self) -> Arc<FakeOpenAiConfig> {
        self.config
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn take_fault(&self, ep: Endpoint) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let slot = faults.get_mut(&ep)?;
        let fault = slot.fault.clone();
        if let Some(n) = slot.remaining.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                faults.remove(&ep);
            }
        }
        Some(fault)
    }

    pub(crate) fn next_serial(&self) -> u64 {
        self.serial.fetch_add(1, Ordering::Relaxed)
    }

    fn record(&self, endpoint: Endpoint, uri: &Uri, headers: &HeaderMap, body: RecordedBody) {
        self.counts[endpoint.index()].fetch_add(1, Ordering::Relaxed);
        self.log.push(RecordedRequest {
            endpoint,
            path: uri.path().to_owned(),
            headers: header_pairs(headers),
            body,
        });
    }

    /// The common first steps of every handler: record the request, snapshot
    /// the config, check the API key. Returns the config, or the 401.
    pub(crate) fn begin(
        &self,
        endpoint: Endpoint,
        uri: &Uri,
        headers: &HeaderMap,
        body: RecordedBody,
    ) -> Result<Arc<FakeOpenAiConfig>, Response> {
        self.record(endpoint, uri, headers, body);
        let cfg = self.config();
        check_auth(&cfg, headers)?;
        Ok(cfg)
    }

    /// Picks the next entry of a `Sequence` rule (last one repeats).
    fn pick<'a>(counter: &AtomicUsize, items: &'a [String]) -> &'a str {
        let i = counter.fetch_add(1, Ordering::Relaxed);
        items
            .get(i.min(items.len().saturating_sub(1)))
            .map_or("", String::as_str)
    }
}

fn check_auth(cfg: &FakeOpenAiConfig, headers: &HeaderMap) -> Result<(), Response> {
    let Some(expected) = &cfg.require_api_key else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(key) if key == expected => Ok(()),
        Some(key) => Err(openai_error(
            StatusCode::UNAUTHORIZED,
            format!("Incorrect API key provided: {}.", redact(key)),
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        )),
        None => Err(openai_error(
            StatusCode::UNAUTHORIZED,
            "You didn't provide an API key. You need to provide your API key in an \
             Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                .to_owned(),
            "invalid_request_error",
            None,
            None,
        )),
    }
}

/// Shows only the ends of a key, like OpenAI does in its error message.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 8 {
        return "****".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

/// An error in OpenAI's shape: `{"error":{"message","type","param","code"}}`.
pub(crate) fn openai_error(
    status: StatusCode,
    message: String,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    let body = json!({
        "error": { "message": message, "type": kind, "param": param, "code": code }
    });
    (status, axum::Json(body)).into_response()
}

/// A 400 `invalid_request_error`.
pub(crate) fn invalid(
    message: impl Into<String>,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    openai_error(
        StatusCode::BAD_REQUEST,
        message.into(),
        "invalid_request_error",
        param,
        code,
    )
}

/// `Missing required parameter: 'x'.` as OpenAI words it.
pub(crate) fn missing(param: &str) -> Response {
    invalid(
        format!("Missing required parameter: '{param}'."),
        Some(param),
        Some("missing_required_parameter"),
    )
}

/// Checks the request declares a JSON body; our clients must set it.
pub(crate) fn require_json_content_type(headers: &HeaderMap) -> Result<(), Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        Ok(())
    } else {
        Err(invalid(
            format!("Invalid Content-Type header ({ct}), expected application/json."),
            None,
            None,
        ))
    }
}

/// Handles the faults that look the same on every endpoint. Returns `None`
/// for faults the endpoint renders itself.
pub(crate) async fn generic_fault(
    shared: &Shared,
    fault: &Fault,
    empty_content_type: &'static str,
) -> Option<Response> {
    match fault {
        Fault::HttpStatus(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let (kind, code) = match status.as_u16() {
                401 => ("invalid_request_error", Some("invalid_api_key")),
                429 => ("requests", Some("rate_limit_exceeded")),
                400..=499 => ("invalid_request_error", None),
                _ => ("server_error", None),
            };
            Some(openai_error(
                status,
                format!("Injected fault: HTTP {}", status.as_u16()),
                kind,
                None,
                code,
            ))
        }
        Fault::Hang => {
            shared.cancel.cancelled().await;
            Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
        Fault::GarbageAudio => Some(
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<html><head><title>502 Bad Gateway</title></head>\
                 <body><h1>502 Bad Gateway</h1></body></html>",
            )
                .into_response(),
        ),
        Fault::EmptyAudio => Some(
            Response::builder()
                .header(header::CONTENT_TYPE, empty_content_type)
                .body(Body::empty())
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        ),
        Fault::BrokenStream | Fault::ErrorEvent | Fault::EmptyTranscript => None,
    }
}

/// The 500 used for [`Fault::ErrorEvent`] outside SSE streams.
pub(crate) fn server_error() -> Response {
    openai_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "The server had an error while processing your request. Sorry about that!".to_owned(),
        "server_error",
        None,
        None,
    )
}

/// Sleeps, unless the server shuts down first (then returns false).
pub(crate) async fn delay(shared: &Shared, d: Duration) -> bool {
    if d.is_zero() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = shared.cancel.cancelled() => false,
    }
}

/// `1 / rate` as a duration; zero when the rate means "no pacing".
pub(crate) fn interval_for_rate(per_sec: f64) -> Duration {
    if per_sec.is_finite() && per_sec > 0.0 {
        Duration::try_from_secs_f64(1.0 / per_sec).unwrap_or(Duration::ZERO)
    } else {
        Duration::ZERO
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

async fn not_found(method: Method, uri: Uri) -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        format!("Invalid URL ({method} {})", uri.path()),
        "invalid_request_error",
        None,
        None,
    )
}

/// A running fake OpenAI server. Dropping it without [`FakeOpenAi::shutdown`]
/// leaves the server running until the runtime ends.
pub struct FakeOpenAi {
    shared: Arc<Shared>,
    server: ServerHandle,
}

impl FakeOpenAi {
    /// Starts on a random free port of 127.0.0.1.
    pub async fn start(config: FakeOpenAiConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts on `addr` (port 0 picks a free port).
    pub async fn start_on(addr: SocketAddr, config: FakeOpenAiConfig) -> anyhow::Result<Self> {
        let cancel = CancellationToken::new();
        let shared = Arc::new(Shared {
            log: RequestLog::new(config.max_recorded_requests),
            config: RwLock::new(Arc::new(config)),
            faults: Mutex::new(HashMap::new()),
            counts: Default::default(),
            stt_seq: AtomicUsize::new(0),
            reply_seq: AtomicUsize::new(0),
            serial: AtomicU64::new(1),
            cancel: cancel.clone(),
        });
        let router = Router::new()
            .route("/v1/audio/transcriptions", post(stt::handle))
            .route("/v1/chat/completions", post(chat::handle))
            .route("/v1/audio/speech", post(speech::handle))
            .fallback(not_found)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(shared.clone());
        let server = ServerHandle::spawn(addr, router, cancel).await?;
        Ok(Self { shared, server })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// Base URL for an OpenAI client: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.server.addr)
    }

    /// Injects `fault` into `ep`'s responses (`None` clears it). `times`:
    /// `None` until cleared, `Some(n)` for the next `n` requests only. Faults
    /// apply after authentication and validation, so bad requests still get
    /// their 401 / 400.
    pub fn set_fault(&self, ep: Endpoint, fault: Option<Fault>, times: Option<u32>) {
        let mut faults = lock(&self.shared.faults);
        match fault {
            Some(fault) if times != Some(0) => {
                faults.insert(
                    ep,
                    FaultSlot {
                        fault,
                        remaining: times,
                    },
                );
            }
            _ => {
                faults.remove(&ep);
            }
        }
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Every recorded request, oldest first (bounded by
    /// [`FakeOpenAiConfig::max_recorded_requests`]).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log.snapshot()
    }

    /// Recorded requests to one endpoint.
    pub fn requests_to(&self, ep: Endpoint) -> Vec<RecordedRequest> {
        let mut all = self.requests();
        all.retain(|r| r.endpoint == ep);
        all
    }

    /// Forgets recorded requests (counts are kept).
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Total requests ever received by `ep` (not bounded like `requests`).
    pub fn request_count(&self, ep: Endpoint) -> u64 {
        self.shared.counts[ep.index()].load(Ordering::Relaxed)
    }

    /// A copy of the current config.
    pub fn config(&self) -> FakeOpenAiConfig {
        (*self.shared.config()).clone()
    }

    /// Replaces the config for requests that arrive from now on, and restarts
    /// `Sequence` rules from their first entry.
    pub fn set_config(&self, config: FakeOpenAiConfig) {
        *self
            .shared
            .config
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(config);
        self.shared.stt_seq.store(0, Ordering::Relaxed);
        self.shared.reply_seq.store(0, Ordering::Relaxed);
    }

    /// Edits the config in place (see [`FakeOpenAi::set_config`]).
    pub fn update_config(&self, edit: impl FnOnce(&mut FakeOpenAiConfig)) {
        let mut config = self.config();
        edit(&mut config);
        self.set_config(config);
    }

    /// Stops the server, ending hanging and streaming responses.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// A 200 whose body stops half-way and then the connection is cut
/// ([`Fault::BrokenStream`] for non-streamed bodies).
pub(crate) fn truncated(
    shared: &Shared,
    content_type: &'static str,
    body: bytes::Bytes,
) -> Response {
    let (writer, stream_body) = sse::streaming_body(shared.cancel.clone(), None);
    let half = body.slice(..body.len() / 2);
    tokio::spawn(async move {
        let mut writer = writer;
        if writer.send(half).await.is_ok() {
            writer.fail().await;
        }
    });
    ([(header::CONTENT_TYPE, content_type)], stream_body).into_response()
}
