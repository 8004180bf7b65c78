//! Audio plumbing: WAV decoding for uploads, resampling, WAV encoding.

use std::io::Cursor;

use rubato::{FftFixedIn, Resampler};

use crate::error::ApiError;

/// Longest upload we decode (OpenAI's limit is by size; this bounds memory).
const MAX_UPLOAD_SECS: usize = 10 * 60;

/// Decode a WAV upload into mono f32 at `target_rate`.
pub fn decode_wav(bytes: &[u8], target_rate: u32) -> Result<Vec<f32>, ApiError> {
    let bad = |why: String| {
        ApiError::invalid(
            format!(
                "Could not decode the audio file ({why}). Send a WAV (PCM, float, μ-law or A-law)."
            ),
            Some("file"),
        )
        .with_code("invalid_audio")
    };
    let (interleaved, channels, rate) = match read_pcm_wav(bytes) {
        Ok(v) => v,
        Err(why) => match crate::g711::decode(bytes) {
            Some(g) => (g.samples, usize::from(g.channels), g.sample_rate),
            None => return Err(bad(why)),
        },
    };
    if channels == 0 || channels > 16 || !(1_000..=384_000).contains(&rate) {
        return Err(bad(format!("{channels} channels at {rate} Hz")));
    }
    if interleaved.len() < channels {
        return Err(bad("no audio samples".into()));
    }
    if interleaved.len() / channels > MAX_UPLOAD_SECS * rate as usize {
        return Err(bad(format!("longer than {MAX_UPLOAD_SECS} s")));
    }
    let mono: Vec<f32> = interleaved
        .chunks_exact(channels)
        .map(|frame| frame.iter().sum::<f32>() / channels as f32)
        .collect();
    resample(&mono, rate, target_rate)
        .map_err(|e| ApiError::internal(format!("resampling failed: {e}")))
}

/// Integer or float PCM WAV via hound: (interleaved samples, channels, rate).
fn read_pcm_wav(bytes: &[u8]) -> Result<(Vec<f32>, usize, u32), String> {
    let reader = hound::WavReader::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    // Bound memory before reading: the header's length is what we trust least.
    let max_samples = MAX_UPLOAD_SECS * spec.sample_rate as usize * channels.max(1);
    if reader.len() as usize > max_samples {
        return Err(format!("longer than {MAX_UPLOAD_SECS} s"));
    }
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?,
        hound::SampleFormat::Int => {
            if spec.bits_per_sample == 0 || spec.bits_per_sample > 32 {
                return Err(format!("{} bits per sample", spec.bits_per_sample));
            }
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?
        }
    };
    Ok((samples, channels, spec.sample_rate))
}

/// Resample a whole buffer.
pub fn resample(input: &[f32], from: u32, to: u32) -> anyhow::Result<Vec<f32>> {
    let mut r = StreamResampler::new(from, to)?;
    let mut out = r.push(input)?;
    out.extend(r.finish()?);
    Ok(out)
}

/// Incremental mono resampler (FFT-based, band-limited) that hides the
/// filter delay, so the output lines up with the input and has the expected
/// length: ceil(n_in * to / from).
pub struct StreamResampler {
    inner: Option<FftFixedIn<f32>>, // None = rates equal, pass through
    pending: Vec<f32>,
    skip: usize,
    from: u32,
    to: u32,
    total_in: usize,
    total_out: usize,
}

const CHUNK: usize = 1024;

impl StreamResampler {
    pub fn new(from: u32, to: u32) -> anyhow::Result<Self> {
        let inner = if from == to {
            None
        } else {
            Some(FftFixedIn::new(from as usize, to as usize, CHUNK, 2, 1)?)
        };
        let skip = inner.as_ref().map_or(0, |r| r.output_delay());
        Ok(Self {
            inner,
            pending: Vec::new(),
            skip,
            from,
            to,
            total_in: 0,
            total_out: 0,
        })
    }

    /// Feed samples; returns whatever output is ready.
    pub fn push(&mut self, input: &[f32]) -> anyhow::Result<Vec<f32>> {
        self.total_in += input.len();
        let Some(inner) = self.inner.as_mut() else {
            self.total_out += input.len();
            return Ok(input.to_vec());
        };
        self.pending.extend_from_slice(input);
        let mut out = Vec::new();
        let mut start = 0;
        while self.pending.len() - start >= inner.input_frames_next() {
            let n = inner.input_frames_next();
            let chunk = inner.process(&[&self.pending[start..start + n]], None)?;
            start += n;
            Self::emit(&mut self.skip, &chunk[0], &mut out);
        }
        self.pending.drain(..start);
        self.total_out += out.len();
        Ok(out)
    }

    /// Flush the tail; the total output is then exactly the expected length.
    pub fn finish(mut self) -> anyhow::Result<Vec<f32>> {
        let expected = (self.total_in as u64 * u64::from(self.to)).div_ceil(u64::from(self.from));
        let expected = expected as usize;
        let Some(inner) = self.inner.as_mut() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            let chunk = inner.process_partial(Some(&[&pending[..]]), None)?;
            Self::emit(&mut self.skip, &chunk[0], &mut out);
        }
        // Zero-fed flushes push the delayed samples out.
        let mut guard = 0;
        while self.total_out + out.len() < expected && guard < 64 {
            let chunk = inner.process_partial(None::<&[&[f32]]>, None)?;
            Self::emit(&mut self.skip, &chunk[0], &mut out);
            guard += 1;
        }
        out.truncate(expected.saturating_sub(self.total_out));
        Ok(out)
    }

    fn emit(skip: &mut usize, chunk: &[f32], out: &mut Vec<f32>) {
        let drop = (*skip).min(chunk.len());
        *skip -= drop;
        out.extend_from_slice(&chunk[drop..]);
    }
}

/// f32 [-1, 1] to 16-bit little-endian PCM bytes.
pub fn to_pcm16le(samples: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(samples.len() * 2);
    for s in samples {
        let v = (s.clamp(-1.0, 1.0) * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// A canonical 44-byte-header WAV around 16-bit mono PCM bytes.
pub fn wav_from_pcm16(pcm: &[u8], sample_rate: u32) -> Vec<u8> {
    let data_len = pcm.len() as u32;
    let mut w = Vec::with_capacity(44 + pcm.len());
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&sample_rate.to_le_bytes());
    w.extend_from_slice(&(sample_rate * 2).to_le_bytes()); // byte rate
    w.extend_from_slice(&2u16.to_le_bytes()); // block align
    w.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    w.extend_from_slice(pcm);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, secs: f32) -> Vec<f32> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| (i as f32 / rate as f32 * hz * std::f32::consts::TAU).sin() * 0.5)
            .collect()
    }

    #[test]
    fn resample_has_expected_length_and_keeps_the_tone() {
        let input = sine(22_050, 440.0, 1.0);
        let out = resample(&input, 22_050, 24_000).unwrap();
        assert_eq!(out.len(), 24_000);
        // Amplitude preserved in the steady-state middle.
        let peak = out[6_000..18_000].iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!((0.45..0.55).contains(&peak), "peak {peak}");
        // Aligned: the signal starts right away, not after the filter delay.
        assert!(out[100..400].iter().any(|s| s.abs() > 0.3));
    }

    #[test]
    fn streaming_matches_whole_buffer() {
        let input = sine(22_050, 300.0, 0.7);
        let whole = resample(&input, 22_050, 24_000).unwrap();
        let mut r = StreamResampler::new(22_050, 24_000).unwrap();
        let mut streamed = Vec::new();
        for part in input.chunks(777) {
            streamed.extend(r.push(part).unwrap());
        }
        streamed.extend(r.finish().unwrap());
        assert_eq!(streamed.len(), whole.len());
        assert!(
            streamed
                .iter()
                .zip(&whole)
                .all(|(a, b)| (a - b).abs() < 1e-5)
        );
    }

    #[test]
    fn odd_sample_rates_resample_quickly() {
        for rate in [7_919, 11_025, 44_099, 48_000, 96_000] {
            let input = sine(rate, 300.0, 2.0);
            let t = std::time::Instant::now();
            let out = resample(&input, rate, 16_000).unwrap();
            assert_eq!(out.len(), 32_000, "rate {rate}");
            assert!(
                t.elapsed().as_secs_f32() < 2.0,
                "rate {rate} took {:?}",
                t.elapsed()
            );
        }
    }

    #[test]
    fn garbage_is_an_invalid_request() {
        let err = decode_wav(b"definitely not a wav file", 16_000).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(decode_wav(&[], 16_000).is_err());
    }

    #[test]
    fn wav_roundtrip() {
        let pcm = to_pcm16le(&sine(24_000, 440.0, 0.1));
        let wav = wav_from_pcm16(&pcm, 24_000);
        let back = decode_wav(&wav, 24_000).unwrap();
        assert_eq!(back.len(), pcm.len() / 2);
    }
}
