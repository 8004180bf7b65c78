//! One inference at a time across engines.
//!
//! whisper.cpp and llama.cpp each run a pool of as many threads as there
//! are cores, and ggml's workers spin at barriers. Two such pools at once on
//! a small machine fight for the cores and both slow down several-fold
//! (measured here: a 4 s transcription went from 0.6 s to 2-3.5 s during a
//! generation). Taking turns is faster for both. The LLM takes the gate per
//! decode step, so a transcription waits at most one token.

use std::sync::Arc;

use tokio::sync::Mutex;

/// tokio's Mutex: fair (FIFO), awaitable from handlers and lockable from the
/// LLM's plain thread with `blocking_lock`.
pub type CpuGate = Arc<Mutex<()>>;

pub fn new() -> CpuGate {
    Arc::new(Mutex::new(()))
}
