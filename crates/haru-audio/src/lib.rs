//! Audio basics for telephony: G.711 µ-law, PCM16 ↔ WAV in memory, and sample-rate conversion.
//!
//! Everything here is synchronous, allocation-light and free of I/O so the per-frame path
//! (decode → resample → VAD) stays in the tens of microseconds.

pub mod decimate;
pub mod mulaw;
pub mod pcm_to_mulaw;
pub mod recorder;
pub mod resample;
pub mod wav;

pub use pcm_to_mulaw::PcmToMulaw;
pub use resample::{ResampleError, StreamResampler, resample};
pub use wav::{WavError, decode_wav_mono, encode_wav};

/// Twilio Media Streams carry 8 kHz mono µ-law; 20 ms frames are 160 samples.
pub const TELEPHONY_RATE: u32 = 8_000;
/// Samples in one 20 ms telephony frame.
pub const FRAME_SAMPLES: usize = 160;
