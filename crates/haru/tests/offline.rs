//! Issue "Offline engines": one full call through haru-local's real Whisper, SmolLM2 and
//! espeak-ng. Needs `scripts/setup.sh` (run by `make test`) to have installed the models
//! and built `engines/`; fails with that instruction otherwise.

use std::path::Path;

#[tokio::test]
async fn an_offline_call_is_transcribed_answered_and_spoken_by_real_engines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut opts = haru::demo::DemoOptions::from_repo(&root, haru::demo::DemoLang::English);
    let clip = opts.models_dir.join("fixtures/clone-test.wav");
    opts.wavs = vec![clip];
    opts.out_dir = std::env::temp_dir().join(format!("haru-offline-{}", std::process::id()));
    opts.live = false;
    opts.postcall_wait = std::time::Duration::ZERO;
    let result = match haru::demo::run(opts).await {
        Ok(r) => r,
        Err(e) => panic!("offline call failed: {e:#}\n(run scripts/setup.sh first)"),
    };
    let user: Vec<_> = result
        .messages
        .iter()
        .filter(|m| m.role == haru_store::Role::User)
        .collect();
    assert_eq!(user.len(), 1, "{:?}", result.messages);
    let heard = user[0].content.to_lowercase();
    assert!(heard.contains("america"), "whisper heard: {heard}");
    assert!(heard.contains("very well"), "whisper heard: {heard}");
    let replies: Vec<_> = result
        .messages
        .iter()
        .filter(|m| m.role == haru_store::Role::Assistant && m.turn_index == 1)
        .collect();
    assert_eq!(replies.len(), 1, "{:?}", result.messages);
    assert!(
        replies[0].content.split_whitespace().count() >= 2,
        "{:?}",
        replies[0]
    );
    let turn = result.turns.iter().find(|t| t.turn_index == 1).unwrap();
    assert_eq!(turn.outcome, "answered", "{turn:?}");
    assert!(turn.llm_first_token_ms.is_some() && turn.tts_first_byte_ms.is_some());
    // The caller heard the greeting and the reply as real (non-silent) audio.
    let reply = &result.report.turns[0].reply;
    assert!(reply.bot_audio_ms > 500, "{reply:?}");
    let loud = result
        .report
        .bot_audio
        .iter()
        .filter(|s| s.unsigned_abs() > 1000)
        .count();
    assert!(loud > 1000, "bot audio is silent");
    assert!(result.wav_path.exists());
}
