//! G.711 (μ-law / A-law) WAV support. Telephony audio (Twilio sends μ-law
//! 8 kHz) often arrives in these WAVs, which hound does not read.

/// Format tags from the WAV `fmt ` chunk.
const WAVE_FORMAT_ALAW: u16 = 6;
const WAVE_FORMAT_MULAW: u16 = 7;

/// Decoded G.711 WAV: interleaved samples in [-1, 1].
pub struct G711Wav {
    pub sample_rate: u32,
    pub channels: u16,
    pub samples: Vec<f32>,
}

/// Parse a G.711 WAV. `None` if it is not one (or not a readable RIFF file).
pub fn decode(bytes: &[u8]) -> Option<G711Wav> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let mut pos = 12;
    let mut fmt = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        let end = body.saturating_add(size).min(bytes.len()); // tolerate streamed sizes
        if id == b"fmt " && end - body >= 16 {
            let f = &bytes[body..end];
            let tag = u16::from_le_bytes([f[0], f[1]]);
            let channels = u16::from_le_bytes([f[2], f[3]]);
            let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            fmt = Some((tag, channels, rate, bits));
        } else if id == b"data" {
            let (tag, channels, sample_rate, bits) = fmt?;
            if bits != 8 || channels == 0 {
                return None;
            }
            let law: fn(u8) -> i16 = match tag {
                WAVE_FORMAT_MULAW => ulaw_to_linear,
                WAVE_FORMAT_ALAW => alaw_to_linear,
                _ => return None,
            };
            let samples = bytes[body..end]
                .iter()
                .map(|&b| f32::from(law(b)) / 32768.0)
                .collect();
            return Some(G711Wav {
                sample_rate,
                channels,
                samples,
            });
        }
        pos = body.checked_add(size)?.checked_add(size & 1)?;
    }
    None
}

/// ITU-T G.711 μ-law expansion.
pub fn ulaw_to_linear(u: u8) -> i16 {
    const BIAS: i32 = 0x84;
    let u = !u;
    let t = ((i32::from(u & 0x0f) << 3) + BIAS) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { BIAS - t } else { t - BIAS }) as i16
}

/// ITU-T G.711 A-law expansion.
pub fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = i32::from(a & 0x0f) << 4;
    let seg = (a & 0x70) >> 4;
    t += if seg == 0 { 8 } else { 0x108 };
    if seg > 1 {
        t <<= seg - 1;
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_matches_reference_points() {
        assert_eq!(ulaw_to_linear(0xff), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(alaw_to_linear(0xd5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xaa), 32256);
    }

    #[test]
    fn parses_mulaw_wav() {
        let mut w = Vec::new();
        w.extend_from_slice(b"RIFF\0\0\0\0WAVEfmt ");
        w.extend_from_slice(&18u32.to_le_bytes());
        w.extend_from_slice(&7u16.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&8000u32.to_le_bytes());
        w.extend_from_slice(&8000u32.to_le_bytes());
        w.extend_from_slice(&1u16.to_le_bytes());
        w.extend_from_slice(&8u16.to_le_bytes());
        w.extend_from_slice(&0u16.to_le_bytes()); // cbSize
        w.extend_from_slice(b"data");
        w.extend_from_slice(&3u32.to_le_bytes());
        w.extend_from_slice(&[0xff, 0x80, 0x00]);
        let d = decode(&w).unwrap();
        assert_eq!((d.sample_rate, d.channels), (8000, 1));
        assert_eq!(d.samples.len(), 3);
        assert!(d.samples[0] == 0.0 && d.samples[1] > 0.9 && d.samples[2] < -0.9);
        assert!(decode(b"RIFF\0\0\0\0WAVEjunk").is_none());
    }
}
