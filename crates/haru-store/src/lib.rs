//! The store: calls, Twilio status events, stream lifecycle, messages and per-turn timings.
//!
//! The only owner of haru's tables: nothing outside this crate sees a pool or writes SQL.
//! [`CallStore`] is the small interface a call session depends on (so virtual-time tests
//! can use [`MemoryStore`]); [`SqlStore`] implements it, and every other table's queries
//! (companion, post-call), over SQLite (default) or PostgreSQL.

pub mod companion;
mod db;
pub mod memory;
mod model;
pub mod postcall;
pub mod test_db;

pub use companion::{AlertKind, Evidence, NewAlert};
pub use db::{Backend, SqlStore, Table, redact_password_in, redact_url, ts};
pub use memory::MemoryStore;
pub use model::*;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(
        "unsupported database URL `{0}` in HARU_DATABASE_URL (expected sqlite:... or postgres://...)"
    )]
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
    /// The call's stereo WAV (caller left, haru right), replacing any earlier one.
    async fn save_recording(&self, call_sid: &str, wav: &[u8]) -> Result<()>;
    /// The call's WAV, if it was recorded.
    async fn recording(&self, call_sid: &str) -> Result<Option<Vec<u8>>>;
    /// The size of the call's WAV, if it was recorded (without reading it).
    async fn recording_bytes(&self, call_sid: &str) -> Result<Option<i64>>;
    /// Raises an alert (with one queued delivery per caregiver channel of the call's
    /// person). `None`: an alert with this dedupe key exists already.
    async fn raise_alert(&self, alert: &NewAlert) -> Result<Option<i64>>;
    /// Calls not ended yet that had a media stream whose session is gone: held by an
    /// instance whose lease ran out (killed, or shut down), or by no instance and started
    /// before `before` (RFC 3339; a process that kept no heartbeat).
    async fn lost_calls(&self, before: &str) -> Result<Vec<CallRecord>>;
    /// Another instance, still alive, holds this call's stream (so its session will
    /// close it; this instance must not).
    async fn held_elsewhere(&self, call_sid: &str) -> Result<bool>;
    /// Closes a call whose session is gone, only if it is still open and no other live
    /// instance holds it (checked in the same write). `false`: nothing was changed.
    async fn close_lost(
        &self,
        call_sid: &str,
        reason: &str,
        transcript: Option<&str>,
    ) -> Result<bool>;
}

/// Opens the store named by a database URL (`sqlite:path`, `sqlite::memory:` or
/// `postgres://user:pass@host/db`).
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn CallStore>> {
    Ok(std::sync::Arc::new(SqlStore::open(url).await?))
}
