//! Sample-rate conversion between telephony (8 kHz), VAD/STT (16 kHz) and TTS (24 kHz) rates.
//!
//! Downsampling by a whole factor (24 → 8 kHz, every reply) uses a fixed polyphase
//! low-pass (`decimate.rs`): cheaper and without block delay. Other ratios use rubato's FFT
//! resampler, exact for the integer ratios used here. The streaming form keeps its own
//! input buffer so callers can push any number of samples.

use rubato::{FftFixedInOut, Resampler};

use crate::decimate::Decimator;

#[derive(Debug, thiserror::Error)]
pub enum ResampleError {
    #[error("cannot resample {from} Hz -> {to} Hz: {reason}")]
    Construct { from: u32, to: u32, reason: String },
}

enum Kind {
    Same,
    Down(Decimator),
    Fft(Box<Fft>),
}

struct Fft {
    inner: FftFixedInOut<f32>,
    pending: Vec<f32>,
    scratch_in: Vec<Vec<f32>>,
    scratch_out: Vec<Vec<f32>>,
}

/// A streaming mono resampler: push samples in, get resampled samples out with a fixed delay
/// ([`StreamResampler::delay`] output samples; none when downsampling by a whole factor).
pub struct StreamResampler {
    kind: Kind,
    from: u32,
    to: u32,
}

impl StreamResampler {
    /// `chunk` is the preferred input block size in samples (e.g. 160 for a 20 ms frame at 8 kHz).
    pub fn new(from: u32, to: u32, chunk: usize) -> Result<Self, ResampleError> {
        let kind = if from == to {
            Kind::Same
        } else if to > 0 && from > to && from.is_multiple_of(to) {
            Kind::Down(Decimator::new((from / to) as usize))
        } else {
            let inner = FftFixedInOut::<f32>::new(from as usize, to as usize, chunk.max(1), 1)
                .map_err(|e| ResampleError::Construct {
                    from,
                    to,
                    reason: e.to_string(),
                })?;
            let (max_in, max_out) = (inner.input_frames_max(), inner.output_frames_max());
            Kind::Fft(Box::new(Fft {
                inner,
                pending: Vec::with_capacity(max_in * 2),
                scratch_in: vec![Vec::with_capacity(max_in)],
                scratch_out: vec![vec![0.0; max_out]],
            }))
        };
        Ok(Self { kind, from, to })
    }

    pub fn rates(&self) -> (u32, u32) {
        (self.from, self.to)
    }

    /// Output samples by which the stream lags its input.
    pub fn delay(&self) -> usize {
        match &self.kind {
            Kind::Fft(f) => f.inner.output_delay(),
            Kind::Same | Kind::Down(_) => 0,
        }
    }

    /// Pushes samples and appends every completed output block to `out`.
    pub fn push(&mut self, input: &[i16], out: &mut Vec<i16>) {
        let f = match &mut self.kind {
            Kind::Same => return out.extend_from_slice(input),
            Kind::Down(d) => return d.push(input, out),
            Kind::Fft(f) => f,
        };
        f.pending.extend(input.iter().map(|&s| s as f32 / 32768.0));
        let need = f.inner.input_frames_next();
        let mut offset = 0;
        while f.pending.len() - offset >= need {
            f.scratch_in[0].clear();
            f.scratch_in[0].extend_from_slice(&f.pending[offset..offset + need]);
            // Sizes come from the resampler itself, so processing cannot fail.
            if let Ok((_, produced)) =
                f.inner
                    .process_into_buffer(&f.scratch_in, &mut f.scratch_out, None)
            {
                out.extend(f.scratch_out[0][..produced].iter().map(|&v| to_i16(v)));
            }
            offset += need;
        }
        f.pending.drain(..offset);
    }

    /// Pushes the buffered tail (and the filter delay) out, as if silence followed.
    pub fn flush(&mut self, out: &mut Vec<i16>) {
        let (need, pending) = match &mut self.kind {
            Kind::Same => return,
            Kind::Down(d) => return d.flush(out),
            Kind::Fft(f) => (f.inner.input_frames_next(), f.pending.len()),
        };
        let delay_in = self.delay() * self.from as usize / self.to as usize;
        let pad = (need - pending % need) % need + delay_in.div_ceil(need) * need;
        let silence = vec![0i16; pad];
        self.push(&silence, out);
    }
}

fn to_i16(v: f32) -> i16 {
    (v * 32768.0)
        .round()
        .clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

/// Resamples a whole clip, compensating for the filter delay so output aligns with input.
pub fn resample(input: &[i16], from: u32, to: u32) -> Result<Vec<i16>, ResampleError> {
    if from == to {
        return Ok(input.to_vec());
    }
    let chunk = (from as usize / 50).max(1); // 20 ms blocks
    let mut r = StreamResampler::new(from, to, chunk)?;
    let delay = r.delay();
    let expected = (input.len() as u64 * to as u64 / from as u64) as usize;
    let mut out = Vec::with_capacity(expected + delay * 2);
    r.push(input, &mut out);
    r.flush(&mut out);
    let start = delay.min(out.len());
    let end = (start + expected).min(out.len());
    Ok(out[start..end].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: u32, hz: f32, ms: u32) -> Vec<i16> {
        let n = rate * ms / 1000;
        (0..n)
            .map(|i| {
                ((i as f32 * hz * 2.0 * std::f32::consts::PI / rate as f32).sin() * 12000.0) as i16
            })
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
    }

    /// Zero crossings estimate the dominant frequency, which must survive resampling.
    fn crossings_per_sec(x: &[i16], rate: u32) -> f64 {
        let c = x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        c as f64 / 2.0 / (x.len() as f64 / rate as f64)
    }

    #[test]
    fn upsample_8k_to_16k_keeps_length_pitch_and_level() {
        let input = sine(8000, 440.0, 500);
        let out = resample(&input, 8000, 16000).unwrap();
        assert_eq!(out.len(), input.len() * 2);
        let f = crossings_per_sec(&out[800..], 16000);
        assert!((f - 440.0).abs() < 5.0, "frequency {f}");
        let ratio = rms(&out[800..7200]) / rms(&input[400..3600]);
        assert!((ratio - 1.0).abs() < 0.05, "level ratio {ratio}");
    }

    #[test]
    fn downsample_24k_to_8k_keeps_pitch_and_removes_out_of_band() {
        let tone = sine(24000, 1000.0, 400);
        let out = resample(&tone, 24000, 8000).unwrap();
        assert_eq!(out.len(), tone.len() / 3);
        let f = crossings_per_sec(&out[200..], 8000);
        assert!((f - 1000.0).abs() < 10.0, "frequency {f}");
        // 6 kHz is above the 4 kHz Nyquist of the target rate: it must be filtered, not aliased.
        let high = sine(24000, 6000.0, 400);
        let out = resample(&high, 24000, 8000).unwrap();
        assert!(
            rms(&out[200..]) < rms(&high) * 0.05,
            "alias rms {}",
            rms(&out)
        );
    }

    #[test]
    fn streaming_in_odd_pieces_matches_whole_clip() {
        let input = sine(8000, 300.0, 300);
        let mut whole = StreamResampler::new(8000, 16000, 160).unwrap();
        let mut a = Vec::new();
        whole.push(&input, &mut a);
        let mut pieces = StreamResampler::new(8000, 16000, 160).unwrap();
        let mut b = Vec::new();
        for chunk in input.chunks(37) {
            pieces.push(chunk, &mut b);
        }
        assert_eq!(a, b);
        assert!(!a.is_empty());
    }

    #[test]
    fn same_rate_is_identity() {
        let input = sine(16000, 200.0, 50);
        assert_eq!(resample(&input, 16000, 16000).unwrap(), input);
    }
}
