//! Shared fixtures: a file-backed store (several pools = several "processes"), calls
//! seeded through the `CallStore` trait, and a real OpenAI client pointed at the fake.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule};
use haru_postcall::{PostCall, PostCallConfig};
use haru_providers::{ChatModel, Endpoint, OpenAiChat};
use haru_store::{CallStore, NewCall, NewMessage, Role, SqliteStore, TurnTiming};

pub struct Db {
    pub path: std::path::PathBuf,
    pub url: String,
    pub store: SqliteStore,
}

impl Db {
    pub async fn new(name: &str) -> Db {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "haru-postcall-{name}-{}-{nanos}.db",
            std::process::id()
        ));
        let url = format!("sqlite:{}", path.display());
        let store = SqliteStore::open(&url).await.expect("open store");
        Db { path, url, store }
    }

    /// A second connection pool on the same file, as another process would have.
    pub async fn reopen(&self) -> SqliteStore {
        SqliteStore::open(&self.url).await.expect("reopen store")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", self.path.display()));
        }
    }
}

/// One spoken line: who, what, and when (RFC 3339 UTC).
pub struct Said<'a>(pub Role, pub &'a str, pub &'a str);

/// Writes a finished call through the trait. The trait stamps rows with "now", so the
/// test's clock times are then set with plain SQL.
pub async fn seed_call(
    store: &SqliteStore,
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
        sqlx::query("UPDATE messages SET created_at = ?1 WHERE id = ?2")
            .bind(at)
            .bind(id)
            .execute(store.pool())
            .await
            .expect("date message");
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
    sqlx::query("UPDATE calls SET started_at = ?1, ended_at = ?2 WHERE call_sid = ?3")
        .bind(started_at)
        .bind(ended_at)
        .bind(sid)
        .execute(store.pool())
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

pub fn postcall(store: &SqliteStore, fake: &FakeOpenAi, cfg: PostCallConfig) -> Arc<PostCall> {
    Arc::new(PostCall::new(store.pool().clone(), chat(fake), cfg))
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
