//! The store: calls, Twilio status events, stream lifecycle, messages and per-turn timings.
//!
//! [`CallStore`] is the small interface the rest of haru depends on; [`SqliteStore`] is the
//! default implementation (WAL, `synchronous=FULL`, so an awaited write is on disk). A
//! Postgres implementation for multi-instance deployments only has to implement the trait.

pub mod companion;
pub mod memory;
mod model;
mod sqlite;

pub use companion::{AlertKind, Evidence, NewAlert};
pub use memory::MemoryStore;
pub use model::*;
pub use sqlite::SqliteStore;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL `{0}` (expected sqlite:...)")]
    UnsupportedUrl(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[async_trait]
pub trait CallStore: Send + Sync + 'static {
    /// Creates the call row if it does not exist yet; fills in fields that are still empty.
    async fn upsert_call(&self, call: &NewCall) -> Result<()>;
    /// The per-call stream token issued in the TwiML, if the call is known.
    async fn stream_token(&self, call_sid: &str) -> Result<Option<String>>;
    async fn record_status(&self, event: &StatusEvent) -> Result<()>;
    async fn record_stream_event(
        &self,
        call_sid: &str,
        stream_sid: Option<&str>,
        kind: &str,
        detail: Option<&str>,
    ) -> Result<()>;
    async fn set_stream(&self, call_sid: &str, stream_sid: &str) -> Result<()>;
    /// Binds the call's one media stream: sets `stream_sid` only if the call has no stream
    /// yet and has not ended. `false`: the call's token was already used (a second stream,
    /// or a replay after the call), or the call is unknown.
    async fn claim_stream(&self, call_sid: &str, stream_sid: &str) -> Result<bool>;
    async fn add_message(&self, msg: &NewMessage) -> Result<i64>;
    async fn record_turn(&self, turn: &TurnTiming) -> Result<()>;
    /// Marks the call ended. `transcript: None` keeps whatever transcript is stored.
    async fn close_call(
        &self,
        call_sid: &str,
        reason: &str,
        transcript: Option<&str>,
    ) -> Result<()>;
    async fn call(&self, call_sid: &str) -> Result<Option<CallRecord>>;
    async fn list_calls(&self, filter: &CallFilter) -> Result<Vec<CallRecord>>;
    async fn messages(&self, call_sid: &str) -> Result<Vec<Message>>;
    async fn turns(&self, call_sid: &str) -> Result<Vec<TurnTiming>>;
    async fn status_events(&self, call_sid: &str) -> Result<Vec<StatusEvent>>;
    async fn stream_events(&self, call_sid: &str) -> Result<Vec<StreamEvent>>;
    /// This caller's recent mid-turn pauses (ms, oldest first); empty for a new caller.
    async fn caller_holds(&self, phone: &str) -> Result<Vec<u32>>;
    async fn save_caller_holds(&self, phone: &str, holds: &[u32]) -> Result<()>;
    /// Raises an alert (with one queued delivery per caregiver channel of the call's
    /// person). `None`: an alert with this dedupe key exists already.
    async fn raise_alert(&self, alert: &NewAlert) -> Result<Option<i64>>;
    /// Calls not ended yet that had a media stream and started before `before` (RFC 3339):
    /// after a crash, the calls whose session died with the process.
    async fn open_streamed_calls(&self, before: &str) -> Result<Vec<CallRecord>>;
}

/// Opens the store named by a database URL (`sqlite:path` or `sqlite::memory:`).
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn CallStore>> {
    if url.starts_with("sqlite:") {
        Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}
