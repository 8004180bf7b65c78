-- Several haru instances on one database: each registers itself and beats a heartbeat;
-- a call records the instance that holds its media stream, so when that instance's
-- heartbeat stops, another one closes the call from its stored messages.
CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    started_at    TEXT NOT NULL,
    heartbeat_at  TEXT NOT NULL,
    stopped_at    TEXT,
    info          TEXT NOT NULL DEFAULT ''
);

ALTER TABLE calls ADD COLUMN instance_id TEXT;
CREATE INDEX calls_open ON calls(ended_at, instance_id);
