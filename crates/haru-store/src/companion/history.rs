//! A person's past calls and their post-call results (diaries, schedules, moods), read
//! for the memory block, the calendar feed and trends.

use sqlx::Row;

use super::*;
use crate::{Backend, Result, SqlStore};

impl SqlStore {
    /// The person's latest diaries, newest first.
    pub async fn diaries_of(&self, person_id: &str, limit: i64) -> Result<Vec<DiaryEntry>> {
        let rows = sqlx::query(
            "SELECT d.call_sid, d.local_date, d.title, d.paragraphs_json FROM diaries d
             JOIN calls c ON c.call_sid = d.call_sid WHERE c.person_id = $1
             ORDER BY c.started_at DESC LIMIT $2",
        )
        .bind(person_id)
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| DiaryEntry {
                call_sid: r.get("call_sid"),
                local_date: r.get("local_date"),
                title: r.get("title"),
                paragraphs: parse_list(r.get("paragraphs_json")),
            })
            .collect())
    }

    /// The person's schedule items that have not passed by `now_utc` (all of them with
    /// `None`), soonest first.
    pub async fn schedules_of(
        &self,
        person_id: &str,
        upcoming_after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<ScheduleItem>> {
        let rows = sqlx::query(
            "SELECT s.* FROM schedules s JOIN calls c ON c.call_sid = s.call_sid
             WHERE c.person_id = $1 AND ($2 IS NULL OR s.until_utc >= $2)
             ORDER BY s.local_date, COALESCE(s.local_time, ''), s.id LIMIT $3",
        )
        .bind(person_id)
        .bind(upcoming_after)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| ScheduleItem {
                id: r.get("id"),
                call_sid: r.get("call_sid"),
                title: r.get("title"),
                kind: r.get("kind"),
                local_date: r.get("local_date"),
                local_time: r.get("local_time"),
                all_day: r.get::<i64, _>("all_day") != 0,
                timezone: r.get("timezone"),
                quote: r.get("quote"),
                created_at: r.get("created_at"),
            })
            .collect())
    }

    /// When the person's latest call started, if they ever had one.
    pub async fn last_call_of(&self, person_id: &str) -> Result<Option<String>> {
        let row: Option<(Option<String>,)> =
            sqlx::query_as("SELECT MAX(started_at) FROM calls WHERE person_id = $1")
                .bind(person_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(t,)| t))
    }

    /// The person's moods, newest call first.
    pub async fn moods_of(&self, person_id: &str, limit: i64) -> Result<Vec<MoodEntry>> {
        let rows = sqlx::query(
            "SELECT m.call_sid, c.started_at, m.label, m.score, m.reason FROM moods m
             JOIN calls c ON c.call_sid = m.call_sid WHERE c.person_id = $1
             ORDER BY c.started_at DESC LIMIT $2",
        )
        .bind(person_id)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| MoodEntry {
                call_sid: r.get("call_sid"),
                call_started_at: r.get("started_at"),
                label: r.get("label"),
                score: r.get("score"),
                reason: r.get("reason"),
            })
            .collect())
    }

    /// The person's calls started in [from, until), oldest first, with their mood score and
    /// how many words the person said.
    pub async fn calls_of(
        &self,
        person_id: &str,
        from: &str,
        until: &str,
    ) -> Result<Vec<CallSummary>> {
        let concat = match self.backend() {
            Backend::Sqlite => "group_concat(content, ' ')",
            Backend::Postgres => "string_agg(content, ' ')",
        };
        let sql = format!(
            "SELECT c.call_sid, c.started_at, c.ended_at, c.status, m.score,
               (SELECT {concat} FROM messages
                 WHERE call_sid = c.call_sid AND role = 'user') AS said
             FROM calls c LEFT JOIN moods m ON m.call_sid = c.call_sid
             WHERE c.person_id = $1 AND c.started_at >= $2 AND c.started_at < $3
             ORDER BY c.started_at"
        );
        let rows = sqlx::query(&sql)
            .bind(person_id)
            .bind(from)
            .bind(until)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| CallSummary {
                call_sid: r.get("call_sid"),
                started_at: r.get("started_at"),
                ended_at: r.get("ended_at"),
                status: r.get("status"),
                mood_score: r.get("score"),
                user_words: r
                    .get::<Option<String>, _>("said")
                    .map(|s| s.split_whitespace().count() as i64)
                    .unwrap_or(0),
            })
            .collect())
    }
}
