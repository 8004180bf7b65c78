//! What the post-call jobs write: diaries, schedules, moods, quality reports, each
//! saved in the transaction that marks its job done.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::model::*;
use crate::companion::{json_list, parse_list};
use crate::{Result, SqlStore, ts};

fn schedule_from_row(r: &AnyRow) -> Schedule {
    Schedule {
        id: r.get("id"),
        call_sid: r.get("call_sid"),
        title: r.get("title"),
        kind: r.get("kind"),
        local_date: r.get("local_date"),
        local_time: r.get("local_time"),
        all_day: r.get::<i64, _>("all_day") != 0,
        starts_at: r.get("starts_at"),
        timezone: r.get("timezone"),
        quote: r.get("quote"),
    }
}

async fn save(tx: &mut Transaction<'_, Any>, result: &JobResult, now: &str) -> Result<()> {
    match result {
        JobResult::Nothing => {}
        JobResult::Diary(d) => {
            sqlx::query(
                "INSERT INTO diaries (call_sid, local_date, language, title, paragraphs_json, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT(call_sid) DO UPDATE SET local_date = excluded.local_date,
                   language = excluded.language, title = excluded.title,
                   paragraphs_json = excluded.paragraphs_json, created_at = excluded.created_at",
            )
            .bind(&d.call_sid)
            .bind(&d.local_date)
            .bind(&d.language)
            .bind(&d.title)
            .bind(json_list(&d.paragraphs))
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        JobResult::Schedules { call_sid, items } => {
            sqlx::query("DELETE FROM schedules WHERE call_sid = $1")
                .bind(call_sid)
                .execute(&mut **tx)
                .await?;
            for n in items {
                let s = &n.schedule;
                sqlx::query(
                    "INSERT INTO schedules (call_sid, title, kind, local_date, local_time, all_day,
                        starts_at, timezone, until_utc, quote, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                )
                .bind(call_sid)
                .bind(&s.title)
                .bind(&s.kind)
                .bind(&s.local_date)
                .bind(&s.local_time)
                .bind(s.all_day as i64)
                .bind(&s.starts_at)
                .bind(&s.timezone)
                .bind(&n.until_utc)
                .bind(&s.quote)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
        }
        JobResult::Mood(m) => {
            sqlx::query(
                "INSERT INTO moods (call_sid, label, score, reason, quotes_json, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT(call_sid) DO UPDATE SET label = excluded.label, score = excluded.score,
                   reason = excluded.reason, quotes_json = excluded.quotes_json,
                   created_at = excluded.created_at",
            )
            .bind(&m.call_sid)
            .bind(&m.label)
            .bind(m.score)
            .bind(&m.reason)
            .bind(json_list(&m.quotes))
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
        JobResult::Quality {
            call_sid,
            report_json,
        } => {
            sqlx::query(
                "INSERT INTO quality_reports (call_sid, report_json, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT(call_sid) DO UPDATE SET report_json = excluded.report_json,
                   created_at = excluded.created_at",
            )
            .bind(call_sid)
            .bind(report_json)
            .bind(now)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

impl SqlStore {
    /// Writes a job's result and marks it done, in one transaction. `false`: the claim
    /// was lost (another worker holds the job now) and nothing was written.
    pub async fn complete_job(
        &self,
        claim: &Claim,
        result: &JobResult,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let now = ts(now);
        let mut tx = self.pool().begin().await?;
        save(&mut tx, result, &now).await?;
        let r = sqlx::query(
            "UPDATE jobs SET state = 'done', lease_until = NULL, lease_token = NULL, last_error = NULL,
                    detail = $3, updated_at = $4, finished_at = $4
             WHERE id = $1 AND lease_token = $2 AND state = 'running'",
        )
        .bind(claim.job.id)
        .bind(&claim.token)
        .bind(detail)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    pub async fn diary(&self, call_sid: &str) -> Result<Option<Diary>> {
        let row = sqlx::query("SELECT * FROM diaries WHERE call_sid = $1")
            .bind(call_sid)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Diary {
            call_sid: r.get("call_sid"),
            local_date: r.get("local_date"),
            language: r.get("language"),
            title: r.get("title"),
            paragraphs: parse_list(r.get("paragraphs_json")),
        }))
    }

    pub async fn mood(&self, call_sid: &str) -> Result<Option<Mood>> {
        let row = sqlx::query("SELECT * FROM moods WHERE call_sid = $1")
            .bind(call_sid)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| Mood {
            call_sid: r.get("call_sid"),
            label: r.get("label"),
            score: r.get("score"),
            reason: r.get("reason"),
            quotes: parse_list(r.get("quotes_json")),
        }))
    }

    /// The call's quality report, as stored (JSON).
    pub async fn quality_json(&self, call_sid: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT report_json FROM quality_reports WHERE call_sid = $1")
            .bind(call_sid)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| r.get("report_json")))
    }

    /// The call's schedules, soonest first.
    pub async fn schedules(&self, call_sid: &str) -> Result<Vec<Schedule>> {
        let rows =
            sqlx::query("SELECT * FROM schedules WHERE call_sid = $1 ORDER BY until_utc, id")
                .bind(call_sid)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.iter().map(schedule_from_row).collect())
    }

    /// Schedules across calls that have not passed at `now`, soonest first.
    pub async fn upcoming_schedules(
        &self,
        now: DateTime<Utc>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<Schedule>> {
        let rows = sqlx::query(
            "SELECT * FROM schedules WHERE until_utc >= $1 ORDER BY until_utc, id LIMIT $2 OFFSET $3",
        )
        .bind(ts(now))
        .bind(limit.clamp(1, 500))
        .bind(offset.max(0))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(schedule_from_row).collect())
    }
}
