-- The daily companion: people and their caregivers, each day's scheduled calls and their
-- attempts, what haru remembers of a person, and alerts with their deliveries.
-- Timestamps are RFC 3339 UTC with milliseconds, as in 0001 (string order is time order).

CREATE TABLE people (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    phone           TEXT NOT NULL UNIQUE,
    language        TEXT NOT NULL CHECK (language IN ('ko', 'en')),
    timezone        TEXT NOT NULL,
    -- JSON array of local "HH:MM" call times.
    call_times_json TEXT NOT NULL,
    window_minutes  INTEGER NOT NULL,
    -- JSON array of "mon".."sun"; empty means every day.
    days_json       TEXT NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1,
    -- The secret in the person's calendar-feed URL.
    calendar_token  TEXT NOT NULL,
    -- When the call plan (times, days, zone, window, active) last changed: the scheduler
    -- never creates slots due before it (no "missed" days for a plan that did not exist).
    plan_since      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

CREATE TABLE caregivers (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id       TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    sms             TEXT,
    email           TEXT,
    webhook_url     TEXT,
    -- HMAC-SHA256 key of the alert webhooks sent to this caregiver.
    webhook_secret  TEXT
);
CREATE INDEX caregivers_person ON caregivers(person_id);

-- Which person a call was with (matched by number when the call is created).
ALTER TABLE calls ADD COLUMN person_id TEXT;
CREATE INDEX calls_person ON calls(person_id, started_at);

-- One scheduled daily call: created once per (person, local date, local time), so it is
-- placed once however many times or instances the scheduler looks at it.
CREATE TABLE call_slots (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id       TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    local_date      TEXT NOT NULL,
    local_time      TEXT NOT NULL,
    due_at          TEXT NOT NULL,
    window_end      TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'waiting'
                    CHECK (state IN ('waiting', 'dialing', 'calling', 'answered', 'machine', 'missed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_try_at     TEXT,
    -- A claim in 'dialing'/'calling' lasts until this; an expired one counts as a failed try.
    lease_until     TEXT,
    last_result     TEXT,
    updated_at      TEXT NOT NULL,
    UNIQUE (person_id, local_date, local_time)
);
CREATE INDEX call_slots_due ON call_slots(state, next_try_at);

CREATE TABLE call_attempts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id       TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    slot_id         INTEGER REFERENCES call_slots(id) ON DELETE CASCADE,
    call_sid        TEXT UNIQUE,
    attempt         INTEGER NOT NULL,
    -- The last Twilio call status, and what answered ('human', 'machine_start', ...).
    status          TEXT NOT NULL,
    answered_by     TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX call_attempts_person ON call_attempts(person_id, id);

CREATE TABLE memory_items (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id       TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    text            TEXT NOT NULL,
    -- The caller's words it came from.
    quote           TEXT,
    call_sid        TEXT,
    created_at      TEXT NOT NULL
);
CREATE INDEX memory_items_person ON memory_items(person_id, id);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    person_id       TEXT REFERENCES people(id) ON DELETE CASCADE,
    call_sid        TEXT,
    kind            TEXT NOT NULL
                    CHECK (kind IN ('emergency', 'distress', 'low_mood', 'missed_calls')),
    -- One alert per signal: a second detection of the same thing changes nothing.
    dedupe_key      TEXT NOT NULL UNIQUE,
    summary         TEXT NOT NULL,
    -- JSON array of {quote, call_sid, at}.
    evidence_json   TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    acked_at        TEXT,
    acked_by        TEXT
);
CREATE INDEX alerts_person ON alerts(person_id, id);

CREATE TABLE alert_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id        INTEGER NOT NULL REFERENCES alerts(id) ON DELETE CASCADE,
    caregiver_id    INTEGER REFERENCES caregivers(id) ON DELETE SET NULL,
    channel         TEXT NOT NULL CHECK (channel IN ('webhook', 'sms')),
    target          TEXT NOT NULL,
    state           TEXT NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         TEXT NOT NULL,
    lease_until     TEXT,
    last_error      TEXT,
    delivered_at    TEXT
);
CREATE INDEX alert_deliveries_due ON alert_deliveries(state, next_at);

-- Post-call gains a 'memory' job: the jobs table is rebuilt with the wider CHECK.
CREATE TABLE jobs_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid      TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('diary', 'schedules', 'mood', 'quality', 'memory')),
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    run_at        TEXT NOT NULL,
    lease_until   TEXT,
    lease_token   TEXT,
    last_error    TEXT,
    detail        TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    finished_at   TEXT,
    UNIQUE (call_sid, kind)
);
INSERT INTO jobs_new SELECT * FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_due ON jobs(state, run_at);
