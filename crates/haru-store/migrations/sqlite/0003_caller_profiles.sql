-- What haru learns about each caller's way of talking, kept across calls (end of turn).
CREATE TABLE caller_profiles (
    phone       TEXT PRIMARY KEY,
    -- JSON array of the caller's recent mid-turn pauses in ms, oldest first.
    holds_json  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
