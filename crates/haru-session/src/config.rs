//! Conversation behaviour, all of it configurable (see the README's configuration table).

use std::time::Duration;

use haru_turn::TurnConfig;

/// How haru decides that the caller has finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EotPolicy {
    /// `HARU_END_SILENCE_MS` of silence, whatever was said (the old behaviour).
    Silence,
    /// The silence needed depends on the words said before the pause (a connective
    /// ending, a filler or a trailing "and" wait longer; a finished sentence answers
    /// sooner) and on this caller's own pauses so far.
    Adaptive,
}

impl std::str::FromStr for EotPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "silence" => Ok(EotPolicy::Silence),
            "adaptive" => Ok(EotPolicy::Adaptive),
            other => Err(format!("`{other}`: expected `silence` or `adaptive`")),
        }
    }
}

/// The end-of-turn decision's knobs (caller-audio milliseconds of silence).
#[derive(Debug, Clone, PartialEq)]
pub struct EotConfig {
    pub policy: EotPolicy,
    /// The words sound finished ("...갔어요.", "What about you?").
    pub complete_ms: u32,
    /// No evidence either way.
    pub neutral_ms: u32,
    /// The words sound unfinished ("...갔는데", "그래서", "and um").
    pub incomplete_ms: u32,
    /// The transcript of the pause is not back yet.
    pub unknown_ms: u32,
    /// The longest wait, however long this caller's pauses are.
    pub max_ms: u32,
    /// Finished words that also *sound* finished (the audio turn model agrees): the
    /// shortest wait. Without a turn model this is never used.
    pub sure_ms: u32,
    /// The turn model's probability at or above which the pause sounds finished...
    pub audio_finished: f32,
    /// ...and below which it sounds unfinished (a continuation rise, a word cut short).
    pub audio_unfinished: f32,
}

impl Default for EotConfig {
    fn default() -> Self {
        Self {
            policy: EotPolicy::Adaptive,
            // Finished words answer no later than silence alone did (600), never sooner:
            // another sentence often follows a finished one after a breath, and with a
            // transcriber that returns whole sentences for partial audio, a shorter wait
            // here would cut off more than the old default (`haru bench --eot`).
            complete_ms: 600,
            neutral_ms: 800,
            incomplete_ms: 1600,
            unknown_ms: 1000,
            max_ms: 3000,
            // The sound only ever shortens a wait: finished words that also sound
            // finished answer at 500 ms. Letting it lengthen waits (unfinished > 0) cost
            // latency on every set and saved no cut-off: Smart Turn hears espeak's English
            // ends and recordings cut right after the last word as unfinished
            // (`haru bench --eot`, BENCHMARKS.md).
            sure_ms: 500,
            audio_finished: 0.5,
            audio_unfinished: 0.0,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub turn: TurnConfig,
    pub eot: EotConfig,
    pub system_prompt: String,
    /// Spoken when the stream starts; empty for none.
    pub greeting: String,
    pub goodbye: String,
    pub apology: String,
    pub idle_prompt: String,
    /// Lower-cased substrings of a transcript that end the call.
    pub end_keywords: Vec<String>,
    /// Caller speech over the bot needed to interrupt it (voiced ms).
    pub barge_in_min_ms: u32,
    /// Caller silent this long while haru listens → idle prompt, then goodbye.
    pub idle_timeout: Duration,
    pub max_call: Duration,
    pub stt_timeout: Duration,
    /// Time to the first token, and the longest gap between tokens.
    pub llm_timeout: Duration,
    /// Time to the first audio byte of each sentence.
    pub tts_timeout: Duration,
    /// A sentence longer than this is cut at the next comma or space, so speech starts early.
    pub sentence_max_chars: usize,
    /// Start STT/LLM/TTS when the caller pauses, before the end of turn is certain.
    pub speculative: bool,
    /// Chat messages kept in the LLM context besides the system prompt.
    pub max_history: usize,
    /// The call's language (`ko`, `en`) when it is known (a person's call); `None` leaves
    /// the transcriber's configured language.
    pub language: Option<String>,
    /// Emergency and despair phrases, answered at once and raised as alerts.
    pub safety: crate::Safety,
    /// Send the system prompt and greeting to the LLM as the call starts (answer
    /// discarded): a local model (haru-local) then answers the first turn from its prompt
    /// cache instead of reading the whole prompt first. Off for cloud providers, where it
    /// would only cost tokens.
    pub llm_warmup: bool,
    /// Short acknowledgements ("네."), one of which plays when an answer is not ready
    /// `ack_after` after haru took the turn, so a slow answer never starts with silence.
    /// Taken in turn; empty for none.
    pub acks: Vec<String>,
    pub ack_after: Duration,
}

pub const DEFAULT_SYSTEM_PROMPT: &str = "당신은 따뜻하고 다정한 한국어 말벗입니다. 전화로 상대방의 하루에 대해 묻고, 공감하며 들어 주세요. \
답은 전화로 말하기 좋게 한두 문장의 짧은 구어체로 하고, 목록이나 이모지, 특수 기호는 쓰지 마세요.";

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            turn: TurnConfig::default(),
            eot: EotConfig::default(),
            system_prompt: DEFAULT_SYSTEM_PROMPT.into(),
            greeting: "안녕하세요! 오늘 하루는 어떠셨어요?".into(),
            goodbye: "오늘 이야기 나눠 주셔서 고마워요. 좋은 하루 보내세요. 안녕히 계세요.".into(),
            apology: "죄송해요, 잠시 문제가 생겼어요. 다시 한 번 말씀해 주시겠어요?".into(),
            idle_prompt: "혹시 아직 듣고 계세요?".into(),
            // How people end a call in Korean: "이제 끊을게요", "그만 끊겠습니다",
            // "안녕히 계세요" (the bot's own goodbye says 계세요 too, but only callers' words
            // are checked).
            end_keywords: [
                "종료",
                "끊을게",
                "끊을께",
                "끊겠습니다",
                "끊어야겠",
                // "이제 끊어요" and Whisper's "이제 끊어 오게요": hanging up, not quitting
                // (a bare "끊어요" is also "I quit", as in 담배 끊어요).
                "이제 끊",
                "이만 끊",
                "그만 끊",
                "전화 끊",
                "안녕히 계세요",
                "안녕히 계십시오",
                "goodbye",
                "bye",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            barge_in_min_ms: 400,
            idle_timeout: Duration::from_secs(20),
            max_call: Duration::from_secs(30 * 60),
            stt_timeout: Duration::from_secs(8),
            llm_timeout: Duration::from_secs(8),
            tts_timeout: Duration::from_secs(8),
            sentence_max_chars: 80,
            speculative: true,
            max_history: 40,
            language: None,
            safety: crate::Safety::korean(),
            llm_warmup: false,
            acks: vec!["네.".into()],
            ack_after: Duration::from_millis(400),
        }
    }
}

/// A configured value that cannot work, with the variable that sets it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {message}")]
pub struct InvalidConfig {
    pub var: &'static str,
    pub message: String,
}

/// Longest duration any setting may have; larger values are typos, and would overflow the
/// clock arithmetic of a call.
const MAX_SETTING: Duration = Duration::from_secs(24 * 3600);
/// Longest caller-audio threshold (ms).
const MAX_AUDIO_MS: u32 = 10 * 60 * 1000;

impl SessionConfig {
    /// Rejects values no call can work with (zero timeouts, days-long pauses...).
    pub fn validate(&self) -> Result<(), InvalidConfig> {
        let bad = |var: &'static str, message: &str| {
            Err(InvalidConfig {
                var,
                message: message.to_string(),
            })
        };
        for (var, d) in [
            ("HARU_STT_TIMEOUT_MS", self.stt_timeout),
            ("HARU_LLM_TIMEOUT_MS", self.llm_timeout),
            ("HARU_TTS_TIMEOUT_MS", self.tts_timeout),
            ("HARU_IDLE_TIMEOUT_MS", self.idle_timeout),
            ("HARU_MAX_CALL_MS", self.max_call),
        ] {
            if d.is_zero() || d > MAX_SETTING {
                return bad(var, "must be between 1 ms and 24 hours");
            }
        }
        let t = &self.turn;
        for (var, ms) in [
            ("HARU_MIN_SPEECH_MS", t.min_speech_ms),
            ("HARU_PAUSE_MS", t.pause_ms),
            ("HARU_END_SILENCE_MS", t.end_silence_ms),
            ("HARU_MIN_UTTERANCE_MS", t.min_utterance_ms),
            ("HARU_MAX_UTTERANCE_MS", t.max_utterance_ms),
            ("HARU_BARGE_IN_MIN_MS", self.barge_in_min_ms),
        ] {
            if ms > MAX_AUDIO_MS {
                return bad(var, "must be at most 600000 (10 minutes)");
            }
        }
        if t.end_silence_ms == 0 {
            return bad("HARU_END_SILENCE_MS", "must be more than 0");
        }
        if t.pause_ms > t.end_silence_ms {
            return bad("HARU_PAUSE_MS", "must not exceed HARU_END_SILENCE_MS");
        }
        let e = &self.eot;
        for (var, ms) in [
            ("HARU_EOT_COMPLETE_MS", e.complete_ms),
            ("HARU_EOT_NEUTRAL_MS", e.neutral_ms),
            ("HARU_EOT_INCOMPLETE_MS", e.incomplete_ms),
            ("HARU_EOT_UNKNOWN_MS", e.unknown_ms),
            ("HARU_EOT_MAX_MS", e.max_ms),
        ] {
            if ms > e.max_ms.max(t.end_silence_ms) || ms > MAX_AUDIO_MS {
                return bad(var, "must not exceed HARU_EOT_MAX_MS (at most 600000)");
            }
            if ms < t.pause_ms {
                return bad(var, "must be at least HARU_PAUSE_MS");
            }
        }
        if !(0.0..=1.0).contains(&t.vad_threshold) {
            return bad("HARU_VAD_THRESHOLD", "must be between 0 and 1");
        }
        if self.sentence_max_chars < 8 {
            return bad("HARU_SENTENCE_MAX_CHARS", "must be at least 8");
        }
        Ok(())
    }

    /// True when the transcript asks to end the call.
    pub fn is_end_request(&self, transcript: &str) -> bool {
        let lower = transcript.to_lowercase();
        self.end_keywords.iter().any(|k| {
            let k = k.to_lowercase();
            if k.is_ascii() {
                // Whole words only, so "goodbye" does not fire on "byte" or "maybe".
                lower.split(|c: char| !c.is_alphanumeric()).any(|w| w == k)
            } else {
                lower.contains(&k)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_keywords_match_korean_substrings_and_english_words() {
        let c = SessionConfig::default();
        assert!(c.is_end_request("대화 종료할게요"));
        assert!(c.is_end_request("이제 끊을게"));
        assert!(c.is_end_request("네, 그럼 안녕히 계세요."));
        assert!(c.is_end_request("이만 끊겠습니다"));
        assert!(c.is_end_request("고마워요 이제 끊어 오게요"));
        assert!(!c.is_end_request("담배는 작년에 끊었어요"));
        assert!(!c.is_end_request("안녕하세요, 잘 지냈어요"));
        assert!(c.is_end_request("OK, goodbye!"));
        assert!(c.is_end_request("Bye."));
        assert!(!c.is_end_request("maybe I will buy a byte"));
        assert!(!c.is_end_request("오늘 날씨가 좋네요"));
    }

    #[test]
    fn absurd_values_are_rejected_with_their_variable() {
        assert_eq!(SessionConfig::default().validate(), Ok(()));
        let c = SessionConfig {
            max_call: Duration::from_secs(u64::MAX / 2),
            ..SessionConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().var, "HARU_MAX_CALL_MS");
        let c = SessionConfig {
            stt_timeout: Duration::ZERO,
            ..SessionConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().var, "HARU_STT_TIMEOUT_MS");
        let mut c = SessionConfig::default();
        c.turn.end_silence_ms = u32::MAX;
        assert_eq!(c.validate().unwrap_err().var, "HARU_END_SILENCE_MS");
        let mut c = SessionConfig::default();
        c.turn.pause_ms = 900;
        assert_eq!(c.validate().unwrap_err().var, "HARU_PAUSE_MS");
    }
}
