//! Rows of the daily-companion tables (migration 0004), as the rest of haru sees them.

use serde::{Deserialize, Serialize};

/// A person haru calls every day. Values are validated by `haru-companion` before they
/// reach the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    /// E.164.
    pub phone: String,
    /// `ko` or `en`.
    pub language: String,
    /// IANA zone, e.g. `Asia/Seoul`.
    pub timezone: String,
    /// Local `HH:MM` times.
    pub call_times: Vec<String>,
    /// How long after a call time haru may still call (retries included).
    pub window_minutes: i64,
    /// `mon`..`sun`; empty: every day.
    pub days: Vec<String>,
    pub active: bool,
    #[serde(skip_serializing)]
    pub calendar_token: String,
    /// When the call plan last changed (no slot is due before it).
    pub plan_since: String,
    pub caregivers: Vec<Caregiver>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Caregiver {
    pub id: i64,
    pub name: String,
    pub sms: Option<String>,
    pub email: Option<String>,
    pub webhook_url: Option<String>,
    /// The HMAC-SHA256 key of this caregiver's alert webhooks (shown to the operator so the
    /// receiver can verify them).
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct NewCaregiver {
    pub name: String,
    pub sms: Option<String>,
    pub email: Option<String>,
    pub webhook_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewPerson {
    pub name: String,
    pub phone: String,
    pub language: String,
    pub timezone: String,
    pub call_times: Vec<String>,
    pub window_minutes: i64,
    pub days: Vec<String>,
    pub active: bool,
    pub caregivers: Vec<NewCaregiver>,
}

/// A partial update; `None` keeps the stored value. `caregivers` replaces the whole list.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PersonPatch {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub language: Option<String>,
    pub timezone: Option<String>,
    pub call_times: Option<Vec<String>>,
    pub window_minutes: Option<i64>,
    pub days: Option<Vec<String>>,
    pub active: Option<bool>,
    pub caregivers: Option<Vec<NewCaregiver>>,
}

/// What erasing a person removed, table by table.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Erasure {
    pub person_id: String,
    pub removed: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlotState {
    /// Due at `next_try_at`.
    Waiting,
    /// Claimed by a scheduler that is asking Twilio for the call.
    Dialing,
    /// A call is placed; its status callbacks decide what follows.
    Calling,
    Answered,
    /// An answering machine took the call.
    Machine,
    /// Every try went unanswered (or the window passed).
    Missed,
}

impl SlotState {
    pub fn as_str(self) -> &'static str {
        match self {
            SlotState::Waiting => "waiting",
            SlotState::Dialing => "dialing",
            SlotState::Calling => "calling",
            SlotState::Answered => "answered",
            SlotState::Machine => "machine",
            SlotState::Missed => "missed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "waiting" => SlotState::Waiting,
            "dialing" => SlotState::Dialing,
            "calling" => SlotState::Calling,
            "answered" => SlotState::Answered,
            "machine" => SlotState::Machine,
            "missed" => SlotState::Missed,
            _ => return None,
        })
    }
    /// The slot's day is decided.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            SlotState::Answered | SlotState::Machine | SlotState::Missed
        )
    }
}

/// One scheduled daily call of a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSlot {
    pub id: i64,
    pub person_id: String,
    pub local_date: String,
    pub local_time: String,
    pub due_at: String,
    pub window_end: String,
    pub state: SlotState,
    pub attempts: i64,
    pub next_try_at: Option<String>,
    pub last_result: Option<String>,
}

/// One outbound call placed for a person (scheduled or "call now").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallAttempt {
    pub id: i64,
    pub person_id: String,
    pub slot_id: Option<i64>,
    pub call_sid: Option<String>,
    pub attempt: i64,
    pub status: String,
    pub answered_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryItem {
    pub id: i64,
    pub person_id: String,
    pub text: String,
    pub quote: Option<String>,
    pub call_sid: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Health or emergency words in a call (fell, chest pain, 119...).
    Emergency,
    /// Words of despair or self-harm.
    Distress,
    /// A very negative mood on several calls in a row.
    LowMood,
    /// Several daily calls in a row not answered.
    MissedCalls,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Emergency => "emergency",
            AlertKind::Distress => "distress",
            AlertKind::LowMood => "low_mood",
            AlertKind::MissedCalls => "missed_calls",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "emergency" => AlertKind::Emergency,
            "distress" => AlertKind::Distress,
            "low_mood" => AlertKind::LowMood,
            "missed_calls" => AlertKind::MissedCalls,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub quote: String,
    pub call_sid: Option<String>,
    pub at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewAlert {
    /// `None`: taken from the call's person (an unknown caller's alert has no person).
    pub person_id: Option<String>,
    pub call_sid: Option<String>,
    pub kind: AlertKind,
    /// One alert per key: raising the same signal again is a no-op.
    pub dedupe_key: String,
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Webhook,
    Sms,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Sms => "sms",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "webhook" => Some(Channel::Webhook),
            "sms" => Some(Channel::Sms),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Sending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Sending => "sending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => DeliveryState::Pending,
            "sending" => DeliveryState::Sending,
            "delivered" => DeliveryState::Delivered,
            "failed" => DeliveryState::Failed,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delivery {
    pub id: i64,
    pub alert_id: i64,
    pub caregiver_id: Option<i64>,
    pub channel: Channel,
    pub target: String,
    pub state: DeliveryState,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivered_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub id: i64,
    pub person_id: Option<String>,
    pub call_sid: Option<String>,
    pub kind: AlertKind,
    pub summary: String,
    pub evidence: Vec<Evidence>,
    pub created_at: String,
    pub acked_at: Option<String>,
    pub acked_by: Option<String>,
    pub deliveries: Vec<Delivery>,
}

#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub person_id: Option<String>,
    /// Only alerts not acknowledged yet.
    pub open: bool,
    pub limit: i64,
    pub offset: i64,
}

/// A delivery this worker holds, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct DeliveryClaim {
    pub delivery: Delivery,
    pub alert: Alert,
    pub person_name: Option<String>,
    pub webhook_secret: Option<String>,
}

/// A diary entry of one of the person's calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiaryEntry {
    pub call_sid: String,
    pub local_date: String,
    pub title: String,
    pub paragraphs: Vec<String>,
}

/// A schedule item extracted from one of the person's calls.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleItem {
    pub id: i64,
    pub call_sid: String,
    pub title: String,
    pub kind: String,
    pub local_date: String,
    pub local_time: Option<String>,
    pub all_day: bool,
    pub timezone: String,
    pub quote: String,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MoodEntry {
    pub call_sid: String,
    pub call_started_at: String,
    pub label: String,
    pub score: f64,
    pub reason: String,
}

/// One of the person's calls, for trends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSummary {
    pub call_sid: String,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub status: String,
    pub mood_score: Option<f64>,
    /// Everything the person said in the call, joined.
    pub user_words: i64,
}
