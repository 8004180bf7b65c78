//! Local fake cloud providers for haru.
//!
//! These are real HTTP servers bound to `127.0.0.1` that speak the wire
//! protocols of the providers haru talks to, so haru's *real* client code can
//! be exercised end to end without keys or internet access:
//!
//! * [`FakeOpenAi`]: `POST /v1/audio/transcriptions`, `POST /v1/chat/completions`
//!   (JSON or SSE streaming) and `POST /v1/audio/speech` (streamed PCM / WAV).
//! * [`FakeTwilio`]: the `Calls` resource of Twilio's 2010-04-01 REST API.
//!
//! Both validate requests against the published API shapes (missing required
//! fields → 400 with the provider's error body), record every request for
//! assertions, and support fault injection. They are built to carry thousands
//! of concurrent streams: all pacing uses tokio timers and no lock is held
//! across an `.await`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule};
//! let fake = FakeOpenAi::start(FakeOpenAiConfig {
//!     reply: ReplyRule::Fixed("Hello there. How can I help?".into()),
//!     ..FakeOpenAiConfig::fast()
//! })
//! .await?;
//! let base_url = fake.base_url(); // "http://127.0.0.1:PORT/v1"
//! # let _ = base_url;
//! fake.shutdown().await;
//! # Ok(()) }
//! ```

// Handlers return `Result<_, Response>` to short-circuit with a ready error
// response; boxing it would only add noise to private, non-hot code.
#![allow(clippy::result_large_err)]

mod openai;
mod record;
mod server;
mod twilio;

pub use openai::{
    Endpoint, FakeOpenAi, FakeOpenAiConfig, Fault, ReplyRule, SttRule, TTS_SAMPLE_RATE,
};
pub use record::{
    FieldValue, MultipartField, RecordedBody, RecordedRequest, UploadedFile, WavInfo,
};
pub use twilio::{FakeCall, FakeMessage, FakeTwilio, FakeTwilioConfig, TwilioRequest};
