//! Whisper's log-mel input features (80 bins, 10 ms hop, 8 s window), the form Smart
//! Turn v3 was trained on: the waveform normalised to zero mean and unit variance, a
//! centred 400-point STFT (reflect-padded, periodic Hann window), a Slaney mel filterbank,
//! log10 clamped to 8 below its maximum, scaled by (x + 4) / 4.

use std::sync::Arc;

use realfft::{RealFftPlanner, RealToComplex};

pub const RATE: usize = 16_000;
pub const SAMPLES: usize = RATE * 8;
pub const N_MELS: usize = 80;
pub const FRAMES: usize = SAMPLES / HOP;
const N_FFT: usize = 400;
const HOP: usize = 160;
const BINS: usize = N_FFT / 2 + 1;

/// One filter of the bank: its first bin and weights (the rest are zero).
struct Filter {
    start: usize,
    weights: Vec<f32>,
}

pub struct LogMel {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    filters: Vec<Filter>,
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

fn hz_to_mel(f: f64) -> f64 {
    // Slaney: linear below 1 kHz, logarithmic above.
    if f < 1000.0 {
        3.0 * f / 200.0
    } else {
        15.0 + (f / 1000.0).ln() * 27.0 / 6.4f64.ln()
    }
}

fn mel_to_hz(m: f64) -> f64 {
    if m < 15.0 {
        200.0 * m / 3.0
    } else {
        1000.0 * ((m - 15.0) * 6.4f64.ln() / 27.0).exp()
    }
}

fn filterbank() -> Vec<Filter> {
    let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(RATE as f64 / 2.0));
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    let bin_hz = |k: usize| k as f64 * (RATE / 2) as f64 / (BINS - 1) as f64;
    (0..N_MELS)
        .map(|m| {
            let (left, centre, right) = (edges[m], edges[m + 1], edges[m + 2]);
            let norm = 2.0 / (right - left);
            let w: Vec<(usize, f32)> = (0..BINS)
                .filter_map(|k| {
                    let f = bin_hz(k);
                    let up = (f - left) / (centre - left);
                    let down = (right - f) / (right - centre);
                    let v = up.min(down).max(0.0) * norm;
                    (v > 0.0).then_some((k, v as f32))
                })
                .collect();
            let start = w.first().map_or(0, |x| x.0);
            Filter {
                start,
                weights: w.iter().map(|x| x.1).collect(),
            }
        })
        .collect()
}

impl LogMel {
    pub fn new() -> Self {
        let window = (0..N_FFT)
            .map(|i| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        Self {
            fft: RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT),
            window,
            filters: filterbank(),
        }
    }

    /// Features of the last 8 s of `pcm` (16 kHz), zeros in front of a shorter clip.
    /// Row-major `[N_MELS][FRAMES]`.
    pub fn features(&self, pcm: &[i16]) -> Vec<f32> {
        let take = pcm.len().min(SAMPLES);
        let mut x = vec![0f32; SAMPLES];
        for (d, s) in x[SAMPLES - take..].iter_mut().zip(&pcm[pcm.len() - take..]) {
            *d = *s as f32 / 32768.0;
        }
        let mean = x.iter().map(|v| *v as f64).sum::<f64>() / SAMPLES as f64;
        let var = x.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / SAMPLES as f64;
        let scale = 1.0 / (var + 1e-7).sqrt();
        for v in &mut x {
            *v = ((*v as f64 - mean) * scale) as f32;
        }
        // Centred frames: reflect-pad N_FFT / 2 on both sides.
        let pad = N_FFT / 2;
        let at = |i: isize| -> f32 {
            let n = SAMPLES as isize;
            let j = if i < 0 {
                -i
            } else if i >= n {
                2 * (n - 1) - i
            } else {
                i
            };
            x[j as usize]
        };
        let mut out = vec![0f32; N_MELS * FRAMES];
        let mut frame = self.fft.make_input_vec();
        let mut spec = self.fft.make_output_vec();
        let mut power = vec![0f32; BINS];
        let mut max = f32::NEG_INFINITY;
        // Whisper computes one frame more and drops it.
        for t in 0..FRAMES {
            let base = (t * HOP) as isize - pad as isize;
            for (i, f) in frame.iter_mut().enumerate() {
                *f = at(base + i as isize) * self.window[i];
            }
            // The buffers are sized by the planner, so this cannot fail.
            if self.fft.process(&mut frame, &mut spec).is_err() {
                continue;
            }
            for (p, c) in power.iter_mut().zip(&spec) {
                *p = c.norm_sqr();
            }
            for (m, f) in self.filters.iter().enumerate() {
                let e: f32 = f
                    .weights
                    .iter()
                    .zip(&power[f.start..])
                    .map(|(w, p)| w * p)
                    .sum();
                let v = e.max(1e-10).log10();
                max = max.max(v);
                out[m * FRAMES + t] = v;
            }
        }
        for v in &mut out {
            *v = (v.max(max - 8.0) + 4.0) / 4.0;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filterbank_covers_the_band_without_gaps() {
        let fb = filterbank();
        assert_eq!(fb.len(), N_MELS);
        // Every filter has weight, and they march up the spectrum.
        for w in fb.windows(2) {
            assert!(!w[0].weights.is_empty());
            assert!(w[1].start >= w[0].start);
        }
        assert!(fb[N_MELS - 1].start + fb[N_MELS - 1].weights.len() <= BINS);
    }

    #[test]
    fn a_tone_lights_the_mel_bin_of_its_frequency() {
        let tone: Vec<i16> = (0..RATE)
            .map(|i| {
                (8000.0 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / RATE as f32).sin())
                    as i16
            })
            .collect();
        let f = LogMel::new().features(&tone);
        assert_eq!(f.len(), N_MELS * FRAMES);
        // The last frames hold the tone (the clip is right-aligned).
        let t = FRAMES - 20;
        let col: Vec<f32> = (0..N_MELS).map(|m| f[m * FRAMES + t]).collect();
        let peak = col
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|x| x.0)
            .unwrap_or(0);
        // 1 kHz is mel 15 of 0..~45.2: bin ≈ 15 / 45.2 × 81 ≈ 26.
        assert!((24..=28).contains(&peak), "peak at mel bin {peak}");
        // The zeros in front are at the floor.
        assert!(f[10] < f[peak * FRAMES + t] - 1.0);
    }
}
