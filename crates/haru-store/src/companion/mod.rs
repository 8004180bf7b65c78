//! The daily-companion tables (migration 0004): people and caregivers, scheduled call
//! slots and their attempts, memory items, alerts and their deliveries, and the per-person
//! reads of post-call results. Methods on [`SqlStore`](crate::SqlStore); nothing else
//! writes these tables.

mod alerts;
mod erase;
mod history;
mod memory;
mod model;
mod people;
mod slots;

pub use model::*;
pub use people::PhoneTaken;
pub use slots::NewSlot;

pub(crate) fn secret() -> String {
    // 244 random bits: two v4 UUIDs.
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn parse_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}
