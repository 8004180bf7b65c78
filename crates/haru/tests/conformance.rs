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

/// Form bodies: every field must be a documented property, required ones present, enums kept.
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
        if let Some(en) = item.get("enum").and_then(Value::as_array)
            && !en.iter().any(|e| e.as_str() == Some(v))
        {
            errs.push(format!("{k}={v} not in {en:?}"));
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
    let created = client
        .create_call(&haru_telephony::rest::NewCall {
            to: "+821012345678",
            from: "+15005550006",
            url: "https://example.ngrok.io/api/twilio/voice",
            status_callback: "https://example.ngrok.io/api/twilio/call-status",
        })
        .await
        .unwrap();
    client.hang_up(&created.sid).await.unwrap();
    let reqs = tw.requests();
    assert_eq!(reqs.len(), 2);
    let paths = &spec["paths"];
    let mut errs = Vec::new();
    for (r, template) in reqs.iter().zip([
        "/2010-04-01/Accounts/{AccountSid}/Calls.json",
        "/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json",
    ]) {
        let op = &paths[template]["post"];
        assert!(op.is_object(), "{template} not in spec");
        let prefix = template.split('{').next().unwrap();
        assert!(r.path.starts_with(prefix), "{} vs {template}", r.path);
        let schema = &op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"];
        check_form(&spec, schema, &r.form, &mut errs);
    }
    assert!(errs.is_empty(), "{errs:#?}");
    let mut bad = Vec::new();
    let update = &paths["/2010-04-01/Accounts/{AccountSid}/Calls/{Sid}.json"]["post"]["requestBody"]
        ["content"]["application/x-www-form-urlencoded"]["schema"];
    check_form(
        &spec,
        update,
        &[
            ("Status".into(), "hungup".into()),
            ("Nope".into(), "1".into()),
        ],
        &mut bad,
    );
    assert_eq!(
        bad.len(),
        2,
        "the checker must catch a bad enum and an unknown field: {bad:?}"
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
    let tts = haru_providers::OpenAiSynthesizer::new(http, ep, "tts-1", "alloy");
    let mut a = tts.synthesize("안녕하세요").await.unwrap();
    while a.next().await.is_some() {}

    let schemas = &spec["components"]["schemas"];
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
