//! Shared fixtures: a file-backed store (several pools = several "processes"), calls
//! seeded through the `CallStore` trait, and a real OpenAI client pointed at the fake.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule};
use haru_postcall::{PostCall, PostCallConfig};
use haru_providers::{ChatModel, Endpoint, OpenAiChat};
use haru_store::test_db::TestDb;
use haru_store::{CallStore, NewCall, NewMessage, Role, SqlStore, TurnTiming};

pub struct Db {
    pub db: TestDb,
    pub store: SqlStore,
}

impl Db {
    /// A fresh database: SQLite, or PostgreSQL when `HARU_TEST_DATABASE_URL` names a server.
    pub async fn new(name: &str) -> Db {
        let db = TestDb::new(name).await.expect("test database");
        let store = db.open().await.expect("open store");
        Db { db, store }
    }

    /// A second connection pool on the same database, as another process would have.
    pub async fn reopen(&self) -> SqlStore {
        self.db.open().await.expect("reopen store")
    }
}

/// One spoken line: who, what, and when (RFC 3339 UTC).
pub struct Said<'a>(pub Role, pub &'a str, pub &'a str);

/// Writes a finished call through the trait. The trait stamps rows with "now", so the
/// test's clock times are then set with the store's backdating.
pub async fn seed_call(
    store: &SqlStore,
    sid: &str,
    from: &str,
    started_at: &str,
    ended_at: &str,
    lines: &[Said<'_>],
) {
    store
        .upsert_call(&NewCall {
            call_sid: sid.into(),
            direction: "inbound".into(),
            from_number: Some(from.into()),
            to_number: Some("+8270000000".into()),
            ..Default::default()
        })
        .await
        .expect("upsert");
    for (i, Said(role, text, at)) in lines.iter().enumerate() {
        let turn = i as i64 / 2 + 1;
        let id = store
            .add_message(&NewMessage {
                call_sid: sid.into(),
                turn_index: turn,
                role: *role,
                content: text.to_string(),
                interrupted: false,
            })
            .await
            .expect("message");
        store.backdate_message(id, at).await.expect("date message");
        if *role == Role::User {
            store
                .record_turn(&TurnTiming {
                    call_sid: sid.into(),
                    turn_index: turn,
                    speech_ms: Some(1500),
                    first_audio_ms: Some(600 + 100 * turn),
                    outcome: "answered".into(),
                    ..Default::default()
                })
                .await
                .expect("turn");
        }
    }
    let transcript: Vec<&str> = lines.iter().map(|s| s.1).collect();
    store
        .close_call(sid, "hangup", Some(&transcript.join("\n")))
        .await
        .expect("close");
    store
        .backdate_call(sid, started_at, Some(ended_at))
        .await
        .expect("date call");
}

pub async fn fake(replies: Vec<String>) -> FakeOpenAi {
    FakeOpenAi::start(FakeOpenAiConfig {
        reply: ReplyRule::Sequence(replies),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("fake openai")
}

pub fn chat(fake: &FakeOpenAi) -> Arc<dyn ChatModel> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    Arc::new(OpenAiChat::new(
        http,
        Endpoint::new(&fake.base_url(), None),
        "gpt-test",
    ))
}

pub fn fast_config() -> PostCallConfig {
    PostCallConfig {
        max_attempts: 3,
        base_backoff: Duration::from_millis(1),
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(20),
        ..Default::default()
    }
}

pub fn postcall(store: &SqlStore, fake: &FakeOpenAi, cfg: PostCallConfig) -> Arc<PostCall> {
    Arc::new(PostCall::new(store.clone(), chat(fake), cfg))
}

/// Runs due jobs until none is left (waiting out short backoffs), at most `max` runs.
pub async fn drain(pc: &PostCall, max: usize) {
    let never = tokio_util::sync::CancellationToken::new();
    let mut idle = 0;
    for _ in 0..max {
        match pc.run_one(&never).await.expect("run_one") {
            Some(_) => idle = 0,
            None => {
                idle += 1;
                if idle > 20 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Waits (bounded) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for: {what}");
}
