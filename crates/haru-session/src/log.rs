//! The seed's human-readable call log: a box at call start and end, a block per turn.

use haru_store::Role;
use tracing::info;

/// How the call log's transcript marks who said a line.
pub fn speaker(role: Role) -> &'static str {
    match role {
        Role::User => "👤",
        Role::Assistant => "🤖",
        Role::Dtmf => "🔢",
        Role::System => "⚙️",
    }
}

pub fn call_start(call_sid: &str, stream_sid: &str) {
    let line = "─".repeat(58);
    info!(target: "haru::call", call_sid, "\n┌{line}┐\n│ 🎙️  통화 시작 (call started)\n│ Call SID: {call_sid}\n│ Stream SID: {stream_sid}\n└{line}┘");
}

pub struct TurnLog<'a> {
    pub call_sid: &'a str,
    pub turn: i64,
    pub transcript: &'a str,
    pub reply: &'a str,
    pub stt_ms: Option<i64>,
    pub llm_first_ms: Option<i64>,
    pub llm_total_ms: Option<i64>,
    pub tts_first_ms: Option<i64>,
    pub first_audio_ms: Option<i64>,
    pub total_ms: Option<i64>,
    pub outcome: &'a str,
}

fn secs(ms: Option<i64>) -> String {
    ms.map(|m| format!("{:.2}s", m as f64 / 1000.0))
        .unwrap_or_else(|| "-".into())
}

pub fn turn(t: &TurnLog<'_>) {
    let bar = "=".repeat(60);
    info!(
        target: "haru::call",
        call_sid = t.call_sid,
        turn = t.turn,
        outcome = t.outcome,
        "\n{bar}\n🔄 대화 사이클 #{turn} (turn)\n✅ STT 완료 ({stt})\n👤 [실시간 변환] {transcript}\n✅ LLM 첫 토큰 ({llm_first}), 완료 ({llm_total})\n🤖 AI 응답: {reply}\n⏱️  첫 음성까지 {first_audio} (end of speech → first audio), 전체 {total}\n  - STT: {stt}\n  - LLM first token: {llm_first}\n  - TTS first byte: {tts}\n  - outcome: {outcome}\n{bar}",
        turn = t.turn,
        stt = secs(t.stt_ms),
        transcript = t.transcript,
        llm_first = secs(t.llm_first_ms),
        llm_total = secs(t.llm_total_ms),
        reply = t.reply,
        first_audio = secs(t.first_audio_ms),
        total = secs(t.total_ms),
        tts = secs(t.tts_first_ms),
        outcome = t.outcome,
    );
}

pub fn call_end(call_sid: &str, reason: &str, transcript: &str, messages: usize) {
    let bar = "=".repeat(60);
    let thin = "─".repeat(60);
    let line = "─".repeat(58);
    info!(
        target: "haru::call",
        call_sid,
        reason,
        "\n{bar}\n📞 통화 종료 - Call: {call_sid} ({reason})\n{bar}\n\n📋 전체 대화 내용:\n{thin}\n{transcript}\n{thin}\n\n💾 대화 기록: {messages}개 메시지 저장됨\n\n┌{line}┐\n│ ✅ 통화 정리 완료 (call closed)\n└{line}┘"
    );
}
