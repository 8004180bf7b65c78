//! No call left open: a call whose session died with its process is closed from its stored
//! messages — at the next start-up, or when Twilio's `completed` callback arrives — and its
//! post-call jobs are queued, so that day's diary is still written.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use haru_postcall::JobFilter;
use haru_store::test_db::TestDb;
use haru_store::{CallStore, NewCall, NewMessage, Role, SqlStore};
use tokio_util::sync::CancellationToken;

/// A fresh database (PostgreSQL when `HARU_TEST_DATABASE_URL` is set) and its URL.
async fn db() -> (TestDb, String) {
    let db = TestDb::new("recovery").await.unwrap();
    let url = db.url.clone();
    (db, url)
}

/// A call as a killed process leaves it: streaming, two messages stored, never closed.
async fn leave_open(store: &dyn CallStore, sid: &str) {
    store
        .upsert_call(&NewCall {
            call_sid: sid.into(),
            direction: "inbound".into(),
            from_number: Some("+821012345678".into()),
            stream_token: Some("tok".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        store
            .claim_stream(sid, "MZ00000000000000000000000000000001")
            .await
            .unwrap()
    );
    for (turn, role, text) in [
        (0, Role::Assistant, "안녕하세요!"),
        (1, Role::User, "오늘 시장에 다녀왔어요"),
    ] {
        store
            .add_message(&NewMessage {
                call_sid: sid.into(),
                turn_index: turn,
                role,
                content: text.into(),
                interrupted: false,
            })
            .await
            .unwrap();
    }
}

async fn start(url: &str) -> (haru::run::Running, String, CancellationToken) {
    start_with(url, &[]).await
}

async fn start_with(
    url: &str,
    extra: &[(&'static str, &str)],
) -> (haru::run::Running, String, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut env: HashMap<&str, String> = HashMap::new();
    env.insert("API_BASE_URL", format!("http://{addr}"));
    env.insert("HARU_DATABASE_URL", url.to_string());
    env.insert("TWILIO_AUTH_TOKEN", common::AUTH_TOKEN.into());
    // Post-call work has nowhere to go; the jobs only need to be queued.
    env.insert("OPENAI_BASE_URL", "http://127.0.0.1:9/v1".into());
    for (k, v) in extra {
        env.insert(k, v.to_string());
    }
    let cfg =
        haru_server::Config::from_source(&haru_server::config::Source(|k| env.get(k).cloned()))
            .unwrap();
    let shutdown = CancellationToken::new();
    let running = haru::run::start(cfg, listener, shutdown.clone())
        .await
        .unwrap();
    (running, format!("http://{addr}"), shutdown)
}

async fn jobs_for(running: &haru::run::Running, sid: &str) -> usize {
    running
        .postcall
        .jobs(&JobFilter {
            call_sid: Some(sid.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

/// Waits until the call is closed and every post-call job of it is queued.
async fn closed_and_queued(running: &haru::run::Running, sid: &str, within: Duration) {
    common::eventually("closed and queued", within, || async move {
        let c = running.store.call(sid).await.unwrap().unwrap();
        c.ended_at.is_some() && jobs_for(running, sid).await == haru_postcall::JobKind::ALL.len()
    })
    .await;
}

#[tokio::test]
async fn a_call_left_open_by_a_killed_process_is_closed_at_the_next_start() {
    let (_db, url) = db().await;
    let sid = common::call_sid(901);
    {
        let store = SqlStore::open(&url).await.unwrap();
        leave_open(&store, &sid).await;
        // A call still ringing (no stream yet) is left alone: it may connect to the new run.
        store
            .upsert_call(&NewCall {
                call_sid: common::call_sid(902),
                direction: "inbound".into(),
                stream_token: Some("tok2".into()),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let (running, _, _stop) = start(&url).await;
    let call = running.store.call(&sid).await.unwrap().unwrap();
    assert!(call.ended_at.is_some());
    assert_eq!(call.end_reason.as_deref(), Some("server lost"));
    let t = call.transcript.unwrap();
    assert!(
        t.contains("오늘 시장에 다녀왔어요") && t.contains("안녕하세요!"),
        "{t}"
    );
    assert_eq!(
        jobs_for(&running, &sid).await,
        haru_postcall::JobKind::ALL.len()
    );
    let ringing = running
        .store
        .call(&common::call_sid(902))
        .await
        .unwrap()
        .unwrap();
    assert!(ringing.ended_at.is_none(), "a ringing call is not closed");
}

#[tokio::test]
async fn a_completed_callback_closes_an_open_call_no_session_holds() {
    let (_db, url) = db().await;
    let (running, base, _stop) = start(&url).await;
    let sid = common::call_sid(903);
    leave_open(running.store.as_ref(), &sid).await;
    let r = common::post_signed_to(
        &base,
        "/api/twilio/call-status",
        &[("CallSid", &sid), ("CallStatus", "completed")],
    )
    .await;
    assert_eq!(r.status(), 204);
    closed_and_queued(&running, &sid, Duration::from_secs(5)).await;
    let c = running.store.call(&sid).await.unwrap().unwrap();
    assert!(c.end_reason.unwrap().starts_with("server lost"));
    assert!(c.transcript.unwrap().contains("오늘 시장에 다녀왔어요"));
    assert_eq!(c.status, "completed");
}

#[tokio::test]
async fn a_restart_under_the_same_name_closes_what_its_previous_run_left_open() {
    let (_db, url) = db().await;
    let sid = common::call_sid(904);
    let named = [
        ("HARU_INSTANCE_ID", "haru-x"),
        ("HARU_INSTANCE_LEASE_MS", "1000"),
    ];
    {
        let (running, _, stop) = start_with(&url, &named).await;
        // The stream is claimed by this run's instance, then the run goes away.
        leave_open(running.store.as_ref(), &sid).await;
        stop.cancel();
        let _ = running.keeper.await;
    }
    let (running, _, _stop) = start_with(&url, &named).await;
    // Not the new run's own call: closed once the old run's lease has run out.
    closed_and_queued(&running, &sid, Duration::from_secs(10)).await;
    let c = running.store.call(&sid).await.unwrap().unwrap();
    assert_eq!(c.end_reason.as_deref(), Some("server lost"));
    assert!(c.transcript.unwrap().contains("오늘 시장에 다녀왔어요"));
}
