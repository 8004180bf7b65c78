-- Post-call work: a durable job queue and the results it produces (haru-postcall).
-- Timestamps are RFC 3339 UTC with milliseconds ("2026-11-24T10:00:00.000Z") so that
-- string comparison is time order, as in 0001.

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid      TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('diary', 'schedules', 'mood', 'quality')),
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'running', 'done', 'failed')),
    -- Claims so far (including ones lost to a crash).
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    -- A pending job runs when run_at <= now; a running job whose lease_until < now was
    -- abandoned (crash, restart) and may be claimed again.
    run_at        TEXT NOT NULL,
    lease_until   TEXT,
    -- Fresh per claim: completion and heartbeats only apply while the claim is still ours.
    lease_token   TEXT,
    last_error    TEXT,
    -- Short human-readable summary of the last successful run.
    detail        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT,
    UNIQUE (call_sid, kind)
);
CREATE INDEX jobs_due ON jobs(state, run_at);

CREATE TABLE diaries (
    call_sid        TEXT PRIMARY KEY,
    local_date      TEXT NOT NULL,
    language        TEXT NOT NULL,
    title           TEXT NOT NULL,
    paragraphs_json TEXT NOT NULL,
    created_at      TEXT NOT NULL
);

CREATE TABLE schedules (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid     TEXT NOT NULL,
    title        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    local_date   TEXT NOT NULL,
    local_time   TEXT,
    all_day      INTEGER NOT NULL,
    -- "2026-11-25T19:00+09:00", or the date alone for all-day items.
    starts_at    TEXT NOT NULL,
    timezone     TEXT NOT NULL,
    -- When the item stops being upcoming, in UTC: its start, or the end of its day.
    until_utc    TEXT NOT NULL,
    quote        TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
CREATE INDEX schedules_call ON schedules(call_sid, id);
CREATE INDEX schedules_until ON schedules(until_utc);

CREATE TABLE moods (
    call_sid     TEXT PRIMARY KEY,
    label        TEXT NOT NULL,
    score        REAL NOT NULL,
    reason       TEXT NOT NULL,
    quotes_json  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);

CREATE TABLE quality_reports (
    call_sid     TEXT PRIMARY KEY,
    report_json  TEXT NOT NULL,
    created_at   TEXT NOT NULL
);
