//! Sends alerts to caregivers: a signed JSON webhook and/or an SMS through Twilio's
//! Messages API. Deliveries are rows (`alert_deliveries`), claimed with a lease and retried
//! with backoff, so a restart resumes what was pending and two senders never send one twice
//! at once.
//!
//! Webhook signature: `X-Haru-Signature: sha256=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//! with `X-Haru-Timestamp: <t>` (Unix seconds), so a receiver can refuse replays.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use haru_store::companion::{Channel, DeliveryClaim};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::{Companion, Result, ts};

/// How long a claimed delivery is ours before another sender may take it.
const LEASE: chrono::Duration = chrono::Duration::seconds(60);
const POLL: Duration = Duration::from_secs(1);

/// `sha256=<hex>` over `"{timestamp}.{body}"`.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC takes keys of any length; this branch cannot happen.
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The webhook's JSON body.
pub fn payload(c: &DeliveryClaim) -> serde_json::Value {
    let a = &c.alert;
    serde_json::json!({
        "type": "haru.alert",
        "alert_id": a.id,
        "kind": a.kind,
        "summary": a.summary,
        "person": { "id": a.person_id, "name": c.person_name },
        "call_sid": a.call_sid,
        "evidence": a.evidence,
        "created_at": a.created_at,
    })
}

/// The SMS text: short, in the person's language where it matters to the reader.
pub fn sms_text(c: &DeliveryClaim) -> String {
    let who = c.person_name.as_deref().unwrap_or("?");
    let quote = c
        .alert
        .evidence
        .first()
        .map(|e| format!(" \"{}\"", e.quote.chars().take(200).collect::<String>()))
        .unwrap_or_default();
    format!("[haru] {who}: {}{quote}", c.alert.summary)
}

impl Companion {
    /// Sends every delivery due at `now`; returns how many were attempted.
    pub async fn deliver_due(&self, start: DateTime<Utc>) -> Result<usize> {
        let mut n = 0;
        let began = Utc::now();
        loop {
            // Each claim's lease starts when it is claimed: slow sends before it must not
            // leave it already expired (another sender would send it again).
            let now = start + (Utc::now() - began);
            let Some(claim) = self
                .store
                .claim_delivery(&ts(now), &ts(now + LEASE), self.cfg.delivery_attempts)
                .await?
            else {
                break;
            };
            n += 1;
            let id = claim.delivery.id;
            match self.send(&claim).await {
                Ok(()) => {
                    info!(
                        alert = claim.alert.id,
                        delivery = id,
                        channel = claim.delivery.channel.as_str(),
                        "alert delivered"
                    );
                    self.store.delivery_done(id).await?;
                }
                Err(e) => {
                    let attempts = claim.delivery.attempts;
                    let retry = (attempts < self.cfg.delivery_attempts).then(|| {
                        // 1×, 2×, 4×… the base, capped at an hour.
                        let backoff = self
                            .cfg
                            .delivery_backoff
                            .saturating_mul(1u32 << (attempts.clamp(1, 11) - 1) as u32);
                        ts(now
                            + chrono::Duration::from_std(backoff.min(Duration::from_secs(3600)))
                                .unwrap_or_default())
                    });
                    warn!(alert = claim.alert.id, delivery = id, attempts, error = %e, retry = ?retry, "alert delivery failed");
                    self.store.delivery_failed(id, &e, retry.as_deref()).await?;
                }
            }
        }
        Ok(n)
    }

    async fn send(&self, c: &DeliveryClaim) -> std::result::Result<(), String> {
        match c.delivery.channel {
            Channel::Webhook => {
                let body = serde_json::to_vec(&payload(c)).map_err(|e| e.to_string())?;
                let t = Utc::now().timestamp();
                let mut req = self
                    .http
                    .post(&c.delivery.target)
                    .header("content-type", "application/json")
                    .header("x-haru-timestamp", t.to_string())
                    .header("x-haru-alert-id", c.alert.id.to_string());
                // Never unsigned: a receiver could not tell it from a forgery.
                let Some(secret) = &c.webhook_secret else {
                    return Err(
                        "no signing key for this webhook (its caregiver was removed)".into(),
                    );
                };
                req = req.header("x-haru-signature", sign(secret, t, &body));
                let resp = req
                    .body(body)
                    .send()
                    .await
                    // Without the URL: it may carry a receiver's secret.
                    .map_err(|e| format!("webhook unreachable: {}", e.without_url()))?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("webhook answered HTTP {}", resp.status().as_u16()))
                }
            }
            Channel::Sms => {
                let Some(d) = &self.dialer else {
                    return Err("SMS needs Twilio (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_PHONE_NUMBER)".into());
                };
                let text = sms_text(c);
                d.client
                    .send_sms(&haru_telephony::rest::NewMessage {
                        to: &c.delivery.target,
                        from: &d.from,
                        body: &text,
                        status_callback: None,
                    })
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// The sender loop: due deliveries every second until `shutdown`.
pub async fn run(c: Arc<Companion>, shutdown: CancellationToken) {
    loop {
        if let Err(e) = c.deliver_due(Utc::now()).await {
            warn!(error = %e, "alert sender pass failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_and_body() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        let s = sign("secret", 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(
            s,
            "sha256=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
        assert_ne!(s, sign("secret", 1_700_000_001, br#"{"a":1}"#));
        assert_ne!(s, sign("other", 1_700_000_000, br#"{"a":1}"#));
    }
}
