//! Transcriptions and speech over real HTTP.

mod common;

use std::time::Duration;

use haru_fakes::{Endpoint, FakeOpenAi, FakeOpenAiConfig, Fault, SttRule, TTS_SAMPLE_RATE};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

fn stt_form(wav: Vec<u8>) -> Form {
    Form::new()
        .text("model", "gpt-4o-transcribe")
        .text("language", "ko")
        .text("prompt", "restaurant booking")
        .part(
            "file",
            Part::bytes(wav)
                .file_name("audio.wav")
                .mime_str("audio/wav")
                .expect("mime"),
        )
}

async fn transcribe(fake: &FakeOpenAi, form: Form) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/audio/transcriptions", fake.base_url()))
        .bearer_auth("sk-test")
        .multipart(form)
        .send()
        .await
        .expect("request")
}

async fn speak(fake: &FakeOpenAi, body: &Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/audio/speech", fake.base_url()))
        .bearer_auth("sk-test")
        .json(body)
        .send()
        .await
        .expect("request")
}

#[tokio::test]
async fn transcription_happy_path_and_recording() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        stt: SttRule::Fixed("두 명 예약할게요".into()),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let resp = transcribe(&fake, stt_form(common::wav(1000, 16_000))).await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v, json!({"text": "두 명 예약할게요"}));

    let req = &fake.requests_to(Endpoint::Transcriptions)[0];
    assert_eq!(req.field("model"), Some("gpt-4o-transcribe"));
    assert_eq!(req.field("language"), Some("ko"));
    assert_eq!(req.field("prompt"), Some("restaurant booking"));
    assert!(
        req.content_type()
            .expect("ct")
            .starts_with("multipart/form-data")
    );
    let file = req.file("file").expect("file");
    assert_eq!(file.filename.as_deref(), Some("audio.wav"));
    assert_eq!(file.content_type.as_deref(), Some("audio/wav"));
    let wav = file.wav.expect("wav info");
    assert_eq!((wav.sample_rate, wav.channels), (16_000, 1));
    assert_eq!(wav.duration, Duration::from_secs(1));

    // response_format=text returns the bare text.
    let form = stt_form(common::wav(100, 8000)).text("response_format", "text");
    let resp = transcribe(&fake, form).await;
    assert_eq!(resp.text().await.expect("text"), "두 명 예약할게요");
    fake.shutdown().await;
}

#[tokio::test]
async fn transcription_rules() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        stt: SttRule::Sequence(vec!["one".into(), "two".into()]),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let mut got = Vec::new();
    for _ in 0..3 {
        let v: Value = transcribe(&fake, stt_form(common::wav(200, 8000)))
            .await
            .json()
            .await
            .expect("json");
        got.push(v["text"].as_str().expect("text").to_owned());
    }
    assert_eq!(got, ["one", "two", "two"]);

    fake.update_config(|c| {
        c.stt = SttRule::ByDuration(vec![
            (Duration::from_millis(500), "short".into()),
            (Duration::from_millis(2000), "long".into()),
        ])
    });
    for (ms, want) in [(400, "short"), (1800, "long"), (1100, "short")] {
        let v: Value = transcribe(&fake, stt_form(common::wav(ms, 8000)))
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(v["text"], want, "{ms} ms");
    }
    fake.shutdown().await;
}

#[tokio::test]
async fn transcription_rejects_bad_requests() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig::fast())
        .await
        .expect("start");
    let wav = common::wav(100, 8000);
    let cases = [
        (Form::new().text("model", "m"), Some("file")),
        (
            Form::new().part("file", Part::bytes(wav.clone()).file_name("a.wav")),
            Some("model"),
        ),
        (
            Form::new()
                .text("model", "m")
                .part("file", Part::bytes(wav.clone()).file_name("a.txt")),
            Some("file"),
        ),
        (
            Form::new().text("model", "m").part(
                "file",
                Part::bytes(b"not a wav".to_vec()).file_name("a.wav"),
            ),
            Some("file"),
        ),
    ];
    for (form, param) in cases {
        let resp = transcribe(&fake, form).await;
        assert_eq!(resp.status(), 400);
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"].as_str(), param);
    }
    // JSON instead of multipart.
    let resp = reqwest::Client::new()
        .post(format!("{}/audio/transcriptions", fake.base_url()))
        .json(&json!({"model": "m"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    fake.shutdown().await;
}

#[tokio::test]
async fn transcription_faults() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig::fast())
        .await
        .expect("start");
    let wav = || common::wav(100, 8000);

    fake.set_fault(
        Endpoint::Transcriptions,
        Some(Fault::EmptyTranscript),
        Some(1),
    );
    let v: Value = transcribe(&fake, stt_form(wav()))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["text"], "  ");

    fake.set_fault(
        Endpoint::Transcriptions,
        Some(Fault::HttpStatus(503)),
        Some(1),
    );
    let resp = transcribe(&fake, stt_form(wav())).await;
    assert_eq!(resp.status(), 503);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["type"], "server_error");

    fake.set_fault(Endpoint::Transcriptions, Some(Fault::BrokenStream), Some(1));
    let resp = transcribe(&fake, stt_form(wav())).await;
    assert!(resp.bytes().await.is_err());

    fake.set_fault(Endpoint::Transcriptions, Some(Fault::ErrorEvent), Some(1));
    assert_eq!(transcribe(&fake, stt_form(wav())).await.status(), 500);

    fake.set_fault(Endpoint::Transcriptions, Some(Fault::Hang), Some(1));
    let hung = reqwest::Client::new()
        .post(format!("{}/audio/transcriptions", fake.base_url()))
        .multipart(stt_form(wav()))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));

    let v: Value = transcribe(&fake, stt_form(wav()))
        .await
        .json()
        .await
        .expect("json");
    assert!(v["text"].as_str().is_some_and(|t| !t.trim().is_empty()));
    fake.shutdown().await;
}

fn speech_body(format: &str, input: &str) -> Value {
    json!({"model": "gpt-4o-mini-tts", "input": input, "voice": "coral", "response_format": format})
}

fn rms(pcm: &[u8]) -> f64 {
    let samples: Vec<f64> = pcm
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])))
        .collect();
    (samples.iter().map(|s| s * s).sum::<f64>() / samples.len() as f64).sqrt()
}

#[tokio::test]
async fn speech_pcm_is_streamed_non_silent_and_sized_by_input() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        tts_ms_per_char: 50,
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let input = "Hello, table for two."; // 21 chars → 1050 ms
    let mut resp = speak(&fake, &speech_body("pcm", input)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/pcm");
    let mut pcm = Vec::new();
    let mut reads = 0;
    while let Some(chunk) = resp.chunk().await.expect("chunk") {
        reads += 1;
        pcm.extend_from_slice(&chunk);
    }
    let samples = TTS_SAMPLE_RATE as usize * 1050 / 1000;
    assert_eq!(pcm.len(), samples * 2);
    assert!(
        reads > 5,
        "audio should arrive in chunks, got {reads} reads"
    );
    assert!(rms(&pcm) > 2000.0, "rms {}", rms(&pcm));
    // No 100 ms window is silent.
    for window in pcm.chunks(4800) {
        assert!(rms(window) > 1000.0);
    }
    let recorded = &fake.requests_to(Endpoint::Speech)[0];
    assert_eq!(recorded.json().expect("json")["voice"], "coral");
    fake.shutdown().await;
}

#[tokio::test]
async fn speech_wav_is_a_valid_wav() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig::fast())
        .await
        .expect("start");
    let resp = speak(&fake, &speech_body("wav", "네, 알겠습니다.")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "audio/wav");
    let bytes = resp.bytes().await.expect("body");
    let reader = hound::WavReader::new(std::io::Cursor::new(bytes.to_vec())).expect("wav");
    assert_eq!(reader.spec().sample_rate, TTS_SAMPLE_RATE);
    assert_eq!(reader.spec().channels, 1);
    // 9 chars * 60 ms.
    assert_eq!(
        reader.duration() as usize,
        TTS_SAMPLE_RATE as usize * 540 / 1000
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn speech_pacing_respects_first_byte_delay() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        tts_first_byte_delay: Duration::from_millis(80),
        tts_speedup: 4.0,
        ..FakeOpenAiConfig::fast()
    })
    .await
    .expect("start");
    let started = std::time::Instant::now();
    let mut resp = speak(&fake, &speech_body("pcm", "0123456789")).await; // 600 ms audio
    let first = resp.chunk().await.expect("chunk");
    assert!(first.is_some());
    assert!(started.elapsed() >= Duration::from_millis(80));
    while resp.chunk().await.expect("chunk").is_some() {}
    // 80 ms + 600 ms / 4 (minus one chunk).
    assert!(
        started.elapsed() >= Duration::from_millis(180),
        "{:?}",
        started.elapsed()
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn speech_rejects_bad_requests() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig::fast())
        .await
        .expect("start");
    let cases = [
        (json!({"input": "hi", "voice": "coral"}), "model"),
        (json!({"model": "m", "voice": "coral"}), "input"),
        (json!({"model": "m", "input": "hi"}), "voice"),
        (
            json!({"model": "m", "input": "", "voice": "coral"}),
            "input",
        ),
        (
            json!({"model": "m", "input": "hi", "voice": "coral", "response_format": "ogg"}),
            "response_format",
        ),
        (
            json!({"model": "m", "input": "hi", "voice": "coral", "response_format": "pcm", "speed": 9}),
            "speed",
        ),
    ];
    for (body, param) in cases {
        let resp = speak(&fake, &body).await;
        assert_eq!(resp.status(), 400, "{body}");
        let v: Value = resp.json().await.expect("json");
        assert_eq!(v["error"]["param"], param, "{body}");
        assert_eq!(v["error"]["type"], "invalid_request_error");
    }
    fake.shutdown().await;
}

#[tokio::test]
async fn speech_faults() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig::fast())
        .await
        .expect("start");
    let body = speech_body("pcm", "This reply is long enough to be cut in half.");

    fake.set_fault(Endpoint::Speech, Some(Fault::GarbageAudio), Some(1));
    let resp = speak(&fake, &body).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html")
    );
    assert!(resp.text().await.expect("text").contains("<html>"));

    fake.set_fault(Endpoint::Speech, Some(Fault::EmptyAudio), Some(1));
    let resp = speak(&fake, &body).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.expect("body").is_empty());

    fake.set_fault(Endpoint::Speech, Some(Fault::BrokenStream), Some(1));
    let mut resp = speak(&fake, &body).await;
    assert_eq!(resp.status(), 200);
    let mut got = 0;
    let broke = loop {
        match resp.chunk().await {
            Ok(Some(c)) => got += c.len(),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(broke, "stream should be cut");
    assert!(got > 0, "some audio should arrive before the cut");

    fake.set_fault(Endpoint::Speech, Some(Fault::HttpStatus(500)), Some(2));
    assert_eq!(speak(&fake, &body).await.status(), 500);
    assert_eq!(speak(&fake, &body).await.status(), 500);
    assert_eq!(speak(&fake, &body).await.status(), 200);
    fake.shutdown().await;
}

#[tokio::test]
async fn unknown_route_is_openai_404() {
    let fake = FakeOpenAi::start(FakeOpenAiConfig::fast())
        .await
        .expect("start");
    let resp = reqwest::Client::new()
        .post(format!("{}/embeddings", fake.base_url()))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.expect("json");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    fake.shutdown().await;
}
