//! The API over real loopback HTTP (served with peer addresses, as the server must be),
//! with post-call results produced by real jobs against the fake OpenAI server.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::MockConnectInfo;
use chrono::Utc;
use haru_api::{ApiState, cli, router};
use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule};
use haru_postcall::{JobKind, PostCall, PostCallConfig};
use haru_providers::{Endpoint, OpenAiChat};
use haru_store::test_db::TestDb;
use haru_store::{CallStore, NewCall, NewMessage, Role, SqlStore, TurnTiming};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

struct Env {
    _db: TestDb,
    url: String,
    state: ApiState,
    _fake: FakeOpenAi,
}

async fn seed(
    store: &SqlStore,
    sid: &str,
    phone: &str,
    status: &str,
    started: &str,
    lines: &[(Role, &str)],
) {
    store
        .upsert_call(&NewCall {
            call_sid: sid.into(),
            direction: "inbound".into(),
            from_number: Some(phone.into()),
            to_number: Some("+8270000000".into()),
            status: Some(status.into()),
            ..Default::default()
        })
        .await
        .expect("call");
    let mut ids = vec![];
    for (i, (role, text)) in lines.iter().enumerate() {
        let id = store
            .add_message(&NewMessage {
                call_sid: sid.into(),
                turn_index: i as i64 / 2 + 1,
                role: *role,
                content: text.to_string(),
                interrupted: false,
            })
            .await
            .expect("message");
        ids.push(id);
    }
    store
        .record_turn(&TurnTiming {
            call_sid: sid.into(),
            turn_index: 1,
            speech_ms: Some(1200),
            first_audio_ms: Some(750),
            outcome: "answered".into(),
            ..Default::default()
        })
        .await
        .expect("turn");
    // The trait stamps "now"; move the call to the test's date.
    store.backdate_call(sid, started, None).await.expect("date");
    for id in ids {
        store.backdate_message(id, started).await.expect("date");
    }
}

fn stamp(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn env(token: Option<&str>) -> Env {
    let db = TestDb::new("api").await.expect("test database");
    let url = db.url.clone();
    let store = db.open().await.expect("store");
    let now = stamp(Utc::now());
    seed(
        &store,
        "CA1",
        "+821011112222",
        "completed",
        &now,
        &[
            (Role::User, "내일 저녁 7시에 친구랑 저녁 먹기로 했어요."),
            (Role::Assistant, "좋네요!"),
        ],
    )
    .await;
    seed(
        &store,
        "CA2",
        "+821033334444",
        "completed",
        "2026-01-10T01:00:00.000Z",
        &[(Role::User, "안녕")],
    )
    .await;
    seed(
        &store,
        "CA3",
        "+821011112222",
        "failed",
        "2026-01-05T01:00:00.000Z",
        &[],
    )
    .await;

    let replies = vec![
        json!({"title": "약속", "paragraphs": ["내일 친구와 저녁을 먹기로 했다.", "기대된다."]}).to_string(),
        json!({"items": [{"title": "친구와 저녁", "kind": "plan", "quote": "내일 저녁 7시에 친구랑 저녁 먹기로",
            "when": {"day_offset": 1, "weekday": null, "week_offset": null, "date": null, "month": null, "day": null},
            "time": "19:00"}]}).to_string(),
        json!({"label": "happy", "score": 0.6, "reason": "약속을 기대한다.", "quotes": ["친구랑 저녁 먹기로 했어요"]}).to_string(),
    ];
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        reply: ReplyRule::Sequence(replies),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("fake");
    let chat = Arc::new(OpenAiChat::new(
        reqwest::Client::new(),
        Endpoint::new(&fake.base_url(), None),
        "gpt-test",
    ));
    let cfg = PostCallConfig {
        base_backoff: Duration::from_millis(1),
        ..Default::default()
    };
    let pc = Arc::new(PostCall::new(store.clone(), chat, cfg));
    pc.enqueue_for_call("CA1").await.expect("enqueue");
    let never = CancellationToken::new();
    while pc.run_one(&never).await.expect("run").is_some() {}

    let state = ApiState {
        store: Arc::new(store.clone()),
        postcall: pc,
        api_token: token.map(str::to_string),
        // Tests without a token run in the explicit loopback-only mode.
        local_only: token.is_none(),
        db: Arc::new(store.clone()),
        companion: None,
        public_base: "https://haru.example".into(),
    };
    Env {
        _db: db,
        url,
        state,
        _fake: fake,
    }
}

/// Serves the router on loopback the way the server must: with connect info.
async fn serve(state: ApiState) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn get(base: &str, path: &str) -> (u16, Value) {
    let r = reqwest::get(format!("{base}{path}"))
        .await
        .expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn sids(v: &Value) -> Vec<&str> {
    v["items"]
        .as_array()
        .map(|a| a.iter().filter_map(|c| c["call_sid"].as_str()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn without_a_token_the_api_is_disabled_unless_opened_to_direct_loopback() {
    let e = env(None).await;
    // The default: no token, no API (behind a tunnel every peer is loopback).
    let mut closed = e.state.clone();
    closed.local_only = false;
    let base = serve(closed).await;
    let (status, v) = get(&base, "/api/calls").await;
    assert_eq!(status, 403);
    assert!(
        v["error"].as_str().unwrap_or("").contains("HARU_API_TOKEN"),
        "{v}"
    );
    // HARU_API_LOCAL_ONLY=1: a direct loopback peer is served...
    let base = serve(e.state.clone()).await;
    assert_eq!(get(&base, "/api/calls").await.0, 200);
    // ...but not one that came through a proxy or tunnel (ngrok adds X-Forwarded-For).
    for h in ["x-forwarded-for", "forwarded", "x-real-ip"] {
        let r = reqwest::Client::new()
            .get(format!("{base}/api/calls"))
            .header(h, "203.0.113.7")
            .send()
            .await
            .expect("request");
        assert_eq!(r.status(), 403, "{h}");
    }

    let remote =
        router(e.state.clone()).layer(MockConnectInfo(SocketAddr::from(([10, 1, 2, 3], 4000))));
    let resp = remote
        .oneshot(
            axum::http::Request::get("/api/calls")
                .body(axum::body::Body::empty())
                .expect("req"),
        )
        .await
        .expect("resp");
    assert_eq!(resp.status(), 403);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .expect("body")
        .to_bytes();
    let v: Value = serde_json::from_slice(&body).expect("json error");
    assert!(
        v["error"].as_str().unwrap_or("").contains("loopback"),
        "{v}"
    );

    // Served without connect info: refused with a hint, not silently open.
    let resp = router(e.state.clone())
        .oneshot(
            axum::http::Request::get("/api/calls")
                .body(axum::body::Body::empty())
                .expect("req"),
        )
        .await
        .expect("resp");
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn a_configured_token_is_required() {
    let e = env(Some("s3cret-token")).await;
    let base = serve(e.state.clone()).await;
    let http = reqwest::Client::new();
    let none = http
        .get(format!("{base}/api/calls"))
        .send()
        .await
        .expect("send");
    assert_eq!(none.status(), 401);
    let v: Value = none.json().await.expect("json");
    assert!(v["error"].as_str().is_some());
    let wrong = http
        .get(format!("{base}/api/calls"))
        .bearer_auth("nope")
        .send()
        .await
        .expect("send");
    assert_eq!(wrong.status(), 401);
    let right = http
        .get(format!("{base}/api/calls"))
        .bearer_auth("s3cret-token")
        .send()
        .await
        .expect("send");
    assert_eq!(right.status(), 200);
    // The OpenAPI document is public.
    let doc = http
        .get(format!("{base}/openapi.json"))
        .send()
        .await
        .expect("send");
    assert_eq!(doc.status(), 200);
    let doc: Value = doc.json().await.expect("json");
    assert!(doc["paths"]["/api/calls/{sid}/diary"]["get"].is_object());
    assert!(doc["paths"]["/api/jobs/{id}/rerun"]["post"].is_object());
}

#[tokio::test]
async fn calls_are_paged_and_filtered() {
    let e = env(None).await;
    let base = serve(e.state.clone()).await;
    let (s, v) = get(&base, "/api/calls?limit=2").await;
    assert_eq!(s, 200);
    assert_eq!(sids(&v), ["CA1", "CA2"]);
    assert_eq!(v["next_offset"], 2);
    let (_, v) = get(&base, "/api/calls?limit=2&offset=2").await;
    assert_eq!(sids(&v), ["CA3"]);
    assert_eq!(v["next_offset"], Value::Null);
    let (_, v) = get(&base, "/api/calls?phone=%2B821011112222").await;
    assert_eq!(sids(&v), ["CA1", "CA3"]);
    let (_, v) = get(&base, "/api/calls?status=failed").await;
    assert_eq!(sids(&v), ["CA3"]);
    // Local (Seoul) days: 2026-01-10T01:00Z is the 10th in Seoul.
    let (_, v) = get(&base, "/api/calls?from=2026-01-06&until=2026-01-10").await;
    assert_eq!(sids(&v), ["CA2"]);
    let (_, v) = get(&base, "/api/calls?until=2026-01-09").await;
    assert_eq!(sids(&v), ["CA3"]);

    for bad in [
        "/api/calls?limit=0",
        "/api/calls?limit=abc",
        "/api/calls?from=yesterday",
        "/api/calls?offset=-1",
        "/api/calls?offset=9223372036854775807",
        "/api/schedules/upcoming?offset=9223372036854775807",
        "/api/jobs?offset=9223372036854775807",
    ] {
        let (s, v) = get(&base, bad).await;
        assert_eq!(s, 400, "{bad}");
        assert!(v["error"].as_str().is_some(), "{bad}: {v}");
    }
}

#[tokio::test]
async fn one_call_and_its_results() {
    let e = env(None).await;
    let base = serve(e.state.clone()).await;
    let (s, v) = get(&base, "/api/calls/CA1").await;
    assert_eq!(s, 200);
    assert_eq!(v["call"]["call_sid"], "CA1");
    assert_eq!(v["messages"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["turns"][0]["first_audio_ms"], 750);
    assert!(v["status_events"].is_array());
    assert_eq!(v["jobs"].as_array().map(Vec::len), Some(5));

    let text = reqwest::get(format!("{base}/api/calls/CA1/transcript"))
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("Caller: 내일 저녁 7시에 친구랑 저녁 먹기로 했어요."),
        "{text}"
    );
    assert!(text.contains("Haru: 좋네요!"), "{text}");

    let (s, d) = get(&base, "/api/calls/CA1/diary").await;
    assert_eq!(s, 200);
    assert_eq!(d["title"], "약속");
    let (_, sch) = get(&base, "/api/calls/CA1/schedules").await;
    assert_eq!(sch[0]["title"], "친구와 저녁");
    let tomorrow = (Utc::now().with_timezone(&chrono_tz::Asia::Seoul) + chrono::Duration::days(1))
        .format("%Y-%m-%dT19:00+09:00")
        .to_string();
    assert_eq!(sch[0]["starts_at"], tomorrow.as_str());
    let (_, up) = get(&base, "/api/schedules/upcoming").await;
    assert_eq!(up["items"][0]["call_sid"], "CA1");
    let (_, m) = get(&base, "/api/calls/CA1/mood").await;
    assert_eq!(m["label"], "happy");
    let (_, q) = get(&base, "/api/calls/CA1/quality").await;
    assert_eq!(q["first_audio_p50_ms"], 750);
    let (_, jobs) = get(&base, "/api/jobs?state=done&kind=diary").await;
    assert_eq!(jobs["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn missing_things_are_404_and_bad_input_400() {
    let e = env(None).await;
    let base = serve(e.state.clone()).await;
    for path in [
        "/api/calls/CANOPE",
        "/api/calls/CANOPE/diary",
        "/api/calls/CANOPE/transcript",
        "/api/jobs/99999",
    ] {
        let (s, v) = get(&base, path).await;
        assert_eq!(s, 404, "{path}");
        assert!(v["error"].as_str().is_some(), "{path}: {v}");
    }
    // A known call whose diary was never made says so.
    let (s, v) = get(&base, "/api/calls/CA2/diary").await;
    assert_eq!(s, 404);
    assert!(
        v["error"].as_str().unwrap_or("").contains("no job queued"),
        "{v}"
    );
    let (s, _) = get(&base, "/api/jobs/abc").await;
    assert_eq!(s, 400);
    let (s, _) = get(&base, "/api/jobs?state=sleeping").await;
    assert_eq!(s, 400);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/calls/CA1/jobs/poem/rerun"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn jobs_can_be_rerun_but_not_while_running() {
    let e = env(None).await;
    let base = serve(e.state.clone()).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{base}/api/calls/CA2/jobs/quality/rerun"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    let job: Value = r.json().await.expect("json");
    assert_eq!(job["state"], "pending");
    assert_eq!(job["kind"], "quality");

    let claim = e
        .state
        .postcall
        .claim_next()
        .await
        .expect("claim")
        .expect("due");
    assert_eq!(claim.job.kind, JobKind::Quality);
    let r = http
        .post(format!("{base}/api/jobs/{}/rerun", claim.job.id))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 409);
    let r = http
        .post(format!("{base}/api/jobs/99999/rerun"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 404);

    let (_, diary_jobs) = get(&base, "/api/calls/CA1/jobs").await;
    let id = diary_jobs
        .as_array()
        .and_then(|a| a.iter().find(|j| j["kind"] == "diary"))
        .map(|j| j["id"].clone())
        .expect("diary job");
    let r = http
        .post(format!("{base}/api/jobs/{id}/rerun"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 202);
    let (_, j) = get(&base, &format!("/api/jobs/{id}")).await;
    assert_eq!(j["state"], "pending");
    assert_eq!(j["attempts"], 0);
}

#[tokio::test]
async fn cli_helpers_print_calls_and_one_call() {
    let e = env(None).await;
    let args = cli::CallsArgs {
        from: None,
        until: None,
        phone: Some("+821011112222".into()),
        status: None,
        limit: 20,
        offset: 0,
        timezone: "Asia/Seoul".into(),
    };
    let out = cli::list_calls(&e.url, &args).await.expect("list");
    assert!(
        out.contains("CA1") && out.contains("CA3") && !out.contains("CA2"),
        "{out}"
    );
    let out = cli::show(
        &e.url,
        &cli::ShowArgs {
            call_sid: "CA1".into(),
            timezone: "Asia/Seoul".into(),
        },
    )
    .await
    .expect("show");
    for part in [
        "== Transcript ==",
        "Caller: 내일 저녁 7시에",
        "약속",
        "친구와 저녁",
        "happy (+0.60)",
    ] {
        assert!(out.contains(part), "missing {part} in:\n{out}");
    }
    let err = cli::show(
        &e.url,
        &cli::ShowArgs {
            call_sid: "CANOPE".into(),
            timezone: "Asia/Seoul".into(),
        },
    )
    .await;
    assert!(err.is_err());
}
