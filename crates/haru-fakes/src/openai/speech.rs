//! `POST /v1/audio/speech`: a speech-band tone streamed as PCM or WAV.

use std::f64::consts::TAU;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::time::Instant;

use super::sse::{BodyWriter, Closed, streaming_body};
use super::{
    Endpoint, FakeOpenAiConfig, Fault, Shared, generic_fault, invalid, missing,
    require_json_content_type, server_error,
};
use crate::record::{RecordedBody, other_body};

/// Sample rate of `pcm` output (OpenAI: 24 kHz, s16le, mono).
pub const TTS_SAMPLE_RATE: u32 = 24_000;
/// Audio per body chunk; real services send a few tens of ms at a time.
const CHUNK: Duration = Duration::from_millis(40);
const CHUNK_SAMPLES: usize = (TTS_SAMPLE_RATE as usize) * 40 / 1000;
const MAX_INPUT_CHARS: usize = 4096;
const FORMATS: [&str; 6] = ["mp3", "opus", "aac", "flac", "wav", "pcm"];

struct SpeechRequest {
    wav: bool,
    samples: usize,
}

pub(crate) async fn handle(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed = serde_json::from_slice::<Value>(&body);
    let recorded = match &parsed {
        Ok(v) => RecordedBody::Json(v.clone()),
        Err(_) => other_body(&body),
    };
    let cfg = match shared.begin(Endpoint::Speech, &uri, &headers, recorded) {
        Ok(cfg) => cfg,
        Err(resp) => return resp,
    };
    if let Err(resp) = require_json_content_type(&headers) {
        return resp;
    }
    let Ok(value) = parsed else {
        return invalid(
            "We could not parse the JSON body of your request.",
            None,
            None,
        );
    };
    let req = match validate(&value, &cfg) {
        Ok(req) => req,
        Err(resp) => return resp,
    };
    let content_type = if req.wav { "audio/wav" } else { "audio/pcm" };

    let fault = match shared.take_fault(Endpoint::Speech) {
        Some(Fault::EmptyTranscript) => Some(Fault::EmptyAudio),
        other => other,
    };
    if let Some(f) = &fault
        && let Some(resp) = generic_fault(&shared, f, content_type).await
    {
        return resp;
    }
    if fault == Some(Fault::ErrorEvent) {
        return server_error();
    }
    let broken = fault == Some(Fault::BrokenStream);
    let (writer, body) = streaming_body(shared.cancel.clone(), None);
    let start = Instant::now();
    tokio::spawn(async move {
        // Errors only mean the client left or the server stops.
        let _ = write_audio(writer, &cfg, &req, broken, start).await;
    });
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn validate(v: &Value, cfg: &FakeOpenAiConfig) -> Result<SpeechRequest, Response> {
    let Some(obj) = v.as_object() else {
        return Err(invalid(
            "Invalid type for request body: expected an object.",
            None,
            None,
        ));
    };
    match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => {}
        _ => return Err(missing("model")),
    }
    let input = match obj.get("input") {
        Some(Value::String(s)) => s,
        None | Some(Value::Null) => return Err(missing("input")),
        Some(_) => {
            return Err(invalid(
                "Invalid type for 'input': expected a string.",
                Some("input"),
                Some("invalid_type"),
            ));
        }
    };
    let chars = input.chars().count();
    if input.trim().is_empty() {
        return Err(invalid(
            "Invalid 'input': empty string.",
            Some("input"),
            Some("empty_string"),
        ));
    }
    if chars > MAX_INPUT_CHARS {
        return Err(invalid(
            format!(
                "Invalid 'input': string too long. Expected a string with maximum length \
                 {MAX_INPUT_CHARS}, but got a string with length {chars} instead."
            ),
            Some("input"),
            Some("string_above_max_length"),
        ));
    }
    let voice_ok = match obj.get("voice") {
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Object(o)) => o.get("id").and_then(Value::as_str).is_some(),
        _ => false,
    };
    if !voice_ok {
        return Err(missing("voice"));
    }
    let format = obj
        .get("response_format")
        .and_then(Value::as_str)
        .unwrap_or("mp3");
    if !FORMATS.contains(&format) {
        return Err(invalid(
            format!("Invalid value: '{format}'. Supported values are: {FORMATS:?}."),
            Some("response_format"),
            Some("invalid_value"),
        ));
    }
    if format != "pcm" && format != "wav" {
        // Valid for OpenAI, but encoding it is out of scope; fail loudly so a
        // client that forgot to ask for pcm notices.
        return Err(invalid(
            format!("haru-fakes only renders 'pcm' and 'wav', not '{format}'."),
            Some("response_format"),
            Some("unsupported_by_fake"),
        ));
    }
    if obj.get("stream_format").and_then(Value::as_str) == Some("sse") {
        return Err(invalid(
            "haru-fakes does not implement stream_format 'sse'; use 'audio'.",
            Some("stream_format"),
            Some("unsupported_by_fake"),
        ));
    }
    let speed = match obj.get("speed") {
        None | Some(Value::Null) => 1.0,
        Some(s) => match s.as_f64() {
            Some(s) if (0.25..=4.0).contains(&s) => s,
            _ => {
                return Err(invalid(
                    "Invalid 'speed': expected a number between 0.25 and 4.0.",
                    Some("speed"),
                    Some("invalid_value"),
                ));
            }
        },
    };
    let ms = f64::from(cfg.tts_ms_per_char) * chars as f64 / speed;
    let samples = (ms * f64::from(TTS_SAMPLE_RATE) / 1000.0).round() as usize;
    Ok(SpeechRequest {
        wav: format == "wav",
        samples,
    })
}

async fn write_audio(
    mut w: BodyWriter,
    cfg: &FakeOpenAiConfig,
    req: &SpeechRequest,
    broken: bool,
    start: Instant,
) -> Result<(), Closed> {
    let first = start + cfg.tts_first_byte_delay;
    let step = if cfg.tts_speedup.is_finite() && cfg.tts_speedup > 0.0 {
        CHUNK.div_f64(cfg.tts_speedup)
    } else {
        Duration::ZERO
    };
    let chunks = req.samples.div_ceil(CHUNK_SAMPLES);
    let cut_at = broken.then_some(chunks / 2);
    let mut tone = Tone::default();
    let mut header = req.wav.then(|| wav_header(req.samples));
    let mut left = req.samples;
    for i in 0..chunks {
        w.sleep_until(first + step * i as u32).await?;
        if cut_at == Some(i) {
            w.fail().await;
            return Ok(());
        }
        let n = left.min(CHUNK_SAMPLES);
        left -= n;
        let mut buf = header.take().unwrap_or_default();
        tone.render(n, &mut buf);
        w.send(Bytes::from(buf)).await?;
    }
    if let Some(header) = header {
        // Zero-length audio: the WAV header alone.
        w.sleep_until(first).await?;
        w.send(Bytes::from(header)).await?;
    }
    if cut_at.is_some() && chunks == 0 {
        w.fail().await;
    }
    Ok(())
}

/// A 44-byte PCM WAV header for `samples` mono s16le samples at 24 kHz.
fn wav_header(samples: usize) -> Vec<u8> {
    let data_len = u32::try_from(samples * 2).unwrap_or(u32::MAX - 36);
    let mut h = Vec::with_capacity(44 + CHUNK_SAMPLES * 2);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&1u16.to_le_bytes()); // mono
    h.extend_from_slice(&TTS_SAMPLE_RATE.to_le_bytes());
    h.extend_from_slice(&(TTS_SAMPLE_RATE * 2).to_le_bytes()); // byte rate
    h.extend_from_slice(&2u16.to_le_bytes()); // block align
    h.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

/// A voice-like tone: pitch glides over 300–800 Hz and loudness pulses at a
/// syllable rate, but never drops near silence, so VAD and level meters on
/// the receiving side treat it as speech.
#[derive(Default)]
struct Tone {
    n: u64,
    phase: f64,
}

impl Tone {
    fn render(&mut self, samples: usize, out: &mut Vec<u8>) {
        let rate = f64::from(TTS_SAMPLE_RATE);
        out.reserve(samples * 2);
        for _ in 0..samples {
            let t = self.n as f64 / rate;
            let freq = 550.0 + 250.0 * (TAU * 0.9 * t).sin();
            let amp = 9000.0 * (0.65 + 0.35 * (TAU * 4.0 * t).sin());
            self.phase = (self.phase + TAU * freq / rate) % TAU;
            let sample = (amp * self.phase.sin()) as i16;
            out.extend_from_slice(&sample.to_le_bytes());
            self.n += 1;
        }
    }
}
