//! Several haru instances on one database (PostgreSQL when `HARU_TEST_DATABASE_URL` names
//! a server, as in the test script's second pass; SQLite otherwise): the voice webhook
//! answered by one instance, the media stream taken by another, and every call's words,
//! timings and post-call results stored exactly once. An instance killed with SIGKILL
//! mid-call: the other's calls go on, the dead one's call is closed within the lease and
//! gets its diary, and a restart on the same database duplicates nothing.

mod common;

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule, SttRule};
use haru_postcall::{JobKind, JobState};
use haru_sim::{SimConfig, Turn, run_call};
use haru_store::test_db::TestDb;
use haru_store::{CallStore, Role, SqlStore, Table};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SAID: &str = "Tomorrow I have a dentist appointment at seven.";

fn fixture(name: &str) -> Turn {
    Turn::from_wav_file(format!(
        "{}/../../fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// One fake OpenAI server for both the conversation (echo) and the post-call jobs
/// (an answer per schema: jobs run in any order, on either instance).
async fn providers() -> FakeOpenAi {
    let diary = json!({"title": "Dentist", "paragraphs": ["I told haru about the dentist.", "It is tomorrow at seven."]});
    let schedules = json!({"items": [
        {"title": "Dentist appointment", "kind": "appointment", "quote": "Tomorrow I have a dentist appointment at seven.",
         "when": {"day_offset": 1, "weekday": null, "week_offset": null, "date": null, "month": null, "day": null}, "time": "19:00"}
    ]});
    let mood = json!({"label": "calm", "score": 0.2, "reason": "The caller calmly mentioned a plan.", "quotes": ["Tomorrow I have a dentist appointment at seven."]});
    FakeOpenAi::start(FakeOpenAiConfig {
        stt: SttRule::Fixed(SAID.into()),
        reply: ReplyRule::BySchema(vec![
            ("diary".into(), diary.to_string()),
            ("schedules".into(), schedules.to_string()),
            ("mood".into(), mood.to_string()),
        ]),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .unwrap()
}

fn env_for(db: &str, public: &str, llm: &FakeOpenAi, lease_ms: u64) -> HashMap<String, String> {
    let mut env = HashMap::new();
    for (k, v) in [
        // Behind a load balancer every instance names the same public address; here the
        // webhook's TwiML points the stream at whichever instance `public` is.
        ("API_BASE_URL", public.to_string()),
        ("HARU_DATABASE_URL", db.to_string()),
        ("OPENAI_BASE_URL", llm.base_url()),
        ("HARU_POSTCALL_BASE_URL", llm.base_url()),
        ("HARU_STT_LANGUAGE", "en".into()),
        ("HARU_GREETING", String::new()),
        ("HARU_API_LOCAL_ONLY", "1".into()),
        ("HARU_INSTANCE_LEASE_MS", lease_ms.to_string()),
    ] {
        env.insert(k.to_string(), v);
    }
    env
}

struct Instance {
    running: haru::run::Running,
    base: String,
    _stop: CancellationToken,
}

async fn instance(listener: tokio::net::TcpListener, env: HashMap<String, String>) -> Instance {
    let addr = listener.local_addr().unwrap();
    let cfg =
        haru_server::Config::from_source(&haru_server::config::Source(|k| env.get(k).cloned()))
            .unwrap();
    let stop = CancellationToken::new();
    let running = haru::run::start(cfg, listener, stop.clone()).await.unwrap();
    Instance {
        running,
        base: format!("http://{addr}"),
        _stop: stop,
    }
}

fn sim(webhook_on: &str, turns: Vec<Turn>) -> SimConfig {
    SimConfig {
        server: webhook_on.to_string(),
        turns,
        greeting_wait: Duration::ZERO,
        reply_settle: Duration::from_millis(800),
        ..SimConfig::default()
    }
}

/// Every post-call job of the call is done, each after exactly one run.
async fn all_jobs_done_once(store: &SqlStore, sid: &str) -> bool {
    for kind in JobKind::ALL {
        match store.find_job(sid, kind).await.unwrap() {
            Some(j) if j.state == JobState::Done => assert_eq!(j.attempts, 1, "{j:?}"),
            _ => return false,
        }
    }
    true
}

async fn wait_jobs(store: &SqlStore, sids: &[String], within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    for sid in sids {
        while !all_jobs_done_once(store, sid).await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "post-call jobs of {sid} did not finish"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn webhook_on_one_instance_stream_on_the_other_everything_stored_once() {
    let db = TestDb::new("instances").await.unwrap();
    let llm = providers().await;
    let (a_addr, b_addr) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let (a_url, b_url) = (format!("http://{a_addr}"), format!("http://{b_addr}"));
    // Two `haru serve` processes. A's TwiML sends the stream to B and B's to A: every call
    // crosses instances.
    let mut a = serve_process(&env_for(&db.url, &b_url, &llm, 15_000), &a_addr);
    let mut b = serve_process(&env_for(&db.url, &a_url, &llm, 15_000), &b_addr);
    wait_healthy(&a_url).await;
    wait_healthy(&b_url).await;
    let store = db.open().await.unwrap();

    let calls = (0..10).map(|i| {
        let on = if i % 2 == 0 { &a_url } else { &b_url };
        run_call(sim(on, vec![fixture("en-dentist.wav")]), None)
    });
    let reports = futures::future::join_all(calls).await;
    let sids: Vec<String> = reports
        .into_iter()
        .map(|r| r.expect("call").call_sid)
        .collect();
    assert_eq!(
        sids.iter().collect::<std::collections::HashSet<_>>().len(),
        10
    );
    wait_jobs(&store, &sids, Duration::from_secs(60)).await;

    for sid in &sids {
        let call = store.call(sid).await.unwrap().expect("call stored");
        assert!(call.ended_at.is_some(), "{sid} closed");
        let msgs = store.messages(sid).await.unwrap();
        let said: Vec<&str> = msgs
            .iter()
            .filter(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
            .collect();
        assert_eq!(said, [SAID], "{sid}: the caller's words, once");
        assert_eq!(
            msgs.iter().filter(|m| m.role == Role::Assistant).count(),
            1,
            "{sid}: {msgs:?}"
        );
        let turns = store.turns(sid).await.unwrap();
        assert_eq!(turns.len(), 1, "{sid}: one turn timing");
        assert!(turns[0].first_audio_ms.is_some(), "{turns:?}");
        assert_eq!(store.schedules(sid).await.unwrap().len(), 1, "{sid}");
    }
    for (table, n) in [
        (Table::Calls, 10),
        (Table::Diaries, 10),
        (Table::Moods, 10),
        (Table::QualityReports, 10),
        (Table::Schedules, 10),
        (Table::Jobs, 10 * JobKind::ALL.len() as i64),
    ] {
        assert_eq!(store.count_rows(table).await.unwrap(), n, "{table:?}");
    }
    // Both instances are alive in the database.
    assert_eq!(store.live_instances().await.unwrap().len(), 2);
    for p in [&mut a, &mut b] {
        p.start_kill().unwrap();
        let _ = p.wait().await;
    }
}

/// `haru serve` as a child process, to be killed with SIGKILL.
fn serve_process(env: &HashMap<String, String>, bind: &str) -> tokio::process::Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_haru"));
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HARU_BIND", bind)
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn haru serve")
}

async fn wait_healthy(base: &str) {
    common::eventually("instance up", Duration::from_secs(120), || async move {
        matches!(reqwest::get(format!("{base}/healthz")).await, Ok(r) if r.status().is_success())
    })
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn a_killed_instance_loses_no_call_and_a_restart_duplicates_nothing() {
    let db = TestDb::new("kill").await.unwrap();
    let llm = providers().await;
    const LEASE_MS: u64 = 2_000;
    let a_addr = format!("127.0.0.1:{}", free_port());
    let a_url = format!("http://{a_addr}");
    let a_env = env_for(&db.url, &a_url, &llm, LEASE_MS);
    let mut a = serve_process(&a_env, &a_addr);
    wait_healthy(&a_url).await;
    let lb = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let b_url = format!("http://{}", lb.local_addr().unwrap());
    let b = instance(lb, env_for(&db.url, &b_url, &llm, LEASE_MS)).await;
    let store = db.open().await.unwrap();

    // A call on A that will outlive A: a turn, then the caller stays on the line.
    let long_turns = vec![
        fixture("en-dentist.wav"),
        Turn::from_pcm(&vec![0i16; 8_000 * 30], 8_000, "silence").unwrap(),
    ];
    let on_a = tokio::spawn(run_call(sim(&a_url, long_turns), None));
    // A call on B, over the same minutes.
    let on_b = tokio::spawn(run_call(
        sim(
            &b_url,
            vec![fixture("en-dentist.wav"), fixture("en-dentist.wav")],
        ),
        None,
    ));
    // Once A has stored the caller's words, kill it.
    let a_sid = {
        let mut found = None;
        for _ in 0..300 {
            let open = store
                .list_calls(&haru_store::CallFilter::default())
                .await
                .unwrap();
            for c in open.iter().filter(|c| c.ended_at.is_none()) {
                let msgs = store.messages(&c.call_sid).await.unwrap();
                // Held by a live instance other than B: by A.
                let held_by_a = b.running.store.held_elsewhere(&c.call_sid).await.unwrap();
                if msgs.iter().any(|m| m.role == Role::Assistant) && held_by_a {
                    found = Some(c.call_sid.clone());
                }
            }
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        found.expect("A answered its caller")
    };
    a.start_kill().unwrap();
    a.wait().await.unwrap();
    let killed_at = tokio::time::Instant::now();

    // A's call is closed by B once A's lease has run out, with what A had stored.
    common::eventually("A's call closed", Duration::from_secs(20), || {
        let (store, sid) = (&store, a_sid.clone());
        async move { store.call(&sid).await.unwrap().unwrap().ended_at.is_some() }
    })
    .await;
    assert!(
        killed_at.elapsed() < Duration::from_millis(LEASE_MS * 4),
        "closed within the lease (and a sweep)"
    );
    // B's call goes on: both its turns answered.
    let rb = on_b.await.unwrap().expect("B's call");
    let b_said = store.messages(&rb.call_sid).await.unwrap();
    assert_eq!(
        b_said.iter().filter(|m| m.role == Role::User).count(),
        2,
        "{b_said:?}"
    );
    assert_eq!(
        b_said.iter().filter(|m| m.role == Role::Assistant).count(),
        2,
        "{b_said:?}"
    );
    let call = store.call(&a_sid).await.unwrap().unwrap();
    assert_eq!(call.end_reason.as_deref(), Some("server lost"));
    assert!(call.transcript.unwrap_or_default().contains(SAID));
    wait_jobs(
        &store,
        std::slice::from_ref(&a_sid),
        Duration::from_secs(30),
    )
    .await;
    assert!(store.diary(&a_sid).await.unwrap().is_some());
    let _ = on_a.await;

    wait_jobs(
        &store,
        std::slice::from_ref(&rb.call_sid),
        Duration::from_secs(30),
    )
    .await;

    // A restarts on the same database: nothing is written twice.
    let before: Vec<i64> = futures::future::join_all(
        [Table::Calls, Table::Messages, Table::Jobs, Table::Diaries].map(|t| store.count_rows(t)),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    let mut a2 = serve_process(&a_env, &a_addr);
    wait_healthy(&a_url).await;
    tokio::time::sleep(Duration::from_millis(LEASE_MS)).await;
    let after: Vec<i64> = futures::future::join_all(
        [Table::Calls, Table::Messages, Table::Jobs, Table::Diaries].map(|t| store.count_rows(t)),
    )
    .await
    .into_iter()
    .map(Result::unwrap)
    .collect();
    assert_eq!(before, after, "calls, messages, jobs, diaries");
    let call2 = store.call(&a_sid).await.unwrap().unwrap();
    assert_eq!(call2.end_reason.as_deref(), Some("server lost"));
    a2.start_kill().unwrap();
    let _ = a2.wait().await;
    drop(b);
}

#[tokio::test]
async fn an_unreachable_database_is_one_clear_start_up_error_without_its_password() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = free_port(); // nothing listens there
    let mut env = HashMap::new();
    env.insert(
        "HARU_DATABASE_URL".to_string(),
        format!("postgres://haru:s3cret-pw@127.0.0.1:{port}/haru"),
    );
    env.insert("HARU_API_LOCAL_ONLY".to_string(), "1".to_string());
    let cfg =
        haru_server::Config::from_source(&haru_server::config::Source(|k| env.get(k).cloned()))
            .unwrap();
    let err = match haru::run::start(cfg, listener, CancellationToken::new()).await {
        Ok(_) => panic!("started without a database"),
        Err(e) => format!("{e:#}"),
    };
    assert!(err.contains("HARU_DATABASE_URL"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains("s3cret-pw"), "password printed: {err}");

    // And a URL of no supported kind says what is expected.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    env.insert(
        "HARU_DATABASE_URL".to_string(),
        "mysql://root:pw@localhost/haru".to_string(),
    );
    let cfg =
        haru_server::Config::from_source(&haru_server::config::Source(|k| env.get(k).cloned()))
            .unwrap();
    let err = match haru::run::start(cfg, listener, CancellationToken::new()).await {
        Ok(_) => panic!("started on mysql"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        err.contains("HARU_DATABASE_URL") && err.contains("postgres://"),
        "{err}"
    );
    assert!(!err.contains(":pw@"), "password printed: {err}");
}

#[tokio::test]
async fn a_database_gone_mid_call_costs_its_writes_not_the_conversation() {
    let db = TestDb::new("db_gone").await.unwrap();
    if db.backend() != haru_store::Backend::Postgres {
        // SQLite is a file in this process: there is no server to lose. The PostgreSQL pass
        // of `make test` (HARU_TEST_DATABASE_URL) runs this.
        return;
    }
    let llm = providers().await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let inst = instance(l, env_for(&db.url, &base, &llm, 15_000)).await;
    let store = db.open().await.unwrap();

    let turns = vec![
        fixture("en-dentist.wav"),
        fixture("en-dentist.wav"),
        fixture("en-dentist.wav"),
    ];
    let call = tokio::spawn(run_call(sim(&inst.base, turns), None));
    // Once the first answer is stored, the database goes away.
    common::eventually("first answer stored", Duration::from_secs(30), || {
        let store = &store;
        async move {
            let calls = store
                .list_calls(&haru_store::CallFilter::default())
                .await
                .unwrap();
            match calls.first() {
                Some(c) => store
                    .messages(&c.call_sid)
                    .await
                    .unwrap()
                    .iter()
                    .any(|m| m.role == Role::Assistant),
                None => false,
            }
        }
    })
    .await;
    drop(store);
    assert!(db.cut_off().await.unwrap());
    let report = call.await.unwrap().expect("the call went on");
    // The caller was answered after the database had gone, too.
    assert_eq!(report.turns.len(), 3, "{report:?}");
    for t in &report.turns {
        assert!(
            t.reply.latency_ms.is_some() && t.reply.bot_audio_ms > 0,
            "every turn answered: {report:?}"
        );
    }
    let metrics = reqwest::get(format!("{}/metrics", inst.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let errors: f64 = metrics
        .lines()
        .find(|l| l.starts_with("haru_store_errors_total"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(errors >= 1.0, "failed writes counted: {metrics}");
    assert!(db.restore().await.unwrap());
}
