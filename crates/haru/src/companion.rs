//! The daily companion wired into the server: the hooks through which each call learns its
//! person (language, greeting, memory) and status callbacks reach the scheduler.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use haru_companion::{Companion, CompanionConfig, Dialer, MachinePolicy, RetryPolicy};
use haru_server::Config;
use haru_session::SessionConfig;
use haru_store::SqlStore;

/// The companion's configuration from the server's.
pub fn config(cfg: &Config) -> CompanionConfig {
    let c = &cfg.companion;
    let first = Duration::from_secs(c.retry_minutes.max(1) * 60);
    CompanionConfig {
        tick: Duration::from_millis(c.tick_ms.max(50)),
        retry: RetryPolicy {
            max_attempts: c.max_attempts.max(1),
            first_backoff: first,
            max_backoff: first * 3,
        },
        machine: if c.machine_hangup {
            MachinePolicy::HangUp
        } else {
            MachinePolicy::Message
        },
        memory_budget_tokens: c.memory_tokens,
        low_mood_score: c.low_mood_score,
        low_mood_calls: c.low_mood_calls,
        missed_calls: c.missed_calls,
        ..CompanionConfig::default()
    }
}

/// Outbound calls need the Twilio account and our number.
pub fn dialer(cfg: &Config, http: reqwest::Client) -> Option<Dialer> {
    let t = &cfg.twilio;
    let (sid, token, from) = (
        t.account_sid.as_ref()?,
        t.auth_token.as_ref()?,
        t.phone_number.as_ref()?,
    );
    Some(Dialer {
        client: haru_telephony::TwilioClient::new(http, &t.api_base, sid, token.expose()),
        from: from.clone(),
        voice_url: cfg.public_base.http_url("/api/twilio/voice"),
        status_url: cfg.public_base.http_url("/api/twilio/call-status"),
        amd_url: cfg.public_base.http_url("/api/twilio/amd"),
    })
}

pub struct Hooks {
    pub companion: Arc<Companion>,
    pub cfg: Arc<Config>,
}

#[async_trait]
impl haru_server::CallHooks for Hooks {
    async fn session_config(&self, call_sid: &str, base: &SessionConfig) -> Option<SessionConfig> {
        let persona = match self.companion.persona_for_call(call_sid, Utc::now()).await {
            Ok(p) => p?,
            Err(e) => {
                tracing::warn!(call_sid, error = %e, "could not load the person's memory; the call goes on without it");
                return None;
            }
        };
        let mut cfg = base.clone();
        let default_lang = self.cfg.providers.stt_language.as_deref().unwrap_or("ko");
        if persona.language != default_lang {
            // A person in another language than the service's: that language's texts.
            let texts = crate::language::texts(&persona.language);
            cfg.system_prompt = texts.system_prompt;
            cfg.goodbye = texts.goodbye;
            cfg.apology = texts.apology;
            cfg.idle_prompt = texts.idle_prompt;
            cfg.end_keywords = texts.end_keywords;
            cfg.acks = texts.acks;
        }
        cfg.language = Some(persona.language.clone());
        cfg.safety = self.cfg.safety_for(&persona.language).clone();
        cfg.greeting = persona.greeting;
        if !persona.memory.is_empty() {
            cfg.system_prompt = format!("{}\n\n{}", cfg.system_prompt, persona.memory);
        }
        tracing::info!(call_sid, person = %persona.person_id, language = %persona.language, "call with a known person");
        Some(cfg)
    }

    async fn call_status(&self, call_sid: &str, status: &str, _params: &[(String, String)]) {
        if let Err(e) = self
            .companion
            .on_call_status(call_sid, status, Utc::now())
            .await
        {
            tracing::warn!(call_sid, status, error = %e, "scheduler could not follow the call status");
        }
    }

    async fn answered_by(&self, call_sid: &str, answered_by: &str) {
        if let Err(e) = self.companion.on_answered_by(call_sid, answered_by).await {
            tracing::warn!(call_sid, answered_by, error = %e, "could not handle the answering-machine verdict");
        }
    }
}

pub fn build(cfg: &Config, store: Arc<SqlStore>) -> Arc<Companion> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap_or_default();
    Arc::new(Companion::new(store, dialer(cfg, http), config(cfg)))
}
