//! A simulated phone caller that calls a running haru server exactly the way Twilio would.
//!
//! One call: `POST /api/twilio/voice` (form-encoded, optionally signed), parse the TwiML
//! `<Connect><Stream>`, open the media WebSocket, send `connected`/`start` and then a 20 ms
//! µ-law frame continuously (speech during turns, silence otherwise), play the bot's audio
//! out on a real-time clock, echo marks when their audio has played, honour `clear`, and
//! finally send `stop`. Everything measured lands in a [`SimReport`].
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use haru_sim::{SimConfig, Turn, run_call};
//! let cfg = SimConfig {
//!     server: "http://127.0.0.1:8000".into(),
//!     turns: vec![Turn::from_wav_file("hello.wav")?],
//!     ..SimConfig::default()
//! };
//! let report = run_call(cfg, None).await?;
//! println!("first reply after {:?} ms", report.turns[0].reply.latency_ms);
//! report.write_bot_wav("out/sim-bot.wav")?;
//! # Ok(()) }
//! ```

mod call;
pub mod cli;
mod config;
mod playout;
mod report;
pub mod twiml;
mod webhook;

pub use call::run_call;
pub use config::{SimConfig, Turn};
pub use playout::{Playout, Tick};
pub use report::{CallEnd, ReplyStats, SimEvent, SimReport, TranscriptMessage, TurnReport};
