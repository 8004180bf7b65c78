//! Chat completions over real HTTP.

mod common;

use std::time::Duration;

use haru_fakes::{Endpoint, FakeOpenAi, FakeOpenAiConfig, Fault, ReplyRule};
use serde_json::{Value, json};

const KOREAN: &str = "안녕하세요! 예약을 도와드릴게요. 몇 분이서 오시나요?";

fn chat_body(stream: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "You are haru."},
            {"role": "user", "content": "I want a table."},
        ],
    })
}

async fn post(fake: &FakeOpenAi, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.base_url()))
        .bearer_auth("sk-test")
        .json(body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn stream_reassembles_korean_despite_awkward_chunking() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        reply: ReplyRule::Fixed(KOREAN.into()),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let mut body = chat_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let resp = post(&fake, &body).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/event-stream")
    );
    let out = common::read_sse(resp).await;
    assert_eq!(out.text, KOREAN);
    assert!(out.done, "missing [DONE]");
    assert!(!out.transport_error);
    assert!(
        out.reads > 10,
        "expected many small reads, got {}",
        out.reads
    );
    assert!(out.split_utf8, "no read split a UTF-8 character");
    let first = &out.chunks[0];
    assert_eq!(first["object"], "chat.completion.chunk");
    assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
    let last = out.chunks.last().expect("chunks");
    assert!(last["usage"]["completion_tokens"].as_u64().expect("usage") > 0);
    assert!(
        out.chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "stop")
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn stream_without_awkward_chunking_and_echo() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        awkward_chunking: false,
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let out = common::read_sse(post(&fake, &chat_body(true)).await).await;
    assert_eq!(out.text, "I heard: I want a table. Tell me more.");
    assert!(out.done);
    assert!(!out.split_utf8);
    fake.shutdown().await;
}

#[tokio::test]
async fn non_streaming_completion_and_sequence() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        reply: ReplyRule::Sequence(vec![r#"{"a":1}"#.into(), r#"{"a":2}"#.into()]),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let mut got = Vec::new();
    for stream in [None, Some(false), None] {
        let mut body = chat_body(false);
        match stream {
            Some(s) => body["stream"] = json!(s),
            None => {
                body.as_object_mut().expect("object").remove("stream");
            }
        }
        let resp = post(&fake, &body).await;
        assert_eq!(resp.status(), 200);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["choices"][0]["message"]["role"], "assistant");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        got.push(
            v["choices"][0]["message"]["content"]
                .as_str()
                .expect("content")
                .to_owned(),
        );
    }
    assert_eq!(got, [r#"{"a":1}"#, r#"{"a":2}"#, r#"{"a":2}"#]);

    let recorded = fake.requests_to(Endpoint::ChatCompletions);
    assert_eq!(recorded.len(), 3);
    assert_eq!(recorded[0].authorization(), Some("Bearer sk-test"));
    assert_eq!(recorded[0].json().expect("json")["model"], "gpt-4o-mini");
    assert_eq!(fake.request_count(Endpoint::ChatCompletions), 3);
    fake.shutdown().await;
}

#[tokio::test]
async fn missing_fields_are_rejected_with_openai_errors() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig::fast())
        .await
        .expect("start");
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            None,
        ),
        (json!({"model": "m"}), Some("messages")),
        (json!({"model": "m", "messages": []}), Some("messages")),
        (
            json!({"model": "m", "messages": [{"content": "hi"}]}),
            Some("messages[0].role"),
        ),
        (
            json!({"model": "m", "messages": [{"role": "bogus", "content": "x"}]}),
            Some("messages[0].role"),
        ),
        (
            json!({"model": "m", "messages": [{"role": "user"}]}),
            Some("messages[0].content"),
        ),
        (
            json!({"model": "m", "stream": "yes", "messages": [{"role": "user", "content": "x"}]}),
            Some("stream"),
        ),
    ];
    for (body, param) in cases {
        let resp = post(&fake, &body).await;
        assert_eq!(resp.status(), 400, "{body}");
        let v: Value = resp.json().await.expect("json");
        let err = &v["error"];
        assert_eq!(err["type"], "invalid_request_error");
        assert!(err["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(err.get("code").is_some() && err.get("param").is_some());
        assert_eq!(err["param"].as_str(), param, "{body}");
    }
    // Not JSON at all.
    let resp = reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.base_url()))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    fake.shutdown().await;
}

#[tokio::test]
async fn api_key_is_checked_when_required() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        require_api_key: Some("sk-right-key-123".into()),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let url = format!("{}/chat/completions", fake.base_url());
    let client = reqwest::Client::new();
    let missing = client
        .post(&url)
        .json(&chat_body(false))
        .send()
        .await
        .expect("send");
    assert_eq!(missing.status(), 401);
    let wrong = post(&fake, &chat_body(false)).await;
    assert_eq!(wrong.status(), 401);
    let v: Value = wrong.json().await.expect("json");
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let right = client
        .post(&url)
        .bearer_auth("sk-right-key-123")
        .json(&chat_body(false))
        .send()
        .await
        .expect("send");
    assert_eq!(right.status(), 200);
    fake.shutdown().await;
}

#[tokio::test]
async fn stream_faults() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        reply: ReplyRule::Fixed("one two three four five six seven eight.".into()),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");

    fake.set_fault(
        Endpoint::ChatCompletions,
        Some(Fault::BrokenStream),
        Some(1),
    );
    let out = common::read_sse(post(&fake, &chat_body(true)).await).await;
    assert!(!out.done);
    assert!(out.transport_error, "connection should be cut");
    assert!(
        !out.text.is_empty() && out.text.len() < 40,
        "{:?}",
        out.text
    );

    fake.set_fault(Endpoint::ChatCompletions, Some(Fault::ErrorEvent), Some(1));
    let out = common::read_sse(post(&fake, &chat_body(true)).await).await;
    assert!(!out.done);
    assert!(!out.transport_error);
    assert_eq!(out.error.expect("error event")["type"], "server_error");

    fake.set_fault(
        Endpoint::ChatCompletions,
        Some(Fault::EmptyTranscript),
        Some(1),
    );
    let out = common::read_sse(post(&fake, &chat_body(true)).await).await;
    assert!(out.done);
    assert_eq!(out.text.trim(), "");

    // Fault consumed: back to normal.
    let out = common::read_sse(post(&fake, &chat_body(true)).await).await;
    assert_eq!(out.text, "one two three four five six seven eight.");
    fake.shutdown().await;
}

#[tokio::test]
async fn status_hang_garbage_and_empty_faults() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig::fast())
        .await
        .expect("start");

    fake.set_fault(
        Endpoint::ChatCompletions,
        Some(Fault::HttpStatus(429)),
        None,
    );
    for _ in 0..2 {
        let resp = post(&fake, &chat_body(true)).await;
        assert_eq!(resp.status(), 429);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    }
    fake.set_fault(Endpoint::ChatCompletions, None, None);
    assert_eq!(post(&fake, &chat_body(false)).await.status(), 200);

    fake.set_fault(
        Endpoint::ChatCompletions,
        Some(Fault::GarbageAudio),
        Some(1),
    );
    let resp = post(&fake, &chat_body(true)).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );

    fake.set_fault(Endpoint::ChatCompletions, Some(Fault::EmptyAudio), Some(1));
    let resp = post(&fake, &chat_body(false)).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.expect("body").is_empty());

    fake.set_fault(Endpoint::ChatCompletions, Some(Fault::ErrorEvent), Some(1));
    assert_eq!(post(&fake, &chat_body(false)).await.status(), 500);

    fake.set_fault(
        Endpoint::ChatCompletions,
        Some(Fault::BrokenStream),
        Some(1),
    );
    let resp = post(&fake, &chat_body(false)).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.bytes().await.is_err(),
        "truncated JSON body should error"
    );

    fake.set_fault(Endpoint::ChatCompletions, Some(Fault::Hang), Some(1));
    let hung = reqwest::Client::new()
        .post(format!("{}/chat/completions", fake.base_url()))
        .json(&chat_body(true))
        .timeout(Duration::from_millis(300))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));

    // A hanging request must not keep shutdown waiting.
    fake.set_fault(Endpoint::ChatCompletions, Some(Fault::Hang), None);
    let url = format!("{}/chat/completions", fake.base_url());
    let pending = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .json(&chat_body(true))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    fake.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(1));
    let _ = pending.await;
}

#[tokio::test]
async fn pacing_follows_config_and_config_updates_at_runtime() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        llm_first_token_delay: Duration::from_millis(20),
        llm_tokens_per_sec: 100.0,
        reply: ReplyRule::Fixed("a b c d e f g h i j".into()),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let started = std::time::Instant::now();
    let out = common::read_sse(post(&fake, &chat_body(true)).await).await;
    // 20 ms + 9 tokens * 10 ms.
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.text, "a b c d e f g h i j");

    fake.update_config(|c| c.reply = ReplyRule::Fixed("changed.".into()));
    let out = common::read_sse(post(&fake, &chat_body(true)).await).await;
    assert_eq!(out.text, "changed.");
    fake.shutdown().await;
}

#[tokio::test]
async fn many_concurrent_streams() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        llm_first_token_delay: Duration::from_millis(20),
        llm_tokens_per_sec: 200.0,
        reply: ReplyRule::Fixed(KOREAN.into()),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let client = reqwest::Client::new();
    let url = format!("{}/chat/completions", fake.base_url());
    let started = std::time::Instant::now();
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let resp = client
                    .post(url)
                    .json(&chat_body(true))
                    .send()
                    .await
                    .expect("send");
                common::read_sse(resp).await
            })
        })
        .collect();
    for task in tasks {
        let out = task.await.expect("task");
        assert_eq!(out.text, KOREAN);
        assert!(out.done);
    }
    // Streams run side by side: 300 of ~50 ms each must not take 300 x 50 ms.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    fake.shutdown().await;
}
