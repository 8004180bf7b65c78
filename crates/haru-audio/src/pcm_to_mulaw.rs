//! Streamed TTS audio (s16le PCM at any rate, cut at arbitrary byte boundaries) → 8 kHz µ-law
//! in whole 20 ms frames, the shape a phone call plays.

use crate::resample::{ResampleError, StreamResampler};
use crate::{FRAME_SAMPLES, TELEPHONY_RATE, mulaw};

pub struct PcmToMulaw {
    carry: Option<u8>,
    odd_byte: bool,
    any_audio: bool,
    resampler: StreamResampler,
    samples: Vec<i16>,
    out8k: Vec<i16>,
}

impl PcmToMulaw {
    pub fn new(rate: u32) -> Result<Self, ResampleError> {
        Ok(Self {
            carry: None,
            odd_byte: false,
            any_audio: false,
            resampler: StreamResampler::new(rate, TELEPHONY_RATE, (rate / 50).max(1) as usize)?,
            samples: Vec::new(),
            out8k: Vec::new(),
        })
    }

    /// Converts `bytes` and appends every completed µ-law frame (160 bytes each) to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        self.samples.clear();
        let mut rest = bytes;
        if let Some(lo) = self.carry.take() {
            if let Some((&hi, tail)) = rest.split_first() {
                self.samples.push(i16::from_le_bytes([lo, hi]));
                rest = tail;
            } else {
                self.carry = Some(lo);
            }
        }
        let mut pairs = rest.chunks_exact(2);
        self.samples
            .extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        if let [b] = pairs.remainder() {
            self.carry = Some(*b);
        }
        self.any_audio |= !self.samples.is_empty();
        let samples = std::mem::take(&mut self.samples);
        self.resampler.push(&samples, &mut self.out8k);
        self.samples = samples;
        self.emit_full_frames(out);
    }

    /// Flushes the resampler; the last frame is padded with silence to a whole frame.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        self.odd_byte = self.carry.is_some();
        if !self.any_audio {
            // Flushing would pad silence into frames: an empty body must stay empty.
            return;
        }
        self.resampler.flush(&mut self.out8k);
        self.emit_full_frames(out);
        if !self.out8k.is_empty() {
            self.out8k.resize(FRAME_SAMPLES, 0);
            self.emit_full_frames(out);
        }
    }

    /// True after `finish` if the stream ended in the middle of a sample (a broken body).
    pub fn odd_byte(&self) -> bool {
        self.odd_byte
    }

    fn emit_full_frames(&mut self, out: &mut Vec<u8>) {
        let full = self.out8k.len() / FRAME_SAMPLES * FRAME_SAMPLES;
        out.extend(self.out8k[..full].iter().map(|&s| mulaw::encode_sample(s)));
        self.out8k.drain(..full);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_split_at_odd_bytes_converts_like_whole() {
        let pcm: Vec<i16> = (0..4800)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut a = PcmToMulaw::new(24_000).unwrap();
        let mut fa = Vec::new();
        a.push(&bytes, &mut fa);
        a.finish(&mut fa);
        let mut b = PcmToMulaw::new(24_000).unwrap();
        let mut fb = Vec::new();
        for piece in bytes.chunks(333) {
            b.push(piece, &mut fb);
        }
        b.finish(&mut fb);
        assert_eq!(fa, fb);
        // 200 ms at 24 kHz → 10 frames of 20 ms (plus at most one padded tail frame).
        let frames = fa.len() / FRAME_SAMPLES;
        assert_eq!(fa.len() % FRAME_SAMPLES, 0);
        assert!((10..=12).contains(&frames), "{frames}");
        assert!(!a.odd_byte());
    }

    #[test]
    fn an_empty_body_stays_empty_and_a_torn_sample_is_reported() {
        let mut c = PcmToMulaw::new(24_000).unwrap();
        let mut out = Vec::new();
        c.finish(&mut out);
        assert!(out.is_empty());
        let mut c = PcmToMulaw::new(24_000).unwrap();
        c.push(&[1, 2, 3], &mut out);
        c.finish(&mut out);
        assert!(c.odd_byte());
    }
}
