//! Twilio REST API v2010 client: place a call and hang one up.
//!
//! Requests follow Twilio's OpenAPI spec (form-encoded bodies, Basic auth, repeated keys for
//! list parameters). The auth token never appears in errors or logs.

use std::time::Duration;

use serde::Deserialize;

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

    /// Places an outbound call whose audio Twilio will fetch TwiML for from `call.url`.
    pub async fn create_call(&self, call: &NewCall<'_>) -> Result<CallResource, TwilioError> {
        let form: Vec<(&str, &str)> = vec![
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
        let resp = self
            .http
            .post(self.calls_url())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .timeout(Duration::from_secs(15))
            .form(&form)
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?;
        if status.is_success() {
            serde_json::from_slice(&body).map_err(|e| TwilioError::Unexpected {
                status: status.as_u16(),
                detail: e.to_string(),
            })
        } else {
            Err(api_error(status.as_u16(), &body))
        }
    }

    /// Ends a call in progress (`Status=completed`).
    pub async fn hang_up(&self, call_sid: &str) -> Result<Hangup, TwilioError> {
        let resp = self
            .http
            .post(self.call_url(call_sid))
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .timeout(Duration::from_secs(10))
            .form(&[("Status", "completed")])
            .send()
            .await
            .map_err(transport)?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok(Hangup::Completed);
        }
        match api_error(status.as_u16(), &body) {
            TwilioError::Api { status: 404, .. } => Ok(Hangup::AlreadyEnded),
            TwilioError::Api { code: 20404, .. } => Ok(Hangup::AlreadyEnded),
            other => Err(other),
        }
    }
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
}
