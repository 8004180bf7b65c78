//! What a simulated call does: where to call, who is calling, and the caller's script.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use haru_audio::{FRAME_SAMPLES, TELEPHONY_RATE};

/// One simulated call.
///
/// Every duration here is in *call time*: the call clock runs `speed` times faster than the
/// wall clock, so `gap`, `reply_settle`, `turn_timeout` and friends shrink together when a
/// test runs accelerated.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Base URL of the haru server, e.g. `http://127.0.0.1:8000`.
    pub server: String,
    /// Public base URL the server believes it is reachable at (what Twilio would have
    /// called); the webhook signature is computed over it. Defaults to `server`.
    pub public_base: Option<String>,
    /// Twilio auth token; when set, the webhook carries a valid `X-Twilio-Signature`.
    pub auth_token: Option<String>,
    /// `CallSid` to use (`CA` + 32 hex); random when `None`.
    pub call_sid: Option<String>,
    /// `AccountSid` to use (`AC` + 32 hex); random when `None`.
    pub account_sid: Option<String>,
    /// Caller number (`From`).
    pub from: String,
    /// Called number (`To`).
    pub to: String,
    /// The caller's script, spoken in order.
    pub turns: Vec<Turn>,
    /// Silence between the end of a bot reply and the caller's next turn.
    pub gap: Duration,
    /// A reply counts as finished after this long without new bot audio once everything
    /// received has played out and every mark was echoed.
    pub reply_settle: Duration,
    /// Longest wait for a reply to finish, counted from the end of the caller's speech.
    pub turn_timeout: Duration,
    /// Clock speed: 1.0 is real time, 4.0 sends frames and plays bot audio 4× faster.
    pub speed: f64,
    /// Silence sent before anything else happens.
    pub lead_in: Duration,
    /// After the lead-in, how long to keep waiting for a greeting from the bot to start
    /// before the first turn. A greeting that does start is listened to until it finishes.
    pub greeting_wait: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            server: "http://127.0.0.1:8000".into(),
            public_base: None,
            auth_token: None,
            call_sid: None,
            account_sid: None,
            from: "+15005550006".into(),
            to: "+15005550001".into(),
            turns: Vec::new(),
            gap: Duration::from_millis(600),
            reply_settle: Duration::from_millis(1200),
            turn_timeout: Duration::from_secs(20),
            speed: 1.0,
            lead_in: Duration::from_millis(500),
            greeting_wait: Duration::from_millis(1500),
        }
    }
}

impl SimConfig {
    /// Checks the things that would otherwise fail confusingly mid-call.
    pub fn validate(&self) -> Result<()> {
        if self.turns.is_empty() {
            bail!("the caller script has no turns: give at least one WAV file");
        }
        for (i, t) in self.turns.iter().enumerate() {
            if t.audio.is_empty() && t.dtmf.as_deref().unwrap_or("").is_empty() {
                bail!("turn {} ({}) has neither audio nor DTMF", i + 1, t.label);
            }
            if let Some(d) = &t.dtmf
                && let Some(bad) = d.chars().find(|c| !"0123456789*#ABCDabcd".contains(*c))
            {
                bail!("turn {} has an invalid DTMF digit {bad:?}", i + 1);
            }
        }
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 100.0) {
            bail!("speed must be in (0, 100], got {}", self.speed);
        }
        url::Url::parse(&self.server)
            .with_context(|| format!("server {:?} is not a valid URL", self.server))?;
        Ok(())
    }
}

/// One thing the caller says (and/or keys in).
#[derive(Debug, Clone, Default)]
pub struct Turn {
    /// Mono 16-bit PCM at 8 kHz.
    pub audio: Vec<i16>,
    /// Start this turn this long after the first bot audio of the previous reply arrived,
    /// talking over the bot instead of waiting for it to finish. If the reply is already
    /// over by then, the turn simply follows the usual `gap`.
    pub barge_in_after: Option<Duration>,
    /// DTMF digits pressed at the start of the turn.
    pub dtmf: Option<String>,
    /// Shown in logs and the report (file name for WAV turns).
    pub label: String,
}

impl Turn {
    /// Reads a WAV file of any rate, bit depth and channel count.
    pub fn from_wav_file(path: impl AsRef<Path>) -> Result<Turn> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read WAV file {}", path.display()))?;
        let label = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        Self::from_wav_bytes(&bytes, label)
            .with_context(|| format!("cannot use WAV file {}", path.display()))
    }

    /// Decodes an in-memory WAV and converts it to mono 8 kHz.
    pub fn from_wav_bytes(bytes: &[u8], label: impl Into<String>) -> Result<Turn> {
        let pcm = haru_audio::decode_wav_mono(bytes)?;
        if pcm.rate == 0 {
            bail!("WAV declares a sample rate of 0");
        }
        Self::from_pcm(&pcm.samples, pcm.rate, label)
    }

    /// Uses raw mono PCM at `rate`, resampling to 8 kHz when needed.
    pub fn from_pcm(samples: &[i16], rate: u32, label: impl Into<String>) -> Result<Turn> {
        let audio = if rate == TELEPHONY_RATE {
            samples.to_vec()
        } else {
            haru_audio::resample(samples, rate, TELEPHONY_RATE)
                .with_context(|| format!("cannot resample {rate} Hz audio to 8 kHz"))?
        };
        Ok(Turn {
            audio,
            label: label.into(),
            ..Turn::default()
        })
    }

    /// A turn that only presses keys.
    pub fn dtmf(digits: impl Into<String>) -> Turn {
        let digits = digits.into();
        Turn {
            label: format!("dtmf {digits}"),
            dtmf: Some(digits),
            ..Turn::default()
        }
    }

    /// Talks over the previous reply `after` its first audio arrived.
    pub fn with_barge_in(mut self, after: Duration) -> Turn {
        self.barge_in_after = Some(after);
        self
    }

    /// Length of the audio in milliseconds.
    pub fn audio_ms(&self) -> u64 {
        self.audio.len() as u64 * 1000 / TELEPHONY_RATE as u64
    }

    /// Number of samples up to the end of the last voiced 20 ms frame.
    ///
    /// Latency is measured from the end of *speech*, not the end of the file, because WAVs
    /// often carry trailing silence during which a server may already have answered.
    pub fn voiced_end(&self) -> usize {
        // About -44 dBFS: quieter than any speech, louder than dithering or line noise.
        const THRESHOLD: f64 = 200.0;
        let frames = self.audio.len().div_ceil(FRAME_SAMPLES);
        for f in (0..frames).rev() {
            let start = f * FRAME_SAMPLES;
            let end = (start + FRAME_SAMPLES).min(self.audio.len());
            let frame = &self.audio[start..end];
            let energy: f64 = frame.iter().map(|&s| (s as f64) * (s as f64)).sum();
            if (energy / frame.len() as f64).sqrt() > THRESHOLD {
                return end;
            }
        }
        self.audio.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wav_at_other_rates_becomes_8k() {
        let pcm: Vec<i16> = (0..16000)
            .map(|i| ((i as f64 * 0.1).sin() * 8000.0) as i16)
            .collect();
        let wav = haru_audio::encode_wav(&pcm, 16000);
        let t = Turn::from_wav_bytes(&wav, "x").unwrap();
        assert!((7900..=8100).contains(&t.audio.len()), "{}", t.audio.len());
        assert_eq!(t.audio_ms() / 100, 10);
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = Turn::from_wav_file("/nonexistent/hello.wav").unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/hello.wav"),
            "{err:#}"
        );
    }

    #[test]
    fn voiced_end_skips_trailing_silence() {
        let mut audio = vec![3000i16; 800];
        audio.extend(vec![0i16; 1600]);
        let t = Turn {
            audio,
            ..Turn::default()
        };
        assert_eq!(t.voiced_end(), 800);
    }

    #[test]
    fn empty_script_is_rejected() {
        let err = SimConfig::default().validate().unwrap_err();
        assert!(err.to_string().contains("no turns"));
    }
}
