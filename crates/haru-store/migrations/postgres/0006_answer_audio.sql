-- When a turn's answer proper began to play, when that differs from its first audio: a
-- slow answer is preceded by a short acknowledgement ("네."), and both times are kept so
-- that neither hides the other.
ALTER TABLE turns ADD COLUMN answer_audio_ms BIGINT;
