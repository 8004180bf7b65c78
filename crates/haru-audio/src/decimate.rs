//! Integer-ratio downsampling (24 kHz TTS → 8 kHz phone audio): one fixed windowed-sinc
//! low-pass, evaluated only at the samples that are kept.
//!
//! Every reply's audio passes through this, so it is on the hot path of every call: for a
//! ratio of 3 a 73-tap filter costs 73 multiply-adds per output sample, about a third of the
//! FFT resampler's work, and it has no block delay: the first 20 ms frame leaves as soon as
//! 20 ms (plus 1.5 ms of filter look-ahead) have arrived.

/// Taps per unit of ratio: 73 for 24 → 8 kHz. With a Kaiser window (β = 6, ~60 dB) the
/// transition band is ~1.3 kHz wide around the new Nyquist frequency (passband to ~3.4 kHz,
/// the telephone band).
const TAPS_PER_FACTOR: usize = 24;
const KAISER_BETA: f64 = 6.0;

pub struct Decimator {
    factor: usize,
    taps: Vec<f32>,
    /// Input not yet consumed, with `half` samples of look-behind (zeros at the start).
    buf: Vec<f32>,
    /// Index in `buf` where the next output's window starts.
    next: usize,
    /// Input samples seen since the last flush, to emit exactly ceil(n / factor) outputs.
    seen: usize,
    emitted: usize,
}

impl Decimator {
    /// `factor` ≥ 2: keeps every `factor`-th sample after low-passing at the new Nyquist rate.
    pub fn new(factor: usize) -> Self {
        let factor = factor.max(2);
        let taps = design(factor);
        let half = taps.len() / 2;
        let mut d = Self {
            factor,
            taps,
            buf: Vec::with_capacity(1024),
            next: 0,
            seen: 0,
            emitted: 0,
        };
        d.buf.resize(half, 0.0);
        d
    }

    pub fn factor(&self) -> usize {
        self.factor
    }

    /// Pushes samples; appends every output sample whose window is complete. Output `j` is
    /// centred on input `j × factor`, so the stream is aligned (no delay to compensate).
    pub fn push(&mut self, input: &[i16], out: &mut Vec<i16>) {
        self.seen += input.len();
        self.buf
            .extend(input.iter().map(|&s| f32::from(s) / 32768.0));
        self.run(out, usize::MAX);
    }

    /// Emits the tail as if silence followed, then starts afresh (a new sentence).
    pub fn flush(&mut self, out: &mut Vec<i16>) {
        let half = self.taps.len() / 2;
        let total = self.seen.div_ceil(self.factor);
        self.buf.resize(self.buf.len() + half, 0.0);
        let left = total.saturating_sub(self.emitted);
        self.run(out, left);
        self.buf.clear();
        self.buf.resize(half, 0.0);
        self.next = 0;
        self.seen = 0;
        self.emitted = 0;
    }

    fn run(&mut self, out: &mut Vec<i16>, limit: usize) {
        let n = self.taps.len();
        let mut made = 0;
        while made < limit && self.next + n <= self.buf.len() {
            let window = &self.buf[self.next..self.next + n];
            out.push(to_i16(dot(window, &self.taps)));
            self.next += self.factor;
            made += 1;
        }
        self.emitted += made;
        let used = self.next.min(self.buf.len());
        self.buf.drain(..used);
        self.next -= used;
    }
}

/// Eight independent sums so the compiler keeps them in vector registers.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn to_i16(v: f32) -> i16 {
    (v * 32768.0)
        .round()
        .clamp(i16::MIN as f32, i16::MAX as f32) as i16
}

/// A Kaiser-windowed sinc low-pass with its cut-off at the output's Nyquist frequency, unit
/// gain at DC, odd length (a whole-sample delay, compensated in `push`).
fn design(factor: usize) -> Vec<f32> {
    let n = TAPS_PER_FACTOR * factor + 1;
    let m = (n - 1) as f64 / 2.0;
    let fc = 0.5 / factor as f64; // cycles per input sample
    let i0_beta = bessel_i0(KAISER_BETA);
    let raw: Vec<f64> = (0..n)
        .map(|i| {
            let t = i as f64 - m;
            let sinc = if t == 0.0 {
                2.0 * fc
            } else {
                (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
            };
            let r = t / m;
            sinc * bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / i0_beta
        })
        .collect();
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|&h| (h / sum) as f32).collect()
}

/// The modified Bessel function of the first kind, order 0 (its power series converges fast
/// for the small arguments a Kaiser window uses).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term, half) = (1.0, 1.0, x / 2.0);
    for k in 1..50 {
        term *= (half / k as f64).powi(2);
        sum += term;
        if term < sum * 1e-12 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(rate: f64, hz: f64, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| ((i as f64 * hz * 2.0 * std::f64::consts::PI / rate).sin() * amp) as i16)
            .collect()
    }

    fn rms(x: &[i16]) -> f64 {
        (x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len().max(1) as f64).sqrt()
    }

    #[test]
    fn the_filter_passes_the_phone_band_and_stops_what_would_alias() {
        let gain = |hz: f64| {
            let input = sine(24_000.0, hz, 4800, 10_000.0);
            let mut d = Decimator::new(3);
            let mut out = Vec::new();
            d.push(&input, &mut out);
            d.flush(&mut out);
            rms(&out[100..1500]) / rms(&input[300..4500])
        };
        for hz in [300.0, 1000.0, 3000.0] {
            let g = gain(hz);
            assert!((g - 1.0).abs() < 0.03, "{hz} Hz: gain {g}");
        }
        for hz in [5000.0, 7000.0, 11_000.0] {
            let g = gain(hz);
            assert!(g < 0.01, "{hz} Hz would alias: gain {g}");
        }
    }

    #[test]
    fn output_is_aligned_and_exactly_a_third_as_long() {
        // An impulse at input 30 appears at output 10.
        let mut input = vec![0i16; 300];
        input[30] = 30_000;
        let mut d = Decimator::new(3);
        let mut out = Vec::new();
        d.push(&input, &mut out);
        d.flush(&mut out);
        assert_eq!(out.len(), 100);
        let peak = (0..out.len()).max_by_key(|&i| out[i].abs()).unwrap_or(0);
        assert_eq!(peak, 10);
        // A length that is not a multiple of 3 rounds up; flush starts afresh.
        let mut out = Vec::new();
        d.push(&[1000; 301], &mut out);
        d.flush(&mut out);
        assert_eq!(out.len(), 101);
    }

    #[test]
    fn pieces_of_any_size_give_the_same_samples_as_the_whole() {
        let input = sine(24_000.0, 440.0, 4321, 12_000.0);
        let mut whole = Decimator::new(3);
        let mut a = Vec::new();
        whole.push(&input, &mut a);
        whole.flush(&mut a);
        let mut pieces = Decimator::new(3);
        let mut b = Vec::new();
        for chunk in input.chunks(97) {
            pieces.push(chunk, &mut b);
        }
        pieces.flush(&mut b);
        assert_eq!(a, b);
    }
}
