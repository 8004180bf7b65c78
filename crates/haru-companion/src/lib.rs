//! The daily companion: the people haru calls ([`person`]), when ([`plan`], [`scheduler`]),
//! what it remembers of them ([`persona`]), who it tells when something is wrong
//! ([`alerts`], [`deliver`]), their calendar feed ([`ical`]) and trends ([`trends`]).
//!
//! Everything durable lives in `haru-store`'s companion tables; this crate holds the rules.
//! Time is an argument wherever a rule depends on it (`Companion::tick(now)`), so tests run
//! a month of schedules in a moment.

pub mod alerts;
pub mod deliver;
pub mod ical;
pub mod person;
pub mod persona;
pub mod plan;
pub mod scheduler;
pub mod trends;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use haru_store::SqlStore;
use haru_telephony::TwilioClient;

pub use persona::Persona;
pub use plan::RetryPolicy;

/// What haru does when an answering machine takes a scheduled call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachinePolicy {
    /// Wait for the beep, leave one short message in the person's language, hang up.
    Message,
    /// Hang up at once.
    HangUp,
}

#[derive(Debug, Clone)]
pub struct CompanionConfig {
    /// How often the scheduler looks for due calls.
    pub tick: Duration,
    pub retry: RetryPolicy,
    pub machine: MachinePolicy,
    /// A placed call with no final status after this counts as a failed try.
    pub ring_lease: Duration,
    /// Estimated tokens of the memory block in the system prompt.
    pub memory_budget_tokens: usize,
    /// A mood score at or below this is "very negative" (scores run -1..1).
    pub low_mood_score: f64,
    /// This many very negative calls in a row raise an alert.
    pub low_mood_calls: usize,
    /// This many missed daily calls in a row raise an alert.
    pub missed_calls: usize,
    /// Delivery tries per alert channel before it is failed.
    pub delivery_attempts: i64,
    pub delivery_backoff: Duration,
}

impl Default for CompanionConfig {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(15),
            retry: RetryPolicy {
                max_attempts: 3,
                first_backoff: Duration::from_secs(10 * 60),
                max_backoff: Duration::from_secs(30 * 60),
            },
            machine: MachinePolicy::Message,
            ring_lease: Duration::from_secs(10 * 60),
            memory_budget_tokens: 400,
            low_mood_score: -0.5,
            low_mood_calls: 3,
            missed_calls: 3,
            delivery_attempts: 8,
            delivery_backoff: Duration::from_secs(10),
        }
    }
}

/// Where outbound calls go and where Twilio reports back.
#[derive(Clone)]
pub struct Dialer {
    pub client: TwilioClient,
    /// Our Twilio number.
    pub from: String,
    pub voice_url: String,
    pub status_url: String,
    pub amd_url: String,
}

pub struct Companion {
    pub store: Arc<SqlStore>,
    pub dialer: Option<Dialer>,
    pub http: reqwest::Client,
    pub cfg: CompanionConfig,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("store: {0}")]
    Store(#[from] haru_store::StoreError),
    #[error("Twilio: {0}")]
    Twilio(#[from] haru_telephony::TwilioError),
    #[error("{0}")]
    Unavailable(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Companion {
    pub fn new(store: Arc<SqlStore>, dialer: Option<Dialer>, cfg: CompanionConfig) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .unwrap_or_default();
        Self {
            store,
            dialer,
            http,
            cfg,
        }
    }

    /// The person's greeting and memory for a call with them; `None` for a stranger.
    pub async fn persona_for_call(
        &self,
        call_sid: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Persona>> {
        let Some(person) = self.store.person_for_call(call_sid).await? else {
            return Ok(None);
        };
        let diaries = self.store.diaries_of(&person.id, 3).await?;
        // From yesterday on: yesterday's items feed the follow-up question.
        let since = ts(now - chrono::Duration::days(2));
        let schedules = self
            .store
            .schedules_of(&person.id, Some(&since), 20)
            .await?;
        let moods = self.store.moods_of(&person.id, 1).await?;
        let items = self.store.memory_items(&person.id).await?;
        let known = persona::Known {
            person: &person,
            diaries: &diaries,
            schedules: &schedules,
            moods: &moods,
            items: &items,
            now,
        };
        Ok(Some(persona::persona(
            &known,
            self.cfg.memory_budget_tokens,
        )))
    }

    /// Runs the scheduler and the alert sender until `shutdown`.
    pub fn spawn(
        self: Arc<Self>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let sender = tokio::spawn(deliver::run(self.clone(), shutdown.clone()));
            loop {
                if let Err(e) = self.tick(Utc::now()).await {
                    tracing::warn!(error = %e, "scheduler tick failed; trying again next tick");
                }
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(self.cfg.tick) => {}
                }
            }
            let _ = sender.await;
        })
    }
}
