//! Twilio webhooks (`voice`, `call-status`) and the outbound-call trigger.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use haru_store::{NewCall, StatusEvent};
use haru_telephony::rest::NewCall as RestCall;
use haru_telephony::{TwilioError, sid, signature, twiml};
use metrics::counter;
use rand::RngCore;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tracing::{info, warn};

use crate::app::AppState;
use crate::error::ApiError;

pub const STREAM_PATH: &str = "/api/twilio/stream";

/// Parses the form body and, when an auth token is configured, checks `X-Twilio-Signature`
/// against the public URL rebuilt from `API_BASE_URL` (never from the Host header).
fn verified_form(
    state: &AppState,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Vec<(String, String)>, ApiError> {
    let params: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed form body: {e}")))?;
    if let Some(token) = &state.cfg.twilio.auth_token {
        let path_and_query = uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or(uri.path());
        let url = state.cfg.public_base.http_url(path_and_query);
        let sig = headers
            .get("x-twilio-signature")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if sig.is_empty() || !signature::validate(token.expose(), &url, &params, sig) {
            warn!(
                path = uri.path(),
                "rejected webhook: invalid or missing X-Twilio-Signature"
            );
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "invalid Twilio signature",
            ));
        }
    }
    Ok(params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

fn xml(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
}

/// Answers a call with TwiML that connects its audio to our WebSocket.
pub async fn voice(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let params = verified_form(&state, &uri, &headers, &body)?;
    let Some(call_sid) = param(&params, "CallSid") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "CallSid is required",
        ));
    };
    if !sid::is_call_sid(call_sid)
        || param(&params, "AccountSid").is_some_and(|a| !sid::is_account_sid(a))
    {
        counter!(crate::metrics::WEBHOOKS_REFUSED_TOTAL, "reason" => "malformed sid").increment(1);
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "CallSid / AccountSid are not Twilio identifiers (CA/AC + 32 hex digits)",
        ));
    }
    let direction = param(&params, "Direction").unwrap_or("inbound").to_string();
    // A webhook repeated for a call we know: never a fresh token (it would lock out the
    // real stream), never a status reset. Before its stream started Twilio may retry, and
    // gets the same TwiML; once it streams or has ended, a replay gets nothing.
    let known = match state.store.call(call_sid).await {
        Ok(c) => c,
        Err(e) => {
            warn!(call_sid, error = %e, "could not read call");
            return Ok(xml(twiml::say_and_hangup(
                "죄송합니다. 지금은 통화를 연결할 수 없습니다.",
                "ko-KR",
            )));
        }
    };
    if let Some(c) = &known
        && (c.stream_sid.is_some() || c.ended_at.is_some())
    {
        counter!(crate::metrics::WEBHOOKS_REFUSED_TOTAL, "reason" => "replay").increment(1);
        warn!(
            call_sid,
            "voice webhook for a call already streaming or over: refused"
        );
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this call already has its media stream",
        ));
    }
    let issued = match known {
        Some(_) => state.store.stream_token(call_sid).await.ok().flatten(),
        None => None,
    };
    let token = issued.unwrap_or_else(|| {
        let mut raw = [0u8; 24];
        rand::rng().fill_bytes(&mut raw);
        hex::encode(raw)
    });
    let call = NewCall {
        call_sid: call_sid.to_string(),
        direction: direction.clone(),
        from_number: param(&params, "From").map(str::to_string),
        to_number: param(&params, "To").map(str::to_string),
        stream_token: Some(token.clone()),
        status: param(&params, "CallStatus").map(str::to_string),
    };
    if let Err(e) = state.store.upsert_call(&call).await {
        warn!(call_sid, error = %e, "could not store call");
        return Ok(xml(twiml::say_and_hangup(
            "죄송합니다. 지금은 통화를 연결할 수 없습니다.",
            "ko-KR",
        )));
    }
    info!(call_sid, direction = %direction, "voice webhook: connecting media stream");
    let url = state.cfg.public_base.ws_url(STREAM_PATH);
    Ok(xml(twiml::connect_stream(
        &url,
        &[
            ("callSid", call_sid),
            ("direction", &direction),
            ("token", &token),
        ],
    )))
}

/// A callback's `CallSid` and one short value (`CallStatus`, `AnsweredBy`), checked for
/// shape before anything is stored.
fn sid_and<'a>(params: &'a [(String, String)], name: &str) -> Result<(&'a str, &'a str), ApiError> {
    let (Some(call_sid), Some(value)) = (param(params, "CallSid"), param(params, name)) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("CallSid and {name} are required"),
        ));
    };
    if !sid::is_call_sid(call_sid) || value.len() > 32 {
        counter!(crate::metrics::WEBHOOKS_REFUSED_TOTAL, "reason" => "malformed sid").increment(1);
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "CallSid is not a Twilio identifier (CA + 32 hex digits), or {name} is too long"
            ),
        ));
    }
    Ok((call_sid, value))
}

/// Records a status callback (initiated, ringing, answered/in-progress, completed, ...).
pub async fn call_status(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let params = verified_form(&state, &uri, &headers, &body)?;
    let (call_sid, status) = sid_and(&params, "CallStatus")?;
    let as_json: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let event = StatusEvent {
        call_sid: call_sid.to_string(),
        call_status: status.to_string(),
        call_duration: param(&params, "CallDuration").and_then(|d| d.parse().ok()),
        timestamp: param(&params, "Timestamp").map(str::to_string),
        sequence: param(&params, "SequenceNumber").and_then(|d| d.parse().ok()),
        params_json: serde_json::Value::Object(as_json).to_string(),
    };
    state.store.record_status(&event).await.map_err(|e| {
        warn!(call_sid, error = %e, "could not store status callback");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "could not store the status event",
        )
    })?;
    info!(call_sid, status, "call status");
    if status == "completed" {
        close_if_orphaned(&state, call_sid).await;
    }
    if let Some(hooks) = state.hooks.get().cloned() {
        // Twilio is answered now; the companion's follow-up (a retry, a missed call) runs
        // on its own.
        let (sid, status) = (call_sid.to_string(), status.to_string());
        tokio::spawn(async move { hooks.call_status(&sid, &status, &params).await });
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Twilio says the call is over. If it streamed and is still open but no session here holds
/// it and no other live instance does (the process that held it died), close it from the
/// stored messages and hand it to post-call work, so that day's diary is still written.
/// The `held_elsewhere` look comes first so a call another instance serves costs no
/// transcript read; `close_lost` checks the same again in its one write.
async fn close_if_orphaned(state: &AppState, call_sid: &str) {
    let here = state
        .active
        .lock()
        .map(|s| s.contains(call_sid))
        .unwrap_or(true);
    if here {
        return;
    }
    // Another instance still holds the stream: its session closes the call itself.
    match state.store.held_elsewhere(call_sid).await {
        Ok(false) => {}
        Ok(true) => return,
        Err(e) => {
            warn!(call_sid, error = %e, "could not tell which instance holds the call");
            return;
        }
    }
    let open = match state.store.call(call_sid).await {
        Ok(Some(c)) => c.ended_at.is_none() && c.stream_sid.is_some(),
        Ok(None) => false,
        Err(e) => {
            warn!(call_sid, error = %e, "could not read the call to close it");
            false
        }
    };
    if !open {
        return;
    }
    let reason = "server lost (completed by Twilio)";
    match haru_session::recover::close_from_store(state.store.as_ref(), call_sid, reason).await {
        Ok(false) => {}
        Ok(true) => {
            warn!(
                call_sid,
                "a call left open by a lost session was closed from its stored messages"
            );
            if let Some(tx) = &state.deps.ended {
                let _ = tx.send(haru_session::CallEnded {
                    call_sid: call_sid.to_string(),
                    reason: reason.to_string(),
                });
            }
        }
        Err(e) => warn!(call_sid, error = %e, "could not close the orphaned call"),
    }
}

/// Twilio's asynchronous answering-machine verdict for an outbound call.
pub async fn amd_status(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let params = verified_form(&state, &uri, &headers, &body)?;
    let (call_sid, answered_by) = sid_and(&params, "AnsweredBy")?;
    info!(call_sid, answered_by, "answering-machine detection");
    if let Some(hooks) = state.hooks.get().cloned() {
        let (sid, by) = (call_sid.to_string(), answered_by.to_string());
        tokio::spawn(async move { hooks.answered_by(&sid, &by).await });
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
pub struct CallRequest {
    to: Option<String>,
}

/// The operator's own endpoints: bearer token when one is configured, else loopback only.
/// Outbound dialling costs money: it needs `HARU_API_TOKEN`, always (no loopback
/// exception: behind a tunnel every request is local).
pub fn authorize_operator(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    match &state.cfg.api_token {
        Some(token) => {
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
                Ok(())
            } else {
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "missing or wrong bearer token",
                ))
            }
        }
        None => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "outbound calls are disabled: set HARU_API_TOKEN and send it as a bearer token",
        )),
    }
}

/// Places an outbound call through Twilio's REST API.
pub async fn place_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize_operator(&state, &headers)?;
    let req: CallRequest = if body.iter().all(|b| b.is_ascii_whitespace()) {
        CallRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("body must be JSON like {{\"to\": \"+82...\"}}: {e}"),
            )
        })?
    };
    let cfg = &state.cfg;
    let Some(client) = &state.twilio else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Twilio is not configured: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
        ));
    };
    let Some(from) = &cfg.twilio.phone_number else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "TWILIO_PHONE_NUMBER is not set",
        ));
    };
    let Some(to) = req.to.or_else(|| cfg.twilio.test_phone_number.clone()) else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "no destination: send {\"to\": \"+82...\"} or set TEST_PHONE_NUMBER",
        ));
    };
    let url = cfg.public_base.http_url("/api/twilio/voice");
    let status_callback = cfg.public_base.http_url("/api/twilio/call-status");
    let call = RestCall {
        to: &to,
        from,
        url: &url,
        status_callback: &status_callback,
    };
    match client.create_call(&call).await {
        Ok(created) => {
            info!(call_sid = %created.sid, "outbound call placed");
            let _ = state
                .store
                .upsert_call(&NewCall {
                    call_sid: created.sid.clone(),
                    direction: "outbound-api".into(),
                    from_number: Some(from.clone()),
                    to_number: Some(to.clone()),
                    stream_token: None,
                    status: created.status.clone(),
                })
                .await;
            Ok(Json(serde_json::json!({
                "call_sid": created.sid,
                "status": created.status,
                "to": to,
            })))
        }
        Err(TwilioError::Api {
            status,
            code,
            message,
            ..
        }) => Err(ApiError {
            status: StatusCode::BAD_GATEWAY,
            message: format!("Twilio refused the call (HTTP {status}, code {code}): {message}"),
            code: Some(code),
        }),
        Err(e) => Err(ApiError::new(StatusCode::BAD_GATEWAY, e.to_string())),
    }
}
