//! `haru bench --dashboard N`: how long the dashboard's pages take with N stored calls.
//! Seeds a fresh SQLite file (20 people, N calls over the last 30 days, 3 turns each with
//! their timings, an alert per 25 calls), starts the real server on a random port, logs in
//! like a browser and loads each page repeatedly.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use haru_store::companion::{AlertKind, Evidence, NewAlert};
use haru_store::{CallStore, NewCall, NewMessage, Role, TurnTiming};
use tokio_util::sync::CancellationToken;

const PEOPLE: usize = 20;
const LOADS: usize = 20;
const TOKEN: &str = "dashboard-bench-token-0123456789";

pub async fn run(calls: usize) -> Result<String> {
    let path = std::env::temp_dir().join(format!("haru-dashboard-bench-{}.db", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite:{}", path.display());
    let db = crate::run::open_store(&url).await?;
    let mut people = vec![];
    for i in 0..PEOPLE {
        let input: haru_companion::person::PersonInput =
            serde_json::from_value(serde_json::json!({
                "name": format!("김영희 {i}"), "phone": format!("+8210555{i:05}"),
                "language": "ko", "timezone": "Asia/Seoul", "call_times": ["10:00"],
            }))?;
        let new = input.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        let p = db
            .add_person(&new)
            .await?
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        people.push(p);
    }
    let now = chrono::Utc::now();
    let mut sids = vec![];
    for n in 0..calls {
        let p = &people[n % PEOPLE];
        let sid = format!("CA{:032x}", uuid::Uuid::new_v4().as_u128());
        db.upsert_call(&NewCall {
            call_sid: sid.clone(),
            direction: "outbound".into(),
            from_number: Some("+15005550006".into()),
            to_number: Some(p.phone.clone()),
            status: Some("in-progress".into()),
            ..Default::default()
        })
        .await?;
        for turn in 1..=3i64 {
            for (role, text) in [
                (
                    Role::User,
                    "오늘 아침에 공원을 한 바퀴 걸었어요. 날씨가 참 좋았어요.",
                ),
                (Role::Assistant, "좋네요! 산책하고 나니 기분이 어떠셨어요?"),
            ] {
                db.add_message(&NewMessage {
                    call_sid: sid.clone(),
                    turn_index: turn,
                    role,
                    content: text.into(),
                    interrupted: false,
                })
                .await?;
            }
            db.record_turn(&TurnTiming {
                call_sid: sid.clone(),
                turn_index: turn,
                stt_ms: Some(180),
                llm_first_token_ms: Some(320),
                tts_first_byte_ms: Some(150),
                first_audio_ms: Some(780),
                answer_audio_ms: Some(780),
                outcome: "answered".into(),
                ..Default::default()
            })
            .await?;
        }
        db.close_call(&sid, "hangup", None).await?;
        let at = now - chrono::Duration::minutes((n as i64 * 30 * 24 * 60) / calls.max(1) as i64);
        let ts = haru_store::ts(at);
        let end = haru_store::ts(at + chrono::Duration::minutes(4));
        db.backdate_call(&sid, &ts, Some(&end)).await?;
        if n % 25 == 0 {
            db.raise_alert(&NewAlert {
                person_id: Some(p.id.clone()),
                call_sid: Some(sid.clone()),
                kind: AlertKind::Emergency,
                dedupe_key: format!("bench-{sid}"),
                summary: "넘어졌다고 말씀하셨어요".into(),
                evidence: vec![Evidence {
                    quote: "아까 마당에서 넘어졌어요".into(),
                    call_sid: Some(sid.clone()),
                    at: ts.clone(),
                }],
            })
            .await?;
        }
        sids.push(sid);
    }
    drop(db);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut env: HashMap<&str, String> = HashMap::new();
    env.insert("API_BASE_URL", format!("http://{addr}"));
    env.insert("HARU_DATABASE_URL", url);
    env.insert("OPENAI_BASE_URL", "http://127.0.0.1:9/v1".into());
    env.insert("HARU_API_TOKEN", TOKEN.into());
    env.insert("HARU_GREETING", String::new());
    // Nobody is dialled while the pages are timed.
    env.insert("HARU_SCHEDULER_TICK_MS", "3600000".into());
    let cfg =
        haru_server::Config::from_source(&haru_server::config::Source(|k| env.get(k).cloned()))?;
    let shutdown = CancellationToken::new();
    let running = crate::run::start(cfg, listener, shutdown.clone()).await?;
    let base = format!("http://{addr}");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let login = http
        .post(format!("{base}/app/login"))
        .form(&[("token", TOKEN), ("next", "/app")])
        .send()
        .await?;
    let cookie = login
        .headers()
        .get(reqwest::header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("no session cookie from /app/login")?
        .to_string();
    let pages = [
        ("people (/app)", "/app".to_string()),
        ("person", format!("/app/people/{}", people[0].id)),
        ("calls", "/app/calls".to_string()),
        ("call", format!("/app/calls/{}", sids[sids.len() / 2])),
        ("alerts", "/app/alerts".to_string()),
        ("live", "/app/live".to_string()),
    ];
    let mut out = format!(
        "dashboard pages, {calls} stored calls, {PEOPLE} people, SQLite, {LOADS} loads each (ms)\n  {:<14} {:>8} {:>8} {:>8} {:>9}\n",
        "page", "p50", "p95", "max", "bytes"
    );
    for (name, path) in pages {
        let mut ms = vec![];
        let mut bytes = 0;
        for _ in 0..LOADS {
            let t = Instant::now();
            let r = http
                .get(format!("{base}{path}"))
                .header(reqwest::header::COOKIE, &cookie)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
            bytes = r.bytes().await?.len();
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        let q = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
        out.push_str(&format!(
            "  {name:<14} {:>8.1} {:>8.1} {:>8.1} {bytes:>9}\n",
            q(0.5),
            q(0.95),
            ms[ms.len() - 1]
        ));
    }
    shutdown.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), running.server).await;
    let _ = std::fs::remove_file(&path);
    Ok(out)
}
