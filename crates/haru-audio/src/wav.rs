//! PCM16 ↔ WAV, entirely in memory (STT uploads and the simulator's recordings).

use std::io::Cursor;

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("not a readable WAV file: {0}")]
    Format(#[from] hound::Error),
    #[error("unsupported WAV sample format: {bits}-bit {kind}")]
    Unsupported { bits: u16, kind: &'static str },
    #[error("WAV has no channels")]
    NoChannels,
}

/// Mono 16-bit PCM with its sample rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    pub rate: u32,
    pub samples: Vec<i16>,
}

impl Pcm {
    pub fn duration_ms(&self) -> u64 {
        if self.rate == 0 {
            return 0;
        }
        self.samples.len() as u64 * 1000 / self.rate as u64
    }
}

/// Builds a mono 16-bit WAV file in memory.
pub fn encode_wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut cursor = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    // Writing to a Vec cannot fail for I/O reasons; hound only errors on size overflow (>4 GiB).
    let mut writer = hound::WavWriter::new(&mut cursor, spec).expect("in-memory WAV header");
    {
        let mut w = writer.get_i16_writer(samples.len() as u32);
        for &s in samples {
            w.write_sample(s);
        }
        w.flush().expect("in-memory WAV write");
    }
    writer.finalize().expect("in-memory WAV finalize");
    cursor.into_inner()
}

/// Reads any integer or float WAV and mixes it down to mono 16-bit PCM at its own rate.
pub fn decode_wav_mono(bytes: &[u8]) -> Result<Pcm, WavError> {
    let reader = hound::WavReader::new(Cursor::new(bytes))?;
    let spec = reader.spec();
    let channels = spec.channels as usize;
    if channels == 0 {
        return Err(WavError::NoChannels);
    }
    let interleaved: Vec<i32> = match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, 8) => reader
            .into_samples::<i8>()
            .map(|s| s.map(|v| (v as i32) << 8))
            .collect::<Result<_, _>>()?,
        (hound::SampleFormat::Int, 16) => reader
            .into_samples::<i16>()
            .map(|s| s.map(|v| v as i32))
            .collect::<Result<_, _>>()?,
        (hound::SampleFormat::Int, 24) => reader
            .into_samples::<i32>()
            .map(|s| s.map(|v| v >> 8))
            .collect::<Result<_, _>>()?,
        (hound::SampleFormat::Int, 32) => reader
            .into_samples::<i32>()
            .map(|s| s.map(|v| v >> 16))
            .collect::<Result<_, _>>()?,
        (hound::SampleFormat::Float, 32) => reader
            .into_samples::<f32>()
            .map(|s| s.map(|v| (v.clamp(-1.0, 1.0) * 32767.0) as i32))
            .collect::<Result<_, _>>()?,
        (hound::SampleFormat::Int, bits) => {
            return Err(WavError::Unsupported { bits, kind: "int" });
        }
        (hound::SampleFormat::Float, bits) => {
            return Err(WavError::Unsupported {
                bits,
                kind: "float",
            });
        }
    };
    let samples = interleaved
        .chunks(channels)
        .map(|frame| {
            let sum: i64 = frame.iter().map(|&v| v as i64).sum();
            (sum / channels as i64).clamp(i16::MIN as i64, i16::MAX as i64) as i16
        })
        .collect();
    Ok(Pcm {
        rate: spec.sample_rate,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_preserves_samples_and_rate() {
        let pcm: Vec<i16> = (0..800).map(|i| (i * 41 % 3000) as i16 - 1500).collect();
        let bytes = encode_wav(&pcm, 8000);
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(bytes.len(), 44 + pcm.len() * 2);
        let back = decode_wav_mono(&bytes).unwrap();
        assert_eq!(back.rate, 8000);
        assert_eq!(back.samples, pcm);
        assert_eq!(back.duration_ms(), 100);
    }

    #[test]
    fn stereo_float_is_mixed_to_mono() {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 16000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut cursor = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for _ in 0..10 {
            w.write_sample(0.5f32).unwrap();
            w.write_sample(0.0f32).unwrap();
        }
        w.finalize().unwrap();
        let pcm = decode_wav_mono(&cursor.into_inner()).unwrap();
        assert_eq!(pcm.rate, 16000);
        assert_eq!(pcm.samples.len(), 10);
        assert!(pcm.samples.iter().all(|&s| (8190..=8192).contains(&s)));
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = decode_wav_mono(b"definitely not a wav file").unwrap_err();
        assert!(err.to_string().contains("not a readable WAV"));
    }
}
