//! The per-frame inbound audio path: µ-law decode + turn detection on one 20 ms frame,
//! exactly what the server does for every media message of every call.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use haru_audio::{FRAME_SAMPLES, mulaw};
use haru_turn::{TurnConfig, TurnDetector};
use serde::Serialize;

/// Budget per frame: at 1,000 calls × 50 frames/s one core has 20 µs per frame in total,
/// so the audio path must stay far below that share of the budget.
pub const TARGET_NS: u64 = 50_000;

#[derive(Debug, Clone, Serialize)]
pub struct FrameReport {
    pub files: Vec<String>,
    pub frames: usize,
    pub mean_ns: f64,
    pub p50_ns: u64,
    pub p99_ns: u64,
    pub max_ns: u64,
    pub target_ns: u64,
    /// Turn events the detector produced (shows real speech went through the VAD).
    pub turn_events: usize,
}

impl FrameReport {
    pub fn table(&self) -> String {
        format!(
            "frame path (mulaw::decode + TurnDetector::push_8k, 20 ms frames of {}):\n  \
             {} frames, mean {:.0} ns, p50 {} ns, p99 {} ns, max {} ns (target < {} ns), {} turn events",
            self.files.join(", "),
            self.frames,
            self.mean_ns,
            self.p50_ns,
            self.p99_ns,
            self.max_ns,
            self.target_ns,
            self.turn_events
        )
    }
}

/// Times every frame of `wavs` (each played `repeats` times through one detector, with a
/// second of silence between plays so turns end as they do on a call).
pub fn measure_frame_path(wavs: &[PathBuf], repeats: usize) -> Result<FrameReport> {
    if wavs.is_empty() {
        bail!("no WAV files for the frame-path measurement");
    }
    let mut stream: Vec<u8> = Vec::new();
    let mut names = Vec::new();
    for p in wavs {
        let turn = haru_sim::Turn::from_wav_file(p)?;
        names.push(turn.label.clone());
        stream.extend(mulaw::encode(&turn.audio));
        stream.extend(std::iter::repeat_n(0xFF, 8000)); // µ-law silence
    }
    let frames: Vec<&[u8]> = stream.chunks_exact(FRAME_SAMPLES).collect();
    let mut det = TurnDetector::new(TurnConfig::default());
    let mut events = Vec::new();
    let mut turn_events = 0;
    // Warm-up pass: first-touch page faults and lazy init are not the steady state.
    for f in &frames {
        det.push_8k(&mulaw::decode(f), &mut events);
        events.clear();
    }
    let mut times = Vec::with_capacity(frames.len() * repeats.max(1));
    for _ in 0..repeats.max(1) {
        for f in &frames {
            let t = Instant::now();
            let pcm = mulaw::decode(f);
            det.push_8k(&pcm, &mut events);
            times.push(t.elapsed().as_nanos() as u64);
            turn_events += events.len();
            // Dropping the events (and their utterance copies) is the session's cost, not
            // the frame path's; done outside the timed region.
            events.clear();
        }
    }
    let n = times.len();
    let mean = times.iter().sum::<u64>() as f64 / n as f64;
    times.sort_unstable();
    let at = |p: f64| times[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    Ok(FrameReport {
        files: names,
        frames: n,
        mean_ns: mean,
        p50_ns: at(0.50),
        p99_ns: at(0.99),
        max_ns: times[n - 1],
        target_ns: TARGET_NS,
        turn_events,
    })
}
