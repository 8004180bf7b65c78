//! Typed rows of the post-call tables.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Diary,
    Schedules,
    Mood,
    Quality,
    /// What to remember of the caller (and forget) for the next calls (migration 0004).
    Memory,
}

impl JobKind {
    pub const ALL: [JobKind; 5] = [
        JobKind::Diary,
        JobKind::Schedules,
        JobKind::Mood,
        JobKind::Quality,
        JobKind::Memory,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Diary => "diary",
            JobKind::Schedules => "schedules",
            JobKind::Mood => "mood",
            JobKind::Quality => "quality",
            JobKind::Memory => "memory",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Pending,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => JobState::Pending,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }
}

/// A job row as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub call_sid: String,
    pub kind: JobKind,
    pub state: JobState,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: String,
    pub lease_until: Option<String>,
    pub last_error: Option<String>,
    pub detail: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub finished_at: Option<String>,
}

/// A job this worker holds; `token` proves the claim is still ours.
#[derive(Debug, Clone)]
pub struct Claim {
    pub job: Job,
    pub token: String,
}

/// Filters for [`SqlStore::jobs`](crate::SqlStore::jobs).
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub call_sid: Option<String>,
    pub state: Option<JobState>,
    pub kind: Option<JobKind>,
    pub limit: i64,
    pub offset: i64,
}

/// Outcome of asking for a re-run.
#[derive(Debug, Clone, PartialEq)]
pub enum Rerun {
    Queued(Job),
    /// It is running right now; re-running would race the current run.
    Busy(Job),
    NotFound,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Diary {
    pub call_sid: String,
    /// The call's local date (`YYYY-MM-DD`), when it started.
    pub local_date: String,
    pub language: String,
    pub title: String,
    pub paragraphs: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mood {
    pub call_sid: String,
    pub label: String,
    pub score: f64,
    pub reason: String,
    pub quotes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: i64,
    pub call_sid: String,
    pub title: String,
    /// `plan`, `appointment` or `reminder`.
    pub kind: String,
    pub local_date: String,
    /// `HH:MM`, absent for all-day items.
    pub local_time: Option<String>,
    pub all_day: bool,
    /// `2026-11-25T19:00+09:00`, or `2026-11-25` when all-day.
    pub starts_at: String,
    pub timezone: String,
    /// The words it came from, as the model quoted them.
    pub quote: String,
}

/// A schedule to store, with the instant (RFC 3339, UTC) after which it has passed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSchedule {
    pub schedule: Schedule,
    pub until_utc: String,
}

/// What a finished job writes, in the transaction that marks it done.
#[derive(Debug, Clone, PartialEq)]
pub enum JobResult {
    /// Nothing to write (nothing was said, or the job keeps its own rows).
    Nothing,
    Diary(Diary),
    /// Replaces the call's schedules (a re-run must not duplicate them).
    Schedules {
        call_sid: String,
        items: Vec<NewSchedule>,
    },
    Mood(Mood),
    /// The quality report, as JSON (its shape belongs to `haru-postcall`).
    Quality {
        call_sid: String,
        report_json: String,
    },
}
