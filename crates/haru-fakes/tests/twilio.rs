//! Fake Twilio Calls API over real HTTP.

use haru_fakes::{FakeTwilio, FakeTwilioConfig};
use serde_json::Value;

const SID: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN: &str = "secret-token";

async fn start() -> FakeTwilio {
    FakeTwilio::start(FakeTwilioConfig {
        account_sid: SID.into(),
        auth_token: TOKEN.into(),
        ..FakeTwilioConfig::default()
    })
    .await
    .expect("start")
}

fn calls_url(fake: &FakeTwilio) -> String {
    format!("{}/2010-04-01/Accounts/{SID}/Calls.json", fake.base_url())
}

fn call_url(fake: &FakeTwilio, sid: &str) -> String {
    format!(
        "{}/2010-04-01/Accounts/{SID}/Calls/{sid}.json",
        fake.base_url()
    )
}

const CREATE: [(&str, &str); 7] = [
    ("To", "+821012345678"),
    ("From", "+15005550006"),
    ("Url", "https://haru.example/twiml"),
    ("StatusCallback", "https://haru.example/status"),
    ("StatusCallbackEvent", "initiated"),
    ("StatusCallbackEvent", "answered"),
    ("StatusCallbackEvent", "completed"),
];

async fn post(url: &str, user: &str, pass: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .basic_auth(user, Some(pass))
        .form(form)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("json"))
}

#[tokio::test]
async fn create_then_hang_up() {
    let fake = start().await;
    let (status, call) = post(&calls_url(&fake), SID, TOKEN, &CREATE).await;
    assert_eq!(status, 201);
    let sid = call["sid"].as_str().expect("sid").to_owned();
    assert!(sid.starts_with("CA") && sid.len() == 34);
    assert!(sid[2..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(call["status"], "queued");
    assert_eq!(call["to"], "+821012345678");
    assert_eq!(call["from"], "+15005550006");
    assert_eq!(call["account_sid"], SID);

    let known = fake.call(&sid).expect("known call");
    assert_eq!(
        known.status_callback_events,
        ["initiated", "answered", "completed"]
    );

    let req = &fake.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.basic_user.as_deref(), Some(SID));
    assert_eq!(req.basic_password.as_deref(), Some(TOKEN));
    assert_eq!(
        req.fields("StatusCallbackEvent"),
        ["initiated", "answered", "completed"]
    );
    let expected: Vec<(String, String)> = CREATE
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(req.form, expected);

    let (status, updated) = post(
        &call_url(&fake, &sid),
        SID,
        TOKEN,
        &[("Status", "completed")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(updated["status"], "completed");
    assert_eq!(fake.call(&sid).expect("call").status, "completed");

    let fetched: Value = reqwest::Client::new()
        .get(call_url(&fake, &sid))
        .basic_auth(SID, Some(TOKEN))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(fetched["status"], "completed");
    fake.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_get_20003() {
    let fake = start().await;
    for (user, pass) in [(SID, "wrong"), ("ACother", TOKEN)] {
        let (status, err) = post(&calls_url(&fake), user, pass, &CREATE).await;
        assert_eq!(status, 401);
        assert_eq!(err["code"], 20003);
        assert_eq!(err["message"], "Authenticate");
        assert_eq!(err["status"], 401);
        assert!(err["more_info"].as_str().is_some());
    }
    let resp = reqwest::Client::new()
        .post(calls_url(&fake))
        .form(&CREATE)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert!(fake.calls().is_empty());
    assert_eq!(fake.requests().len(), 3);
    assert_eq!(fake.requests()[2].basic_user, None);
    fake.shutdown().await;
}

#[tokio::test]
async fn missing_fields_get_400() {
    let fake = start().await;
    let without = |key: &str| -> Vec<(&str, &str)> {
        CREATE.iter().copied().filter(|(k, _)| *k != key).collect()
    };
    for (form, code) in [
        (without("To"), 21201),
        (without("From"), 21603),
        (without("Url"), 21205),
    ] {
        let (status, err) = post(&calls_url(&fake), SID, TOKEN, &form).await;
        assert_eq!(status, 400, "{form:?}");
        assert_eq!(err["code"], code);
        assert_eq!(err["status"], 400);
    }
    // Twiml instead of Url is fine.
    let mut form = without("Url");
    form.push(("Twiml", "<Response><Hangup/></Response>"));
    assert_eq!(post(&calls_url(&fake), SID, TOKEN, &form).await.0, 201);
    fake.shutdown().await;
}

#[tokio::test]
async fn unknown_call_is_404_and_registered_call_can_be_ended() {
    let fake = start().await;
    let ghost = format!("CA{}", "f".repeat(32));
    let (status, err) = post(
        &call_url(&fake, &ghost),
        SID,
        TOKEN,
        &[("Status", "completed")],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(err["code"], 20404);
    assert_eq!(err["status"], 404);

    fake.register_call(&ghost);
    let (status, call) = post(
        &call_url(&fake, &ghost),
        SID,
        TOKEN,
        &[("Status", "completed")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(call["status"], "completed");
    fake.shutdown().await;
}

#[tokio::test]
async fn injected_create_failure_applies_once() {
    let fake = start().await;
    fake.fail_next_create(429, 20429, "Too Many Requests");
    let (status, err) = post(&calls_url(&fake), SID, TOKEN, &CREATE).await;
    assert_eq!(status, 429);
    assert_eq!(err["code"], 20429);
    assert_eq!(err["message"], "Too Many Requests");
    assert_eq!(post(&calls_url(&fake), SID, TOKEN, &CREATE).await.0, 201);
    assert_eq!(fake.calls().len(), 1);
    fake.shutdown().await;
}

fn messages_url(fake: &FakeTwilio) -> String {
    format!(
        "{}/2010-04-01/Accounts/{SID}/Messages.json",
        fake.base_url()
    )
}

const MESSAGE: [(&str, &str); 4] = [
    ("To", "+821012345678"),
    ("From", "+15005550006"),
    (
        "Body",
        "할머니, 오늘 통화 즐거웠어요 & 내일 또 전화드릴게요.",
    ),
    ("StatusCallback", "https://haru.example/sms-status"),
];

#[tokio::test]
async fn message_send_is_recorded_and_listed() {
    let fake = start().await;
    let (status, msg) = post(&messages_url(&fake), SID, TOKEN, &MESSAGE).await;
    assert_eq!(status, 201);
    let sid = msg["sid"].as_str().expect("sid").to_owned();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert!(sid[2..].chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(msg["status"], "queued");
    assert_eq!(msg["to"], MESSAGE[0].1);
    assert_eq!(msg["from"], MESSAGE[1].1);
    assert_eq!(msg["body"], MESSAGE[2].1);
    assert_eq!(msg["account_sid"], SID);
    assert_eq!(
        msg["uri"],
        format!("/2010-04-01/Accounts/{SID}/Messages/{sid}.json")
    );

    let req = &fake.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(
        req.path,
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert_eq!(req.basic_user.as_deref(), Some(SID));
    assert_eq!(req.field("Body"), Some(MESSAGE[2].1));

    let sent = fake.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].sid, sid);
    assert_eq!(sent[0].to, MESSAGE[0].1);
    assert_eq!(sent[0].from, MESSAGE[1].1);
    assert_eq!(sent[0].body, MESSAGE[2].1);
    assert_eq!(sent[0].status, "queued");
    assert_eq!(
        sent[0].status_callback.as_deref(),
        Some("https://haru.example/sms-status")
    );
    // Messages are not calls.
    assert!(fake.calls().is_empty());
    fake.shutdown().await;
}

#[tokio::test]
async fn message_with_bad_credentials_gets_401() {
    let fake = start().await;
    let (status, err) = post(&messages_url(&fake), SID, "wrong", &MESSAGE).await;
    assert_eq!(status, 401);
    assert_eq!(err["code"], 20003);
    let resp = reqwest::Client::new()
        .post(messages_url(&fake))
        .form(&MESSAGE)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    assert!(fake.messages().is_empty());
    // Refused requests are still recorded, for assertions.
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(fake.requests()[0].field("Body"), Some(MESSAGE[2].1));
    fake.shutdown().await;
}

#[tokio::test]
async fn message_missing_fields_or_too_long_gets_400() {
    let fake = start().await;
    let without = |key: &str| -> Vec<(&str, &str)> {
        MESSAGE.iter().copied().filter(|(k, _)| *k != key).collect()
    };
    let long = "가".repeat(1601);
    let mut too_long = without("Body");
    too_long.push(("Body", &long));
    let mut bad_callback = without("StatusCallback");
    bad_callback.push(("StatusCallback", "not a url"));
    for (form, code) in [
        (without("Body"), 21602),
        (without("To"), 21604),
        (without("From"), 21603),
        (too_long, 21617),
        (bad_callback, 21609),
    ] {
        let (status, err) = post(&messages_url(&fake), SID, TOKEN, &form).await;
        assert_eq!(status, 400, "{form:?}");
        assert_eq!(err["code"], code, "{form:?}");
        assert_eq!(err["status"], 400);
    }
    assert!(fake.messages().is_empty());
    // Exactly the limit is fine.
    let mut at_limit = without("Body");
    let limit = "가".repeat(1600);
    at_limit.push(("Body", &limit));
    assert_eq!(
        post(&messages_url(&fake), SID, TOKEN, &at_limit).await.0,
        201
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn injected_message_failure_applies_once_per_call() {
    let fake = start().await;
    fake.fail_next_message(400, 21610, "Attempt to send to unsubscribed recipient");
    fake.fail_next_message(503, 20503, "Service Unavailable");
    let (status, err) = post(&messages_url(&fake), SID, TOKEN, &MESSAGE).await;
    assert_eq!(status, 400);
    assert_eq!(err["code"], 21610);
    assert_eq!(err["message"], "Attempt to send to unsubscribed recipient");
    let (status, err) = post(&messages_url(&fake), SID, TOKEN, &MESSAGE).await;
    assert_eq!(status, 503);
    assert_eq!(err["code"], 20503);
    assert_eq!(
        post(&messages_url(&fake), SID, TOKEN, &MESSAGE).await.0,
        201
    );
    assert_eq!(fake.messages().len(), 1);
    // Call creation is unaffected by message faults.
    assert_eq!(post(&calls_url(&fake), SID, TOKEN, &CREATE).await.0, 201);
    fake.shutdown().await;
}

#[tokio::test]
async fn machine_detection_fields_are_kept() {
    let fake = start().await;
    let mut form = CREATE.to_vec();
    form.extend([
        ("MachineDetection", "DetectMessageEnd"),
        ("AsyncAmd", "true"),
        ("AsyncAmdStatusCallback", "https://haru.example/amd"),
        ("AsyncAmdStatusCallbackMethod", "POST"),
        ("MachineDetectionTimeout", "20"),
    ]);
    let (status, call) = post(&calls_url(&fake), SID, TOKEN, &form).await;
    assert_eq!(status, 201);
    let known = fake.call(call["sid"].as_str().expect("sid")).expect("call");
    assert_eq!(known.machine_detection.as_deref(), Some("DetectMessageEnd"));
    assert_eq!(
        known.async_amd_status_callback.as_deref(),
        Some("https://haru.example/amd")
    );
    let req = &fake.requests()[0];
    assert_eq!(req.field("AsyncAmd"), Some("true"));
    assert_eq!(req.field("MachineDetectionTimeout"), Some("20"));

    let mut bad = CREATE.to_vec();
    bad.push(("AsyncAmdStatusCallback", "/relative"));
    assert_eq!(post(&calls_url(&fake), SID, TOKEN, &bad).await.0, 400);
    fake.shutdown().await;
}

#[tokio::test]
async fn twiml_update_is_recorded_and_a_hangup_ends_the_call() {
    let fake = start().await;
    let sid = format!("CA{}", "1".repeat(32));
    fake.register_call(&sid);
    let say = "<Response><Say language=\"ko-KR\">안녕하세요</Say></Response>";
    let (status, call) = post(&call_url(&fake, &sid), SID, TOKEN, &[("Twiml", say)]).await;
    assert_eq!(status, 200);
    assert_eq!(call["status"], "in-progress");
    assert_eq!(fake.call(&sid).expect("call").twiml.as_deref(), Some(say));
    assert_eq!(fake.requests()[0].field("Twiml"), Some(say));

    let bye = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say language=\"ko-KR\">안녕히 계세요</Say><Hangup/></Response>";
    let (status, call) = post(&call_url(&fake, &sid), SID, TOKEN, &[("Twiml", bye)]).await;
    assert_eq!(status, 200);
    assert_eq!(call["status"], "completed");
    let known = fake.call(&sid).expect("call");
    assert_eq!(known.status, "completed");
    assert_eq!(known.twiml.as_deref(), Some(bye));

    // An ended call takes no new instructions, but ending it again is harmless.
    let (status, err) = post(&call_url(&fake, &sid), SID, TOKEN, &[("Twiml", say)]).await;
    assert_eq!(status, 400);
    assert_eq!(err["code"], 21220);
    let (status, _) = post(
        &call_url(&fake, &sid),
        SID,
        TOKEN,
        &[("Status", "completed")],
    )
    .await;
    assert_eq!(status, 200);

    let ghost = format!("CA{}", "2".repeat(32));
    let (status, err) = post(&call_url(&fake, &ghost), SID, TOKEN, &[("Twiml", bye)]).await;
    assert_eq!(status, 404);
    assert_eq!(err["code"], 20404);
    fake.shutdown().await;
}
