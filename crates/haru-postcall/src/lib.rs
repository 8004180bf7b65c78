//! After the call: a diary, schedules, mood, a quality report and the person's memory
//! for each call, run as jobs on a durable queue in the call store's database. The
//! tables and their queries belong to `haru-store` (`haru_store::postcall`); this crate
//! holds what the jobs compute.
//!
//! Wiring:
//! ```ignore
//! let store = haru_store::SqlStore::open(url).await?; // runs the migrations
//! let pc = Arc::new(PostCall::new(store, chat, PostCallConfig::default()));
//! let worker = pc.clone().spawn_worker(shutdown.clone());
//! // when a call ends (after close_call):
//! pc.enqueue_for_call(&call_sid).await?;
//! ```
//!
//! Decisions worth knowing:
//! - The LLM never does calendar maths: it returns the quote and a structured date
//!   expression, resolved by [`dates`] against the local date (configured timezone) of
//!   the message the quote came from, so "내일" said after midnight means the day after
//!   *that* day. The diary is dated with the call's start.
//! - A schedule whose quote is not in the transcript (normalised) is rejected and named
//!   in the job's `detail`; a mood quote the caller did not say fails validation.
//! - A bad answer is sent back once with the validation error; a second bad answer
//!   fails the attempt. Answers that stay bad fail the job after `max_attempts`;
//!   outages (unreachable, timeout, 408/429/5xx) retry forever with capped backoff.
//! - Results are written in the transaction that marks the job done, and only while
//!   the claim's lease token is still current. Memory is the exception: the store
//!   writes it in its own transaction, right after the lease is checked and renewed.
//! - Memory only grows from quotes the caller said, and only shrinks when the caller
//!   asked to forget in that call, and only among that person's items.

pub mod dates;
pub mod jobs;
pub mod queue;
pub mod schema;
pub mod transcript;
mod worker;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use haru_providers::ChatModel;
use haru_store::SqlStore;
use haru_store::companion::MemoryItem;

pub use haru_store::postcall::{Diary, Mood, Schedule};
pub use jobs::quality::Quality;
pub use queue::{Job, JobFilter, JobKind, JobState, Rerun};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Store(#[from] haru_store::StoreError),
    #[error("unknown call {0}")]
    UnknownCall(String),
    #[error("{0}")]
    Invalid(String),
    #[error("chat model failed: {message}")]
    Provider { message: String, permanent: bool },
    #[error("model answer rejected after a retry: {0}")]
    BadAnswer(String),
    #[error("lease lost: another worker took the job over")]
    LeaseLost,
}

impl Error {
    /// Worth retrying later without using up the job's attempts (an outage).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Provider { permanent, .. } => !permanent,
            Error::Store(haru_store::StoreError::Db(_)) => true,
            _ => false,
        }
    }
}

/// The longest wait between two attempts of a job.
pub const MAX_BACKOFF: Duration = Duration::from_secs(15 * 60);

/// Re-exported so the server can build a [`PostCallConfig`] (`"Asia/Seoul".parse()`).
pub use chrono_tz;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct PostCallConfig {
    /// Local dates for diaries and schedules. Default Asia/Seoul.
    pub timezone: chrono_tz::Tz,
    /// Language of diaries and mood reasons (BCP 47-ish: `ko`, `en`). Default `ko`.
    pub language: String,
    /// Attempts before a job whose answers keep failing validation is `failed`.
    /// Outages (provider unreachable, 5xx, 429) retry without limit.
    pub max_attempts: i64,
    /// Retry delay after the first failure; doubles per attempt, capped at
    /// [`MAX_BACKOFF`] (or at `base_backoff` if that is longer).
    pub base_backoff: Duration,
    /// How long a claim lasts without a heartbeat; a crashed worker's job is picked up
    /// again after this.
    pub lease: Duration,
    /// How often an idle worker looks for due jobs.
    pub poll_interval: Duration,
}

impl Default for PostCallConfig {
    fn default() -> Self {
        Self {
            timezone: chrono_tz::Asia::Seoul,
            language: "ko".into(),
            max_attempts: 5,
            base_backoff: Duration::from_secs(10),
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(2),
        }
    }
}

pub struct PostCall {
    /// Every table the jobs read and write, the queue among them.
    store: SqlStore,
    chat: Arc<dyn ChatModel>,
    cfg: PostCallConfig,
    /// Wakes idle workers when a job is queued, so they need not wait a poll interval.
    notify: tokio::sync::Notify,
}

impl PostCall {
    pub fn new(store: SqlStore, chat: Arc<dyn ChatModel>, cfg: PostCallConfig) -> Self {
        Self {
            store,
            chat,
            cfg,
            notify: tokio::sync::Notify::new(),
        }
    }

    pub fn config(&self) -> &PostCallConfig {
        &self.cfg
    }

    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    pub(crate) fn chat(&self) -> &dyn ChatModel {
        self.chat.as_ref()
    }

    /// Queues every post-call job for a call; a kind already queued (or done) is left
    /// alone, so calling this twice is harmless.
    pub async fn enqueue_for_call(&self, call_sid: &str) -> Result<()> {
        for kind in JobKind::ALL {
            self.store
                .enqueue_job(call_sid, kind, self.cfg.max_attempts, Utc::now())
                .await?;
        }
        self.notify.notify_waiters();
        Ok(())
    }

    /// Re-runs a job by id (with fresh attempts).
    pub async fn rerun(&self, id: i64) -> Result<Rerun> {
        let r = self.store.rerun_job(id, Utc::now()).await?;
        self.notify.notify_waiters();
        Ok(r)
    }

    /// Re-runs (or first runs) one kind of job for a call.
    pub async fn rerun_kind(&self, call_sid: &str, kind: JobKind) -> Result<Rerun> {
        self.store
            .enqueue_job(call_sid, kind, self.cfg.max_attempts, Utc::now())
            .await?;
        match self.store.find_job(call_sid, kind).await? {
            Some(job) => self.rerun(job.id).await,
            None => Ok(Rerun::NotFound),
        }
    }

    /// The job of `kind` for a call.
    pub async fn find_job(&self, call_sid: &str, kind: JobKind) -> Result<Option<Job>> {
        Ok(self.store.find_job(call_sid, kind).await?)
    }

    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        Ok(self.store.job(id).await?)
    }

    pub async fn jobs(&self, filter: &JobFilter) -> Result<Vec<Job>> {
        Ok(self.store.jobs(filter).await?)
    }

    pub async fn diary(&self, call_sid: &str) -> Result<Option<Diary>> {
        Ok(self.store.diary(call_sid).await?)
    }

    pub async fn schedules(&self, call_sid: &str) -> Result<Vec<Schedule>> {
        Ok(self.store.schedules(call_sid).await?)
    }

    /// Schedules across all calls that have not passed yet, soonest first.
    pub async fn upcoming_schedules(&self, limit: i64, offset: i64) -> Result<Vec<Schedule>> {
        Ok(self
            .store
            .upcoming_schedules(Utc::now(), limit, offset)
            .await?)
    }

    pub async fn mood(&self, call_sid: &str) -> Result<Option<Mood>> {
        Ok(self.store.mood(call_sid).await?)
    }

    /// The call's quality report (`None` also when the stored JSON no longer parses).
    pub async fn quality(&self, call_sid: &str) -> Result<Option<Quality>> {
        let json = self.store.quality_json(call_sid).await?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// What haru remembers of a person, oldest first.
    pub async fn memory(&self, person_id: &str) -> Result<Vec<MemoryItem>> {
        Ok(self.store.memory_items(person_id).await?)
    }
}
