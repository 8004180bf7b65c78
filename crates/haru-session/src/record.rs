//! One turn's record: timings, outcome and errors gathered while the turn runs, turned once
//! into the stored row, the metrics and the call-log block.

use std::time::Instant;

use haru_store::TurnTiming;
use metrics::{counter, histogram};

use crate::{log, metrics as m};

/// How a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Answered,
    EmptyTranscript,
    Goodbye,
    Error,
    /// A fixed phrase (greeting, idle prompt) played.
    Phrase,
    /// The caller talked over it, or the call ended while it played.
    Interrupted,
    /// Dropped before anything was committed (the call ended while haru was still thinking).
    Cancelled,
    /// The caller's "응" / "uh-huh" over haru's reply: kept, not answered.
    Backchannel,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::EmptyTranscript => "empty_transcript",
            Outcome::Goodbye => "goodbye",
            Outcome::Error => "error",
            Outcome::Phrase => "phrase",
            Outcome::Interrupted => "interrupted",
            Outcome::Cancelled => "cancelled",
            Outcome::Backchannel => "backchannel",
        }
    }
}

#[derive(Debug, Default)]
pub struct TurnRecord {
    /// The caller's end of speech (None for phrases haru starts on its own).
    pub end_of_speech: Option<Instant>,
    pub voiced_ms: u32,
    pub transcript: Option<String>,
    pub stt_ms: Option<i64>,
    pub llm_first_ms: Option<i64>,
    pub llm_total_ms: Option<i64>,
    pub tts_first_ms: Option<i64>,
    /// Every provider failure of the turn, in order.
    pub errors: Vec<String>,
    /// The reply is the goodbye that answers an end request.
    pub goodbye: bool,
}

impl TurnRecord {
    pub fn for_speech(end_of_speech: Instant, voiced_ms: u32) -> Self {
        Self {
            end_of_speech: Some(end_of_speech),
            voiced_ms,
            ..Self::default()
        }
    }

    /// The outcome of a reply that played to its end.
    pub fn played_outcome(&self, is_answer: bool) -> Outcome {
        if self.goodbye {
            Outcome::Goodbye
        } else if !self.errors.is_empty() {
            Outcome::Error
        } else if !is_answer {
            Outcome::Phrase
        } else if self.transcript.as_deref().is_some_and(str::is_empty) {
            Outcome::EmptyTranscript
        } else {
            Outcome::Answered
        }
    }

    /// The stored row; also records the metrics and writes the call-log block for answers.
    pub fn finish(&self, fin: Finish<'_>) -> TurnTiming {
        let since = |t: Option<Instant>| -> Option<i64> {
            match (self.end_of_speech, t) {
                (Some(e), Some(t)) => Some(t.saturating_duration_since(e).as_millis() as i64),
                _ => None,
            }
        };
        let timing = TurnTiming {
            call_sid: fin.call_sid.to_string(),
            turn_index: fin.turn,
            speech_ms: (self.voiced_ms > 0).then_some(self.voiced_ms as i64),
            stt_ms: self.stt_ms,
            llm_first_token_ms: self.llm_first_ms,
            llm_total_ms: self.llm_total_ms,
            tts_first_byte_ms: self.tts_first_ms,
            first_audio_ms: since(fin.first_audio),
            answer_audio_ms: since(fin.answer_audio),
            total_ms: since(Some(fin.now)),
            barge_in: fin.barge_in,
            outcome: fin.outcome.as_str().to_string(),
            error: (!self.errors.is_empty()).then(|| self.errors.join("; ")),
        };
        if self.end_of_speech.is_some() {
            counter!(m::TURNS_TOTAL, "outcome" => fin.outcome.as_str()).increment(1);
            if let Some(ms) = timing.first_audio_ms {
                histogram!(m::FIRST_AUDIO_SECONDS).record(ms as f64 / 1000.0);
            }
            if let Some(ms) = timing.total_ms {
                histogram!(m::TURN_SECONDS).record(ms as f64 / 1000.0);
            }
            log::turn(&log::TurnLog {
                call_sid: fin.call_sid,
                turn: fin.turn,
                transcript: self.transcript.as_deref().unwrap_or(""),
                reply: fin.heard,
                stt_ms: timing.stt_ms,
                llm_first_ms: timing.llm_first_token_ms,
                llm_total_ms: timing.llm_total_ms,
                tts_first_ms: timing.tts_first_byte_ms,
                first_audio_ms: timing.first_audio_ms,
                total_ms: timing.total_ms,
                outcome: fin.outcome.as_str(),
            });
        }
        timing
    }
}

pub struct Finish<'a> {
    pub call_sid: &'a str,
    pub turn: i64,
    pub outcome: Outcome,
    pub heard: &'a str,
    pub first_audio: Option<Instant>,
    /// The first audio of the answer itself, after any acknowledgement.
    pub answer_audio: Option<Instant>,
    /// The caller talked over it (not: the call ended or haru said goodbye meanwhile).
    pub barge_in: bool,
    pub now: Instant,
}
