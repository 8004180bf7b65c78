//! Scheduled daily calls (`call_slots`) and the calls placed for them (`call_attempts`).
//!
//! A slot row exists once per (person, local date, local time) — `ON CONFLICT DO NOTHING` — and
//! is claimed by one conditional UPDATE, so however many schedulers look at it, one dials.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::*;
use crate::db::now;
use crate::{Result, SqlStore};

fn slot_from_row(r: &AnyRow) -> CallSlot {
    CallSlot {
        id: r.get("id"),
        person_id: r.get("person_id"),
        local_date: r.get("local_date"),
        local_time: r.get("local_time"),
        due_at: r.get("due_at"),
        window_end: r.get("window_end"),
        state: SlotState::parse(r.get::<&str, _>("state")).unwrap_or(SlotState::Missed),
        attempts: r.get("attempts"),
        next_try_at: r.get("next_try_at"),
        last_result: r.get("last_result"),
    }
}

fn attempt_from_row(r: &AnyRow) -> CallAttempt {
    CallAttempt {
        id: r.get("id"),
        person_id: r.get("person_id"),
        slot_id: r.get("slot_id"),
        call_sid: r.get("call_sid"),
        attempt: r.get("attempt"),
        status: r.get("status"),
        answered_by: r.get("answered_by"),
    }
}

/// A slot to create: its instants are already resolved in the person's zone.
#[derive(Debug, Clone)]
pub struct NewSlot<'a> {
    pub person_id: &'a str,
    pub local_date: &'a str,
    pub local_time: &'a str,
    pub due_at: &'a str,
    pub window_end: &'a str,
    /// Created after its window already closed (haru was down): recorded as missed.
    pub missed: bool,
}

impl SqlStore {
    /// Creates the slot unless it exists. `true` when this call created it.
    pub async fn ensure_slot(&self, s: &NewSlot<'_>) -> Result<bool> {
        let (state, result) = if s.missed {
            (
                "missed",
                Some("haru was not running during the call window"),
            )
        } else {
            ("waiting", None)
        };
        let r = sqlx::query(
            "INSERT INTO call_slots (person_id, local_date, local_time, due_at, window_end,
               state, next_try_at, last_result, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $4, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(s.person_id)
        .bind(s.local_date)
        .bind(s.local_time)
        .bind(s.due_at)
        .bind(s.window_end)
        .bind(state)
        .bind(result)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Claims the most overdue waiting slot of an active person (`dialing`, leased until
    /// `lease_until`). One statement: two schedulers never claim the same slot.
    pub async fn claim_due_slot(
        &self,
        now_ts: &str,
        lease_until: &str,
    ) -> Result<Option<CallSlot>> {
        let sql = format!(
            "UPDATE call_slots SET state = 'dialing', lease_until = $2, updated_at = $1
             WHERE id = (SELECT s.id FROM call_slots s JOIN people p ON p.id = s.person_id
                         WHERE s.state = 'waiting' AND s.next_try_at <= $1 AND p.active = 1
                         ORDER BY s.next_try_at LIMIT 1 {})
               AND state = 'waiting'
             RETURNING *",
            self.skip_locked("s")
        );
        let row = sqlx::query(&sql)
            .bind(now_ts)
            .bind(lease_until)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(slot_from_row))
    }

    /// The call for a claimed slot (or a "call now", `slot_id: None`) was placed.
    pub async fn record_attempt(
        &self,
        person_id: &str,
        slot_id: Option<i64>,
        call_sid: &str,
        lease_until: &str,
    ) -> Result<CallAttempt> {
        let mut tx = self.pool().begin().await?;
        let attempt: i64 = match slot_id {
            Some(id) => {
                sqlx::query_scalar(
                    "UPDATE call_slots SET state = 'calling', attempts = attempts + 1, lease_until = $2,
                       updated_at = $3 WHERE id = $1 RETURNING attempts",
                )
                .bind(id)
                .bind(lease_until)
                .bind(now())
                .fetch_optional(&mut *tx)
                .await?
                .unwrap_or(1)
            }
            None => 1,
        };
        let row = sqlx::query(
            "INSERT INTO call_attempts (person_id, slot_id, call_sid, attempt, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, 'queued', $5, $5) RETURNING *",
        )
        .bind(person_id)
        .bind(slot_id)
        .bind(call_sid)
        .bind(attempt)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(attempt_from_row(&row))
    }

    /// The attempt (and its slot) behind an outbound call.
    pub async fn attempt_for_call(
        &self,
        call_sid: &str,
    ) -> Result<Option<(CallAttempt, Option<CallSlot>)>> {
        let Some(a) = sqlx::query("SELECT * FROM call_attempts WHERE call_sid = $1")
            .bind(call_sid)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(attempt_from_row)
        else {
            return Ok(None);
        };
        let slot = match a.slot_id {
            Some(id) => self.slot(id).await?,
            None => None,
        };
        Ok(Some((a, slot)))
    }

    pub async fn slot(&self, id: i64) -> Result<Option<CallSlot>> {
        Ok(sqlx::query("SELECT * FROM call_slots WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(slot_from_row))
    }

    /// Notes the latest status (and answering-machine verdict) of an attempt.
    pub async fn update_attempt(
        &self,
        call_sid: &str,
        status: Option<&str>,
        answered_by: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE call_attempts SET status = COALESCE($2, status),
               answered_by = COALESCE($3, answered_by), updated_at = $4 WHERE call_sid = $1",
        )
        .bind(call_sid)
        .bind(status)
        .bind(answered_by)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Decides a slot that is still open (`dialing`/`calling`): `Answered`, `Machine` or
    /// `Missed`, or back to `Waiting` until `next_try_at`. A slot already decided is left
    /// alone (`false`), so late or repeated callbacks change nothing.
    pub async fn settle_slot(
        &self,
        id: i64,
        state: SlotState,
        next_try_at: Option<&str>,
        result: &str,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE call_slots SET state = $2, next_try_at = COALESCE($3, next_try_at),
               lease_until = NULL, last_result = $4, updated_at = $5
             WHERE id = $1 AND state IN ('dialing', 'calling')",
        )
        .bind(id)
        .bind(state.as_str())
        .bind(next_try_at)
        .bind(result)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Slots whose claim ran out without an outcome (the instance died while dialing, or
    /// no final status callback ever came).
    pub async fn expired_slots(&self, now_ts: &str) -> Result<Vec<CallSlot>> {
        let rows = sqlx::query(
            "SELECT * FROM call_slots WHERE state IN ('dialing', 'calling') AND lease_until < $1
             ORDER BY id LIMIT 100",
        )
        .bind(now_ts)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(slot_from_row).collect())
    }

    /// Waiting slots whose window has closed: nobody will call them now.
    pub async fn close_stale_slots(&self, now_ts: &str) -> Result<Vec<CallSlot>> {
        let rows = sqlx::query(
            "UPDATE call_slots SET state = 'missed', last_result = COALESCE(last_result, 'window closed'),
               updated_at = $1
             WHERE state = 'waiting' AND window_end < $1 RETURNING *",
        )
        .bind(now_ts)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(slot_from_row).collect())
    }

    /// The person's slots, newest first.
    pub async fn slots_of(&self, person_id: &str, limit: i64) -> Result<Vec<CallSlot>> {
        let rows = sqlx::query(
            "SELECT * FROM call_slots WHERE person_id = $1 ORDER BY due_at DESC, id DESC LIMIT $2",
        )
        .bind(person_id)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(slot_from_row).collect())
    }

    /// The person's slots due in [from, until), oldest first (trends).
    pub async fn slots_between(
        &self,
        person_id: &str,
        from: &str,
        until: &str,
    ) -> Result<Vec<CallSlot>> {
        let rows = sqlx::query(
            "SELECT * FROM call_slots WHERE person_id = $1 AND due_at >= $2 AND due_at < $3
             ORDER BY due_at, id",
        )
        .bind(person_id)
        .bind(from)
        .bind(until)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(slot_from_row).collect())
    }

    pub async fn attempts_of(&self, person_id: &str, limit: i64) -> Result<Vec<CallAttempt>> {
        let rows = sqlx::query(
            "SELECT * FROM call_attempts WHERE person_id = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(person_id)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(attempt_from_row).collect())
    }
}

impl SqlStore {
    /// A dial that never reached Twilio still uses up a try.
    pub async fn record_attempt_failure(&self, slot_id: i64) -> Result<()> {
        sqlx::query("UPDATE call_slots SET attempts = attempts + 1, updated_at = $2 WHERE id = $1")
            .bind(slot_id)
            .bind(now())
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// An answering machine took the slot's call (even after it was marked answered: the
    /// verdict comes after the pick-up).
    pub async fn slot_reached_machine(&self, slot_id: i64, answered_by: &str) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE call_slots SET state = 'machine', lease_until = NULL, last_result = $2, updated_at = $3
             WHERE id = $1 AND state IN ('dialing', 'calling', 'answered')",
        )
        .bind(slot_id)
        .bind(answered_by)
        .bind(now())
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }
}
