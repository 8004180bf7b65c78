//! Turn-taking: voice activity on every frame and the caller's end of turn.
//!
//! [`TurnDetector`] takes 8 kHz telephony frames, upsamples them to 16 kHz for earshot's
//! neural VAD (256-sample frames), and runs a small hysteresis state machine:
//! a cough shorter than `min_speech_ms` never starts a turn, a pause shorter than
//! `end_silence_ms` never splits one, and `pause_ms` of silence raises an early
//! [`TurnEvent::Paused`] so the session can start transcribing speculatively.

mod backchannel;
mod completeness;
mod detector;
mod model;

pub use backchannel::is_backchannel;
pub use completeness::completeness;
pub use model::TurnModel;

pub use detector::{TurnConfig, TurnDetector, TurnEvent, VAD_RATE};
