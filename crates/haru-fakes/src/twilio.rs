//! Fake Twilio REST API (2010-04-01): the `Calls` and `Messages` resources.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::record::{RequestLog, lock};
use crate::server::ServerHandle;

const API: &str = "/2010-04-01";
const CALL_EVENTS: [&str; 4] = ["initiated", "ringing", "answered", "completed"];
const UPDATE_STATUSES: [&str; 2] = ["canceled", "completed"];
const ENDED_STATUSES: [&str; 5] = ["completed", "canceled", "failed", "busy", "no-answer"];
/// Twilio's cap on a message body, in characters.
const MESSAGE_BODY_LIMIT: usize = 1600;

/// Credentials the fake accepts.
#[derive(Debug, Clone)]
pub struct FakeTwilioConfig {
    /// Account SID (`AC...`): the Basic-auth user and the `{AccountSid}` in paths.
    pub account_sid: String,
    /// Auth token: the Basic-auth password.
    pub auth_token: String,
    /// How many requests [`FakeTwilio::requests`] keeps. Default 10 000.
    pub max_recorded_requests: usize,
}

impl Default for FakeTwilioConfig {
    fn default() -> Self {
        Self {
            account_sid: format!("AC{}", "0".repeat(32)),
            auth_token: "fake-auth-token".to_owned(),
            max_recorded_requests: 10_000,
        }
    }
}

/// One request received by [`FakeTwilio`], recorded before validation.
#[derive(Debug, Clone)]
pub struct TwilioRequest {
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Basic-auth user, if the header decoded.
    pub basic_user: Option<String>,
    /// Basic-auth password, if the header decoded.
    pub basic_password: Option<String>,
    /// Form fields in order, repeated keys kept (e.g. `StatusCallbackEvent`).
    pub form: Vec<(String, String)>,
}

impl TwilioRequest {
    /// First value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a (possibly repeated) form field.
    pub fn fields(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A call the fake knows about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCall {
    /// `CA` + 32 hex digits.
    pub sid: String,
    /// Destination number (empty for registered calls).
    pub to: String,
    /// Caller number (empty for registered calls).
    pub from: String,
    /// `queued`, `completed`, `canceled`, ...
    pub status: String,
    /// The `Url` given at creation, if any.
    pub url: Option<String>,
    /// `StatusCallback` given at creation, if any.
    pub status_callback: Option<String>,
    /// Every `StatusCallbackEvent` value given at creation.
    pub status_callback_events: Vec<String>,
    /// `MachineDetection` given at creation (`Enable` / `DetectMessageEnd`), if any.
    pub machine_detection: Option<String>,
    /// `AsyncAmdStatusCallback` given at creation, if any.
    pub async_amd_status_callback: Option<String>,
    /// The latest `Twiml`, given at creation or in an update.
    pub twiml: Option<String>,
}

/// A message sent through the fake's `Messages` resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeMessage {
    /// `SM` + 32 hex digits.
    pub sid: String,
    /// Destination number.
    pub to: String,
    /// Sender (`From`, or the `MessagingServiceSid` when no `From` was given).
    pub from: String,
    /// The text (empty for a media-only message).
    pub body: String,
    /// Always `queued`: the fake delivers nothing.
    pub status: String,
    /// `StatusCallback` given, if any.
    pub status_callback: Option<String>,
}

struct InjectedError {
    status: u16,
    code: u32,
    message: String,
}

struct Shared {
    config: FakeTwilioConfig,
    calls: Mutex<HashMap<String, FakeCall>>,
    create_faults: Mutex<VecDeque<InjectedError>>,
    messages: Mutex<Vec<FakeMessage>>,
    message_faults: Mutex<VecDeque<InjectedError>>,
    log: RequestLog<TwilioRequest>,
}

/// A running fake Twilio REST server.
pub struct FakeTwilio {
    shared: Arc<Shared>,
    server: ServerHandle,
}

impl FakeTwilio {
    /// Starts on a random free port of 127.0.0.1.
    pub async fn start(config: FakeTwilioConfig) -> anyhow::Result<Self> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts on `addr` (port 0 picks a free port).
    pub async fn start_on(addr: SocketAddr, config: FakeTwilioConfig) -> anyhow::Result<Self> {
        let shared = Arc::new(Shared {
            log: RequestLog::new(config.max_recorded_requests),
            config,
            calls: Mutex::new(HashMap::new()),
            create_faults: Mutex::new(VecDeque::new()),
            messages: Mutex::new(Vec::new()),
            message_faults: Mutex::new(VecDeque::new()),
        });
        let router = Router::new()
            .route(
                &format!("{API}/Accounts/{{account}}/Calls.json"),
                post(create),
            )
            .route(
                &format!("{API}/Accounts/{{account}}/Calls/{{call}}"),
                get(fetch).post(update),
            )
            .route(
                &format!("{API}/Accounts/{{account}}/Messages.json"),
                post(create_message),
            )
            .fallback(not_found_route)
            .with_state(shared.clone());
        let server = ServerHandle::spawn(addr, router, CancellationToken::new()).await?;
        Ok(Self { shared, server })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// API base URL, `http://127.0.0.1:PORT` (paths start with `/2010-04-01`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// The configured account SID.
    pub fn account_sid(&self) -> &str {
        &self.shared.config.account_sid
    }

    /// The configured auth token.
    pub fn auth_token(&self) -> &str {
        &self.shared.config.auth_token
    }

    /// Makes a call SID known (status `in-progress`), e.g. for an inbound call
    /// a test simulates, so it can be updated / hung up through the API.
    pub fn register_call(&self, sid: &str) {
        lock(&self.shared.calls).insert(
            sid.to_owned(),
            FakeCall {
                sid: sid.to_owned(),
                to: String::new(),
                from: String::new(),
                status: "in-progress".to_owned(),
                url: None,
                status_callback: None,
                status_callback_events: Vec::new(),
                machine_detection: None,
                async_amd_status_callback: None,
                twiml: None,
            },
        );
    }

    /// A known call.
    pub fn call(&self, sid: &str) -> Option<FakeCall> {
        lock(&self.shared.calls).get(sid).cloned()
    }

    /// Every known call (unordered).
    pub fn calls(&self) -> Vec<FakeCall> {
        lock(&self.shared.calls).values().cloned().collect()
    }

    /// Makes the next create request fail with this HTTP status and Twilio
    /// error code / message. Calls queue up: each consumes one create.
    pub fn fail_next_create(&self, status: u16, code: u32, message: &str) {
        lock(&self.shared.create_faults).push_back(InjectedError {
            status,
            code,
            message: message.to_owned(),
        });
    }

    /// Makes the next message send fail with this HTTP status and Twilio
    /// error code / message. Calls queue up: each consumes one send.
    pub fn fail_next_message(&self, status: u16, code: u32, message: &str) {
        lock(&self.shared.message_faults).push_back(InjectedError {
            status,
            code,
            message: message.to_owned(),
        });
    }

    /// Every message accepted, oldest first.
    pub fn messages(&self) -> Vec<FakeMessage> {
        lock(&self.shared.messages).clone()
    }

    /// Every recorded request, oldest first.
    pub fn requests(&self) -> Vec<TwilioRequest> {
        self.shared.log.snapshot()
    }

    /// Forgets recorded requests.
    pub fn clear_requests(&self) {
        self.shared.log.clear();
    }

    /// Stops the server.
    pub async fn shutdown(self) {
        self.server.shutdown().await;
    }
}

/// Twilio's error body: `{"code","message","more_info","status"}`.
fn twilio_error(status: u16, code: u32, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status.as_u16(),
    });
    (status, axum::Json(body)).into_response()
}

fn not_found(path: &str) -> Response {
    twilio_error(
        404,
        20404,
        &format!("The requested resource {path} was not found"),
    )
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl Shared {
    /// Records the request, then checks credentials and the account in the
    /// path. Returns the form fields, or the error response.
    fn begin(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        account: &str,
    ) -> Result<Vec<(String, String)>, Response> {
        let auth = basic_auth(headers);
        // A malformed body is recorded as no fields; validation then reports
        // the missing parameters.
        let form: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        self.log.push(TwilioRequest {
            method: method.to_string(),
            path: uri.path().to_owned(),
            basic_user: auth.as_ref().map(|(u, _)| u.clone()),
            basic_password: auth.as_ref().map(|(_, p)| p.clone()),
            form: form.clone(),
        });
        let authorized = auth.is_some_and(|(user, password)| {
            user == self.config.account_sid && password == self.config.auth_token
        });
        if !authorized {
            let mut resp = twilio_error(401, 20003, "Authenticate");
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"Twilio API\""),
            );
            return Err(resp);
        }
        if account != self.config.account_sid {
            return Err(not_found(uri.path()));
        }
        Ok(form)
    }

    fn call_json(&self, call: &FakeCall) -> Value {
        let account = &self.config.account_sid;
        let now = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S +0000")
            .to_string();
        let base = format!("{API}/Accounts/{account}/Calls/{}", call.sid);
        let sub = |name: &str| format!("{base}/{name}.json");
        json!({
            "sid": call.sid,
            "account_sid": account,
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "parent_call_sid": null,
            "to": call.to,
            "to_formatted": call.to,
            "from": call.from,
            "from_formatted": call.from,
            "phone_number_sid": null,
            "status": call.status,
            "start_time": null,
            "end_time": null,
            "duration": null,
            "price": null,
            "price_unit": "USD",
            "direction": "outbound-api",
            "answered_by": null,
            "forwarded_from": null,
            "group_sid": null,
            "caller_name": null,
            "queue_time": "0",
            "trunk_sid": null,
            "uri": format!("{base}.json"),
            "subresource_uris": {
                "notifications": sub("Notifications"),
                "recordings": sub("Recordings"),
                "payments": sub("Payments"),
                "events": sub("Events"),
                "siprec": sub("Siprec"),
                "streams": sub("Streams"),
                "transcriptions": sub("Transcriptions"),
                "user_defined_message_subscriptions": sub("UserDefinedMessageSubscriptions"),
                "user_defined_messages": sub("UserDefinedMessages"),
            },
        })
    }

    fn message_json(&self, msg: &FakeMessage) -> Value {
        let account = &self.config.account_sid;
        let now = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S +0000")
            .to_string();
        let base = format!("{API}/Accounts/{account}/Messages/{}", msg.sid);
        json!({
            "sid": msg.sid,
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": msg.body,
            "num_segments": segments(&msg.body).to_string(),
            "num_media": "0",
            "direction": "outbound-api",
            "from": msg.from,
            "to": msg.to,
            "status": msg.status,
            "messaging_service_sid": null,
            "date_created": now,
            "date_updated": now,
            "date_sent": null,
            "price": null,
            "price_unit": "USD",
            "error_code": null,
            "error_message": null,
            "uri": format!("{base}.json"),
            "subresource_uris": {
                "media": format!("{base}/Media.json"),
                "feedback": format!("{base}/Feedback.json"),
            },
        })
    }
}

/// SMS segments Twilio would bill: 160 / 153 per part for plain text, 70 / 67 for
/// UCS-2 (ASCII stands in for the GSM-7 alphabet, which is close enough for a fake).
fn segments(body: &str) -> usize {
    let (single, part, len) = if body.is_ascii() {
        (160, 153, body.len())
    } else {
        (70, 67, body.encode_utf16().count())
    };
    if len <= single { 1 } else { len.div_ceil(part) }
}

fn first<'a>(form: &'a [(String, String)], key: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://")) && url.len() > "https://".len()
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match shared.begin(&method, &uri, &headers, &body, &account) {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let Some(to) = first(&form, "To") else {
        return twilio_error(400, 21201, "No 'To' number is specified");
    };
    let Some(from) = first(&form, "From") else {
        return twilio_error(400, 21603, "A 'From' phone number is required.");
    };
    let url = first(&form, "Url");
    if url.is_none() && first(&form, "Twiml").is_none() && first(&form, "ApplicationSid").is_none()
    {
        return twilio_error(
            400,
            21205,
            "Either a 'Url', 'Twiml' or 'ApplicationSid' parameter is required.",
        );
    }
    for (key, value) in [
        ("Url", url),
        ("StatusCallback", first(&form, "StatusCallback")),
        (
            "AsyncAmdStatusCallback",
            first(&form, "AsyncAmdStatusCallback"),
        ),
    ] {
        if let Some(value) = value
            && !is_http_url(value)
        {
            return twilio_error(400, 21205, &format!("{key} is not a valid URL: {value}"));
        }
    }
    let events: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "StatusCallbackEvent")
        .map(|(_, v)| v.clone())
        .collect();
    if let Some(bad) = events.iter().find(|e| !CALL_EVENTS.contains(&e.as_str())) {
        return twilio_error(
            400,
            21626,
            &format!("StatusCallbackEvent '{bad}' is not valid; use one of {CALL_EVENTS:?}"),
        );
    }
    if let Some(m) = first(&form, "StatusCallbackMethod")
        && m != "GET"
        && m != "POST"
    {
        return twilio_error(400, 21607, &format!("Invalid StatusCallbackMethod: {m}"));
    }
    // Injected faults apply to otherwise valid requests, like a real outage.
    if let Some(err) = lock(&shared.create_faults).pop_front() {
        return twilio_error(err.status, err.code, &err.message);
    }
    let call = FakeCall {
        sid: format!("CA{:032x}", rand::random::<u128>()),
        to: to.to_owned(),
        from: from.to_owned(),
        status: "queued".to_owned(),
        url: url.map(str::to_owned),
        status_callback: first(&form, "StatusCallback").map(str::to_owned),
        status_callback_events: events,
        machine_detection: first(&form, "MachineDetection").map(str::to_owned),
        async_amd_status_callback: first(&form, "AsyncAmdStatusCallback").map(str::to_owned),
        twiml: first(&form, "Twiml").map(str::to_owned),
    };
    let body = shared.call_json(&call);
    lock(&shared.calls).insert(call.sid.clone(), call);
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

/// `{call}` is the whole last segment (`CA....json`); the router cannot
/// match a parameter with a literal suffix, so strip `.json` here.
fn call_sid(segment: &str) -> Option<&str> {
    segment.strip_suffix(".json")
}

async fn fetch(
    State(shared): State<Arc<Shared>>,
    Path((account, call)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if let Err(resp) = shared.begin(&method, &uri, &headers, &[], &account) {
        return resp;
    }
    let known = call_sid(&call).and_then(|sid| lock(&shared.calls).get(sid).cloned());
    match known {
        Some(call) => axum::Json(shared.call_json(&call)).into_response(),
        None => not_found(uri.path()),
    }
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Path((account, call)): Path<(String, String)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match shared.begin(&method, &uri, &headers, &body, &account) {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let status = first(&form, "Status");
    if let Some(status) = status
        && !UPDATE_STATUSES.contains(&status)
    {
        return twilio_error(
            400,
            21218,
            &format!("Invalid Status: {status}; use 'canceled' or 'completed'"),
        );
    }
    for key in ["Url", "StatusCallback"] {
        if let Some(value) = first(&form, key)
            && !is_http_url(value)
        {
            return twilio_error(400, 21205, &format!("{key} is not a valid URL: {value}"));
        }
    }
    let twiml = first(&form, "Twiml");
    let updated = call_sid(&call).and_then(|sid| {
        let mut calls = lock(&shared.calls);
        let call = calls.get_mut(sid)?;
        // New instructions need a live call; ending an ended call stays harmless.
        if (twiml.is_some() || first(&form, "Url").is_some())
            && ENDED_STATUSES.contains(&call.status.as_str())
        {
            return Some(Err(()));
        }
        if let Some(twiml) = twiml {
            call.twiml = Some(twiml.to_owned());
            // The fake runs no TwiML; a document that hangs up is taken as ending the call.
            if twiml.contains("<Hangup") {
                call.status = "completed".to_owned();
            }
        }
        if let Some(status) = status {
            call.status = status.to_owned();
        }
        if let Some(url) = first(&form, "Url") {
            call.url = Some(url.to_owned());
        }
        Some(Ok(call.clone()))
    });
    match updated {
        Some(Ok(call)) => axum::Json(shared.call_json(&call)).into_response(),
        Some(Err(())) => twilio_error(400, 21220, "Call is not in-progress. Cannot redirect."),
        None => not_found(uri.path()),
    }
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(account): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match shared.begin(&method, &uri, &headers, &body, &account) {
        Ok(form) => form,
        Err(resp) => return resp,
    };
    let Some(to) = first(&form, "To") else {
        return twilio_error(400, 21604, "A 'To' phone number is required.");
    };
    let Some(from) = first(&form, "From").or_else(|| first(&form, "MessagingServiceSid")) else {
        return twilio_error(400, 21603, "A 'From' phone number is required.");
    };
    let text = first(&form, "Body");
    if text.is_none() && first(&form, "MediaUrl").is_none() {
        return twilio_error(400, 21602, "Message body is required.");
    }
    let text = text.unwrap_or_default();
    if text.chars().count() > MESSAGE_BODY_LIMIT {
        return twilio_error(
            400,
            21617,
            "The concatenated message body exceeds the 1600 character limit.",
        );
    }
    let status_callback = first(&form, "StatusCallback");
    if let Some(url) = status_callback
        && !is_http_url(url)
    {
        return twilio_error(400, 21609, &format!("Invalid StatusCallback url: {url}"));
    }
    // Injected faults apply to otherwise valid requests, like a real outage.
    if let Some(err) = lock(&shared.message_faults).pop_front() {
        return twilio_error(err.status, err.code, &err.message);
    }
    let msg = FakeMessage {
        sid: format!("SM{:032x}", rand::random::<u128>()),
        to: to.to_owned(),
        from: from.to_owned(),
        body: text.to_owned(),
        status: "queued".to_owned(),
        status_callback: status_callback.map(str::to_owned),
    };
    let body = shared.message_json(&msg);
    lock(&shared.messages).push(msg);
    (StatusCode::CREATED, axum::Json(body)).into_response()
}

async fn not_found_route(uri: Uri) -> Response {
    not_found(uri.path())
}
