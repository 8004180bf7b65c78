//! Issue "Korean first, offline too": after a call, the diary, schedules, mood and memory
//! jobs (every schema the post-call jobs use) are answered by haru-local's real Qwen2.5 1.5B (the demo's post-call model), with
//! llama.cpp's grammar holding it to each job's JSON schema, in Korean and in English.
//! The conversation itself runs on the fake provider (its STT returns the line below), so
//! the transcript, and hence what must be extracted, is known exactly.
//!
//! Needs `scripts/setup.sh` (run by `make test`) to have installed the models and built
//! `engines/`; fails with that instruction otherwise.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use haru::demo::{DemoLang, DemoOptions, POSTCALL_MODEL, start_local_engines};
use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule, SttRule};
use haru_postcall::{JobFilter, JobKind, JobState};
use haru_sim::{SimConfig, Turn, run_call};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn hangul(s: &str) -> usize {
    s.chars()
        .filter(|c| ('\u{AC00}'..='\u{D7A3}').contains(c))
        .count()
}

struct Case {
    lang: &'static str,
    said: &'static str,
    /// A word the schedule's title or quote must hold.
    appointment: &'static str,
}

const CASES: [Case; 2] = [
    Case {
        lang: "ko",
        said: "오늘 아침에 공원에서 산책을 했는데 날씨가 참 좋았어요. 내일 저녁 7시에 치과 예약이 있어요.",
        appointment: "치과",
    },
    Case {
        lang: "en",
        said: "I took a walk in the park this morning and the weather was lovely. Tomorrow I have a dentist appointment at seven in the evening.",
        appointment: "dentist",
    },
];

#[tokio::test]
async fn post_call_jobs_succeed_offline_in_korean_and_english() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let opts = DemoOptions::from_repo(&root, DemoLang::Korean);
    let engines = start_local_engines(
        &opts.haru_local,
        &opts.models_dir,
        &["--llm-model".to_string(), POSTCALL_MODEL.to_string()],
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n(run scripts/setup.sh first)"));
    let wav = Turn::from_wav_file(root.join("fixtures/en-dentist.wav")).unwrap();
    for case in CASES {
        let conversation = FakeOpenAi::start(FakeOpenAiConfig {
            stt: SttRule::Fixed(case.said.into()),
            reply: ReplyRule::Echo,
            ..FakeOpenAiConfig::fast()
        })
        .await
        .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let db = std::env::temp_dir().join(format!(
            "haru-offline-postcall-{}-{}.db",
            case.lang,
            std::process::id()
        ));
        let _ = std::fs::remove_file(&db);
        let mut env: HashMap<&str, String> = HashMap::new();
        env.insert("API_BASE_URL", format!("http://{addr}"));
        env.insert("HARU_DATABASE_URL", format!("sqlite:{}", db.display()));
        env.insert("OPENAI_BASE_URL", conversation.base_url());
        env.insert(
            "HARU_POSTCALL_BASE_URL",
            format!("http://{}/v1", engines.addr),
        );
        env.insert("HARU_POSTCALL_MODEL", POSTCALL_MODEL.into());
        env.insert("HARU_STT_LANGUAGE", case.lang.into());
        env.insert("HARU_GREETING", String::new());
        env.insert("HARU_API_LOCAL_ONLY", "1".into());
        let cfg =
            haru_server::Config::from_source(&haru_server::config::Source(|k| env.get(k).cloned()))
                .unwrap();
        let shutdown = CancellationToken::new();
        let running = haru::run::start(cfg, listener, shutdown.clone())
            .await
            .unwrap();
        // The caller is a person haru knows, so the memory job runs too.
        let person = json!({"name": if case.lang == "ko" { "김영희" } else { "Ann" },
                            "phone": "+15005550006", "language": case.lang});
        let resp = reqwest::Client::new()
            .post(format!("http://{addr}/api/people"))
            .json(&person)
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            201,
            "{}",
            resp.text().await.unwrap_or_default()
        );
        let report = run_call(
            SimConfig {
                server: format!("http://{addr}"),
                turns: vec![wav.clone()],
                greeting_wait: Duration::ZERO,
                reply_settle: Duration::from_millis(800),
                ..SimConfig::default()
            },
            None,
        )
        .await
        .unwrap();
        let sid = report.call_sid.clone();

        // Every job ends; none may fail (a failed job is a result the person never gets).
        let filter = JobFilter {
            call_sid: Some(sid.clone()),
            limit: 50,
            ..Default::default()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(900);
        let jobs = loop {
            let jobs = running.postcall.jobs(&filter).await.unwrap();
            let open = jobs
                .iter()
                .any(|j| matches!(j.state, JobState::Pending | JobState::Running));
            if !jobs.is_empty() && !open {
                break jobs;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: post-call jobs still open: {jobs:?}",
                case.lang
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        };
        for j in &jobs {
            assert_eq!(j.state, JobState::Done, "{}: {j:?}", case.lang);
        }
        // Every job that asks the model ran: diary, schedules, mood and memory.
        for kind in [
            JobKind::Diary,
            JobKind::Schedules,
            JobKind::Mood,
            JobKind::Memory,
        ] {
            assert!(
                jobs.iter().any(|j| j.kind == kind),
                "{}: no {kind:?} job in {jobs:?}",
                case.lang
            );
        }
        let memory = jobs
            .iter()
            .find(|j| j.kind == JobKind::Memory)
            .and_then(|j| j.detail.clone())
            .unwrap_or_default();
        eprintln!("{} memory: {memory}", case.lang);
        assert!(!memory.contains("no person"), "{}: {memory}", case.lang);

        let diary = running.postcall.diary(&sid).await.unwrap();
        let diary = diary.unwrap_or_else(|| panic!("{}: no diary", case.lang));
        assert_eq!(diary.language, case.lang);
        let text = format!("{} {}", diary.title, diary.paragraphs.join(" "));
        eprintln!("{} diary: {text}", case.lang);
        if case.lang == "ko" {
            assert!(hangul(&text) >= 10, "a Korean diary: {text}");
        } else {
            assert_eq!(hangul(&text), 0, "an English diary: {text}");
        }

        let schedules = running.postcall.schedules(&sid).await.unwrap();
        eprintln!("{} schedules: {schedules:?}", case.lang);
        let seoul = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
        let tomorrow = chrono::Utc::now().with_timezone(&seoul).date_naive() + chrono::Days::new(1);
        let dentist = schedules
            .iter()
            .find(|s| {
                format!("{} {}", s.title, s.quote)
                    .to_lowercase()
                    .contains(case.appointment)
            })
            .unwrap_or_else(|| {
                let detail = jobs.iter().find(|j| j.kind == JobKind::Schedules);
                panic!(
                    "{}: no {} appointment: {schedules:?} (job: {detail:?})",
                    case.lang, case.appointment
                )
            });
        assert_eq!(
            dentist.starts_at,
            format!("{tomorrow}T19:00+09:00"),
            "{}: tomorrow at 19:00: {dentist:?}",
            case.lang
        );

        let mood = running.postcall.mood(&sid).await.unwrap();
        let mood = mood.unwrap_or_else(|| panic!("{}: no mood", case.lang));
        eprintln!("{} mood: {mood:?}", case.lang);
        if case.lang == "ko" {
            assert!(hangul(&mood.reason) > 0, "a Korean reason: {mood:?}");
        }

        shutdown.cancel();
        let _ = running.server.await;
        let _ = running.worker.await;
        let _ = std::fs::remove_file(&db);
    }
}
