//! Issue "Real-time conversation loop": simulated calls over a real WebSocket against the
//! fake OpenAI-compatible providers (real HTTP, SSE chunked at awkward boundaries).

mod common;

use std::time::Duration;

use common::*;
use haru_fakes::{Endpoint, FakeOpenAi, FakeOpenAiConfig, Fault, ReplyRule, SttRule};
use haru_sim::{SimConfig, Turn, run_call};
use haru_store::Role;

const WALK: &str = "Hello, I went for a walk in the park today.";
const WEATHER: &str = "안녕하세요. 오늘 날씨가 정말 좋네요.";
const BYE: &str = "Okay, goodbye.";

/// Transcripts keyed by utterance length (the uploaded utterance is the fixture plus pre-roll).
fn stt_by_duration() -> SttRule {
    SttRule::ByDuration(vec![
        (Duration::from_millis(1500), BYE.into()),
        (Duration::from_millis(3000), WALK.into()),
        (Duration::from_millis(4100), WEATHER.into()),
    ])
}

async fn fake(reply: ReplyRule) -> FakeOpenAi {
    FakeOpenAi::start(FakeOpenAiConfig {
        stt: stt_by_duration(),
        reply,
        stt_delay: Duration::from_millis(50),
        llm_first_token_delay: Duration::from_millis(50),
        llm_tokens_per_sec: 200.0,
        tts_first_byte_delay: Duration::from_millis(30),
        ..FakeOpenAiConfig::default()
    })
    .await
    .unwrap()
}

async fn server(fake: &FakeOpenAi, extra: &[(&str, &str)]) -> TestServer {
    let base = fake.base_url();
    let mut env = vec![
        ("OPENAI_BASE_URL", base.as_str()),
        ("OPENAI_API_KEY", "sk-test"),
        ("HARU_STT_LANGUAGE", "en"),
        ("HARU_STT_TIMEOUT_MS", "1500"),
        ("HARU_LLM_TIMEOUT_MS", "1500"),
        ("HARU_TTS_TIMEOUT_MS", "1500"),
    ];
    env.extend_from_slice(extra);
    TestServer::start(&env).await
}

fn sim(s: &TestServer, turns: Vec<Turn>) -> SimConfig {
    SimConfig {
        server: s.base.clone(),
        auth_token: Some(AUTH_TOKEN.into()),
        turns,
        speed: 1.0,
        greeting_wait: Duration::ZERO,
        lead_in: Duration::from_millis(300),
        reply_settle: Duration::from_millis(800),
        ..SimConfig::default()
    }
}

fn turn(name: &str) -> Turn {
    Turn::from_pcm(&fixture(name), 8000, name).unwrap()
}

async fn wait_closed(s: &TestServer, sid: &str) -> haru_store::CallRecord {
    let store = s.store.clone();
    let sid2 = sid.to_string();
    eventually("call closed", Duration::from_secs(10), || {
        let store = store.clone();
        let sid = sid2.clone();
        async move {
            store
                .call(&sid)
                .await
                .unwrap()
                .is_some_and(|c| c.ended_at.is_some())
        }
    })
    .await;
    s.store.call(sid).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_two_turn_call_is_answered_streamed_and_stored_exactly() {
    let f = fake(ReplyRule::Echo).await;
    let s = server(&f, &[]).await;
    let report = run_call(
        sim(&s, vec![turn("en-walk.wav"), turn("ko-weather.wav")]),
        None,
    )
    .await
    .unwrap();
    let call = wait_closed(&s, &report.call_sid).await;
    let msgs = s.store.messages(&report.call_sid).await.unwrap();
    let got: Vec<(Role, String, bool)> = msgs
        .iter()
        .map(|m| (m.role, m.content.clone(), m.interrupted))
        .collect();
    assert_eq!(
        got,
        vec![
            (Role::User, WALK.to_string(), false),
            (
                Role::Assistant,
                "I heard: Hello, I went for a walk in the park today. Tell me more.".to_string(),
                false
            ),
            (Role::User, WEATHER.to_string(), false),
            (
                Role::Assistant,
                "I heard: 안녕하세요. 오늘 날씨가 정말 좋네요. Tell me more.".to_string(),
                false
            ),
        ]
    );
    assert_eq!(msgs[0].turn_index, 1);
    assert_eq!(msgs[3].turn_index, 2);
    let turns = s.store.turns(&report.call_sid).await.unwrap();
    assert_eq!(turns.len(), 2);
    for t in &turns {
        assert_eq!(t.outcome, "answered");
        assert!(!t.barge_in);
        assert!(t.stt_ms.unwrap() >= 50, "{t:?}");
        assert!(t.llm_first_token_ms.unwrap() >= 50, "{t:?}");
        assert!(t.tts_first_byte_ms.unwrap() >= 30, "{t:?}");
        let first = t.first_audio_ms.unwrap();
        assert!(
            first > 0 && first < 2000,
            "end of speech → first audio {first} ms"
        );
        assert!(t.total_ms.unwrap() >= first);
    }
    // The caller heard both replies; their audio length fits the text (fake TTS: 60 ms/char).
    assert_eq!(report.turns.len(), 2);
    for t in &report.turns {
        assert!(t.reply.latency_ms.is_some());
        assert!(t.reply.bot_audio_ms > 2500, "{:?}", t.reply);
        assert!(
            t.reply.marks_echoed >= 2,
            "one mark per sentence: {:?}",
            t.reply
        );
    }
    // History is carried: the second LLM request holds the first exchange.
    let chats = f.requests_to(Endpoint::ChatCompletions);
    let last = chats.last().unwrap().json().unwrap();
    assert_eq!(last["stream"], true);
    let roles: Vec<&str> = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    // The STT upload was a WAV with the configured model and language.
    let stt = &f.requests_to(Endpoint::Transcriptions)[0];
    assert_eq!(stt.field("language"), Some("en"));
    assert_eq!(stt.field("model"), Some("whisper-1"));
    assert_eq!(stt.authorization(), Some("Bearer sk-test"));
    assert!(call.transcript.unwrap().contains(WEATHER));
    assert_eq!(call.end_reason.as_deref(), Some("stop"));
    // Metrics saw the turns.
    let m = reqwest::get(s.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        m.contains("haru_end_of_speech_to_first_audio_seconds"),
        "{m}"
    );
}

#[tokio::test]
async fn barge_in_clears_playback_and_history_keeps_only_what_was_heard() {
    let long = "This is the first sentence of a long answer. Here comes a second sentence that takes a while. \
                And a third one that nobody will hear. And a fourth one as well. Finally the fifth.";
    let f = fake(ReplyRule::Fixed(long.into())).await;
    let s = server(&f, &[("HARU_BARGE_IN_MIN_MS", "300")]).await;
    let cfg = sim(
        &s,
        vec![
            turn("en-walk.wav"),
            turn("ko-weather.wav").with_barge_in(Duration::from_millis(4500)),
        ],
    );
    let report = run_call(cfg, None).await.unwrap();
    wait_closed(&s, &report.call_sid).await;
    assert!(
        report.clears_total >= 1,
        "the server must send clear: {report:?}"
    );
    let msgs = s.store.messages(&report.call_sid).await.unwrap();
    let first_reply = msgs
        .iter()
        .find(|m| m.role == Role::Assistant && m.turn_index == 1)
        .unwrap();
    assert!(first_reply.interrupted, "{first_reply:?}");
    assert!(
        first_reply.content.len() < long.len(),
        "{}",
        first_reply.content
    );
    assert!(
        first_reply
            .content
            .starts_with("This is the first sentence"),
        "{}",
        first_reply.content
    );
    assert!(
        first_reply.content.ends_with('…'),
        "the cut-off sentence is marked: {}",
        first_reply.content
    );
    assert!(!first_reply.content.contains("fifth"));
    let turns = s.store.turns(&report.call_sid).await.unwrap();
    assert!(turns[0].barge_in);
    assert_eq!(turns[0].outcome, "interrupted");
    // The caller's new words became the next turn, answered in full.
    let user2 = msgs
        .iter()
        .find(|m| m.role == Role::User && m.turn_index == 2)
        .unwrap();
    assert_eq!(user2.content, WEATHER);
    // The next LLM request saw the truncated reply, not the full one.
    let chats = f.requests_to(Endpoint::ChatCompletions);
    let last = chats.last().unwrap().json().unwrap();
    let assistant = last["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant")
        .unwrap();
    assert_eq!(assistant["content"], first_reply.content.as_str());
}

#[tokio::test]
async fn an_end_keyword_says_goodbye_then_hangs_up_through_twilio() {
    let f = fake(ReplyRule::Echo).await;
    let tw = fake_twilio().await;
    let s = server(
        &f,
        &[
            ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
            ("TWILIO_API_BASE", &tw.base_url()),
            ("HARU_GOODBYE", "Thank you for the chat. Goodbye!"),
        ],
    )
    .await;
    let sid = call_sid(77);
    tw.register_call(&sid);
    let mut cfg = sim(&s, vec![turn("en-goodbye.wav")]);
    cfg.call_sid = Some(sid.clone());
    let report = run_call(cfg, None).await.unwrap();
    let call = wait_closed(&s, &sid).await;
    assert_eq!(call.end_reason.as_deref(), Some("goodbye"));
    let hangups: Vec<_> = tw
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(&format!("Calls/{sid}.json")))
        .collect();
    assert_eq!(hangups.len(), 1);
    assert_eq!(
        hangups[0].form,
        vec![("Status".to_string(), "completed".to_string())]
    );
    let msgs = s.store.messages(&sid).await.unwrap();
    assert_eq!(
        msgs.last().unwrap().content,
        "Thank you for the chat. Goodbye!"
    );
    assert_eq!(msgs[0].content, BYE);
    // No LLM call was needed for the goodbye, and the caller heard it before the hang-up.
    assert!(f.requests_to(Endpoint::ChatCompletions).is_empty());
    assert!(report.turns[0].reply.bot_audio_ms > 1000);
    assert_eq!(report.ended, haru_sim::CallEnd::ServerClosed);
}

#[tokio::test]
async fn an_idle_caller_is_prompted_then_the_call_ends() {
    let f = fake(ReplyRule::Echo).await;
    let s = server(
        &f,
        &[
            ("HARU_IDLE_TIMEOUT_MS", "1200"),
            ("HARU_IDLE_PROMPT", "Are you still there?"),
            ("HARU_GOODBYE", "Goodbye for now."),
        ],
    )
    .await;
    let sid = call_sid(88);
    let (url, params) = s.answer(&sid).await;
    let mut st = RawStream::open(&url, &sid, &params).await;
    // Silence only; marks are not echoed, so the server falls back to audio duration.
    let silence = [0i16; 160];
    let mut closed = None;
    for _ in 0..1000 {
        st.media(&silence).await;
        let next = tokio::time::timeout(
            Duration::from_millis(20),
            futures::StreamExt::next(&mut st.ws),
        )
        .await;
        if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)) | Err(_))) = next {
            closed = Some(());
            break;
        }
    }
    assert!(closed.is_some(), "server should end an idle call");
    let call = wait_closed(&s, &sid).await;
    assert_eq!(call.end_reason.as_deref(), Some("goodbye"));
    let msgs: Vec<String> = s
        .store
        .messages(&sid)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(msgs, ["Are you still there?", "Goodbye for now."]);
}

#[tokio::test]
async fn short_noise_starts_no_turn_and_costs_no_provider_call() {
    let f = fake(ReplyRule::Echo).await;
    let s = server(&f, &[]).await;
    let click: Vec<i16> = (0..320)
        .map(|i| if i % 2 == 0 { 20000 } else { -20000 })
        .collect();
    let mut cfg = sim(&s, vec![Turn::from_pcm(&click, 8000, "click").unwrap()]);
    // No reply will come; do not wait into the idle timeout (20 s).
    cfg.turn_timeout = Duration::from_secs(3);
    // The fixed phrases are synthesised once at start-up; that is not the call's cost.
    s.phrases_cached().await;
    let before = f.requests().len();
    let report = run_call(cfg, None).await.unwrap();
    wait_closed(&s, &report.call_sid).await;
    assert!(s.store.messages(&report.call_sid).await.unwrap().is_empty());
    let reqs: Vec<_> = f.requests()[before..]
        .iter()
        .map(|r| (r.path.clone(), r.body.clone()))
        .collect();
    assert!(
        reqs.is_empty(),
        "no provider should be called for noise: {reqs:?}"
    );
}

#[tokio::test]
async fn every_provider_fault_gets_an_apology_and_loses_nothing() {
    let cases: Vec<(Endpoint, Fault, &str)> = vec![
        (Endpoint::Transcriptions, Fault::HttpStatus(500), "stt"),
        (Endpoint::Transcriptions, Fault::Hang, "stt"),
        (Endpoint::ChatCompletions, Fault::HttpStatus(503), "llm"),
        (Endpoint::ChatCompletions, Fault::Hang, "llm"),
        (Endpoint::ChatCompletions, Fault::BrokenStream, "llm"),
        (Endpoint::ChatCompletions, Fault::ErrorEvent, "llm"),
        (Endpoint::Speech, Fault::HttpStatus(500), "tts"),
        (Endpoint::Speech, Fault::GarbageAudio, "tts"),
        (Endpoint::Speech, Fault::EmptyAudio, "tts"),
    ];
    let mut runs = Vec::new();
    for (ep, fault, stage) in cases {
        runs.push(tokio::spawn(async move {
            let f = fake(ReplyRule::Echo).await;
            let s = server(&f, &[("HARU_APOLOGY", "Sorry, something went wrong.")]).await;
            // The apology was cached at start-up, before the provider broke.
            s.phrases_cached().await;
            f.set_fault(ep, Some(fault.clone()), None);
            let report = run_call(sim(&s, vec![turn("en-walk.wav")]), None)
                .await
                .unwrap();
            wait_closed(&s, &report.call_sid).await;
            let msgs = s.store.messages(&report.call_sid).await.unwrap();
            let turns = s.store.turns(&report.call_sid).await.unwrap();
            let what = format!("{fault:?} on {stage}");
            assert_eq!(turns.len(), 1, "{what}");
            assert_eq!(turns[0].outcome, "error", "{what}: {:?}", turns[0]);
            assert!(
                turns[0].error.as_deref().unwrap().contains(stage),
                "{what}: {:?}",
                turns[0].error
            );
            // The caller heard something (the apology, or a chime if TTS itself is down).
            assert!(
                report.turns[0].reply.bot_audio_ms > 200,
                "{what}: {:?}",
                report.turns[0]
            );
            let assistant: Vec<_> = msgs.iter().filter(|m| m.role == Role::Assistant).collect();
            // A stream that breaks mid-reply keeps what was already spoken, then apologises.
            let said = &assistant.last().unwrap().content;
            assert!(
                said.ends_with("Sorry, something went wrong."),
                "{what}: {said}"
            );
            if matches!(fault, Fault::Hang) && stage == "llm" {
                // The words were in and the answer late: the caller heard the
                // acknowledgement first, then the apology, and both are kept as heard.
                assert_eq!(said, "네. Sorry, something went wrong.", "{what}");
            } else if !matches!(fault, Fault::BrokenStream | Fault::ErrorEvent) {
                assert_eq!(said, "Sorry, something went wrong.", "{what}");
            }
            if stage != "stt" {
                assert_eq!(msgs[0].content, WALK, "{what}: the caller's words are kept");
            }
        }));
    }
    for r in runs {
        r.await.unwrap();
    }
}

#[tokio::test]
async fn ten_concurrent_calls_are_each_answered_and_kept_apart() {
    let f = fake(ReplyRule::Echo).await;
    let s = server(&f, &[]).await;
    let mut runs = Vec::new();
    for i in 0..10 {
        let mut cfg = sim(
            &s,
            vec![turn(if i % 2 == 0 {
                "en-walk.wav"
            } else {
                "ko-weather.wav"
            })],
        );
        cfg.call_sid = Some(call_sid(1000 + i));
        runs.push(tokio::spawn(run_call(cfg, None)));
    }
    for (i, r) in runs.into_iter().enumerate() {
        let report = r.await.unwrap().unwrap();
        wait_closed(&s, &report.call_sid).await;
        let msgs = s.store.messages(&report.call_sid).await.unwrap();
        let expected = if i % 2 == 0 { WALK } else { WEATHER };
        assert_eq!(msgs.len(), 2, "call {i}: {msgs:?}");
        assert_eq!(msgs[0].content, expected, "call {i}");
        assert!(report.turns[0].reply.latency_ms.is_some(), "call {i}");
    }
}
