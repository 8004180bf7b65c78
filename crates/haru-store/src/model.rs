//! Rows as the rest of haru sees them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default)]
pub struct NewCall {
    pub call_sid: String,
    pub direction: String,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub stream_token: Option<String>,
    pub status: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CallRecord {
    pub call_sid: String,
    pub direction: String,
    pub from_number: Option<String>,
    pub to_number: Option<String>,
    pub status: String,
    pub stream_sid: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub end_reason: Option<String>,
    pub transcript: Option<String>,
    /// The person this call was with (matched by number), if any.
    #[serde(default)]
    pub person_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatusEvent {
    pub call_sid: String,
    pub call_status: String,
    pub call_duration: Option<i64>,
    pub timestamp: Option<String>,
    pub sequence: Option<i64>,
    /// Every parameter Twilio sent, as a JSON object.
    pub params_json: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StreamEvent {
    pub call_sid: String,
    pub stream_sid: Option<String>,
    pub kind: String,
    pub detail: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Assistant,
    Dtmf,
    System,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Dtmf => "dtmf",
            Role::System => "system",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "dtmf" => Role::Dtmf,
            "system" => Role::System,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewMessage {
    pub call_sid: String,
    pub turn_index: i64,
    pub role: Role,
    pub content: String,
    /// The caller cut this reply off; `content` holds only what was heard.
    pub interrupted: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub id: i64,
    pub call_sid: String,
    pub turn_index: i64,
    pub role: Role,
    pub content: String,
    pub interrupted: bool,
    pub created_at: String,
}

/// Per-turn timings in milliseconds, measured from the caller's end of speech.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TurnTiming {
    pub call_sid: String,
    pub turn_index: i64,
    pub speech_ms: Option<i64>,
    pub stt_ms: Option<i64>,
    pub llm_first_token_ms: Option<i64>,
    pub llm_total_ms: Option<i64>,
    pub tts_first_byte_ms: Option<i64>,
    /// The caller's first sound of haru: the acknowledgement when one played first.
    pub first_audio_ms: Option<i64>,
    /// The first audio of the answer itself (equal to `first_audio_ms` without an
    /// acknowledgement).
    #[serde(default)]
    pub answer_audio_ms: Option<i64>,
    pub total_ms: Option<i64>,
    pub barge_in: bool,
    /// `answered`, `interrupted`, `empty_transcript`, `error`, `goodbye`...
    pub outcome: String,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub from: Option<String>,
    pub until: Option<String>,
    pub phone: Option<String>,
    pub status: Option<String>,
    pub limit: i64,
    pub offset: i64,
}
