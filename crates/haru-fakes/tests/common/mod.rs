//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::io::Cursor;

/// A mono 16-bit WAV of `ms` milliseconds at `rate` Hz (quiet noise-free tone).
pub fn wav(ms: u32, rate: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::new());
    let mut writer = hound::WavWriter::new(&mut out, spec).expect("wav writer");
    let samples = u64::from(rate) * u64::from(ms) / 1000;
    for i in 0..samples {
        let t = i as f64 / f64::from(rate);
        let s = (3000.0 * (std::f64::consts::TAU * 440.0 * t).sin()) as i16;
        writer.write_sample(s).expect("write sample");
    }
    writer.finalize().expect("finalize");
    out.into_inner()
}

/// What an SSE chat stream contained.
#[derive(Debug, Default)]
pub struct SseOutcome {
    /// Concatenated `delta.content`.
    pub text: String,
    /// Whether `data: [DONE]` arrived.
    pub done: bool,
    /// The `error` object of an error event, if any.
    pub error: Option<serde_json::Value>,
    /// Network chunks received.
    pub reads: usize,
    /// Whether some read ended in the middle of a UTF-8 character.
    pub split_utf8: bool,
    /// Whether the body ended with a transport error.
    pub transport_error: bool,
    /// Chunk objects seen, for shape checks.
    pub chunks: Vec<serde_json::Value>,
}

/// Reads an SSE body the way a careful client must: buffer bytes, split on
/// blank lines, decode UTF-8 only for complete events.
pub async fn read_sse(mut resp: reqwest::Response) -> SseOutcome {
    let mut out = SseOutcome::default();
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                out.reads += 1;
                if std::str::from_utf8(&bytes).is_err() {
                    out.split_utf8 = true;
                }
                buf.extend_from_slice(&bytes);
                while let Some(pos) = buf.windows(2).position(|w| w == b"\n\n") {
                    let event: Vec<u8> = buf.drain(..pos + 2).collect();
                    let event = String::from_utf8(event).expect("complete event is UTF-8");
                    for line in event.lines() {
                        let Some(data) = line.strip_prefix("data: ") else {
                            continue;
                        };
                        if data == "[DONE]" {
                            out.done = true;
                            continue;
                        }
                        let v: serde_json::Value = serde_json::from_str(data).expect("event JSON");
                        if let Some(err) = v.get("error") {
                            out.error = Some(err.clone());
                            continue;
                        }
                        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
                            out.text.push_str(c);
                        }
                        out.chunks.push(v);
                    }
                }
            }
            Ok(None) => break,
            Err(_) => {
                out.transport_error = true;
                break;
            }
        }
    }
    out
}
