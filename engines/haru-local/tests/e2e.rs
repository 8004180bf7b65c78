//! End-to-end: the real haru-local binary with the real models, over HTTP.
//!
//! Needs the models from scripts/install-engines.sh; without them every test
//! fails (never skips) with a message saying so.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    base: String,
    // Held for the life of the test binary: when it exits the pipe closes
    // and haru-local (started with --exit-on-stdin-eof) shuts down.
    _stdin: Mutex<ChildStdin>,
    _child: Mutex<Child>,
}

fn models_dir() -> PathBuf {
    std::env::var_os("HARU_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

fn fixture(name: &str) -> Vec<u8> {
    let p = models_dir().join("fixtures").join(name);
    std::fs::read(&p).unwrap_or_else(|e| {
        panic!(
            "fixture {} missing ({e}): run scripts/install-engines.sh first",
            p.display()
        )
    })
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let dir = models_dir();
        for f in ["ggml-base.bin", "SmolLM2-135M-Instruct.Q4_1.gguf"] {
            assert!(
                dir.join(f).is_file(),
                "model {} missing: run scripts/install-engines.sh first",
                dir.join(f).display()
            );
        }
        // haru-local finds its STT worker next to itself; `cargo test` in
        // engines/ builds both packages' binaries into the same directory.
        let exe = PathBuf::from(env!("CARGO_BIN_EXE_haru-local"));
        let stt = exe.with_file_name("haru-local-stt");
        assert!(
            stt.is_file(),
            "{} missing: run `cargo test` (or `cargo build`) from engines/, not with -p",
            stt.display()
        );
        let mut child = Command::new(&exe)
            .arg("--models-dir")
            .arg(&dir)
            .args(["--bind", "127.0.0.1:0", "--exit-on-stdin-eof"])
            // Korean through Kokoro when installed (espeak-ng otherwise).
            .args(["--tts", "kokoro"])
            // The env may name other models; the tests expect the defaults.
            .env_remove("HARU_WHISPER_MODEL")
            .env_remove("HARU_LLM_MODEL")
            .env_remove("HARU_LOCAL_LLM")
            .env_remove("HARU_LOCAL_TTS")
            .env("HARU_STT_BIN", &stt)
            // Quiet unless asked: request logs drown the test report.
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning haru-local");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading haru-local stdout");
        let addr = line
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("haru-local failed to start (stdout: {line:?})"))
            .to_string();
        Server {
            base: format!("http://{addr}"),
            _stdin: Mutex::new(stdin),
            _child: Mutex::new(child),
        }
    })
}

/// Tests take turns: on 2 cores, concurrent inference in two engines makes
/// ggml's spinning worker threads fight and everything crawls.
/// (tokio's Mutex: it is runtime-agnostic, and each test has its own runtime.)
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

fn url(path: &str) -> String {
    format!("{}{path}", server().base)
}

async fn transcribe(wav: Vec<u8>, model: &str) -> reqwest::Response {
    transcribe_in(wav, model, "en").await
}

async fn transcribe_in(wav: Vec<u8>, model: &str, language: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(wav)
                .file_name("clip.wav")
                .mime_str("audio/wav")
                .unwrap(),
        )
        .text("model", model.to_string())
        .text("language", language.to_string());
    client()
        .post(url("/v1/audio/transcriptions"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn words(s: &str) -> String {
    s.to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Asserts an OpenAI-shaped error with the given status.
async fn assert_error(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let body: Value = resp.json().await.expect("error body is JSON");
    let err = &body["error"];
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert_eq!(err["type"], "invalid_request_error", "{body}");
    assert!(
        err.get("param").is_some() && err.get("code").is_some(),
        "{body}"
    );
    body
}

async fn assert_healthy() {
    let resp = client().get(url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn transcribes_known_english_clip() {
    let _serial = serial().await;
    // clone-test.wav (4.1 s). Whisper base hears:
    // "I do. I think that America do it very well."
    let wav = fixture("clone-test.wav");
    let started = Instant::now();
    let resp = transcribe(wav, "whisper-1").await;
    let elapsed = started.elapsed();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let text = words(body["text"].as_str().expect("text"));
    for w in ["i think", "america", "very well"] {
        assert!(text.contains(w), "transcript {text:?} lacks {w:?}");
    }
    eprintln!("clone-test.wav (4.1 s) transcribed in {elapsed:?}");
}

#[tokio::test]
async fn transcribes_clip_at_other_sample_rate() {
    let _serial = serial().await;
    // two_cities.wav is 48 kHz (the server resamples to 16 kHz); its first
    // 6.5 s say "It was the best of times, it was the worst of times".
    let mut reader =
        hound::WavReader::new(std::io::Cursor::new(fixture("two_cities.wav"))).unwrap();
    let rate = reader.spec().sample_rate;
    assert_eq!(rate, 48_000);
    let head: Vec<i16> = reader
        .samples::<i16>()
        .take(rate as usize * 13 / 2)
        .map(Result::unwrap)
        .collect();
    let resp = transcribe(wav16(&head, rate), "whisper-base").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let text = words(body["text"].as_str().unwrap());
    assert!(text.contains("best of times"), "{text:?}");
    assert!(text.contains("worst of times"), "{text:?}");
}

#[tokio::test]
async fn transcription_rejects_bad_input() {
    let _serial = serial().await;
    let resp = transcribe(b"RIFF\x10\0\0\0WAVEjunkjunkjunk".to_vec(), "whisper-1").await;
    assert_error(resp, 400).await;
    let resp = transcribe(b"not audio at all".to_vec(), "whisper-1").await;
    assert_error(resp, 400).await;
    let resp = transcribe(fixture("clone-test.wav"), "no-such-model").await;
    let body = assert_error(resp, 404).await;
    assert_eq!(body["error"]["code"], "model_not_found");
    // Missing file field.
    let form = reqwest::multipart::Form::new().text("model", "whisper-1");
    let resp = client()
        .post(url("/v1/audio/transcriptions"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 400).await;
    assert_eq!(body["error"]["param"], "file");
    // Not multipart at all.
    let resp = client()
        .post(url("/v1/audio/transcriptions"))
        .json(&json!({"model": "whisper-1"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 400).await;
    assert_healthy().await;
}

fn chat_body(stream: bool) -> Value {
    json!({
        "model": "smollm2-135m-instruct",
        "stream": stream,
        "max_tokens": 40,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You are a friendly phone assistant. Answer briefly."},
            {"role": "user", "content": "What is the capital of France?"}
        ]
    })
}

#[tokio::test]
async fn chat_completion_streams_tokens_then_done() {
    let _serial = serial().await;
    let started = Instant::now();
    let resp = client()
        .post(url("/v1/chat/completions"))
        .json(&chat_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = resp.text().await.unwrap();
    let data: Vec<&str> = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{body}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("chunk is JSON"))
        .collect();
    let mut content = String::new();
    let mut content_chunks = 0;
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        if let Some(t) = c["choices"][0]["delta"]["content"].as_str()
            && !t.is_empty()
        {
            content_chunks += 1;
            content.push_str(t);
        }
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(
        content_chunks >= 3,
        "only {content_chunks} content chunks: {body}"
    );
    let finish = &chunks.last().unwrap()["choices"][0]["finish_reason"];
    assert!(finish == "stop" || finish == "length", "{finish}");
    assert!(content.contains("Paris"), "{content:?}");
    eprintln!("streamed chat in {:?}: {content:?}", started.elapsed());
}

/// `response_format: json_schema`: the grammar sampler lets the small model emit only JSON of
/// the requested shape (SmolLM2 alone almost never does).
#[tokio::test]
async fn chat_answers_json_of_the_requested_schema() {
    let _serial = serial().await;
    let schema = json!({
        "type": "object",
        "properties": {
            "mood": {"type": "string", "enum": ["good", "neutral", "bad"]},
            "score": {"type": "integer", "minimum": 1, "maximum": 5},
            "reasons": {"type": "array", "items": {"type": "string"}, "maxItems": 3}
        },
        "required": ["mood", "score", "reasons"],
        "additionalProperties": false
    });
    for (temperature, format) in [
        (
            0.0,
            json!({"type": "json_schema", "json_schema": {"name": "mood", "strict": true, "schema": schema}}),
        ),
        (
            0.7,
            json!({"type": "json_schema", "json_schema": {"name": "mood", "strict": true, "schema": schema}}),
        ),
        (0.0, json!({"type": "json_object"})),
    ] {
        let body: Value = client()
            .post(url("/v1/chat/completions"))
            .json(&json!({
                "model": "smollm2-135m-instruct",
                "max_tokens": 120,
                "temperature": temperature,
                "response_format": format,
                "messages": [
                    {"role": "system", "content": "Rate the caller's mood from the transcript. Answer in JSON."},
                    {"role": "user", "content": "I walked in the park and had lunch with my daughter. It was a lovely day."}
                ]
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let content = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("");
        let v: Value = serde_json::from_str(content)
            .unwrap_or_else(|e| panic!("{format}: not JSON ({e}): {content:?}"));
        assert!(v.is_object(), "{content}");
        if format["type"] == "json_schema" {
            assert!(
                ["good", "neutral", "bad"].contains(&v["mood"].as_str().unwrap_or("")),
                "{content}"
            );
            let score = v["score"].as_i64().unwrap_or(0);
            assert!((1..=5).contains(&score), "{content}");
            assert!(v["reasons"].is_array(), "{content}");
            assert_eq!(v.as_object().map(|o| o.len()), Some(3), "{content}");
        }
    }
    // A schema llama.cpp cannot enforce, or no schema at all: a clear 400.
    for bad in [
        json!({"type": "json_schema", "json_schema": {"name": "x"}}),
        json!({"type": "xml"}),
        json!({"type": "json_schema", "json_schema": {"name": "x", "schema": "not an object"}}),
    ] {
        let resp = client()
            .post(url("/v1/chat/completions"))
            .json(&json!({
                "model": "smollm2-135m-instruct",
                "response_format": bad,
                "messages": [{"role": "user", "content": "hi"}]
            }))
            .send()
            .await
            .unwrap();
        let err = assert_error(resp, 400).await;
        assert_eq!(err["error"]["param"], "response_format", "{err}");
    }
}

/// The script guard: asked outright for Chinese and Japanese, the model still writes none.
#[tokio::test]
async fn the_script_guard_keeps_chinese_and_japanese_out() {
    let _serial = serial().await;
    let banned = |c: char| matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF);
    for (temperature, prompt) in [
        (
            0.0,
            "Write 'hello' in Chinese characters and in Japanese hiragana, nothing else: 你好 こんにちは",
        ),
        (0.8, "Translate to Chinese: I went to the park today."),
        (0.8, "日本語で自己紹介してください。"),
    ] {
        let body: Value = client()
            .post(url("/v1/chat/completions"))
            .json(&json!({
                "model": "smollm2-135m-instruct",
                "max_tokens": 60,
                "temperature": temperature,
                "messages": [{"role": "user", "content": prompt}]
            }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let content = body["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("");
        assert!(!content.chars().any(banned), "{prompt}: {content:?}");
        eprintln!("{prompt} -> {content:?}");
    }
}

#[tokio::test]
async fn chat_completion_returns_message() {
    let _serial = serial().await;
    let resp = client()
        .post(url("/v1/chat/completions"))
        .json(&chat_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    let msg = &body["choices"][0]["message"];
    assert_eq!(msg["role"], "assistant");
    assert!(
        msg["content"]
            .as_str()
            .is_some_and(|c| !c.trim().is_empty()),
        "{body}"
    );
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() >= 1);
    assert!(body["usage"]["completion_tokens"].as_u64().unwrap() <= 40);
}

/// Greedy decoding of the same prompt must give the same text whether it
/// is streamed or not (this caught a dropped second token once).
#[tokio::test]
async fn streamed_and_plain_answers_match() {
    let _serial = serial().await;
    let mut req = chat_body(false);
    req["messages"][1]["content"] = json!("List three fruits.");
    req["max_tokens"] = json!(24);
    let plain: Value = client()
        .post(url("/v1/chat/completions"))
        .json(&req)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let plain = plain["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    req["stream"] = json!(true);
    let body = client()
        .post(url("/v1/chat/completions"))
        .json(&req)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let streamed: String = body
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| {
            let v: Value = serde_json::from_str(d).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(String::from)
        })
        .collect();
    assert!(!plain.is_empty());
    assert_eq!(plain, streamed);
}

#[tokio::test]
async fn chat_honours_max_tokens() {
    let _serial = serial().await;
    let mut req = chat_body(false);
    req["max_tokens"] = json!(3);
    req["messages"][1]["content"] = json!("Count from one to fifty in words.");
    let resp = client()
        .post(url("/v1/chat/completions"))
        .json(&req)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["usage"]["completion_tokens"], 3, "{body}");
    assert_eq!(body["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn chat_rejects_bad_input() {
    let _serial = serial().await;
    let mut req = chat_body(false);
    req["model"] = json!("gpt-4o");
    let resp = client()
        .post(url("/v1/chat/completions"))
        .json(&req)
        .send()
        .await
        .unwrap();
    assert_error(resp, 404).await;
    let resp = client()
        .post(url("/v1/chat/completions"))
        .json(&json!({"model": "smollm2-135m-instruct"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 400).await;
    assert_eq!(body["error"]["param"], "messages");
    let resp = client()
        .post(url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(resp, 400).await;
    assert_healthy().await;
}

async fn speech(input: &str, voice: &str, format: &str) -> reqwest::Response {
    client()
        .post(url("/v1/audio/speech"))
        .json(&json!({"model": "tts-1", "input": input, "voice": voice, "response_format": format}))
        .send()
        .await
        .unwrap()
}

/// Checks 24 kHz 16-bit mono PCM: plausible duration and not silent.
fn check_pcm(pcm: &[u8]) {
    assert_eq!(pcm.len() % 2, 0);
    let samples: Vec<f64> = pcm
        .chunks_exact(2)
        .map(|b| f64::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect();
    let secs = samples.len() as f64 / 24_000.0;
    assert!((0.3..10.0).contains(&secs), "duration {secs} s");
    let rms = (samples.iter().map(|s| s * s).sum::<f64>() / samples.len() as f64).sqrt();
    assert!(rms > 0.01, "near-silent audio, rms {rms}");
}

#[tokio::test]
async fn speech_pcm_and_wav_in_english_and_korean() {
    let _serial = serial().await;
    let started = Instant::now();
    let resp = speech(
        "Hello, thanks for calling. How can I help you today?",
        "alloy",
        "pcm",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let pcm = resp.bytes().await.unwrap();
    eprintln!(
        "English TTS ({} bytes) in {:?}",
        pcm.len(),
        started.elapsed()
    );
    check_pcm(&pcm);

    let resp = speech("Hello, thanks for calling.", "en-us", "wav").await;
    assert_eq!(resp.status(), 200);
    let wav = resp.bytes().await.unwrap();
    let reader = hound::WavReader::new(std::io::Cursor::new(wav.to_vec())).expect("valid WAV");
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (24_000, 1, 16)
    );
    check_pcm(&wav[44..]);

    let resp = speech("안녕하세요, 무엇을 도와드릴까요?", "ko", "pcm").await;
    assert_eq!(resp.status(), 200);
    check_pcm(&resp.bytes().await.unwrap());
}

#[tokio::test]
async fn speech_round_trips_through_whisper() {
    let _serial = serial().await;
    let resp = speech("The weather is lovely today.", "en-us", "wav").await;
    assert_eq!(resp.status(), 200);
    let wav = resp.bytes().await.unwrap().to_vec();
    let resp = transcribe(wav, "whisper-1").await;
    let body: Value = resp.json().await.unwrap();
    let text = words(body["text"].as_str().unwrap());
    assert!(text.contains("weather"), "{text:?}");
}

#[tokio::test]
async fn korean_speech_comes_from_kokoro() {
    if !models_dir().join("kokoro/kokoro-v1.0.int8.onnx").is_file() {
        eprintln!("SKIPPED: Kokoro not installed (scripts/install-engines.sh installs it)");
        return;
    }
    let _serial = serial().await;
    // A Kokoro voice id: espeak-ng has no such voice, so audio proves Kokoro spoke.
    let started = Instant::now();
    let resp = speech("내일 저녁 7시에 치과 예약이 있어요.", "jf_alpha", "pcm").await;
    assert_eq!(resp.status(), 200);
    let pcm = resp.bytes().await.unwrap();
    eprintln!(
        "Kokoro TTS ({} bytes) in {:?}",
        pcm.len(),
        started.elapsed()
    );
    check_pcm(&pcm);
}

/// With Korean forced, Whisper spells what it cannot make out in kana or Han ("끊을게요" →
/// "くのうげ요"); the script guard bans those tokens, so a Korean transcript holds Hangul,
/// Latin, digits and punctuation only.
#[tokio::test]
async fn korean_transcripts_hold_no_chinese_or_japanese_script() {
    if !models_dir().join("kokoro/kokoro-v1.0.int8.onnx").is_file() {
        eprintln!("SKIPPED: Kokoro not installed (scripts/install-engines.sh installs it)");
        return;
    }
    let _serial = serial().await;
    let banned = |c: char| matches!(c as u32, 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF);
    let hangul = |c: char| ('\u{AC00}'..='\u{D7A3}').contains(&c);
    for (line, voice) in [
        ("고마워요. 이제 끊을게요.", "jm_kumo"),
        ("내일 저녁 7시에 치과 예약이 있어요.", "jf_alpha"),
        ("된장찌개를 끓여 먹었어요.", "jf_nezumi"),
    ] {
        let resp = client()
            .post(url("/v1/audio/speech"))
            .json(
                &json!({"model": "tts-1", "input": line, "voice": voice, "response_format": "wav"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let wav = resp.bytes().await.unwrap().to_vec();
        let body: Value = transcribe_in(wav.clone(), "whisper-1", "ko")
            .await
            .json()
            .await
            .unwrap();
        let text = body["text"].as_str().unwrap_or_default();
        eprintln!("{line} ({voice}) → ko {text:?}");
        assert!(!text.chars().any(banned), "{line}: {text:?}");
        assert!(
            text.chars().filter(|c| hangul(*c)).count() >= 3,
            "{line}: {text:?}"
        );
        // Japanese forced: the guard stays off, kana may come back.
        let body: Value = transcribe_in(wav, "whisper-1", "ja")
            .await
            .json()
            .await
            .unwrap();
        eprintln!("{line} ({voice}) → ja {:?}", body["text"]);
    }
}

#[tokio::test]
async fn speech_rejects_bad_input() {
    let _serial = serial().await;
    assert_error(speech("", "alloy", "pcm").await, 400).await;
    assert_error(speech("   ", "alloy", "wav").await, 400).await;
    assert_error(speech("Hi", "zz-bogus", "pcm").await, 400).await;
    assert_error(speech("Hi", "alloy", "mp3").await, 400).await;
    let resp = client()
        .post(url("/v1/audio/speech"))
        .json(&json!({"model": "nope", "input": "Hi", "voice": "alloy"}))
        .send()
        .await
        .unwrap();
    assert_error(resp, 404).await;
    let resp = client()
        .post(url("/v1/audio/speech"))
        .json(&json!({"model": "tts-1", "voice": "alloy"}))
        .send()
        .await
        .unwrap();
    let body = assert_error(resp, 400).await;
    assert_eq!(body["error"]["param"], "input");
    assert_healthy().await;
}

#[tokio::test]
async fn lists_models_and_reports_health() {
    let _serial = serial().await;
    assert_healthy().await;
    let body: Value = client()
        .get(url("/v1/models"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    for id in ["whisper-1", "smollm2-135m-instruct", "tts-1"] {
        assert!(ids.contains(&id), "{ids:?}");
    }
    let one: Value = client()
        .get(url("/v1/models/whisper-1"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(one["id"], "whisper-1");
    let resp = client().get(url("/v1/models/gpt-5")).send().await.unwrap();
    assert_error(resp, 404).await;
    let resp = client()
        .get(url("/v1/chat/completions"))
        .send()
        .await
        .unwrap();
    assert_error(resp, 405).await;
    let resp = client().get(url("/v1/nope")).send().await.unwrap();
    assert_error(resp, 404).await;
}

/// PIDs of a process's children (listed per thread; any may have spawned).
fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let path = task.unwrap().path().join("children");
        let list = std::fs::read_to_string(path).unwrap_or_default();
        out.extend(
            list.split_whitespace()
                .filter_map(|p| p.parse::<u32>().ok()),
        );
    }
    out
}

/// Gone, or a zombie waiting to be reaped: either way dead.
fn wait_dead(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
        let dead = stat.as_deref().is_none_or(|s| {
            s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        });
        if dead {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what} (pid {pid}) is still alive"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sigkill(pid: u32) {
    let ok = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Kills the wrapped server if a test fails before doing so itself.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A crashed STT worker is replaced; no worker outlives haru-local, even
/// when haru-local is SIGKILLed.
#[tokio::test]
async fn stt_worker_is_restarted_and_dies_with_parent() {
    let _serial = serial().await;
    let _ = server(); // reuse its model checks and messages
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_haru-local"));
    let mut parent = KillOnDrop(
        Command::new(&exe)
            .arg("--models-dir")
            .arg(models_dir())
            .args(["--bind", "127.0.0.1:0", "--exit-on-stdin-eof"])
            .env_remove("HARU_WHISPER_MODEL")
            .env_remove("HARU_LLM_MODEL")
            .env_remove("HARU_LOCAL_LLM")
            .env_remove("HARU_LOCAL_TTS")
            .env("HARU_STT_BIN", exe.with_file_name("haru-local-stt"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped()) // closed when the test exits: server follows
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning haru-local"),
    );
    let mut line = String::new();
    BufReader::new(parent.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = format!(
        "http://{}",
        line.trim()
            .strip_prefix("LISTENING ")
            .expect("LISTENING line")
    );

    let workers = children_of(parent.0.id());
    assert_eq!(workers.len(), 1, "expected one STT worker: {workers:?}");
    sigkill(workers[0]);
    wait_dead(workers[0], "killed STT worker");

    // The next transcription brings up a new worker and succeeds.
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(fixture("clone-test.wav")).file_name("a.wav"),
        )
        .text("model", "whisper-1");
    let resp = client()
        .post(format!("{base}/v1/audio/transcriptions"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert!(
        words(body["text"].as_str().unwrap()).contains("america"),
        "{body}"
    );
    let health = client()
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let workers = children_of(parent.0.id());
    assert_eq!(workers.len(), 1, "expected one new STT worker: {workers:?}");
    parent.0.kill().unwrap(); // SIGKILL: no cleanup code runs in the parent
    parent.0.wait().unwrap();
    wait_dead(workers[0], "STT worker after its parent was killed");
}

fn wav16(samples: &[i16], rate: u32) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}

#[tokio::test]
async fn silence_transcribes_to_empty_text() {
    let _serial = serial().await;
    let resp = transcribe(wav16(&vec![0; 32_000], 16_000), "whisper-1").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["text"], "", "{body}");
}

/// G.711 μ-law encoder (the inverse of what the server decodes).
fn linear_to_ulaw(s: i16) -> u8 {
    let mut x = i32::from(s);
    let sign = if x < 0 {
        x = -x;
        0x80
    } else {
        0
    };
    x = x.min(32_635) + 0x84;
    let mut exp = 7;
    while exp > 0 && x & (0x80 << exp) == 0 {
        exp -= 1;
    }
    let mantissa = (x >> (exp + 3)) & 0x0f;
    !(sign | (exp << 4) | mantissa) as u8
}

#[tokio::test]
async fn transcribes_mulaw_telephone_wav() {
    let _serial = serial().await;
    let mut reader =
        hound::WavReader::new(std::io::Cursor::new(fixture("clone-test.wav"))).unwrap();
    let rate = reader.spec().sample_rate;
    let data: Vec<u8> = reader
        .samples::<i16>()
        .map(|s| linear_to_ulaw(s.unwrap()))
        .collect();
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(38 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&18u32.to_le_bytes());
    wav.extend_from_slice(&7u16.to_le_bytes()); // WAVE_FORMAT_MULAW
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&8u16.to_le_bytes());
    wav.extend_from_slice(&0u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    let resp = transcribe(wav, "whisper-1").await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let text = words(body["text"].as_str().unwrap());
    assert!(
        text.contains("america") && text.contains("very well"),
        "{text:?}"
    );
}
