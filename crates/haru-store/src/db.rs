//! The SQL store: one implementation of [`CallStore`] (and of every other table's
//! queries) over sqlx's `Any` driver, for SQLite (the default: WAL, `synchronous=FULL`,
//! so an awaited write is on disk) and PostgreSQL (several instances on one database).
//!
//! Queries are written once, in the SQL both accept (`$1` placeholders, `ON CONFLICT`,
//! `RETURNING`, integers as BIGINT, flags as 0/1); the few that differ branch on
//! [`Backend`]. Each backend has its own migrations (`migrations/sqlite`,
//! `migrations/postgres`) with the same numbers and the same columns.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};

use crate::*;

/// Which database a [`SqlStore`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if it is one haru supports.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// haru's tables, by name (so no caller spells SQL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    Calls,
    StatusEvents,
    StreamEvents,
    Messages,
    Turns,
    Jobs,
    Diaries,
    Schedules,
    Moods,
    QualityReports,
    People,
    MemoryItems,
    Alerts,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Calls => "calls",
            Table::StatusEvents => "call_status_events",
            Table::StreamEvents => "stream_events",
            Table::Messages => "messages",
            Table::Turns => "turns",
            Table::Jobs => "jobs",
            Table::Diaries => "diaries",
            Table::Schedules => "schedules",
            Table::Moods => "moods",
            Table::QualityReports => "quality_reports",
            Table::People => "people",
            Table::MemoryItems => "memory_items",
            Table::Alerts => "alerts",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SqlStore {
    pub(crate) pool: AnyPool,
    backend: Backend,
    /// The haru instance this store serves (`None`: a tool, or a test, not a server).
    instance: Option<Arc<Instance>>,
}

#[derive(Debug)]
struct Instance {
    id: String,
    /// A heartbeat older than this means the instance is gone.
    lease: Duration,
}

/// The store's timestamp format (RFC 3339, UTC, milliseconds), so string order is time order.
pub fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn now() -> String {
    ts(chrono::Utc::now())
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A database URL with its password replaced, for errors and logs.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => url.split('@').next_back().unwrap_or("").to_string(),
    }
}

/// A message with the URL's password removed (drivers may echo parts of the URL).
pub fn redact_password_in(message: &str, url: &str) -> String {
    match url::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_string))
    {
        Some(p) if !p.is_empty() => message.replace(&p, "***"),
        _ => message.to_string(),
    }
}

impl SqlStore {
    /// Opens (creating a SQLite file if missing) and migrates the database `url` names.
    pub async fn open(url: &str) -> Result<Self> {
        let backend =
            Backend::of_url(url).ok_or_else(|| StoreError::UnsupportedUrl(redact_url(url)))?;
        sqlx::any::install_default_drivers();
        let pool = match backend {
            Backend::Sqlite => {
                let memory = url.contains(":memory:");
                let url = if memory || url.contains("mode=") {
                    url.to_string()
                } else {
                    // Create the file if missing, as the prototype did.
                    format!("{url}{}mode=rwc", if url.contains('?') { '&' } else { '?' })
                };
                let opts: AnyConnectOptions = url.parse()?;
                AnyPoolOptions::new()
                    // An in-memory database exists per connection; keep exactly one.
                    .max_connections(if memory { 1 } else { 8 })
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            // FULL: a committed transaction survives power loss, so
                            // "stored" means stored.
                            for pragma in [
                                "PRAGMA journal_mode = WAL",
                                "PRAGMA synchronous = FULL",
                                "PRAGMA busy_timeout = 10000",
                                "PRAGMA foreign_keys = ON",
                            ] {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect_with(opts)
                    .await?
            }
            Backend::Postgres => {
                let opts: AnyConnectOptions = url.parse()?;
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_with(opts)
                    .await?
            }
        };
        let store = Self {
            pool,
            backend,
            instance: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        match self.backend {
            // sqlx holds an advisory lock on PostgreSQL, so instances starting at once
            // migrate one after the other.
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&self.pool).await?,
            // On SQLite nothing serialises two processes migrating one new file: the
            // loser of the race fails on a table the winner just made. Look again once the
            // winner is done; by then every migration is applied and there is nothing to do.
            Backend::Sqlite => {
                let mut attempt = 0;
                loop {
                    match SQLITE_MIGRATIONS.run(&self.pool).await {
                        Ok(()) => break,
                        Err(e) if attempt < 10 => {
                            attempt += 1;
                            tracing::debug!(error = %e, attempt, "migration raced; looking again");
                            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        }
        Ok(())
    }

    /// The row lock a claim's inner `SELECT` takes: on PostgreSQL `FOR UPDATE [OF t] SKIP
    /// LOCKED`, so concurrent claimers each get a different row instead of queueing on one;
    /// nothing on SQLite, where a write transaction holds the whole database.
    pub(crate) fn skip_locked(&self, table: &str) -> String {
        match (self.backend, table) {
            (Backend::Sqlite, _) => String::new(),
            (Backend::Postgres, "") => "FOR UPDATE SKIP LOCKED".into(),
            (Backend::Postgres, t) => format!("FOR UPDATE OF {t} SKIP LOCKED"),
        }
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// This store serves instance `id`: streams it claims are recorded as held by it, and
    /// its calls count as lost once its heartbeat is older than `lease`.
    pub fn for_instance(mut self, id: &str, lease: Duration) -> Self {
        self.instance = Some(Arc::new(Instance {
            id: id.to_string(),
            lease,
        }));
        self
    }

    pub fn instance_id(&self) -> Option<&str> {
        self.instance.as_deref().map(|i| i.id.as_str())
    }

    /// The database's clock plus `plus_ms`, in the store's timestamp format, as SQL: every
    /// instance's lease is written and judged by this one clock.
    fn db_clock(&self, plus_ms: u64) -> String {
        match self.backend {
            Backend::Sqlite => format!(
                "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+{:.3} seconds')",
                plus_ms as f64 / 1000.0
            ),
            Backend::Postgres => format!(
                "to_char((now() AT TIME ZONE 'UTC') + interval '{plus_ms} milliseconds', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
            ),
        }
    }

    fn lease_ms(&self) -> u64 {
        self.instance
            .as_deref()
            .map(|i| u64::try_from(i.lease.as_millis()).unwrap_or(u64::MAX / 2))
            .unwrap_or(15_000)
    }

    /// Announces this instance (see [`SqlStore::for_instance`]) with its first heartbeat.
    pub async fn register_instance(&self, info: &str) -> Result<()> {
        let Some(id) = self.instance_id() else {
            return Ok(());
        };
        let sql = format!(
            "INSERT INTO instances (id, started_at, heartbeat_at, lease_until, info)
             VALUES ($1, {now}, {now}, {until}, $2)",
            now = self.db_clock(0),
            until = self.db_clock(self.lease_ms()),
        );
        sqlx::query(&sql)
            .bind(id)
            .bind(info)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Renews this instance's lease on its calls (its own lease length, the database's clock).
    pub async fn beat(&self) -> Result<()> {
        if let Some(id) = self.instance_id() {
            let sql = format!(
                "UPDATE instances SET heartbeat_at = {}, lease_until = {} WHERE id = $1",
                self.db_clock(0),
                self.db_clock(self.lease_ms())
            );
            sqlx::query(&sql).bind(id).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// Marks this instance stopped (a clean shutdown; shown by `haru doctor`). Its lease
    /// still runs: sessions finishing during the shutdown close their own calls, and only
    /// calls still open when the lease runs out count as lost.
    pub async fn retire(&self) -> Result<()> {
        if let Some(id) = self.instance_id() {
            let sql = format!(
                "UPDATE instances SET stopped_at = {} WHERE id = $1",
                self.db_clock(0)
            );
            sqlx::query(&sql).bind(id).execute(&self.pool).await?;
        }
        Ok(())
    }

    /// The instances whose lease still runs and that have not stopped, newest first (for
    /// `haru doctor`): id, start, last heartbeat.
    pub async fn live_instances(&self) -> Result<Vec<(String, String, String)>> {
        let sql = format!(
            "SELECT id, started_at, heartbeat_at FROM instances
             WHERE stopped_at IS NULL AND lease_until >= {} ORDER BY started_at DESC",
            self.db_clock(0)
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("id"), r.get("started_at"), r.get("heartbeat_at")))
            .collect())
    }

    /// Sets a call's start and end times: for tests and imports that replay past calls
    /// (the store otherwise stamps rows with the time of the write).
    pub async fn backdate_call(
        &self,
        call_sid: &str,
        started_at: &str,
        ended_at: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE calls SET started_at = $1, ended_at = COALESCE($2, ended_at) WHERE call_sid = $3")
            .bind(started_at)
            .bind(ended_at)
            .bind(call_sid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Sets when a message was said (see [`SqlStore::backdate_call`]).
    pub async fn backdate_message(&self, id: i64, at: &str) -> Result<()> {
        sqlx::query("UPDATE messages SET created_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// How many rows a table holds: for checks that something exists exactly once (tests,
    /// `haru doctor`).
    pub async fn count_rows(&self, table: Table) -> Result<i64> {
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {}", table.name()))
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Every table and its columns in order (migration bookkeeping left out): what the two
    /// backends' migrations must agree on, checked by a test on both.
    pub async fn schema(&self) -> Result<Vec<(String, Vec<String>)>> {
        let rows = match self.backend {
            Backend::Sqlite => {
                sqlx::query(
                    "SELECT m.name AS t, p.name AS c FROM sqlite_master m, pragma_table_info(m.name) p
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name != '_sqlx_migrations'
                     ORDER BY m.name, p.cid",
                )
                .fetch_all(&self.pool)
                .await?
            }
            Backend::Postgres => {
                sqlx::query(
                    "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns
                     WHERE table_schema = current_schema() AND table_name != '_sqlx_migrations'
                     ORDER BY table_name, ordinal_position",
                )
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in rows {
            let (t, c): (String, String) = (r.try_get("t")?, r.try_get("c")?);
            match out.last_mut() {
                Some((last, cols)) if *last == t => cols.push(c),
                _ => out.push((t, vec![c])),
            }
        }
        Ok(out)
    }

    /// The newest migration applied (the schema version).
    pub async fn schema_version(&self) -> Result<i64> {
        let row = sqlx::query("SELECT MAX(version) AS v FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>("v")?.unwrap_or(0))
    }
}

fn call_from_row(r: &AnyRow) -> CallRecord {
    CallRecord {
        call_sid: r.get("call_sid"),
        direction: r.get("direction"),
        from_number: r.get("from_number"),
        to_number: r.get("to_number"),
        status: r.get("status"),
        stream_sid: r.get("stream_sid"),
        started_at: r.get("started_at"),
        ended_at: r.get("ended_at"),
        end_reason: r.get("end_reason"),
        transcript: r.get("transcript"),
        person_id: r.get("person_id"),
    }
}

fn turn_from_row(r: &AnyRow) -> TurnTiming {
    TurnTiming {
        call_sid: r.get("call_sid"),
        turn_index: r.get("turn_index"),
        speech_ms: r.get("speech_ms"),
        stt_ms: r.get("stt_ms"),
        llm_first_token_ms: r.get("llm_first_token_ms"),
        llm_total_ms: r.get("llm_total_ms"),
        tts_first_byte_ms: r.get("tts_first_byte_ms"),
        first_audio_ms: r.get("first_audio_ms"),
        answer_audio_ms: r.get("answer_audio_ms"),
        total_ms: r.get("total_ms"),
        barge_in: r.get::<i64, _>("barge_in") != 0,
        outcome: r.get("outcome"),
        error: r.get("error"),
    }
}

#[async_trait]
impl CallStore for SqlStore {
    async fn upsert_call(&self, c: &NewCall) -> Result<()> {
        sqlx::query(
            "INSERT INTO calls (call_sid, direction, from_number, to_number, status, stream_token, started_at, person_id)
             VALUES ($1, $2, $3, $4, COALESCE($5, 'created'), $6, $7,
                     (SELECT id FROM people WHERE phone = CASE WHEN $2 = 'inbound' THEN $3 ELSE $4 END))
             ON CONFLICT(call_sid) DO UPDATE SET
               person_id = COALESCE(calls.person_id, excluded.person_id),
               from_number = COALESCE(calls.from_number, excluded.from_number),
               to_number = COALESCE(calls.to_number, excluded.to_number),
               stream_token = COALESCE(excluded.stream_token, calls.stream_token),
               status = COALESCE($5, calls.status)",
        )
        .bind(&c.call_sid)
        .bind(&c.direction)
        .bind(&c.from_number)
        .bind(&c.to_number)
        .bind(&c.status)
        .bind(&c.stream_token)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn stream_token(&self, call_sid: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT stream_token FROM calls WHERE call_sid = $1")
            .bind(call_sid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.and_then(|r| r.get::<Option<String>, _>("stream_token")))
    }

    async fn record_status(&self, e: &StatusEvent) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO calls (call_sid, status, started_at) VALUES ($1, $2, $3)
             ON CONFLICT(call_sid) DO UPDATE SET status = CASE
               WHEN calls.ended_at IS NOT NULL AND $2 != 'completed' THEN calls.status ELSE $2 END",
        )
        .bind(&e.call_sid)
        .bind(&e.call_status)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO call_status_events (call_sid, call_status, call_duration, timestamp, sequence, params_json, received_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.call_sid)
        .bind(&e.call_status)
        .bind(e.call_duration)
        .bind(&e.timestamp)
        .bind(e.sequence)
        .bind(&e.params_json)
        .bind(now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_stream_event(
        &self,
        call_sid: &str,
        stream_sid: Option<&str>,
        kind: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO stream_events (call_sid, stream_sid, kind, detail, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(call_sid)
        .bind(stream_sid)
        .bind(kind)
        .bind(detail)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_stream(&self, call_sid: &str, stream_sid: &str) -> Result<()> {
        sqlx::query("UPDATE calls SET stream_sid = $2, status = CASE WHEN ended_at IS NULL THEN 'in-progress' ELSE status END WHERE call_sid = $1")
            .bind(call_sid)
            .bind(stream_sid)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn claim_stream(&self, call_sid: &str, stream_sid: &str) -> Result<bool> {
        // One statement, so two streams racing for one token cannot both win.
        let r = sqlx::query(
            "UPDATE calls SET stream_sid = $2, status = 'in-progress', instance_id = $3
             WHERE call_sid = $1 AND stream_sid IS NULL AND ended_at IS NULL",
        )
        .bind(call_sid)
        .bind(stream_sid)
        .bind(self.instance_id())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn add_message(&self, m: &NewMessage) -> Result<i64> {
        let r = sqlx::query(
            "INSERT INTO messages (call_sid, turn_index, role, content, interrupted, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&m.call_sid)
        .bind(m.turn_index)
        .bind(m.role.as_str())
        .bind(&m.content)
        .bind(m.interrupted as i64)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        Ok(r.get::<i64, _>("id"))
    }

    async fn record_turn(&self, t: &TurnTiming) -> Result<()> {
        sqlx::query(
            "INSERT INTO turns (call_sid, turn_index, speech_ms, stt_ms, llm_first_token_ms, llm_total_ms,
                tts_first_byte_ms, first_audio_ms, total_ms, barge_in, outcome, error, created_at,
                answer_audio_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
             ON CONFLICT(call_sid, turn_index) DO UPDATE SET
                speech_ms = excluded.speech_ms, stt_ms = excluded.stt_ms,
                llm_first_token_ms = excluded.llm_first_token_ms, llm_total_ms = excluded.llm_total_ms,
                tts_first_byte_ms = excluded.tts_first_byte_ms, first_audio_ms = excluded.first_audio_ms,
                total_ms = excluded.total_ms, barge_in = excluded.barge_in, outcome = excluded.outcome,
                error = excluded.error, answer_audio_ms = excluded.answer_audio_ms",
        )
        .bind(&t.call_sid)
        .bind(t.turn_index)
        .bind(t.speech_ms)
        .bind(t.stt_ms)
        .bind(t.llm_first_token_ms)
        .bind(t.llm_total_ms)
        .bind(t.tts_first_byte_ms)
        .bind(t.first_audio_ms)
        .bind(t.total_ms)
        .bind(t.barge_in as i64)
        .bind(&t.outcome)
        .bind(&t.error)
        .bind(now())
        .bind(t.answer_audio_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn close_call(
        &self,
        call_sid: &str,
        reason: &str,
        transcript: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE calls SET ended_at = COALESCE(ended_at, $2), end_reason = COALESCE(end_reason, $3),
               transcript = COALESCE($4, transcript), status = CASE WHEN status IN ('completed','failed','busy','no-answer','canceled') THEN status ELSE 'completed' END
             WHERE call_sid = $1",
        )
        .bind(call_sid)
        .bind(now())
        .bind(reason)
        .bind(transcript)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn call(&self, call_sid: &str) -> Result<Option<CallRecord>> {
        let row = sqlx::query("SELECT * FROM calls WHERE call_sid = $1")
            .bind(call_sid)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(call_from_row))
    }

    async fn list_calls(&self, f: &CallFilter) -> Result<Vec<CallRecord>> {
        let limit = if f.limit <= 0 { 50 } else { f.limit.min(500) };
        let rows = sqlx::query(
            "SELECT * FROM calls
             WHERE ($1 IS NULL OR started_at >= $1) AND ($2 IS NULL OR started_at < $2)
               AND ($3 IS NULL OR from_number = $3 OR to_number = $3)
               AND ($4 IS NULL OR status = $4)
             ORDER BY started_at DESC, call_sid LIMIT $5 OFFSET $6",
        )
        .bind(&f.from)
        .bind(&f.until)
        .bind(&f.phone)
        .bind(&f.status)
        .bind(limit)
        .bind(f.offset.max(0))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(call_from_row).collect())
    }

    async fn messages(&self, call_sid: &str) -> Result<Vec<Message>> {
        let rows = sqlx::query("SELECT * FROM messages WHERE call_sid = $1 ORDER BY id")
            .bind(call_sid)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(Message {
                    id: r.get("id"),
                    call_sid: r.get("call_sid"),
                    turn_index: r.get("turn_index"),
                    role: Role::parse(r.get::<&str, _>("role"))?,
                    content: r.get("content"),
                    interrupted: r.get::<i64, _>("interrupted") != 0,
                    created_at: r.get("created_at"),
                })
            })
            .collect())
    }

    async fn turns(&self, call_sid: &str) -> Result<Vec<TurnTiming>> {
        let rows = sqlx::query("SELECT * FROM turns WHERE call_sid = $1 ORDER BY turn_index")
            .bind(call_sid)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(turn_from_row).collect())
    }

    async fn status_events(&self, call_sid: &str) -> Result<Vec<StatusEvent>> {
        let rows = sqlx::query("SELECT * FROM call_status_events WHERE call_sid = $1 ORDER BY id")
            .bind(call_sid)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| StatusEvent {
                call_sid: r.get("call_sid"),
                call_status: r.get("call_status"),
                call_duration: r.get("call_duration"),
                timestamp: r.get("timestamp"),
                sequence: r.get("sequence"),
                params_json: r.get("params_json"),
            })
            .collect())
    }

    async fn stream_events(&self, call_sid: &str) -> Result<Vec<StreamEvent>> {
        let rows = sqlx::query("SELECT * FROM stream_events WHERE call_sid = $1 ORDER BY id")
            .bind(call_sid)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| StreamEvent {
                call_sid: r.get("call_sid"),
                stream_sid: r.get("stream_sid"),
                kind: r.get("kind"),
                detail: r.get("detail"),
                at: r.get("at"),
            })
            .collect())
    }

    async fn save_recording(&self, call_sid: &str, wav: &[u8]) -> Result<()> {
        sqlx::query(
            "INSERT INTO recordings (call_sid, wav, bytes, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (call_sid) DO UPDATE SET wav = excluded.wav, bytes = excluded.bytes,
               created_at = excluded.created_at",
        )
        .bind(call_sid)
        .bind(wav.to_vec())
        .bind(wav.len() as i64)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn recording(&self, call_sid: &str) -> Result<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> =
            sqlx::query_as("SELECT wav FROM recordings WHERE call_sid = $1")
                .bind(call_sid)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(w,)| w))
    }

    async fn recording_bytes(&self, call_sid: &str) -> Result<Option<i64>> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT bytes FROM recordings WHERE call_sid = $1")
                .bind(call_sid)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(b,)| b))
    }

    async fn caller_holds(&self, phone: &str) -> Result<Vec<u32>> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT holds_json FROM caller_profiles WHERE phone = $1")
                .bind(phone)
                .fetch_optional(&self.pool)
                .await?;
        // A damaged profile is only a lost habit, not an error for the call.
        Ok(row
            .and_then(|(j,)| serde_json::from_str(&j).ok())
            .unwrap_or_default())
    }

    async fn lost_calls(&self, before: &str) -> Result<Vec<CallRecord>> {
        let sql = format!(
            "SELECT c.* FROM calls c LEFT JOIN instances i ON i.id = c.instance_id
             WHERE c.ended_at IS NULL AND c.stream_sid IS NOT NULL
               AND ((c.instance_id IS NULL AND c.started_at < $1)
                    OR (c.instance_id IS NOT NULL AND c.instance_id != $2
                        AND (i.id IS NULL OR i.lease_until < {})))
             ORDER BY c.started_at LIMIT 1000",
            self.db_clock(0)
        );
        let rows = sqlx::query(&sql)
            .bind(before)
            .bind(self.instance_id().unwrap_or(""))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(call_from_row).collect())
    }

    async fn held_elsewhere(&self, call_sid: &str) -> Result<bool> {
        let sql = format!(
            "SELECT c.call_sid FROM calls c JOIN instances i ON i.id = c.instance_id
             WHERE c.call_sid = $1 AND c.instance_id != $2 AND i.lease_until >= {}",
            self.db_clock(0)
        );
        let row = sqlx::query(&sql)
            .bind(call_sid)
            .bind(self.instance_id().unwrap_or(""))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn close_lost(
        &self,
        call_sid: &str,
        reason: &str,
        transcript: Option<&str>,
    ) -> Result<bool> {
        // One statement: the call is still open and no other live instance holds it, at
        // the moment of writing. So a session that closed it meanwhile keeps its own
        // ending, and an instance that is alive after all keeps its call.
        let sql = format!(
            "UPDATE calls SET ended_at = $2, end_reason = $3, transcript = COALESCE($4, transcript),
               status = CASE WHEN status IN ('completed','failed','busy','no-answer','canceled') THEN status ELSE 'completed' END
             WHERE call_sid = $1 AND ended_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = calls.instance_id
                               AND i.id != $5 AND i.lease_until >= {})",
            self.db_clock(0)
        );
        let r = sqlx::query(&sql)
            .bind(call_sid)
            .bind(now())
            .bind(reason)
            .bind(transcript)
            .bind(self.instance_id().unwrap_or(""))
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    async fn raise_alert(&self, alert: &NewAlert) -> Result<Option<i64>> {
        self.insert_alert(alert).await
    }

    async fn save_caller_holds(&self, phone: &str, holds: &[u32]) -> Result<()> {
        let json = serde_json::to_string(holds).unwrap_or_else(|_| "[]".into());
        sqlx::query(
            "INSERT INTO caller_profiles (phone, holds_json, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT(phone) DO UPDATE SET holds_json = excluded.holds_json,
                updated_at = excluded.updated_at",
        )
        .bind(phone)
        .bind(json)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn temp_store() -> (SqlStore, crate::test_db::TestDb) {
        let db = crate::test_db::TestDb::new("store").await.unwrap();
        (db.open().await.unwrap(), db)
    }

    #[tokio::test]
    async fn a_call_and_its_conversation_survive_reopening() {
        let (s, db) = temp_store().await;
        s.upsert_call(&NewCall {
            call_sid: "CA1".into(),
            direction: "inbound".into(),
            from_number: Some("+821012345678".into()),
            stream_token: Some("tok".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        s.add_message(&NewMessage {
            call_sid: "CA1".into(),
            turn_index: 1,
            role: Role::User,
            content: "안녕하세요".into(),
            interrupted: false,
        })
        .await
        .unwrap();
        s.record_turn(&TurnTiming {
            call_sid: "CA1".into(),
            turn_index: 1,
            stt_ms: Some(150),
            outcome: "answered".into(),
            ..Default::default()
        })
        .await
        .unwrap();
        s.close_call("CA1", "stop", Some("안녕하세요"))
            .await
            .unwrap();
        drop(s);

        let s = db.open().await.unwrap();
        assert_eq!(s.stream_token("CA1").await.unwrap().as_deref(), Some("tok"));
        let call = s.call("CA1").await.unwrap().unwrap();
        assert_eq!(call.status, "completed");
        assert_eq!(call.transcript.as_deref(), Some("안녕하세요"));
        // Closing again without a transcript (a failed read) keeps the stored one.
        s.close_call("CA1", "internal error", None).await.unwrap();
        let call = s.call("CA1").await.unwrap().unwrap();
        assert_eq!(call.transcript.as_deref(), Some("안녕하세요"));
        assert_eq!(call.end_reason.as_deref(), Some("stop"));
        let msgs = s.messages("CA1").await.unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].content, "안녕하세요");
        assert_eq!(s.turns("CA1").await.unwrap()[0].stt_ms, Some(150));
        // A caller's pause habits survive a restart.
        assert!(s.caller_holds("+821012345678").await.unwrap().is_empty());
        s.save_caller_holds("+821012345678", &[900, 1200])
            .await
            .unwrap();
        s.save_caller_holds("+821012345678", &[900, 1200, 1100])
            .await
            .unwrap();
        drop(s);
        let s = db.open().await.unwrap();
        assert_eq!(
            s.caller_holds("+821012345678").await.unwrap(),
            [900, 1200, 1100]
        );
    }

    #[tokio::test]
    async fn a_recording_is_kept_whole_and_replaced() {
        let (s, _db) = temp_store().await;
        let wav: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        s.save_recording("CA1", &wav).await.unwrap();
        assert_eq!(s.recording("CA1").await.unwrap().as_deref(), Some(&wav[..]));
        assert_eq!(s.recording_bytes("CA1").await.unwrap(), Some(70_000));
        s.save_recording("CA1", &[1, 2, 3]).await.unwrap();
        assert_eq!(s.recording("CA1").await.unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(s.recording("CA2").await.unwrap(), None);
        assert_eq!(s.recording_bytes("CA2").await.unwrap(), None);
    }

    #[tokio::test]
    async fn both_backends_migrate_to_the_same_tables_and_columns() {
        let sqlite = SqlStore::open("sqlite::memory:").await.unwrap();
        let tables = sqlite.schema().await.unwrap();
        assert!(tables.iter().any(|(t, _)| t == "instances"), "{tables:?}");
        let calls = &tables.iter().find(|(t, _)| t == "calls").unwrap().1;
        assert_eq!(calls.first().map(String::as_str), Some("call_sid"));
        assert_eq!(calls.last().map(String::as_str), Some("instance_id"));
        // On the PostgreSQL pass (HARU_TEST_DATABASE_URL) the other backend must match.
        let (s, _db) = temp_store().await;
        assert_eq!(s.schema().await.unwrap(), tables, "{:?}", s.backend());
        assert_eq!(s.schema_version().await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_lost_call_is_closed_once_never_over_its_session_nor_a_live_instance() {
        let (_s, db) = temp_store().await;
        let open = |lease_ms: u64, id: &'static str| {
            let url = db.url.clone();
            async move {
                let st = SqlStore::open(&url)
                    .await
                    .unwrap()
                    .for_instance(id, Duration::from_millis(lease_ms));
                st.register_instance("test").await.unwrap();
                st
            }
        };
        let a = open(30_000, "a-1").await;
        let b = open(30_000, "b-1").await;
        let call = |sid: &str| NewCall {
            call_sid: sid.into(),
            direction: "inbound".into(),
            stream_token: Some("tok".into()),
            ..Default::default()
        };
        a.upsert_call(&call("CA1")).await.unwrap();
        assert!(a.claim_stream("CA1", "MZ1").await.unwrap());
        let future = "2999-01-01T00:00:00.000Z";
        // Held by a live instance: the other one may not close it, nor call it lost.
        assert!(b.held_elsewhere("CA1").await.unwrap());
        assert!(!a.held_elsewhere("CA1").await.unwrap());
        assert!(b.lost_calls(future).await.unwrap().is_empty());
        assert!(
            !b.close_lost("CA1", "server lost", Some("less"))
                .await
                .unwrap()
        );
        // Its session closes it; a sweep afterwards changes nothing.
        a.close_call("CA1", "hangup", Some("the whole call"))
            .await
            .unwrap();
        assert!(
            !a.close_lost("CA1", "server lost", Some("less"))
                .await
                .unwrap()
        );
        let c = a.call("CA1").await.unwrap().unwrap();
        assert_eq!(c.end_reason.as_deref(), Some("hangup"));
        assert_eq!(c.transcript.as_deref(), Some("the whole call"));
        // An instance whose lease ran out: its call is lost, and closed exactly once.
        let gone = open(1, "c-1").await;
        gone.upsert_call(&call("CA2")).await.unwrap();
        assert!(gone.claim_stream("CA2", "MZ2").await.unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
        let lost: Vec<String> = b
            .lost_calls(future)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.call_sid)
            .collect();
        assert_eq!(lost, ["CA2"]);
        assert!(!b.held_elsewhere("CA2").await.unwrap());
        assert!(
            b.close_lost("CA2", "server lost", Some("said"))
                .await
                .unwrap()
        );
        assert!(!a.close_lost("CA2", "server lost", None).await.unwrap());
        assert_eq!(
            b.call("CA2").await.unwrap().unwrap().end_reason.as_deref(),
            Some("server lost")
        );
        assert_eq!(b.live_instances().await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_call_binds_one_stream_once_and_none_after_it_ended() {
        let (s, _db) = temp_store().await;
        let call = |sid: &str| NewCall {
            call_sid: sid.into(),
            direction: "inbound".into(),
            from_number: None,
            to_number: None,
            stream_token: Some("tok".into()),
            status: Some("ringing".into()),
        };
        s.upsert_call(&call("CA1")).await.unwrap();
        // Two streams race for one call: exactly one wins.
        let (a, b) = tokio::join!(s.claim_stream("CA1", "MZa"), s.claim_stream("CA1", "MZb"));
        assert_eq!([a.unwrap(), b.unwrap()].iter().filter(|w| **w).count(), 1);
        assert!(!s.claim_stream("CA1", "MZc").await.unwrap());
        let rec = s.call("CA1").await.unwrap().unwrap();
        assert_eq!(rec.status, "in-progress");
        // A call that ended before any stream takes none afterwards; unknown calls neither.
        s.upsert_call(&call("CA2")).await.unwrap();
        s.close_call("CA2", "completed", None).await.unwrap();
        assert!(!s.claim_stream("CA2", "MZd").await.unwrap());
        assert!(!s.claim_stream("CA9", "MZe").await.unwrap());
    }

    #[tokio::test]
    async fn status_events_are_kept_in_order_and_filters_apply() {
        let (s, _db) = temp_store().await;
        for (i, st) in ["initiated", "ringing", "in-progress", "completed"]
            .iter()
            .enumerate()
        {
            s.record_status(&StatusEvent {
                call_sid: "CA2".into(),
                call_status: st.to_string(),
                call_duration: (i == 3).then_some(42),
                timestamp: None,
                sequence: Some(i as i64),
                params_json: "{}".into(),
            })
            .await
            .unwrap();
        }
        let ev = s.status_events("CA2").await.unwrap();
        assert_eq!(
            ev.iter()
                .map(|e| e.call_status.as_str())
                .collect::<Vec<_>>(),
            ["initiated", "ringing", "in-progress", "completed"]
        );
        assert_eq!(ev[3].call_duration, Some(42));
        let f = CallFilter {
            status: Some("completed".into()),
            ..Default::default()
        };
        assert_eq!(s.list_calls(&f).await.unwrap().len(), 1);
        let f = CallFilter {
            status: Some("ringing".into()),
            ..Default::default()
        };
        assert!(s.list_calls(&f).await.unwrap().is_empty());
    }
}
