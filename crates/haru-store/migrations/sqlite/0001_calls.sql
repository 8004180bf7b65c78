-- Calls, their Twilio status callbacks, their media-stream lifecycle, and the conversation.
CREATE TABLE calls (
    call_sid      TEXT PRIMARY KEY,
    direction     TEXT NOT NULL DEFAULT 'inbound',
    from_number   TEXT,
    to_number     TEXT,
    status        TEXT NOT NULL DEFAULT 'created',
    stream_token  TEXT,
    stream_sid    TEXT,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    end_reason    TEXT,
    transcript    TEXT
);
CREATE INDEX calls_started_at ON calls(started_at);

CREATE TABLE call_status_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid      TEXT NOT NULL,
    call_status   TEXT NOT NULL,
    call_duration INTEGER,
    timestamp     TEXT,
    sequence      INTEGER,
    params_json   TEXT NOT NULL,
    received_at   TEXT NOT NULL
);
CREATE INDEX call_status_events_call ON call_status_events(call_sid, id);

CREATE TABLE stream_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid    TEXT NOT NULL,
    stream_sid  TEXT,
    kind        TEXT NOT NULL,
    detail      TEXT,
    at          TEXT NOT NULL
);
CREATE INDEX stream_events_call ON stream_events(call_sid, id);

CREATE TABLE messages (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid     TEXT NOT NULL,
    turn_index   INTEGER NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'dtmf', 'system')),
    content      TEXT NOT NULL,
    interrupted  INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL
);
CREATE INDEX messages_call ON messages(call_sid, id);

CREATE TABLE turns (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    call_sid             TEXT NOT NULL,
    turn_index           INTEGER NOT NULL,
    speech_ms            INTEGER,
    stt_ms               INTEGER,
    llm_first_token_ms   INTEGER,
    llm_total_ms         INTEGER,
    tts_first_byte_ms    INTEGER,
    first_audio_ms       INTEGER,
    total_ms             INTEGER,
    barge_in             INTEGER NOT NULL DEFAULT 0,
    outcome              TEXT NOT NULL,
    error                TEXT,
    created_at           TEXT NOT NULL,
    UNIQUE (call_sid, turn_index)
);
