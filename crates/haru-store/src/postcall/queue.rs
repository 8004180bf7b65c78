//! The durable job queue (`jobs` table).
//!
//! A job is claimed by one atomic `UPDATE ... WHERE id = (SELECT ...) RETURNING` (on
//! PostgreSQL the inner select takes the row `FOR UPDATE SKIP LOCKED`, so instances
//! claiming at once each get a different job instead of waiting on one). Each claim gets
//! a fresh lease token and a lease deadline; heartbeats push the deadline on, and a
//! `running` job whose deadline passed (its worker or its whole instance died) is
//! claimable again. Completion checks the token inside the transaction that writes the
//! results, so a worker that lost its lease can never overwrite the one that took over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::model::*;
use crate::{Result, SqlStore, ts};

fn after(now: DateTime<Utc>, d: Duration) -> String {
    ts(now + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX / 2))
}

/// Exponential backoff: `base * 2^(attempts-1)`, capped.
pub fn backoff(base: Duration, attempts: i64, cap: Duration) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    base.saturating_mul(1u32 << exp).min(cap)
}

pub(super) fn job_from_row(r: &AnyRow) -> Job {
    Job {
        id: r.get("id"),
        call_sid: r.get("call_sid"),
        // The CHECK constraints keep these parseable; fall back rather than panic.
        kind: JobKind::parse(r.get::<&str, _>("kind")).unwrap_or(JobKind::Quality),
        state: JobState::parse(r.get::<&str, _>("state")).unwrap_or(JobState::Failed),
        attempts: r.get("attempts"),
        max_attempts: r.get("max_attempts"),
        run_at: r.get("run_at"),
        lease_until: r.get("lease_until"),
        last_error: r.get("last_error"),
        detail: r.get("detail"),
        created_at: r.get("created_at"),
        updated_at: r.get("updated_at"),
        finished_at: r.get("finished_at"),
    }
}

impl SqlStore {
    /// Adds a pending job unless one of that kind exists for the call (idempotent).
    pub async fn enqueue_job(
        &self,
        call_sid: &str,
        kind: JobKind,
        max_attempts: i64,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let now = ts(now);
        sqlx::query(
            "INSERT INTO jobs (call_sid, kind, state, max_attempts, run_at, created_at, updated_at)
             VALUES ($1, $2, 'pending', $3, $4, $4, $4)
             ON CONFLICT(call_sid, kind) DO NOTHING",
        )
        .bind(call_sid)
        .bind(kind.as_str())
        .bind(max_attempts.max(1))
        .bind(&now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Claims the next due job: a pending one whose time has come, or a running one whose
    /// lease expired. One statement, so the choice and the claim are atomic.
    pub async fn claim_job(&self, lease: Duration, now: DateTime<Utc>) -> Result<Option<Claim>> {
        let token = uuid::Uuid::new_v4().to_string();
        let lock = self.skip_locked("");
        let sql = format!(
            "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $1,
                    lease_token = $2, updated_at = $3
             WHERE id = (SELECT id FROM jobs
                         WHERE (state = 'pending' AND run_at <= $3)
                            OR (state = 'running' AND lease_until < $3)
                         ORDER BY run_at, id LIMIT 1 {lock})
               AND ((state = 'pending' AND run_at <= $3) OR (state = 'running' AND lease_until < $3))
             RETURNING *"
        );
        let row = sqlx::query(&sql)
            .bind(after(now, lease))
            .bind(&token)
            .bind(ts(now))
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Claim {
            job: job_from_row(&r),
            token,
        }))
    }

    /// Extends the lease. `false`: the claim is no longer ours (expired and taken over).
    pub async fn heartbeat_job(
        &self,
        claim: &Claim,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET lease_until = $3, updated_at = $4
             WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        )
        .bind(claim.job.id)
        .bind(&claim.token)
        .bind(after(now, lease))
        .bind(ts(now))
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records a failed attempt. A `permanent` error (the model's answer was unusable)
    /// fails the job once its attempts are used up; a transient one (the provider is
    /// down) only waits, so no job is lost to an outage.
    pub async fn fail_job(
        &self,
        claim: &Claim,
        error: &str,
        permanent: bool,
        retry_in: Duration,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE jobs SET
                state = CASE WHEN $3 = 1 AND attempts >= max_attempts THEN 'failed' ELSE 'pending' END,
                finished_at = CASE WHEN $3 = 1 AND attempts >= max_attempts THEN $5 ELSE NULL END,
                run_at = $4, last_error = $6, lease_until = NULL, lease_token = NULL, updated_at = $5
             WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        )
        .bind(claim.job.id)
        .bind(&claim.token)
        .bind(permanent as i64)
        .bind(after(now, retry_in))
        .bind(ts(now))
        .bind(error)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Gives a claim back without counting it (graceful shutdown mid-job).
    pub async fn release_job(&self, claim: &Claim, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'pending',
                    attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, run_at = $3,
                    lease_until = NULL, lease_token = NULL, updated_at = $3
             WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        )
        .bind(claim.job.id)
        .bind(&claim.token)
        .bind(ts(now))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Puts a finished or failed job back in the queue with fresh attempts.
    pub async fn rerun_job(&self, id: i64, now: DateTime<Utc>) -> Result<Rerun> {
        let row = sqlx::query(
            "UPDATE jobs SET state = 'pending', attempts = 0, run_at = $2, last_error = NULL,
                    finished_at = NULL, updated_at = $2
             WHERE id = $1 AND state != 'running' RETURNING *",
        )
        .bind(id)
        .bind(ts(now))
        .fetch_optional(self.pool())
        .await?;
        if let Some(r) = row {
            return Ok(Rerun::Queued(job_from_row(&r)));
        }
        Ok(match self.job(id).await? {
            Some(job) => Rerun::Busy(job),
            None => Rerun::NotFound,
        })
    }

    /// The job of `kind` for a call.
    pub async fn find_job(&self, call_sid: &str, kind: JobKind) -> Result<Option<Job>> {
        let row = sqlx::query("SELECT * FROM jobs WHERE call_sid = $1 AND kind = $2")
            .bind(call_sid)
            .bind(kind.as_str())
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(job_from_row))
    }

    pub async fn job(&self, id: i64) -> Result<Option<Job>> {
        let row = sqlx::query("SELECT * FROM jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(job_from_row))
    }

    /// Newest first.
    pub async fn jobs(&self, f: &JobFilter) -> Result<Vec<Job>> {
        let limit = if f.limit <= 0 { 50 } else { f.limit.min(500) };
        let rows = sqlx::query(
            "SELECT * FROM jobs
             WHERE ($1 IS NULL OR call_sid = $1) AND ($2 IS NULL OR state = $2) AND ($3 IS NULL OR kind = $3)
             ORDER BY id DESC LIMIT $4 OFFSET $5",
        )
        .bind(&f.call_sid)
        .bind(f.state.map(JobState::as_str))
        .bind(f.kind.map(JobKind::as_str))
        .bind(limit)
        .bind(f.offset.max(0))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(job_from_row).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let base = Duration::from_secs(10);
        let cap = Duration::from_secs(60);
        assert_eq!(backoff(base, 1, cap), Duration::from_secs(10));
        assert_eq!(backoff(base, 2, cap), Duration::from_secs(20));
        assert_eq!(backoff(base, 3, cap), Duration::from_secs(40));
        assert_eq!(backoff(base, 4, cap), cap);
        assert_eq!(backoff(base, i64::MAX, cap), cap);
        assert_eq!(backoff(base, 0, cap), base);
    }
}
