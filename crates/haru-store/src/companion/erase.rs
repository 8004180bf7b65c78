//! Erasing a person: every row of theirs, in one transaction.

use super::*;
use crate::{Result, SqlStore};

impl SqlStore {
    /// Deletes the person and everything of theirs: their calls with every message, turn,
    /// event, post-call job and result; their pause habits; slots, attempts, memory, alerts
    /// and deliveries; caregivers. `None` for an unknown person.
    pub async fn erase_person(&self, id: &str) -> Result<Option<Erasure>> {
        let mut tx = self.pool().begin().await?;
        let phone: Option<String> = sqlx::query_scalar("SELECT phone FROM people WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(phone) = phone else {
            return Ok(None);
        };
        let mut removed = std::collections::BTreeMap::new();
        // Calls are theirs by person_id, or by number for calls no person was matched to.
        let calls = "SELECT call_sid FROM calls WHERE person_id = $1 OR (person_id IS NULL AND \
                     ((direction = 'inbound' AND from_number = $2) OR (direction != 'inbound' AND to_number = $2)))";
        for table in [
            "messages",
            "turns",
            "call_status_events",
            "stream_events",
            "jobs",
            "diaries",
            "schedules",
            "moods",
            "quality_reports",
            "call_attempts",
            "recordings",
        ] {
            let r = sqlx::query(&format!("DELETE FROM {table} WHERE call_sid IN ({calls})"))
                .bind(id)
                .bind(&phone)
                .execute(&mut *tx)
                .await?;
            removed.insert(table.to_string(), r.rows_affected());
        }
        // Alerts raised in their calls before the number was theirs hold their words too.
        let r = sqlx::query(&format!(
            "DELETE FROM alert_deliveries WHERE alert_id IN
               (SELECT id FROM alerts WHERE person_id = $1 OR call_sid IN ({calls}))"
        ))
        .bind(id)
        .bind(&phone)
        .execute(&mut *tx)
        .await?;
        removed.insert("alert_deliveries".into(), r.rows_affected());
        let r = sqlx::query(&format!(
            "DELETE FROM alerts WHERE person_id = $1 OR call_sid IN ({calls})"
        ))
        .bind(id)
        .bind(&phone)
        .execute(&mut *tx)
        .await?;
        removed.insert("alerts".into(), r.rows_affected());
        let r = sqlx::query(&format!("DELETE FROM calls WHERE call_sid IN ({calls})"))
            .bind(id)
            .bind(&phone)
            .execute(&mut *tx)
            .await?;
        removed.insert("calls".into(), r.rows_affected());
        let r = sqlx::query("DELETE FROM caller_profiles WHERE phone = $1")
            .bind(&phone)
            .execute(&mut *tx)
            .await?;
        removed.insert("caller_profiles".into(), r.rows_affected());
        for table in ["memory_items", "call_attempts", "call_slots", "caregivers"] {
            let r = sqlx::query(&format!("DELETE FROM {table} WHERE person_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            *removed.entry(table.to_string()).or_insert(0) += r.rows_affected();
        }
        let r = sqlx::query("DELETE FROM people WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        removed.insert("people".into(), r.rows_affected());
        // No call recordings are kept yet; the count says so rather than staying silent.
        removed.insert("recordings".into(), 0);
        tx.commit().await?;
        Ok(Some(Erasure {
            person_id: id.to_string(),
            removed,
        }))
    }
}
