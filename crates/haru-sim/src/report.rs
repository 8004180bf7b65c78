//! What a simulated call measured, the live events it emits, and files written from them.

use std::fmt;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

/// How the call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CallEnd {
    /// The script finished and we sent `stop`, as Twilio does when the caller hangs up.
    CallerHungUp,
    /// The server closed the media stream first (normal after a goodbye).
    ServerClosed,
}

/// Measurements of one bot reply (to a caller turn, or the greeting).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplyStats {
    /// Call-time ms from the end of the caller's speech to the first bot audio received.
    /// For the greeting: from the stream `start`.
    pub latency_ms: Option<u64>,
    /// Bot audio received for this reply.
    pub bot_audio_ms: u64,
    /// Marks echoed back while this reply was current.
    pub marks_echoed: u32,
    /// `clear` messages received while this reply was current.
    pub clears_received: u32,
    /// The reply did not finish within the turn timeout.
    pub timed_out: bool,
}

/// One caller turn and the bot's reply to it.
#[derive(Debug, Clone, Serialize)]
pub struct TurnReport {
    /// 1-based, as printed.
    pub turn: usize,
    pub label: String,
    /// Length of the caller audio sent.
    pub caller_audio_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtmf: Option<String>,
    /// This turn started over the previous reply instead of after it.
    pub barged_in: bool,
    /// The bot's reply to this turn.
    #[serde(flatten)]
    pub reply: ReplyStats,
}

/// One message of the server's transcript (`GET /api/calls/{sid}`).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TranscriptMessage {
    pub role: String,
    #[serde(default)]
    pub content: String,
}

/// Everything measured during one call.
///
/// Times are *call time* (wall time × speed), so an accelerated run reports the numbers a
/// real-time caller would have seen from a proportionally faster server.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    pub server: String,
    pub call_sid: String,
    pub stream_sid: String,
    pub stream_url: String,
    pub speed: f64,
    /// Bot audio before the first caller turn.
    pub greeting: ReplyStats,
    pub turns: Vec<TurnReport>,
    /// Audible gaps inside replies where bot audio ran out before the reply was over.
    pub underrun_ms: u64,
    /// All bot audio received.
    pub bot_audio_total_ms: u64,
    /// Bot audio actually played (received minus what `clear` discarded).
    pub bot_audio_played_ms: u64,
    pub marks_echoed_total: u32,
    pub clears_total: u32,
    /// Server messages that could not be parsed and were skipped.
    pub malformed_messages: u32,
    pub ended: CallEnd,
    /// Call duration from stream start to the end.
    pub duration_ms: u64,
    /// The server's transcript, when it offers one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcript: Option<Vec<TranscriptMessage>>,
    /// The bot audio as played (8 kHz mono PCM, with underruns as silence).
    #[serde(skip)]
    pub bot_audio: Vec<i16>,
}

impl SimReport {
    /// Writes the played bot audio as a 16-bit 8 kHz WAV, creating parent directories.
    pub fn write_bot_wav(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        create_parent(path)?;
        std::fs::write(path, haru_audio::encode_wav(&self.bot_audio, 8000))
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Writes the report (and transcript, if any) as pretty JSON, creating parent directories.
    pub fn write_json(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        create_parent(path)?;
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    Ok(())
}

/// Something that happened during the call, for live display. `at_ms` is call time since
/// the stream started.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SimEvent {
    Connected {
        call_sid: String,
        stream_sid: String,
        stream_url: String,
    },
    /// The bot started talking; `turn` is `None` for the greeting.
    BotAudioStarted {
        at_ms: u64,
        turn: Option<usize>,
        latency_ms: u64,
    },
    /// The bot's reply finished playing (or timed out).
    ReplyFinished {
        at_ms: u64,
        turn: Option<usize>,
        bot_audio_ms: u64,
        marks_echoed: u32,
        timed_out: bool,
    },
    CallerTurnStarted {
        at_ms: u64,
        turn: usize,
        label: String,
        audio_ms: u64,
        barge_in: bool,
    },
    DtmfSent {
        at_ms: u64,
        turn: usize,
        digit: String,
    },
    /// The caller's speech in this turn has been sent.
    CallerTurnSent {
        at_ms: u64,
        turn: usize,
    },
    ClearReceived {
        at_ms: u64,
        /// Bot audio discarded from the playout queue.
        dropped_ms: u64,
    },
    MarkEchoed {
        at_ms: u64,
        name: String,
    },
    Ended {
        at_ms: u64,
        how: CallEnd,
    },
}

fn who(turn: &Option<usize>) -> String {
    match turn {
        Some(t) => format!("reply {t}"),
        None => "greeting".into(),
    }
}

impl fmt::Display for SimEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |ms: &u64| format!("[{:>7.2}s]", *ms as f64 / 1000.0);
        match self {
            SimEvent::Connected {
                call_sid,
                stream_sid,
                stream_url,
            } => write!(
                f,
                "[   0.00s] call {call_sid} stream {stream_sid} on {stream_url}"
            ),
            SimEvent::BotAudioStarted {
                at_ms,
                turn,
                latency_ms,
            } => write!(
                f,
                "{} bot {} started after {latency_ms} ms",
                at(at_ms),
                who(turn)
            ),
            SimEvent::ReplyFinished {
                at_ms,
                turn,
                bot_audio_ms,
                marks_echoed,
                timed_out,
            } => write!(
                f,
                "{} bot {} {}: {bot_audio_ms} ms of audio, {marks_echoed} marks",
                at(at_ms),
                who(turn),
                if *timed_out { "TIMED OUT" } else { "done" }
            ),
            SimEvent::CallerTurnStarted {
                at_ms,
                turn,
                label,
                audio_ms,
                barge_in,
            } => write!(
                f,
                "{} caller turn {turn} {label:?} ({audio_ms} ms){}",
                at(at_ms),
                if *barge_in { " BARGING IN" } else { "" }
            ),
            SimEvent::DtmfSent { at_ms, turn, digit } => {
                write!(f, "{} caller turn {turn} pressed {digit}", at(at_ms))
            }
            SimEvent::CallerTurnSent { at_ms, turn } => {
                write!(f, "{} caller turn {turn} speech sent", at(at_ms))
            }
            SimEvent::ClearReceived { at_ms, dropped_ms } => {
                write!(
                    f,
                    "{} clear received, dropped {dropped_ms} ms of bot audio",
                    at(at_ms)
                )
            }
            SimEvent::MarkEchoed { at_ms, name } => write!(f, "{} mark {name:?} echoed", at(at_ms)),
            SimEvent::Ended { at_ms, how } => write!(
                f,
                "{} call ended: {}",
                at(at_ms),
                match how {
                    CallEnd::CallerHungUp => "caller hung up (stop sent)",
                    CallEnd::ServerClosed => "server closed the stream",
                }
            ),
        }
    }
}
