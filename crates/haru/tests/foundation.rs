//! Issue "Foundation": webhooks, signatures, outbound calls, the stream handshake and bad input,
//! all over real HTTP/WebSocket on loopback.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test]
async fn voice_webhook_answers_with_connect_stream_twiml_and_issues_a_token() {
    let s = TestServer::start(&[]).await;
    let sid = call_sid(1);
    let resp = s
        .post_signed(
            "/api/twilio/voice",
            &[
                ("CallSid", &sid),
                ("From", "+821011112222"),
                ("To", "+15005550006"),
                ("Direction", "inbound"),
            ],
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let xml = resp.text().await.unwrap();
    assert!(
        xml.starts_with(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Connect><Stream url=\""
        ),
        "{xml}"
    );
    let (url, params) = parse_twiml(&xml);
    assert_eq!(url, format!("ws://{}/api/twilio/stream", s.addr));
    assert!(
        !url.contains('?'),
        "Twilio rejects a query string in the stream URL"
    );
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(get("callSid").as_deref(), Some(sid.as_str()));
    assert_eq!(get("direction").as_deref(), Some("inbound"));
    let token = get("token").unwrap();
    assert!(token.len() >= 32);
    assert_eq!(
        s.store.stream_token(&sid).await.unwrap(),
        Some(token.clone())
    );
    let call = s.store.call(&sid).await.unwrap().unwrap();
    assert_eq!(call.from_number.as_deref(), Some("+821011112222"));
    // A second call gets a different token.
    let (_, p2) = s.answer(&call_sid(2)).await;
    assert_ne!(p2.iter().find(|(n, _)| n == "token").unwrap().1, token);
}

#[tokio::test]
async fn webhooks_with_bad_signatures_are_refused_and_record_nothing() {
    let s = TestServer::start(&[]).await;
    let sid = call_sid(3);
    let params = [
        ("CallSid", sid.as_str()),
        ("CallStatus", "ringing"),
        ("Caller", "홍길동"),
    ];
    let owned: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let client = reqwest::Client::new();
    let good =
        haru_telephony::signature::compute(AUTH_TOKEN, &s.url("/api/twilio/call-status"), &owned);
    // (what, signature header, body)
    type Case<'a> = (&'a str, Option<String>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = vec![
        ("missing header", None, params.to_vec()),
        (
            "tampered body",
            Some(good.clone()),
            vec![
                ("CallSid", sid.as_str()),
                ("CallStatus", "completed"),
                ("Caller", "홍길동"),
            ],
        ),
        (
            "wrong token",
            Some(haru_telephony::signature::compute(
                "other-token",
                &s.url("/api/twilio/call-status"),
                &owned,
            )),
            params.to_vec(),
        ),
        (
            "tampered url",
            Some(haru_telephony::signature::compute(
                AUTH_TOKEN,
                "http://evil.example/api/twilio/call-status",
                &owned,
            )),
            params.to_vec(),
        ),
    ];
    for (what, sig, body) in cases {
        let mut req = client.post(s.url("/api/twilio/call-status")).form(&body);
        if let Some(sig) = sig {
            req = req.header("X-Twilio-Signature", sig);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 403, "{what}");
    }
    assert!(s.store.status_events(&sid).await.unwrap().is_empty());
    assert!(s.store.call(&sid).await.unwrap().is_none());
    // The correctly signed one (Korean value included) is accepted and recorded.
    let resp = client
        .post(s.url("/api/twilio/call-status"))
        .header("X-Twilio-Signature", good)
        .form(&params)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let ev = s.store.status_events(&sid).await.unwrap();
    assert_eq!(ev.len(), 1);
    assert!(ev[0].params_json.contains("홍길동"));
    // The voice webhook is protected the same way.
    let resp = client
        .post(s.url("/api/twilio/voice"))
        .form(&[("CallSid", "CA1")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test]
async fn every_status_callback_is_recorded_in_order() {
    let s = TestServer::start(&[]).await;
    let sid = call_sid(4);
    for (i, st) in ["initiated", "ringing", "in-progress", "completed"]
        .iter()
        .enumerate()
    {
        let seq = i.to_string();
        let mut p = vec![
            ("CallSid", sid.as_str()),
            ("CallStatus", *st),
            ("SequenceNumber", seq.as_str()),
            ("Timestamp", "Tue, 24 Nov 2026 12:00:00 +0000"),
        ];
        if *st == "completed" {
            p.push(("CallDuration", "37"));
        }
        assert_eq!(
            s.post_signed("/api/twilio/call-status", &p).await.status(),
            204
        );
    }
    let ev = s.store.status_events(&sid).await.unwrap();
    let names: Vec<_> = ev.iter().map(|e| e.call_status.as_str()).collect();
    assert_eq!(names, ["initiated", "ringing", "in-progress", "completed"]);
    assert_eq!(ev[3].call_duration, Some(37));
    assert_eq!(
        ev[0].timestamp.as_deref(),
        Some("Tue, 24 Nov 2026 12:00:00 +0000")
    );
    assert_eq!(
        s.store.call(&sid).await.unwrap().unwrap().status,
        "completed"
    );
    // Missing CallStatus is a clear 400.
    let resp = s
        .post_signed("/api/twilio/call-status", &[("CallSid", sid.as_str())])
        .await;
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn outbound_call_reaches_twilio_with_exact_fields_and_auth() {
    let tw = fake_twilio().await;
    let s = TestServer::start(&[
        ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
        ("TWILIO_API_BASE", &tw.base_url()),
        ("TWILIO_PHONE_NUMBER", "+15005550006"),
        ("TEST_PHONE_NUMBER", "+821099998888"),
        ("HARU_API_TOKEN", "operator-secret"),
    ])
    .await;
    // Outbound dialling costs money: never without the operator's token, loopback or not.
    for auth in [None, Some("Bearer wrong")] {
        let mut req = reqwest::Client::new().post(s.url("/api/twilio/call"));
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        assert_eq!(req.send().await.unwrap().status(), 401);
    }
    assert!(tw.requests().is_empty());
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "Authorization",
        reqwest::header::HeaderValue::from_static("Bearer operator-secret"),
    );
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    // Default destination.
    let resp = client.post(s.url("/api/twilio/call")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await.unwrap();
    let sid = body["call_sid"].as_str().unwrap().to_string();
    assert!(sid.starts_with("CA"));
    let reqs = tw.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json")
    );
    assert_eq!(r.basic_user.as_deref(), Some(ACCOUNT_SID));
    assert_eq!(r.basic_password.as_deref(), Some(AUTH_TOKEN));
    let field = |k: &str| {
        r.form
            .iter()
            .filter(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(field("To"), ["+821099998888"]);
    assert_eq!(field("From"), ["+15005550006"]);
    assert_eq!(field("Url"), [s.url("/api/twilio/voice")]);
    assert_eq!(field("StatusCallback"), [s.url("/api/twilio/call-status")]);
    assert_eq!(
        field("StatusCallbackEvent"),
        ["initiated", "ringing", "answered", "completed"]
    );
    assert_eq!(
        s.store.call(&sid).await.unwrap().unwrap().direction,
        "outbound-api"
    );
    // Explicit destination.
    let resp = client
        .post(s.url("/api/twilio/call"))
        .json(&serde_json::json!({"to": "+821055556666"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        tw.requests()[1]
            .form
            .iter()
            .find(|(k, _)| k == "To")
            .unwrap()
            .1,
        "+821055556666"
    );
    // Twilio's error comes back with its code and message.
    tw.fail_next_create(
        400,
        21211,
        "The 'To' number +8210 is not a valid phone number.",
    );
    let resp = client
        .post(s.url("/api/twilio/call"))
        .json(&serde_json::json!({"to": "+8210"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 502);
    let err: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(err["code"], 21211);
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .contains("not a valid phone number")
    );
    // Malformed body.
    let resp = client
        .post(s.url("/api/twilio/call"))
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn hang_up_treats_an_already_ended_call_as_success() {
    let tw = fake_twilio().await;
    let client = haru_telephony::TwilioClient::new(
        reqwest::Client::new(),
        &tw.base_url(),
        ACCOUNT_SID,
        AUTH_TOKEN,
    );
    tw.register_call("CA11111111111111111111111111111111");
    let done = client
        .hang_up("CA11111111111111111111111111111111")
        .await
        .unwrap();
    assert_eq!(done, haru_telephony::rest::Hangup::Completed);
    let r = tw.requests();
    assert_eq!(
        r[0].path,
        format!("/2010-04-01/Accounts/{ACCOUNT_SID}/Calls/CA11111111111111111111111111111111.json")
    );
    assert_eq!(
        r[0].form,
        vec![("Status".to_string(), "completed".to_string())]
    );
    let gone = client
        .hang_up("CA22222222222222222222222222222222")
        .await
        .unwrap();
    assert_eq!(gone, haru_telephony::rest::Hangup::AlreadyEnded);
    let bad = haru_telephony::TwilioClient::new(
        reqwest::Client::new(),
        &tw.base_url(),
        ACCOUNT_SID,
        "wrong",
    );
    let err = bad
        .hang_up("CA11111111111111111111111111111111")
        .await
        .unwrap_err();
    assert!(
        !err.to_string().contains("wrong"),
        "token must not leak: {err}"
    );
}

#[tokio::test]
async fn health_and_metrics_answer() {
    let s = TestServer::start(&[]).await;
    let r = reqwest::get(s.url("/healthz")).await.unwrap();
    assert_eq!(r.status(), 200);
    let r = reqwest::get(s.url("/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_stream_with_the_issued_token_is_accepted_and_its_lifecycle_recorded() {
    let s = TestServer::start(&[("HARU_SPECULATIVE", "false")]).await;
    let sid = call_sid(5);
    let (url, params) = s.answer(&sid).await;
    let mut st = RawStream::open(&url, &sid, &params).await;
    for _ in 0..50 {
        st.media(&[0i16; 160]).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    st.stop().await;
    let store = s.store.clone();
    let sid2 = sid.clone();
    eventually(
        "stream closed and call closed",
        Duration::from_secs(5),
        || {
            let store = store.clone();
            let sid = sid2.clone();
            async move {
                let ev = store.stream_events(&sid).await.unwrap();
                let call = store.call(&sid).await.unwrap().unwrap();
                ev.iter().any(|e| e.kind == "closed") && call.ended_at.is_some()
            }
        },
    )
    .await;
    let kinds: Vec<String> = s
        .store
        .stream_events(&sid)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["started", "closed"]);
    let call = s.store.call(&sid).await.unwrap().unwrap();
    assert_eq!(call.stream_sid.as_deref(), Some(st.stream_sid.as_str()));
    assert_eq!(call.end_reason.as_deref(), Some("stop"));
}

#[tokio::test]
async fn streams_with_a_wrong_or_missing_token_are_closed_and_logged() {
    let s = TestServer::start(&[]).await;
    let sid = call_sid(6);
    let (url, mut params) = s.answer(&sid).await;
    for p in params.iter_mut() {
        if p.0 == "token" {
            p.1 = "forged".into();
        }
    }
    let mut st = RawStream::open(&url, &sid, &params).await;
    assert_eq!(st.closed(Duration::from_secs(3)).await, Some(1008));
    // No token at all, and a token for an unknown call.
    let mut st = RawStream::open(&url, &sid, &[]).await;
    assert_eq!(st.closed(Duration::from_secs(3)).await, Some(1008));
    let (_, good) = s.answer(&call_sid(7)).await;
    let mut st = RawStream::open(&url, &call_sid(8), &good[2..]).await; // token of call 7 used for call 8
    assert_eq!(st.closed(Duration::from_secs(3)).await, Some(1008));
    let ev = s.store.stream_events(&sid).await.unwrap();
    assert_eq!(ev.iter().filter(|e| e.kind == "rejected").count(), 2);
    assert!(
        ev.iter()
            .any(|e| e.detail.as_deref() == Some("wrong stream token"))
    );
}

#[tokio::test]
async fn bad_input_is_skipped_and_never_touches_a_parallel_healthy_stream() {
    let s = TestServer::start(&[("HARU_GREETING", "")]).await;
    let (url, p_bad) = s.answer(&call_sid(10)).await;
    let (_, p_good) = s.answer(&call_sid(11)).await;
    // Media before start, then a proper start.
    let mut bad = RawStream::connect(&url).await;
    send_json(
        &mut bad,
        serde_json::json!({"event":"media","streamSid":"MZx","media":{"payload":"AAAA"}}),
    )
    .await;
    send_json(
        &mut bad,
        start_msg(&call_sid(10), "MZ00000000000000000000000000000bad", &p_bad),
    )
    .await;
    let mut bad = RawStream {
        ws: bad,
        stream_sid: "MZ00000000000000000000000000000bad".into(),
        call_sid: call_sid(10),
    };
    let mut good = RawStream::open(&url, &call_sid(11), &p_good).await;
    let garbage = [
        "not json at all",
        r#"{"event":"media","streamSid":"MZ00000000000000000000000000000bad","media":{"payload":"***not base64***"}}"#,
        r#"{"event":"media","streamSid":"MZ00000000000000000000000000000bad"}"#,
        r#"{"event":"future-event","streamSid":"MZ00000000000000000000000000000bad","x":{}}"#,
        r#"{"event":"media","streamSid":"MZother","media":{"payload":"AAAA"}}"#,
        r#"{"event":"mark","streamSid":"MZ00000000000000000000000000000bad","mark":{"name":"never-sent"}}"#,
        r#"{"event":"dtmf","streamSid":"MZ00000000000000000000000000000bad","dtmf":{"track":"inbound_track","digit":"5"}}"#,
    ];
    for g in garbage {
        bad.raw(g).await;
        good.media(&[0i16; 160]).await;
    }
    let huge = format!(
        r#"{{"event":"media","streamSid":"MZ00000000000000000000000000000bad","media":{{"payload":"{}"}}}}"#,
        "A".repeat(100_000)
    );
    bad.raw(&huge).await;
    // Both streams are still alive: frames keep flowing on each.
    for _ in 0..10 {
        bad.media(&[0i16; 160]).await;
        good.media(&[0i16; 160]).await;
    }
    assert_eq!(
        bad.closed(Duration::from_millis(300)).await,
        None,
        "bad stream must survive skipped frames"
    );
    good.stop().await;
    bad.stop().await;
    let store = s.store.clone();
    eventually("both calls closed", Duration::from_secs(5), || {
        let store = store.clone();
        async move {
            let a = store.call(&call_sid(10)).await.unwrap().unwrap();
            let b = store.call(&call_sid(11)).await.unwrap().unwrap();
            a.end_reason.as_deref() == Some("stop") && b.end_reason.as_deref() == Some("stop")
        }
    })
    .await;
    // The DTMF digit was recorded on the bad stream's call only.
    let msgs = s.store.messages(&call_sid(10)).await.unwrap();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].content, "5");
    assert!(s.store.messages(&call_sid(11)).await.unwrap().is_empty());
}
