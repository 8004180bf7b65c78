//! The call session: one call's conversation.
//!
//! [`core::CallCore`] is the whole conversation as a sans-IO state machine (who holds the
//! floor, speculation, end of turn, barge-in, failures, endings); [`ledger`] is what was
//! played and heard; [`record`] is one turn's record. [`Session`] (`driver.rs`) runs a core
//! on tokio: transport inputs in, [`Output`]s out, reply workers (`worker.rs`: STT → LLM →
//! TTS) spawned and cancelled, store writes on the call's writer task.

pub mod config;
pub mod core;
mod driver;
pub mod io;
pub mod ledger;
pub mod log;
pub mod metrics;
pub mod phrases;
pub mod record;
pub mod recover;
pub mod safety;
pub mod sentences;
mod worker;

pub use config::{EotConfig, EotPolicy, InvalidConfig, SessionConfig};
pub use driver::{CallEnded, Providers, Session, SessionDeps};
pub use io::{Action, Input, Job, Output, ReplyId, StoreOp, WorkerEvent};
pub use phrases::PhraseCache;
pub use safety::Safety;
