//! The call session: one task that owns one call's conversation.
//!
//! Frames arrive as [`Input`]s; the session runs turn detection on each, starts a
//! [`reply`] pipeline (STT → streamed LLM → sentence TTS → paced µ-law) when the caller
//! pauses, opens its gate when the turn really ends, cancels it on barge-in, and writes
//! every message and timing to the store before the next turn begins.

pub mod config;
mod log;
pub mod metrics;
pub mod phrases;
mod reply;
pub mod sentences;
mod session;

pub use config::SessionConfig;
pub use phrases::PhraseCache;
pub use session::{CallEnded, Input, Providers, Session, SessionDeps};
