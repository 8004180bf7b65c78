//! The per-frame inbound path: the media message's JSON and base64, µ-law decode and turn
//! detection on one 20 ms frame, exactly what the server does for every media message of
//! every call.

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
    /// Of the mean: reading the media message (JSON + base64) on the server's fast path,
    /// and the same with the generic `Inbound` enum it replaced.
    pub message_ns: f64,
    pub message_generic_ns: f64,
}

impl FrameReport {
    pub fn table(&self) -> String {
        format!(
            "frame path (media JSON + base64 + mulaw::decode + TurnDetector::push_8k, 20 ms frames of {}):\n  \
             {} frames, mean {:.0} ns, p50 {} ns, p99 {} ns, max {} ns (target < {} ns), {} turn events\n  \
             of which the message: {:.0} ns (generic enum parse: {:.0} ns)",
            self.files.join(", "),
            self.frames,
            self.mean_ns,
            self.p50_ns,
            self.p99_ns,
            self.max_ns,
            self.target_ns,
            self.turn_events,
            self.message_ns,
            self.message_generic_ns
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
    // Each frame as Twilio sends it.
    use base64::Engine as _;
    let messages: Vec<String> = frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            serde_json::json!({
                "event": "media",
                "sequenceNumber": (i + 2).to_string(),
                "media": {
                    "track": "inbound",
                    "chunk": (i + 1).to_string(),
                    "timestamp": (i * 20).to_string(),
                    "payload": base64::engine::general_purpose::STANDARD.encode(f),
                },
                "streamSid": "MZ00000000000000000000000000000001",
            })
            .to_string()
        })
        .collect();
    let mut buf: Vec<u8> = Vec::with_capacity(8000);
    let mut message_ns = 0u128;
    let mut generic_ns = 0u128;
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
        for m in &messages {
            let t = Instant::now();
            let Some(frame) = haru_telephony::media::MediaFrame::parse(m) else {
                bail!("the server's fast path refused a Twilio media message");
            };
            buf.clear();
            base64::engine::general_purpose::STANDARD
                .decode_vec(frame.media.payload.as_bytes(), &mut buf)?;
            message_ns += t.elapsed().as_nanos();
            let pcm = mulaw::decode(&buf);
            det.push_8k(&pcm, &mut events);
            times.push(t.elapsed().as_nanos() as u64);
            turn_events += events.len();
            // Dropping the events (and their utterance copies) is the session's cost, not
            // the frame path's; done outside the timed region.
            events.clear();
        }
    }
    // The generic parse it replaced, for comparison (not part of the path).
    for m in &messages {
        let t = Instant::now();
        if let Ok(haru_telephony::Inbound::Media { media, .. }) =
            serde_json::from_str::<haru_telephony::Inbound>(m)
        {
            let _ = base64::engine::general_purpose::STANDARD.decode(media.payload.as_bytes());
        }
        generic_ns += t.elapsed().as_nanos();
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
        message_ns: message_ns as f64 / n as f64,
        message_generic_ns: generic_ns as f64 / messages.len().max(1) as f64,
    })
}
