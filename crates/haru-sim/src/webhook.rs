//! The HTTP side of a call: the voice webhook (signed like Twilio) and the transcript.

use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use rand::Rng;

use crate::config::SimConfig;
use crate::report::TranscriptMessage;
use crate::twiml::{StreamTarget, parse_connect_stream};

pub(crate) struct Ids {
    pub call_sid: String,
    pub account_sid: String,
    pub stream_sid: String,
}

pub(crate) fn random_sid(prefix: &str) -> String {
    let mut rng = rand::rng();
    let hex: String = (0..32)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect();
    format!("{prefix}{hex}")
}

fn base(url: &str) -> &str {
    url.trim_end_matches('/')
}

/// Step 1–2: the voice webhook, signed like Twilio, and the TwiML it answers with.
pub(crate) async fn answer(
    http: &reqwest::Client,
    cfg: &SimConfig,
    ids: &Ids,
) -> Result<StreamTarget> {
    let url = format!("{}/api/twilio/voice", base(&cfg.server));
    let public_url = format!(
        "{}/api/twilio/voice",
        base(cfg.public_base.as_deref().unwrap_or(&cfg.server))
    );
    let params: Vec<(String, String)> = [
        ("AccountSid", ids.account_sid.as_str()),
        ("ApiVersion", "2010-04-01"),
        ("CallSid", &ids.call_sid),
        ("CallStatus", "ringing"),
        ("Called", &cfg.to),
        ("Caller", &cfg.from),
        ("Direction", "inbound"),
        ("From", &cfg.from),
        ("To", &cfg.to),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let mut req = http.post(&url).form(&params);
    if let Some(token) = &cfg.auth_token {
        let sig = haru_telephony::signature::compute(token, &public_url, &params);
        req = req.header("X-Twilio-Signature", sig);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| anyhow!("cannot reach haru at {url}: {}", error_chain(&e)))?;
    let status = resp.status();
    let body = resp
        .text()
        .await
        .map_err(|e| anyhow!("haru's answer to POST {url} could not be read: {e}"))?;
    if !status.is_success() {
        let body: String = body.chars().take(300).collect();
        bail!("haru answered POST {url} with {status}: {body}");
    }
    parse_connect_stream(&body).with_context(|| format!("bad TwiML from POST {url}"))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        out.push_str(": ");
        out.push_str(&s.to_string());
        src = s.source();
    }
    out
}

/// The server may not offer transcripts; anything but a usable answer means "none".
pub(crate) async fn fetch_transcript(
    http: &reqwest::Client,
    server: &str,
    call_sid: &str,
) -> Option<Vec<TranscriptMessage>> {
    let url = format!("{}/api/calls/{call_sid}", base(server));
    let mut req = http.get(&url).timeout(Duration::from_secs(3));
    // The operator API needs the server's token (when the caller's environment has it).
    if let Ok(token) = std::env::var("HARU_API_TOKEN")
        && !token.is_empty()
    {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.ok()?;
    if !resp.status().is_success() {
        tracing::debug!(status = %resp.status(), "no transcript at {url}");
        return None;
    }
    let json: serde_json::Value = resp.json().await.ok()?;
    let messages = json.get("messages")?.as_array()?;
    Some(
        messages
            .iter()
            .filter_map(|m| serde_json::from_value(m.clone()).ok())
            .collect(),
    )
}
