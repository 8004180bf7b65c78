//! Issue "After the call": a simulated call ends and, without anyone asking, its diary,
//! schedules, mood and quality report appear in the REST API and in `haru show`.

use std::collections::HashMap;
use std::time::Duration;

use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule, SttRule};
use haru_sim::{SimConfig, Turn, run_call};
use serde_json::json;
use tokio_util::sync::CancellationToken;

const SAID: &str = "Tomorrow I have a dentist appointment at seven.";

fn fixture(name: &str) -> Turn {
    Turn::from_wav_file(format!(
        "{}/../../fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[tokio::test]
async fn a_finished_call_gets_its_diary_schedules_mood_and_quality() {
    let conversation = FakeOpenAi::start(FakeOpenAiConfig {
        stt: SttRule::Fixed(SAID.into()),
        reply: ReplyRule::Echo,
        ..FakeOpenAiConfig::fast()
    })
    .await
    .unwrap();
    let diary = json!({"title": "Dentist tomorrow", "paragraphs": ["I told haru about my dentist appointment.", "It is tomorrow evening at seven."]});
    let schedules = json!({"items": [
        {"title": "Dentist appointment", "kind": "appointment", "quote": "Tomorrow I have a dentist appointment at seven",
         "when": {"day_offset": 1, "weekday": null, "week_offset": null, "date": null, "month": null, "day": null}, "time": "19:00"}
    ]});
    let mood = json!({"label": "calm", "score": 0.2, "reason": "The caller calmly mentioned a plan.", "quotes": ["Tomorrow I have a dentist appointment at seven"]});
    let postcall = FakeOpenAi::start(FakeOpenAiConfig {
        reply: ReplyRule::Sequence(vec![
            diary.to_string(),
            schedules.to_string(),
            mood.to_string(),
        ]),
        ..FakeOpenAiConfig::fast()
    })
    .await
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let db = std::env::temp_dir().join(format!("haru-after-{}.db", std::process::id()));
    let mut env: HashMap<&str, String> = HashMap::new();
    env.insert("API_BASE_URL", format!("http://{addr}"));
    env.insert("HARU_DATABASE_URL", format!("sqlite:{}", db.display()));
    env.insert("OPENAI_BASE_URL", conversation.base_url());
    env.insert("HARU_POSTCALL_BASE_URL", postcall.base_url());
    env.insert("HARU_STT_LANGUAGE", "en".into());
    env.insert("HARU_GREETING", String::new());
    env.insert("HARU_API_LOCAL_ONLY", "1".into());
    let cfg =
        haru_server::Config::from_source(&haru_server::config::Source(|k| env.get(k).cloned()))
            .unwrap();
    let shutdown = CancellationToken::new();
    let running = haru::run::start(cfg, listener, shutdown.clone())
        .await
        .unwrap();

    let report = run_call(
        SimConfig {
            server: format!("http://{addr}"),
            turns: vec![fixture("en-dentist.wav")],
            greeting_wait: Duration::ZERO,
            reply_settle: Duration::from_millis(800),
            ..SimConfig::default()
        },
        None,
    )
    .await
    .unwrap();
    let sid = report.call_sid.clone();
    let http = reqwest::Client::new();
    let base = format!("http://{addr}/api/calls/{sid}");
    // Nobody asks for the jobs: they run because the call ended.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = http.get(format!("{base}/mood")).send().await.unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "post-call jobs did not finish"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let diary: serde_json::Value = http
        .get(format!("{base}/diary"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(diary["title"], "Dentist tomorrow");
    let schedules: serde_json::Value = http
        .get(format!("{base}/schedules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = schedules
        .as_array()
        .or_else(|| schedules["items"].as_array())
        .unwrap()
        .clone();
    assert_eq!(items.len(), 1, "{schedules}");
    let seoul = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    let tomorrow =
        (chrono::Utc::now().with_timezone(&seoul).date_naive() + chrono::Days::new(1)).to_string();
    assert_eq!(
        items[0]["starts_at"],
        format!("{tomorrow}T19:00+09:00"),
        "{schedules}"
    );
    let mood: serde_json::Value = http
        .get(format!("{base}/mood"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mood["label"], "calm");
    let quality = http.get(format!("{base}/quality")).send().await.unwrap();
    assert_eq!(quality.status(), 200);
    let quality: serde_json::Value = quality.json().await.unwrap();
    assert_eq!(quality["turns"], 1, "{quality}");
    // The same results through the CLI.
    let shown = haru_api::cli::show(
        &format!("sqlite:{}", db.display()),
        &haru_api::cli::ShowArgs {
            call_sid: sid.clone(),
            timezone: "Asia/Seoul".into(),
        },
    )
    .await
    .unwrap();
    assert!(shown.contains("Dentist tomorrow"), "{shown}");
    assert!(shown.contains(SAID), "{shown}");
    shutdown.cancel();
    let _ = running.server.await;
}
