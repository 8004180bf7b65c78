-- Mirrors the SQLite migration of the same number.
-- Several haru instances on one database: each registers itself and renews a lease with
-- its heartbeat (times from the database's clock, so instances judge each other by one
-- clock and each by its own lease); a call records the instance that holds its media
-- stream, so when that instance's lease runs out, another one closes the call from its
-- stored messages.
CREATE TABLE instances (
    id            TEXT PRIMARY KEY,
    started_at    TEXT NOT NULL,
    heartbeat_at  TEXT NOT NULL,
    lease_until   TEXT NOT NULL,
    stopped_at    TEXT,
    info          TEXT NOT NULL DEFAULT ''
);

ALTER TABLE calls ADD COLUMN instance_id TEXT;
CREATE INDEX calls_open ON calls(ended_at, instance_id);
