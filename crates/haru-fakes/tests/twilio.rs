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
