//! `haru bench`: load benchmark for haru.
//!
//! Starts the fake OpenAI-compatible providers in this process, a haru server (child
//! `haru serve`, in-process, or an existing one by URL), then places N concurrent
//! simulated Twilio calls with `haru_sim` and reports latency, underruns, errors and the
//! server's CPU and memory per call. [`sweep`] raises N until a pass rule fails;
//! [`frame`] times the per-frame inbound audio path; [`eot`] measures end-of-turn
//! policies (false cut-offs vs latency) on a labelled set of turns.

pub mod cli;
pub mod eot;
pub mod frame;
pub mod procstat;
pub mod report;
mod run;
mod server;
pub mod store_writes;
pub mod svg;
pub mod sweep;

pub use frame::{FrameReport, measure_frame_path};
pub use report::{BenchReport, Breakdown, Percentiles, ServerUsage};
pub use run::{BenchOptions, Delays, ServerMode, run_bench};
pub use sweep::{SweepOptions, SweepReport, SweepStep, run_sweep};
