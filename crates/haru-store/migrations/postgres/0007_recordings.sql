-- A call's audio, both sides in one stereo WAV, when recording is switched on
-- (HARU_RECORD_CALLS=1). Kept with the call, erased with its person.
CREATE TABLE recordings (
    call_sid TEXT PRIMARY KEY,
    wav BYTEA NOT NULL,
    bytes BIGINT NOT NULL,
    created_at TEXT NOT NULL
);
