//! The requests haru sends validate against the providers' official OpenAPI specs: Twilio
//! API v2010 and OpenAI's voice-bot subset, copied unchanged into `tests/specs/` (from the
//! team's `shared/conformance/specs/`) so a clone anywhere can run them.
//! The real client code sends them to the fake servers, which record them.

use std::path::PathBuf;

use futures::StreamExt;
use haru_fakes::{
    Endpoint, FakeOpenAi, FakeOpenAiConfig, FakeTwilio, FakeTwilioConfig, RecordedBody,
};
use haru_providers::{ChatMessage, ChatModel, Synthesizer, Transcriber};
use haru_telephony::rest::{
    AmdMode, CallOptions, CallUpdate, MachineDetection, NewCall, NewMessage,
};
use serde_json::Value;

fn spec(name: &str) -> Value {
    let dir = std::env::var_os("HARU_CONFORMANCE_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/specs"));
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (set HARU_CONFORMANCE_SPECS to the specs folder)",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap()
}

fn resolve<'a>(root: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut cur = root;
            for part in r.trim_start_matches("#/").split('/') {
                cur = &cur[part];
            }
            resolve(root, cur)
        }
        None => v,
    }
}

/// A small JSON-schema check: $ref, allOf/anyOf/oneOf, type, enum, required, properties,
/// additionalProperties=false, array items. Returns the problems found.
fn check(root: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    let s = resolve(root, schema);
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(root, sub, v, at, errs);
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(any) = s.get(key).and_then(Value::as_array) {
            let ok = any.iter().any(|sub| {
                let mut e = Vec::new();
                check(root, sub, v, at, &mut e);
                e.is_empty()
            });
            if !ok {
                errs.push(format!("{at}: matches none of {key}"));
            }
        }
    }
    if let Some(t) = s.get("type").and_then(Value::as_str) {
        let ok = match t {
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            "null" => v.is_null(),
            _ => true,
        };
        let nullable = v.is_null() && s.get("nullable") == Some(&Value::Bool(true));
        if !(ok || nullable) {
            errs.push(format!("{at}: expected {t}, got {v}"));
            return;
        }
    }
    if let Some(en) = s.get("enum").and_then(Value::as_array)
        && !en.contains(v)
    {
        errs.push(format!("{at}: {v} not in {en:?}"));
    }
    if let (Some(obj), true) = (
        v.as_object(),
        s.get("type").and_then(Value::as_str) == Some("object") || s.get("properties").is_some(),
    ) {
        let props = s.get("properties").and_then(Value::as_object);
        for req in s
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = req.as_str()
                && !obj.contains_key(r)
            {
                errs.push(format!("{at}: missing required `{r}`"));
            }
        }
        for (k, val) in obj {
            match props.and_then(|p| p.get(k)) {
                Some(ps) => check(root, ps, val, &format!("{at}.{k}"), errs),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errs.push(format!("{at}: unknown property `{k}`"))
                }
                None => {}
            }
        }
    }
    if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
        for (i, it) in arr.iter().enumerate() {
            check(root, items, it, &format!("{at}[{i}]"), errs);
        }
    }
}

/// The values a description lists as "Can be: `a` or `b`." where the spec gives no enum
/// (e.g. `MachineDetection`, `AsyncAmd`, `StatusCallbackEvent`).
fn described_values(p: &Value) -> Option<Vec<&str>> {
    let d = p.get("description")?.as_str()?;
    let (_, rest) = d.split_once("Can be: ")?;
    let sentence = rest.split(". ").next().unwrap_or(rest);
    let values: Vec<&str> = sentence.split('`').skip(1).step_by(2).collect();
    (!values.is_empty()).then_some(values)
}

/// Form bodies: every field must be a documented property, required ones present, enums
/// (declared or described) kept, integers and TwiML well-formed.
fn check_form(root: &Value, schema: &Value, form: &[(String, String)], errs: &mut Vec<String>) {
    let s = resolve(root, schema);
    let props = s["properties"].as_object().expect("form properties");
    for req in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let r = req.as_str().unwrap();
        if !form.iter().any(|(k, _)| k == r) {
            errs.push(format!("missing required form field {r}"));
        }
    }
    for (k, v) in form {
        let Some(p) = props.get(k) else {
            errs.push(format!("undocumented form field {k}"));
            continue;
        };
        let p = resolve(root, p);
        let item = if p["type"] == "array" {
            resolve(root, &p["items"])
        } else {
            p
        };
        if let Some(en) = item.get("enum").and_then(Value::as_array) {
            if !en.iter().any(|e| e.as_str() == Some(v)) {
                errs.push(format!("{k}={v} not in {en:?}"));
            }
        } else if let Some(values) = described_values(p)
            && !values.contains(&v.as_str())
        {
            errs.push(format!("{k}={v} not among the described {values:?}"));
        }
        if item["type"] == "integer" && v.parse::<i64>().is_err() {
            errs.push(format!("{k}={v} is not an integer"));
        }
        if item.get("format").and_then(Value::as_str) == Some("twiml") {
            let doc = v.trim();
            let body = match doc.strip_prefix("<?xml") {
                Some(rest) => rest.split_once("?>").map_or("", |(_, b)| b),
                None => doc,
            };
            if !(body.starts_with("<Response>") && body.ends_with("</Response>")) {
                errs.push(format!("{k}={v} is not a <Response> document"));
            }
        }
        if item.get("format").and_then(Value::as_str) == Some("uri") && url::Url::parse(v).is_err()
        {
            errs.push(format!("{k}={v} is not a URI"));
        }
        if p["type"] != "array" && form.iter().filter(|(n, _)| n == k).count() > 1 {
            errs.push(format!("{k} repeated but not a list"));
        }
    }
}

#[tokio::test]
async fn twilio_requests_match_the_official_spec() {
    let spec = spec("twilio_api_v2010.json");
    let sid = "AC00000000000000000000000000000000";
    let tw = FakeTwilio::start(FakeTwilioConfig {
        account_sid: sid.into(),
        auth_token: "t".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let client =
        haru_telephony::TwilioClient::new(reqwest::Client::new(), &tw.base_url(), sid, "t");
    let call = NewCall {
        to: "+821012345678",
        from: "+15005550006",
        url: "https://example.ngrok.io/api/twilio/voice",
        status_callback: "https://example.ngrok.io/api/twilio/call-status",
    };
    let created = client.create_call(&call).await.unwrap();
    let screened = client
        .create_call_with(
            &call,
            &CallOptions {
                machine_detection: Some(MachineDetection {
                    mode: AmdMode::DetectMessageEnd,
                    status_callback: "https://example.ngrok.io/api/twilio/amd-status",
                    timeout_secs: Some(30),
                }),
            },
        )
        .await
        .unwrap();
    client.hang_up(&created.sid).await.unwrap();
    let message = haru_telephony::twiml::say_and_hangup_lang(
        "할머니, 하루예요. <다음에> 또 \"전화\" 드릴게요 & 안녕히 계세요.",
        "ko",
    );
    assert_eq!(
        client.update_twiml(&screened.sid, &message).await.unwrap(),
        CallUpdate::Applied
    );
    let long = "오늘 이야기 정말 즐거웠어요. ".repeat(150);
    for (body, status_callback) in [
        (
            "할머니, 내일 또 전화드릴게요.",
            Some("https://example.ngrok.io/api/twilio/sms-status"),
        ),
        (long.as_str(), None),
    ] {
        let sent = client
            .send_sms(&NewMessage {
                to: "+821012345678",
                from: "+15005550006",
                body,
                status_callback,
            })
            .await
            .unwrap();
        assert!(sent.sid.starts_with("SM"), "{sent:?}");
        assert_eq!(sent.status.as_deref(), Some("queued"));
    }
    let reqs = tw.requests();
    let call_path = "/2010-04-01/Accounts/{AccountSid}/Calls.json";
    let update_path = "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json";
    let messages_path = "/2010-04-01/Accounts/{AccountSid}/Messages.json";
    let templates = [
        call_path,
        call_path,
        update_path,
        update_path,
        messages_path,
        messages_path,
    ];
    assert_eq!(reqs.len(), templates.len());
    let paths = &spec["paths"];
    let mut errs = Vec::new();
    for (r, template) in reqs.iter().zip(templates) {
        let op = &paths[template]["post"];
        assert!(op.is_object(), "{template} not in spec");
        let prefix = template.split('{').next().unwrap();
        assert!(r.path.starts_with(prefix), "{} vs {template}", r.path);
        let suffix = template.rsplit('}').next().unwrap();
        assert!(r.path.ends_with(suffix), "{} vs {template}", r.path);
        let schema = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        check_form(&spec, schema, &r.form, &mut errs);
    }
    assert!(errs.is_empty(), "{errs:#?}");
    // What the checker cannot see from the schema alone.
    let amd = &reqs[1];
    assert_eq!(amd.field("MachineDetection"), Some("DetectMessageEnd"));
    assert_eq!(amd.field("AsyncAmd"), Some("true"));
    assert_eq!(
        amd.field("AsyncAmdStatusCallback"),
        Some("https://example.ngrok.io/api/twilio/amd-status")
    );
    assert_eq!(amd.field("AsyncAmdStatusCallbackMethod"), Some("POST"));
    assert_eq!(amd.field("MachineDetectionTimeout"), Some("30"));
    assert_eq!(reqs[0].field("MachineDetection"), None);
    assert_eq!(reqs[3].field("Twiml"), Some(message.as_str()));
    assert_eq!(tw.call(&screened.sid).unwrap().status, "completed");
    // The spec: "Can be up to 1,600 characters in length."
    let long_body = reqs[5].field("Body").unwrap();
    assert!(
        long_body.chars().count() <= 1600,
        "{}",
        long_body.chars().count()
    );
    assert!(long_body.ends_with('…'));
    assert_eq!(
        reqs[4].field("StatusCallback"),
        Some("https://example.ngrok.io/api/twilio/sms-status")
    );
    assert_eq!(reqs[5].field("StatusCallback"), None);
    let mut bad = Vec::new();
    let update = &paths["/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"]["post"]["requestBody"]
        ["content"]["application/x-www-form-urlencoded"]["schema"];
    check_form(
        &spec,
        update,
        &[
            ("Status".into(), "hungup".into()),
            ("Nope".into(), "1".into()),
            ("Twiml".into(), "<Say>hi</Say>".into()),
        ],
        &mut bad,
    );
    let create = &paths[call_path]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
        ["schema"];
    check_form(
        &spec,
        create,
        &[
            ("To".into(), "+821012345678".into()),
            ("From".into(), "+15005550006".into()),
            ("MachineDetection".into(), "Yes".into()),
            ("MachineDetectionTimeout".into(), "soon".into()),
            ("StatusCallbackEvent".into(), "hungup".into()),
        ],
        &mut bad,
    );
    let messages = &paths[messages_path]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
        ["schema"];
    check_form(
        &spec,
        messages,
        &[("Body".into(), "hi".into()), ("Text".into(), "hi".into())],
        &mut bad,
    );
    assert_eq!(
        bad.len(),
        8,
        "the checker must catch bad enums (declared and described), unknown fields, \
         non-integers, non-TwiML and a missing To: {bad:#?}"
    );
}

#[tokio::test]
async fn openai_requests_match_the_official_spec() {
    let spec = spec("openai_voicebot_subset.json");
    let fake = FakeOpenAi::start(FakeOpenAiConfig::fast()).await.unwrap();
    let http = reqwest::Client::new();
    let ep = haru_providers::Endpoint::new(&fake.base_url(), Some("sk-test"));
    let stt =
        haru_providers::OpenAiTranscriber::new(http.clone(), ep.clone(), "whisper-1", Some("ko"));
    stt.transcribe(&vec![100i16; 16000], 16000).await.unwrap();
    let chat = haru_providers::OpenAiChat::new(http.clone(), ep.clone(), "gpt-4o-mini")
        .with_limits(Some(60), Some(0.7));
    let mut s = chat
        .stream(&[ChatMessage::system("hi"), ChatMessage::user("안녕")])
        .await
        .unwrap();
    while s.next().await.is_some() {}
    let schema = serde_json::json!({"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": {"type": "object"}}});
    let _ = chat.complete(&[ChatMessage::user("x")], Some(schema)).await;
    let tts =
        haru_providers::OpenAiSynthesizer::new(http, ep, "tts-1", "alloy").with_speed(Some(0.85));
    let mut a = tts.synthesize("안녕하세요").await.unwrap();
    while a.next().await.is_some() {}

    let schemas = &spec["components"]["schemas"];
    // HARU_TTS_SPEED reaches the wire as OpenAI's `speed`.
    assert!(
        fake.requests().iter().any(|r| matches!(
            (&r.endpoint, &r.body),
            (Endpoint::Speech, RecordedBody::Json(v)) if v["speed"] == 0.85f32
        )),
        "speech request without speed"
    );
    let mut errs = Vec::new();
    for r in fake.requests() {
        match (r.endpoint, &r.body) {
            (Endpoint::ChatCompletions, RecordedBody::Json(v)) => check(
                &spec,
                &schemas["CreateChatCompletionRequest"],
                v,
                "chat",
                &mut errs,
            ),
            (Endpoint::Speech, RecordedBody::Json(v)) => check(
                &spec,
                &schemas["CreateSpeechRequest"],
                v,
                "speech",
                &mut errs,
            ),
            (Endpoint::Transcriptions, RecordedBody::Multipart(fields)) => {
                let t = &schemas["CreateTranscriptionRequest"];
                let props = t["properties"].as_object().unwrap();
                for f in fields {
                    if !props.contains_key(&f.name) {
                        errs.push(format!("transcription: unknown field {}", f.name));
                    }
                }
                for req in t["required"].as_array().unwrap() {
                    if !fields.iter().any(|f| Some(f.name.as_str()) == req.as_str()) {
                        errs.push(format!("transcription: missing {req}"));
                    }
                }
            }
            other => errs.push(format!("unexpected request {other:?}")),
        }
    }
    assert_eq!(fake.requests().len(), 4);
    // The checker itself catches what it should.
    let mut bad = Vec::new();
    check(
        &spec,
        &schemas["CreateChatCompletionRequest"],
        &serde_json::json!({"model": "x"}),
        "neg",
        &mut bad,
    );
    check(
        &spec,
        &schemas["CreateSpeechRequest"],
        &serde_json::json!({"model": "tts-1", "input": "a", "voice": "alloy", "bogus": 1}),
        "neg",
        &mut bad,
    );
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(errs.is_empty(), "{errs:#?}");
}
