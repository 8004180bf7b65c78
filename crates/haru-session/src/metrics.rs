//! Prometheus metric names (exported by the server on `GET /metrics`).

pub const STT_SECONDS: &str = "haru_stt_seconds";
pub const TURN_MODEL_SECONDS: &str = "haru_turn_model_seconds";
pub const TURN_MODEL_SKIPPED_TOTAL: &str = "haru_turn_model_skipped_total";
pub const LLM_FIRST_TOKEN_SECONDS: &str = "haru_llm_first_token_seconds";
pub const TTS_FIRST_BYTE_SECONDS: &str = "haru_tts_first_byte_seconds";
pub const FIRST_AUDIO_SECONDS: &str = "haru_end_of_speech_to_first_audio_seconds";
pub const TURN_SECONDS: &str = "haru_turn_seconds";
pub const TURNS_TOTAL: &str = "haru_turns_total";
pub const BARGE_INS_TOTAL: &str = "haru_barge_ins_total";
pub const PROVIDER_ERRORS_TOTAL: &str = "haru_provider_errors_total";
pub const ACTIVE_CALLS: &str = "haru_active_calls";
pub const DROPPED_FRAMES_TOTAL: &str = "haru_dropped_frames_total";
pub const BAD_MESSAGES_TOTAL: &str = "haru_bad_messages_total";

/// Histogram buckets (seconds) suited to voice latency.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.025, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0,
];

pub const STORE_ERRORS_TOTAL: &str = "haru_store_errors_total";
pub const SESSION_PANICS_TOTAL: &str = "haru_session_panics_total";
/// Control messages (marks, DTMF) dropped because the session was behind.
pub const DROPPED_MESSAGES_TOTAL: &str = "haru_dropped_messages_total";
