//! Issue "The daily companion": people over the REST API, the scheduler against a fake
//! Twilio in injected time (local time, DST, retries, answering machines), memory carried
//! from one call to the next and never across people, in-call alerts delivered as signed
//! webhooks (and surviving a restart), erasure.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule, SttRule};
use haru_sim::{SimConfig, Turn, run_call};
use haru_store::CallStore;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "operator-token-for-tests";

struct Env {
    base: String,
    running: haru::run::Running,
    twilio: haru_fakes::FakeTwilio,
    llm: FakeOpenAi,
    _shutdown: CancellationToken,
    _db: haru_store::test_db::TestDb,
}

async fn start(stt: &str, extra: &[(&str, &str)]) -> Env {
    let llm = FakeOpenAi::start(FakeOpenAiConfig {
        stt: SttRule::Fixed(stt.into()),
        reply: ReplyRule::Echo,
        ..FakeOpenAiConfig::fast()
    })
    .await
    .unwrap();
    let twilio = common::fake_twilio().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let db = haru_store::test_db::TestDb::new("companion").await.unwrap();
    let mut env: HashMap<String, String> = HashMap::new();
    for (k, v) in [
        ("API_BASE_URL", format!("http://{addr}")),
        ("HARU_DATABASE_URL", db.url.clone()),
        ("OPENAI_BASE_URL", llm.base_url()),
        ("HARU_POSTCALL_BASE_URL", llm.base_url()),
        ("HARU_STT_LANGUAGE", "en".into()),
        ("HARU_API_TOKEN", TOKEN.into()),
        ("TWILIO_ACCOUNT_SID", common::ACCOUNT_SID.into()),
        ("TWILIO_AUTH_TOKEN", common::AUTH_TOKEN.into()),
        ("TWILIO_PHONE_NUMBER", "+15005550006".into()),
        ("TWILIO_API_BASE", twilio.base_url()),
        // The background scheduler stays out of the way: the tests drive `tick(now)`.
        ("HARU_SCHEDULER_TICK_MS", "3600000".into()),
    ] {
        env.insert(k.into(), v);
    }
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    let cfg =
        haru_server::Config::from_source(&haru_server::config::Source(|k| env.get(k).cloned()))
            .unwrap();
    let shutdown = CancellationToken::new();
    let running = haru::run::start(cfg, listener, shutdown.clone())
        .await
        .unwrap();
    Env {
        _db: db,
        base: format!("http://{addr}"),
        running,
        twilio,
        llm,
        _shutdown: shutdown,
    }
}

impl Env {
    fn http(&self) -> reqwest::Client {
        reqwest::Client::new()
    }
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http()
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    async fn add_person(&self, body: Value) -> Value {
        let (s, v) = self
            .api(reqwest::Method::POST, "/api/people", Some(body))
            .await;
        assert_eq!(s, 201, "{v}");
        v
    }
    fn creates(&self) -> Vec<haru_fakes::TwilioRequest> {
        self.twilio
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/Calls.json"))
            .collect()
    }
    async fn status(&self, call_sid: &str, status: &str) {
        let r = common::post_signed_to(
            &self.base,
            "/api/twilio/call-status",
            &[("CallSid", call_sid), ("CallStatus", status)],
        )
        .await;
        assert_eq!(r.status(), 204);
    }
    /// The call placed last for this person.
    async fn last_call(&self, person: &Value) -> String {
        let id = person["id"].as_str().unwrap();
        let a = self
            .running
            .companion
            .store
            .attempts_of(id, 1)
            .await
            .unwrap();
        a[0].call_sid.clone().unwrap()
    }
    /// A status callback at an injected instant (the webhook uses the real clock).
    async fn status_at(&self, call_sid: &str, status: &str, at: &str) {
        let now: DateTime<Utc> = at.parse().unwrap();
        self.running
            .companion
            .on_call_status(call_sid, status, now)
            .await
            .unwrap();
    }
    async fn tick(&self, at: &str) {
        let now: DateTime<Utc> = at.parse().unwrap();
        self.running.companion.tick(now).await.unwrap();
    }
}

#[tokio::test]
async fn people_are_validated_created_paused_and_erased_with_everything_theirs() {
    let env = start("hello", &[]).await;
    let (s, v) = env
        .api(
            reqwest::Method::POST,
            "/api/people",
            Some(json!({"name": "Ann", "phone": "555-1234"})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(v["error"].as_str().unwrap().starts_with("phone:"), "{v}");
    let (s, _) = env
        .api(
            reqwest::Method::POST,
            "/api/people",
            Some(json!({"name": "Ann", "phone": "+15551230001", "timezone": "Nowhere/Land"})),
        )
        .await;
    assert_eq!(s, 422);
    let p = env
        .add_person(
            json!({"name": "Ann", "phone": "+15551230001", "language": "en",
            "timezone": "America/New_York", "call_times": ["09:00"],
            "caregivers": [{"name": "Bo", "webhook_url": "http://127.0.0.1:9/hook"}]}),
        )
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    assert!(
        p["calendar_url"]
            .as_str()
            .unwrap()
            .contains(&format!("/api/people/{id}/calendar.ics?token="))
    );
    assert!(
        p["next_call_at"].as_str().unwrap().ends_with(":00:00Z"),
        "{p}"
    );
    assert!(
        p.get("calendar_token").is_none(),
        "the secret only travels inside calendar_url"
    );
    let (s, _) = env
        .api(
            reqwest::Method::POST,
            "/api/people",
            Some(json!({"name": "Twin", "phone": "+15551230001"})),
        )
        .await;
    assert_eq!(s, 409, "one person per number");

    // An inbound call from their number is theirs.
    let store = env.running.store.clone();
    let sid = common::call_sid(41);
    store
        .upsert_call(&haru_store::NewCall {
            call_sid: sid.clone(),
            direction: "inbound".into(),
            from_number: Some("+15551230001".into()),
            to_number: Some("+15005550006".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    store
        .add_message(&haru_store::NewMessage {
            call_sid: sid.clone(),
            turn_index: 1,
            role: haru_store::Role::User,
            content: "I fell yesterday".into(),
            interrupted: false,
        })
        .await
        .unwrap();
    store
        .save_caller_holds("+15551230001", &[700])
        .await
        .unwrap();
    assert_eq!(
        store
            .call(&sid)
            .await
            .unwrap()
            .unwrap()
            .person_id
            .as_deref(),
        Some(id.as_str())
    );

    let (s, v) = env
        .api(
            reqwest::Method::PATCH,
            &format!("/api/people/{id}"),
            Some(json!({"active": false})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["active"], false);
    assert_eq!(v["next_call_at"], Value::Null);

    let (s, v) = env
        .api(reqwest::Method::DELETE, &format!("/api/people/{id}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["removed"]["calls"], 1, "{v}");
    assert_eq!(v["removed"]["messages"], 1, "{v}");
    assert_eq!(v["removed"]["caregivers"], 1, "{v}");
    assert_eq!(v["removed"]["caller_profiles"], 1, "{v}");
    assert_eq!(v["removed"]["people"], 1, "{v}");
    assert!(store.call(&sid).await.unwrap().is_none());
    assert!(store.messages(&sid).await.unwrap().is_empty());
    assert!(store.caller_holds("+15551230001").await.unwrap().is_empty());
    let (s, _) = env
        .api(reqwest::Method::GET, &format!("/api/people/{id}"), None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_daily_call_comes_once_at_local_time_across_dst_and_retries_stop_at_the_limit() {
    let env = start("hello", &[]).await;
    let p = env
        .add_person(
            json!({"name": "Ann", "phone": "+15551230002", "language": "en",
            "timezone": "America/New_York", "call_times": ["09:00"], "window_minutes": 90}),
        )
        .await;
    // 2027-03-13 is the last EST day (09:00 = 14:00Z); on 2027-03-14 09:00 EDT = 13:00Z.
    env.tick("2027-03-13T13:59:59Z").await;
    assert_eq!(env.creates().len(), 0, "not before 09:00 local");
    env.tick("2027-03-13T14:00:00Z").await;
    env.tick("2027-03-13T14:00:20Z").await;
    let creates = env.creates();
    assert_eq!(creates.len(), 1, "exactly one call for the slot");
    assert_eq!(creates[0].field("To"), Some("+15551230002"));
    assert_eq!(
        creates[0].field("MachineDetection"),
        Some("DetectMessageEnd")
    );
    assert_eq!(creates[0].field("AsyncAmd"), Some("true"));
    let first = env.last_call(&p).await;
    env.status(&first, "in-progress").await;
    env.status(&first, "completed").await;
    common::eventually("slot answered", Duration::from_secs(5), || {
        let s = env.running.companion.store.clone();
        let id = p["id"].as_str().unwrap().to_string();
        async move {
            s.slots_of(&id, 5)
                .await
                .unwrap()
                .first()
                .is_some_and(|s| s.state == haru_store::companion::SlotState::Answered)
        }
    })
    .await;

    env.tick("2027-03-14T12:59:00Z").await;
    assert_eq!(env.creates().len(), 1, "09:00 EDT is 13:00Z, not earlier");
    env.tick("2027-03-14T13:00:00Z").await;
    assert_eq!(env.creates().len(), 2, "called at 09:00 EDT");

    // No answer: retried after 10 and 20 minutes (3 tries), then missed.
    let second = env.last_call(&p).await;
    env.status_at(&second, "no-answer", "2027-03-14T13:00:40Z")
        .await;
    let id = p["id"].as_str().unwrap().to_string();
    let store = env.running.companion.store.clone();
    let waiting = |n: i64| {
        let (store, id) = (store.clone(), id.clone());
        async move {
            let s = store.slots_of(&id, 1).await.unwrap();
            s.first().is_some_and(|s| {
                s.state == haru_store::companion::SlotState::Waiting && s.attempts == n
            })
        }
    };
    common::eventually("retry scheduled", Duration::from_secs(5), || waiting(1)).await;
    env.tick("2027-03-14T13:05:00Z").await;
    assert_eq!(env.creates().len(), 2, "not before the backoff");
    env.tick("2027-03-14T13:11:00Z").await;
    assert_eq!(env.creates().len(), 3);
    env.status_at(&env.last_call(&p).await, "busy", "2027-03-14T13:11:20Z")
        .await;
    common::eventually("second retry scheduled", Duration::from_secs(5), || {
        waiting(2)
    })
    .await;
    env.tick("2027-03-14T13:31:30Z").await;
    assert_eq!(env.creates().len(), 4);
    env.status_at(
        &env.last_call(&p).await,
        "no-answer",
        "2027-03-14T13:31:40Z",
    )
    .await;
    common::eventually("missed", Duration::from_secs(5), || {
        let (store, id) = (store.clone(), id.clone());
        async move {
            store
                .slots_of(&id, 1)
                .await
                .unwrap()
                .first()
                .is_some_and(|s| s.state == haru_store::companion::SlotState::Missed)
        }
    })
    .await;
    env.tick("2027-03-14T14:00:00Z").await;
    assert_eq!(env.creates().len(), 4, "no fourth try");
}

#[tokio::test]
async fn an_answering_machine_gets_one_message_in_the_persons_language() {
    let env = start("hello", &[]).await;
    let p = env
        .add_person(
            json!({"name": "김영희", "phone": "+821012340003", "language": "ko",
            "timezone": "Asia/Seoul", "call_times": ["10:00"]}),
        )
        .await;
    env.tick("2027-01-05T01:00:00Z").await;
    assert_eq!(env.creates().len(), 1);
    let sid = env.last_call(&p).await;
    env.status(&sid, "in-progress").await;
    let r = common::post_signed_to(
        &env.base,
        "/api/twilio/amd",
        &[("CallSid", &sid), ("AnsweredBy", "machine_end_beep")],
    )
    .await;
    assert_eq!(r.status(), 204);
    common::eventually("message left", Duration::from_secs(5), || {
        let n = env
            .twilio
            .requests()
            .iter()
            .filter(|r| r.field("Twiml").is_some())
            .count();
        async move { n == 1 }
    })
    .await;
    let twiml = env
        .twilio
        .requests()
        .into_iter()
        .find_map(|r| r.field("Twiml").map(str::to_string))
        .unwrap();
    assert!(twiml.contains("language=\"ko-KR\""), "{twiml}");
    assert!(twiml.contains("김영희님"), "{twiml}");
    assert!(twiml.contains("<Hangup/>"), "{twiml}");
    // An unsigned verdict is refused.
    let r = env
        .http()
        .post(format!("{}/api/twilio/amd", env.base))
        .form(&[("CallSid", sid.as_str()), ("AnsweredBy", "human")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

fn turn() -> Turn {
    Turn::from_wav_file(format!(
        "{}/../../fixtures/en-dentist.wav",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn call_from(env: &Env, from: &str) -> String {
    let report = run_call(
        SimConfig {
            server: env.base.clone(),
            auth_token: Some(common::AUTH_TOKEN.into()),
            from: from.into(),
            turns: vec![turn()],
            greeting_wait: Duration::from_secs(3),
            reply_settle: Duration::from_millis(800),
            ..SimConfig::default()
        },
        None,
    )
    .await
    .unwrap();
    report.call_sid
}

fn system_prompts(llm: &FakeOpenAi) -> Vec<String> {
    llm.requests_to(haru_fakes::Endpoint::ChatCompletions)
        .iter()
        .filter_map(|r| r.json().cloned())
        .filter(|b| b.get("response_format").is_none())
        .filter_map(|b| b["messages"][0]["content"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn the_next_call_starts_from_memory_and_another_persons_never_does() {
    let env = start("How are you today?", &[]).await;
    let a = env
        .add_person(json!({"name": "Ann", "phone": "+15551230004", "language": "en", "timezone": "America/New_York"}))
        .await;
    env.add_person(json!({"name": "Bea", "phone": "+15551230005", "language": "en", "timezone": "America/New_York"}))
        .await;
    let store = env.running.companion.store.clone();
    store
        .add_memory_item(
            a["id"].as_str().unwrap(),
            "Her granddaughter is called Jimin",
            Some("my granddaughter Jimin"),
            None,
        )
        .await
        .unwrap();
    call_from(&env, "+15551230004").await;
    let prompts = system_prompts(&env.llm);
    assert!(!prompts.is_empty());
    assert!(
        prompts
            .iter()
            .all(|p| p.contains("Jimin") && p.contains("Name: Ann")),
        "{prompts:#?}"
    );
    env.llm.clear_requests();
    call_from(&env, "+15551230005").await;
    let prompts = system_prompts(&env.llm);
    assert!(!prompts.is_empty());
    assert!(
        prompts
            .iter()
            .all(|p| !p.contains("Jimin") && !p.contains("Ann")),
        "{prompts:#?}"
    );
    // A stranger's call has no memory block at all.
    env.llm.clear_requests();
    call_from(&env, "+15559999999").await;
    assert!(
        system_prompts(&env.llm)
            .iter()
            .all(|p| !p.contains("What Haru knows"))
    );
}

type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

/// A caregiver's webhook receiver on loopback; fails the first `fail` requests with 500.
async fn receiver(fail: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let (s, count) = (s.clone(), count.clone());
            async move {
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n < fail {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                s.lock().unwrap().push((headers, body.to_vec()));
                axum::http::StatusCode::OK
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    (url, seen)
}

#[tokio::test]
async fn i_fell_is_answered_at_once_and_the_family_gets_one_signed_webhook() {
    let env = start("I fell in the kitchen and my hip hurts", &[]).await;
    let (url, seen) = receiver(0).await;
    let p = env
        .add_person(json!({"name": "Ann", "phone": "+15551230006", "language": "en", "timezone": "America/New_York",
            "caregivers": [{"name": "Daughter", "webhook_url": url}]}))
        .await;
    let secret = p["caregivers"][0]["webhook_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let sid = call_from(&env, "+15551230006").await;
    // The fixed reply, not the LLM's.
    assert!(system_prompts(&env.llm).is_empty(), "the LLM was asked");
    let said: Vec<String> = env
        .running
        .store
        .messages(&sid)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == haru_store::Role::Assistant)
        .map(|m| m.content)
        .collect();
    assert!(said.iter().any(|m| m.contains("911")), "{said:?}");
    // The alert sender runs every second.
    common::eventually("webhook delivered", Duration::from_secs(10), || {
        let n = seen.lock().unwrap().len();
        async move { n >= 1 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "delivered once");
    let (headers, body) = &seen[0];
    let ts: i64 = headers["x-haru-timestamp"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        headers["x-haru-signature"].to_str().unwrap(),
        haru_companion::deliver::sign(&secret, ts, body)
    );
    let v: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(v["kind"], "emergency");
    assert_eq!(v["call_sid"], sid.as_str());
    assert!(
        v["evidence"][0]["quote"]
            .as_str()
            .unwrap()
            .contains("I fell")
    );

    let (s, alerts) = env
        .api(reqwest::Method::GET, "/api/alerts?open=true", None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(alerts["items"].as_array().unwrap().len(), 1, "{alerts}");
    let id = alerts["items"][0]["id"].as_i64().unwrap();
    assert_eq!(alerts["items"][0]["deliveries"][0]["state"], "delivered");
    let (s, a) = env
        .api(
            reqwest::Method::POST,
            &format!("/api/alerts/{id}/ack"),
            Some(json!({"by": "Daughter"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(a["acked_by"], "Daughter");
    let (_, open) = env
        .api(reqwest::Method::GET, "/api/alerts?open=true", None)
        .await;
    assert!(open["items"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_pending_delivery_survives_a_restart() {
    let db = haru_store::test_db::TestDb::new("alert_restart")
        .await
        .unwrap();
    let url = db.url.clone();
    let (hook, seen) = receiver(1).await;
    {
        let store = Arc::new(haru_store::SqlStore::open(&url).await.unwrap());
        let p = store
            .add_person(&haru_store::companion::NewPerson {
                name: "Ann".into(),
                phone: "+15551230007".into(),
                language: "en".into(),
                timezone: "UTC".into(),
                call_times: vec!["10:00".into()],
                window_minutes: 60,
                days: vec![],
                active: true,
                caregivers: vec![haru_store::companion::NewCaregiver {
                    name: "Bo".into(),
                    webhook_url: Some(hook.clone()),
                    ..Default::default()
                }],
            })
            .await
            .unwrap()
            .unwrap();
        store
            .raise_alert(&haru_store::NewAlert {
                person_id: Some(p.id.clone()),
                call_sid: None,
                kind: haru_store::AlertKind::LowMood,
                dedupe_key: "test:1".into(),
                summary: "low".into(),
                evidence: vec![],
            })
            .await
            .unwrap();
        let c = haru_companion::Companion::new(store, None, Default::default());
        // The receiver is down (500): the delivery stays pending for a retry.
        assert_eq!(c.deliver_due(Utc::now()).await.unwrap(), 1);
        assert!(seen.lock().unwrap().is_empty());
    }
    // "Restart": a new store and sender over the same database, after the backoff.
    let store = Arc::new(haru_store::SqlStore::open(&url).await.unwrap());
    let c = haru_companion::Companion::new(store.clone(), None, Default::default());
    assert_eq!(
        c.deliver_due(Utc::now()).await.unwrap(),
        0,
        "not before the backoff"
    );
    assert_eq!(
        c.deliver_due(Utc::now() + chrono::Duration::seconds(30))
            .await
            .unwrap(),
        1
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
    assert_eq!(
        c.deliver_due(Utc::now() + chrono::Duration::hours(2))
            .await
            .unwrap(),
        0,
        "delivered once"
    );
    let a = store.alerts(&Default::default()).await.unwrap();
    assert_eq!(
        a[0].deliveries[0].state,
        haru_store::companion::DeliveryState::Delivered
    );
    assert_eq!(a[0].deliveries[0].attempts, 2);
}

#[tokio::test]
async fn the_calendar_feed_needs_its_token_and_is_icalendar() {
    let env = start("hello", &[]).await;
    let p = env
        .add_person(json!({"name": "Ann", "phone": "+15551230008", "language": "en", "timezone": "America/New_York"}))
        .await;
    let url = p["calendar_url"].as_str().unwrap().to_string();
    // No bearer token: the feed's own secret opens it.
    let r = env.http().get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/calendar")
    );
    let body = r.text().await.unwrap();
    assert!(body.starts_with("BEGIN:VCALENDAR\r\n"), "{body}");
    assert!(body.contains("X-WR-CALNAME:haru: Ann"), "{body}");
    let wrong = url.rsplit_once('=').unwrap().0.to_string() + "=0000";
    assert_eq!(env.http().get(&wrong).send().await.unwrap().status(), 404);
    let none = url.split('?').next().unwrap().to_string();
    assert_eq!(env.http().get(&none).send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn missed_days_in_a_row_raise_one_alert_sent_by_sms() {
    let env = start(
        "hello",
        &[
            ("HARU_CALL_ATTEMPTS", "1"),
            ("HARU_ALERT_MISSED_CALLS", "2"),
        ],
    )
    .await;
    let p = env
        .add_person(
            json!({"name": "Ann", "phone": "+15551230009", "language": "en", "timezone": "UTC",
            "call_times": ["10:00"], "caregivers": [{"name": "Son", "sms": "+15551239999"}]}),
        )
        .await;
    for day in ["2027-02-01", "2027-02-02", "2027-02-03"] {
        env.tick(&format!("{day}T10:00:00Z")).await;
        let sid = env.last_call(&p).await;
        env.status_at(&sid, "no-answer", &format!("{day}T10:00:30Z"))
            .await;
    }
    assert_eq!(
        env.creates().len(),
        3,
        "one try a day (HARU_CALL_ATTEMPTS=1)"
    );
    let (_, alerts) = env.api(reqwest::Method::GET, "/api/alerts", None).await;
    let items = alerts["items"].as_array().unwrap();
    assert_eq!(
        items.len(),
        1,
        "one alert for the run, not one per missed day: {alerts}"
    );
    assert_eq!(items[0]["kind"], "missed_calls");
    // The sender delivers the SMS through Twilio's Messages API, once.
    common::eventually("sms sent", Duration::from_secs(10), || {
        let n = env.twilio.messages().len();
        async move { n >= 1 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sms = env.twilio.messages();
    assert_eq!(sms.len(), 1);
    let req = env
        .twilio
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/Messages.json"))
        .unwrap();
    assert_eq!(req.field("To"), Some("+15551239999"));
    assert_eq!(req.field("From"), Some("+15005550006"));
    assert!(
        req.field("Body").unwrap().contains("Ann"),
        "{:?}",
        req.field("Body")
    );

    // Trends: every day of the range, the missed calls counted per day.
    let id = p["id"].as_str().unwrap();
    let (s, t) = env
        .api(
            reqwest::Method::GET,
            &format!("/api/people/{id}/trends?from=2027-01-30&to=2027-02-03"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let days = t["days"].as_array().unwrap();
    assert_eq!(days.len(), 5);
    assert_eq!(days[0]["date"], "2027-01-30");
    // Beyond the scheduler's look-back (36 h before its first tick): not recorded.
    assert_eq!(days[0]["missed"], 0);
    // 2027-01-31 is recorded missed by the first tick: haru was not running at 10:00.
    for d in &days[1..] {
        assert_eq!(d["missed"], 1, "{t}");
        assert_eq!(d["answered"], 0, "{t}");
    }
    let (s, _) = env
        .api(
            reqwest::Method::GET,
            &format!("/api/people/{id}/trends?from=2027-02-03&to=2027-01-01"),
            None,
        )
        .await;
    assert_eq!(s, 400);
}
