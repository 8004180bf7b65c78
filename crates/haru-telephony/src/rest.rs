//! Twilio REST API v2010 client: place a call (optionally with answering-machine
//! detection), give a live call new TwiML or hang it up, and send an SMS.
//!
//! Requests follow Twilio's OpenAPI spec (form-encoded bodies, Basic auth, repeated keys for
//! list parameters). The auth token never appears in errors or logs.

use std::borrow::Cow;
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

#[derive(Clone)]
pub struct TwilioClient {
    http: reqwest::Client,
    api_base: String,
    account_sid: String,
    auth_token: String,
}

impl std::fmt::Debug for TwilioClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioClient")
            .field("api_base", &self.api_base)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TwilioError {
    /// Twilio answered with an error document.
    #[error("Twilio error {code} (HTTP {status}): {message}")]
    Api {
        status: u16,
        code: u32,
        message: String,
        more_info: Option<String>,
    },
    #[error("could not reach Twilio: {0}")]
    Transport(String),
    #[error("unexpected answer from Twilio (HTTP {status}): {detail}")]
    Unexpected { status: u16, detail: String },
}

/// The parts of Twilio's call resource haru uses.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CallResource {
    pub sid: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub to: Option<String>,
    #[serde(default)]
    pub from: Option<String>,
}

/// An outbound call to place.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    pub to: &'a str,
    pub from: &'a str,
    /// Our voice webhook (answers with TwiML).
    pub url: &'a str,
    /// Our status webhook.
    pub status_callback: &'a str,
}

/// Extras for [`TwilioClient::create_call_with`]. Kept apart from [`NewCall`] so its
/// struct literals stay valid; `Default` is a plain call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallOptions<'a> {
    pub machine_detection: Option<MachineDetection<'a>>,
}

/// Asynchronous answering-machine detection: the call connects at once and Twilio posts
/// `AnsweredBy` to `status_callback` when it knows who (or what) picked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineDetection<'a> {
    pub mode: AmdMode,
    /// Our AMD webhook (`AsyncAmdStatusCallback`), always called with POST.
    pub status_callback: &'a str,
    /// `MachineDetectionTimeout` in seconds; Twilio uses 30 when absent.
    pub timeout_secs: Option<u32>,
}

/// The `MachineDetection` values Twilio accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AmdMode {
    /// Report `AnsweredBy` as soon as the called party is identified.
    Enable,
    /// For a machine, wait for the end of its greeting (the beep): use this to leave a
    /// message.
    DetectMessageEnd,
}

impl AmdMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enable => "Enable",
            Self::DetectMessageEnd => "DetectMessageEnd",
        }
    }
}

/// Result of giving a live call new TwiML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallUpdate {
    Applied,
    /// The call had already ended (404 / 20404 / 21220): nothing left to update.
    AlreadyEnded,
}

/// An SMS to send through the Messages API.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub to: &'a str,
    /// One of our Twilio numbers.
    pub from: &'a str,
    /// Longer than [`SMS_BODY_LIMIT`] is cut down by [`limit_sms_body`] before sending.
    pub body: &'a str,
    /// Our message-status webhook, if we want delivery reports.
    pub status_callback: Option<&'a str>,
}

/// The parts of Twilio's message resource haru uses.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct MessageResource {
    pub sid: String,
    /// Optional so a sent message is never reported as a failure over a missing field
    /// (a caller retrying would send it twice).
    #[serde(default)]
    pub status: Option<String>,
}

/// Twilio's limit on a message body (error 21617 past it).
pub const SMS_BODY_LIMIT: usize = 1600;

/// `body` if it fits in [`SMS_BODY_LIMIT`], else its start plus `…`, cut on a char
/// boundary. Length is counted in UTF-16 units, which is never less than the char count,
/// so the result fits whether Twilio counts chars or UCS-2 units (emoji are 2).
pub fn limit_sms_body(body: &str) -> Cow<'_, str> {
    if body.encode_utf16().count() <= SMS_BODY_LIMIT {
        return Cow::Borrowed(body);
    }
    const ELLIPSIS: char = '…';
    let budget = SMS_BODY_LIMIT - ELLIPSIS.len_utf16();
    let mut used = 0;
    let mut end = 0;
    for (i, c) in body.char_indices() {
        if used + c.len_utf16() > budget {
            break;
        }
        used += c.len_utf16();
        end = i + c.len_utf8();
    }
    let mut cut = body[..end].trim_end().to_owned();
    cut.push(ELLIPSIS);
    Cow::Owned(cut)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hangup {
    Completed,
    /// The call had already ended (Twilio 404 / code 20404): not an error.
    AlreadyEnded,
}

#[derive(Deserialize)]
struct ErrorDoc {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    more_info: Option<String>,
}

impl TwilioClient {
    pub fn new(http: reqwest::Client, api_base: &str, account_sid: &str, auth_token: &str) -> Self {
        Self {
            http,
            api_base: api_base.trim_end_matches('/').to_string(),
            account_sid: account_sid.to_string(),
            auth_token: auth_token.to_string(),
        }
    }

    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    fn calls_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Calls.json",
            self.api_base, self.account_sid
        )
    }

    fn call_url(&self, call_sid: &str) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Calls/{}.json",
            self.api_base, self.account_sid, call_sid
        )
    }

    fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.api_base, self.account_sid
        )
    }

    /// Places an outbound call whose audio Twilio will fetch TwiML for from `call.url`.
    pub async fn create_call(&self, call: &NewCall<'_>) -> Result<CallResource, TwilioError> {
        self.create_call_with(call, &CallOptions::default()).await
    }

    /// [`create_call`](Self::create_call) with extras such as answering-machine detection.
    pub async fn create_call_with(
        &self,
        call: &NewCall<'_>,
        options: &CallOptions<'_>,
    ) -> Result<CallResource, TwilioError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("To", call.to),
            ("From", call.from),
            ("Url", call.url),
            ("Method", "POST"),
            ("StatusCallback", call.status_callback),
            ("StatusCallbackMethod", "POST"),
            ("StatusCallbackEvent", "initiated"),
            ("StatusCallbackEvent", "ringing"),
            ("StatusCallbackEvent", "answered"),
            ("StatusCallbackEvent", "completed"),
        ];
        let amd_timeout = options
            .machine_detection
            .and_then(|amd| amd.timeout_secs)
            .map(|t| t.to_string());
        if let Some(amd) = &options.machine_detection {
            // Async so the caller hears haru at once instead of silence while Twilio listens.
            form.extend([
                ("MachineDetection", amd.mode.as_str()),
                ("AsyncAmd", "true"),
                ("AsyncAmdStatusCallback", amd.status_callback),
                ("AsyncAmdStatusCallbackMethod", "POST"),
            ]);
            if let Some(t) = &amd_timeout {
                form.push(("MachineDetectionTimeout", t));
            }
        }
        self.post_json(self.calls_url(), &form, Duration::from_secs(15))
            .await
    }

    /// Ends a call in progress (`Status=completed`).
    pub async fn hang_up(&self, call_sid: &str) -> Result<Hangup, TwilioError> {
        let done = self
            .post(
                self.call_url(call_sid),
                &[("Status", "completed")],
                Duration::from_secs(10),
            )
            .await
            .and_then(|(status, body)| check_update(status, &body));
        match done {
            Ok(()) => Ok(Hangup::Completed),
            Err(e) if is_gone(&e) => Ok(Hangup::AlreadyEnded),
            Err(e) => Err(e),
        }
    }

    /// Replaces what a live call is doing with `twiml` (e.g. a message for an answering
    /// machine, then `<Hangup/>`). Twilio caps the document at 4000 characters.
    pub async fn update_twiml(
        &self,
        call_sid: &str,
        twiml: &str,
    ) -> Result<CallUpdate, TwilioError> {
        let done = self
            .post(
                self.call_url(call_sid),
                &[("Twiml", twiml)],
                Duration::from_secs(10),
            )
            .await
            .and_then(|(status, body)| check_update(status, &body));
        match done {
            Ok(()) => Ok(CallUpdate::Applied),
            Err(e) if is_gone(&e) => Ok(CallUpdate::AlreadyEnded),
            // 21220: the call exists but is no longer in progress, so it cannot be redirected.
            Err(TwilioError::Api { code: 21220, .. }) => Ok(CallUpdate::AlreadyEnded),
            Err(e) => Err(e),
        }
    }

    /// Sends an SMS; a body over [`SMS_BODY_LIMIT`] is shortened rather than refused.
    pub async fn send_sms(&self, msg: &NewMessage<'_>) -> Result<MessageResource, TwilioError> {
        let body = limit_sms_body(msg.body);
        let mut form: Vec<(&str, &str)> = vec![("To", msg.to), ("From", msg.from), ("Body", &body)];
        if let Some(cb) = msg.status_callback {
            form.push(("StatusCallback", cb));
        }
        self.post_json(self.messages_url(), &form, Duration::from_secs(15))
            .await
    }

    /// POSTs a form and reads a JSON resource back; error documents become [`TwilioError`].
    async fn post_json<T: DeserializeOwned>(
        &self,
        url: String,
        form: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<T, TwilioError> {
        let (status, body) = self.post(url, form, timeout).await?;
        if (200..300).contains(&status) {
            serde_json::from_slice(&body).map_err(|e| TwilioError::Unexpected {
                status,
                detail: e.to_string(),
            })
        } else {
            Err(api_error(status, &body))
        }
    }

    async fn post(
        &self,
        url: String,
        form: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<(u16, Vec<u8>), TwilioError> {
        let resp = self
            .http
            .post(url)
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .timeout(timeout)
            .form(form)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(transport)?;
        Ok((status, body.to_vec()))
    }
}

/// A call update's answer: any 2xx is success (its body is not needed).
fn check_update(status: u16, body: &[u8]) -> Result<(), TwilioError> {
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(api_error(status, body))
    }
}

/// Twilio no longer knows the call: it ended (and aged out) or never existed.
fn is_gone(e: &TwilioError) -> bool {
    matches!(
        e,
        TwilioError::Api { status: 404, .. } | TwilioError::Api { code: 20404, .. }
    )
}

fn transport(e: reqwest::Error) -> TwilioError {
    // reqwest errors carry the URL (account SID only) but never the Basic-auth header.
    TwilioError::Transport(e.without_url().to_string())
}

fn api_error(status: u16, body: &[u8]) -> TwilioError {
    match serde_json::from_slice::<ErrorDoc>(body) {
        Ok(doc) if doc.code.is_some() || doc.message.is_some() => TwilioError::Api {
            status,
            code: doc.code.unwrap_or(0),
            message: doc.message.unwrap_or_default(),
            more_info: doc.more_info,
        },
        _ => TwilioError::Unexpected {
            status,
            detail: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let c = TwilioClient::new(reqwest::Client::new(), "http://x", "AC1", "sekret-token");
        assert!(!format!("{c:?}").contains("sekret"));
    }

    #[test]
    fn error_documents_are_parsed() {
        let e = api_error(
            400,
            br#"{"code":21211,"message":"Invalid 'To' Phone Number","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#,
        );
        assert!(matches!(
            e,
            TwilioError::Api {
                code: 21211,
                status: 400,
                ..
            }
        ));
        assert!(e.to_string().contains("Invalid 'To' Phone Number"));
        let e = api_error(502, b"<html>bad gateway</html>");
        assert!(matches!(e, TwilioError::Unexpected { status: 502, .. }));
    }

    #[test]
    fn sms_bodies_within_the_limit_are_untouched() {
        let exact = "가".repeat(SMS_BODY_LIMIT);
        assert!(matches!(limit_sms_body(&exact), Cow::Borrowed(b) if b == exact));
        assert!(matches!(limit_sms_body(""), Cow::Borrowed("")));
    }

    #[test]
    fn long_sms_bodies_are_cut_on_a_char_boundary_with_an_ellipsis() {
        // Korean: 3 bytes per char in UTF-8, so a byte-based cut would split one.
        let long = "할머니안녕하세요".repeat(300);
        let cut = limit_sms_body(&long);
        assert_eq!(cut.chars().count(), SMS_BODY_LIMIT);
        assert!(cut.ends_with('…'), "{cut}");
        assert!(long.starts_with(cut.trim_end_matches('…')));

        // Trailing space before the cut is dropped, so the ellipsis follows a word.
        let spaced = format!("{} {}", "a".repeat(SMS_BODY_LIMIT - 2), "b".repeat(10));
        let cut = limit_sms_body(&spaced);
        assert_eq!(cut, format!("{}…", "a".repeat(SMS_BODY_LIMIT - 2)));

        // Emoji take two UTF-16 units, as Twilio's UCS-2 counting does.
        let emoji = "😀".repeat(SMS_BODY_LIMIT);
        let cut = limit_sms_body(&emoji);
        assert!(cut.encode_utf16().count() <= SMS_BODY_LIMIT);
        assert_eq!(cut.chars().count(), (SMS_BODY_LIMIT - 1) / 2 + 1);
        assert!(cut.ends_with("😀…"));
    }

    #[test]
    fn amd_modes_use_twilios_spelling() {
        assert_eq!(AmdMode::Enable.as_str(), "Enable");
        assert_eq!(AmdMode::DetectMessageEnd.as_str(), "DetectMessageEnd");
    }
}
