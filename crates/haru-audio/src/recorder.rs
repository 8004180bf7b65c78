//! A call's audio, both sides, as one stereo 8 kHz WAV: the caller on the left, haru on
//! the right, on the caller's timeline (the inbound audio is real time).
//!
//! haru's audio is sent ahead of its playout, so it is laid down where it will play: after
//! what is already queued, never before "now" (the caller's position). A `clear` (the
//! caller talked over haru) removes what was queued but not yet played, so the recording
//! holds what the caller could hear.

use crate::mulaw;

/// The longest recording kept (one hour of 8 kHz): past it, audio is no longer added.
const MAX_SAMPLES: usize = 8_000 * 3_600;

#[derive(Debug, Default, Clone)]
pub struct CallRecorder {
    caller: Vec<i16>,
    haru: Vec<i16>,
}

impl CallRecorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The caller's next chunk (8 kHz PCM): the clock of the recording.
    pub fn caller(&mut self, pcm: &[i16]) {
        let room = MAX_SAMPLES.saturating_sub(self.caller.len());
        self.caller.extend_from_slice(&pcm[..pcm.len().min(room)]);
    }

    /// haru's next audio (8 kHz µ-law), queued after what is already queued.
    pub fn haru(&mut self, ulaw: &[u8]) {
        if self.haru.len() < self.caller.len() {
            self.haru.resize(self.caller.len(), 0);
        }
        let room = MAX_SAMPLES.saturating_sub(self.haru.len());
        self.haru
            .extend(mulaw::decode(&ulaw[..ulaw.len().min(room)]));
    }

    /// Playback was cleared: what had not played by now was never heard.
    pub fn clear(&mut self) {
        self.haru.truncate(self.caller.len());
    }

    pub fn is_empty(&self) -> bool {
        self.caller.is_empty() && self.haru.is_empty()
    }

    /// The stereo WAV (16-bit, 8 kHz), as long as the longer side.
    pub fn to_wav(&self) -> Vec<u8> {
        let n = self.caller.len().max(self.haru.len());
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cursor = std::io::Cursor::new(Vec::with_capacity(44 + n * 4));
        // Writing to memory only fails past 4 GiB, which MAX_SAMPLES rules out.
        let mut w = hound::WavWriter::new(&mut cursor, spec).expect("in-memory WAV header");
        for i in 0..n {
            let _ = w.write_sample(self.caller.get(i).copied().unwrap_or(0));
            let _ = w.write_sample(self.haru.get(i).copied().unwrap_or(0));
        }
        let _ = w.finalize();
        cursor.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channels(wav: &[u8]) -> (Vec<i16>, Vec<i16>) {
        let mut r = hound::WavReader::new(std::io::Cursor::new(wav)).unwrap();
        assert_eq!(r.spec().channels, 2);
        assert_eq!(r.spec().sample_rate, 8_000);
        let all: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
        (
            all.iter().step_by(2).copied().collect(),
            all.iter().skip(1).step_by(2).copied().collect(),
        )
    }

    #[test]
    fn haru_plays_where_the_caller_is_and_a_clear_drops_what_was_not_heard() {
        let mut r = CallRecorder::new();
        r.caller(&[1000; 800]); // 100 ms of the caller
        let loud = mulaw::encode_sample(8000);
        r.haru(&[loud; 1600]); // 200 ms of haru, queued from 100 ms on
        r.caller(&[0; 400]); // 50 ms later the caller talks over haru...
        r.clear(); // ...and what had not played is gone
        r.caller(&[1000; 400]);
        let (caller, haru) = channels(&r.to_wav());
        assert_eq!(caller.len(), 1600);
        assert_eq!(haru.len(), 1600);
        assert!(
            haru[..800].iter().all(|&s| s == 0),
            "haru is silent before it spoke"
        );
        assert!(
            haru[800..1200].iter().all(|&s| s > 7000),
            "haru heard from 100 to 150 ms"
        );
        assert!(
            haru[1200..].iter().all(|&s| s == 0),
            "cleared audio was never heard"
        );
        assert!(caller[..800].iter().all(|&s| s == 1000));
    }

    #[test]
    fn audio_queued_ahead_follows_what_is_queued() {
        let mut r = CallRecorder::new();
        r.caller(&[0; 160]);
        let s = mulaw::encode_sample(4000);
        r.haru(&[s; 160]);
        r.haru(&[s; 160]);
        let (_, haru) = channels(&r.to_wav());
        assert_eq!(haru.len(), 480, "two frames after the caller's 20 ms");
        assert!(r.to_wav().len() > 44);
        assert!(CallRecorder::new().is_empty());
    }
}
