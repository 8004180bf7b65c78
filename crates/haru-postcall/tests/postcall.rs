//! Post-call jobs end to end: the real OpenAI client over HTTP to the fake server, a
//! file-backed SQLite store, and the queue's crash / race / retry behaviour.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use haru_fakes::{Endpoint as Ep, Fault};
use haru_postcall::queue::{Claim, JobResult};
use haru_postcall::{JobFilter, JobKind, JobState, PostCallConfig};
use haru_store::Role::{Assistant, User};
use serde_json::json;
use tokio_util::sync::CancellationToken;

fn when(
    day_offset: Option<i64>,
    weekday: Option<&str>,
    week_offset: Option<i64>,
) -> serde_json::Value {
    json!({"day_offset": day_offset, "weekday": weekday, "week_offset": week_offset,
           "date": null, "month": null, "day": null})
}

fn item(
    title: &str,
    quote: &str,
    when: serde_json::Value,
    time: Option<&str>,
) -> serde_json::Value {
    json!({"title": title, "kind": "plan", "quote": quote, "when": when, "time": time})
}

#[tokio::test]
async fn diary_schedules_mood_and_quality_are_stored_exactly() {
    let db = Db::new("stored").await;
    // 19:00 in Seoul on 2026-11-24.
    seed_call(
        &db.store,
        "CA1",
        "+821011112222",
        "2026-11-24T10:00:00.000Z",
        "2026-11-24T10:05:00.000Z",
        &[
            Said(
                User,
                "오늘 회사에서 좀 피곤했어요. 그래도 내일 저녁 7시에 친구랑 저녁 먹기로 했어요!",
                "2026-11-24T10:00:10.000Z",
            ),
            Said(
                Assistant,
                "좋네요. 즐거운 시간 보내세요.",
                "2026-11-24T10:00:12.000Z",
            ),
            Said(
                User,
                "아, 그리고 금요일에 치과 예약 있어요.",
                "2026-11-24T10:00:30.000Z",
            ),
            Said(
                Assistant,
                "잊지 않게 기억해 둘게요.",
                "2026-11-24T10:00:32.000Z",
            ),
        ],
    )
    .await;
    let diary = json!({"title": "친구와의 약속", "paragraphs": [
        "오늘은 회사에서 좀 피곤한 하루였다.", "그래도 내일 저녁에 친구와 저녁을 먹기로 해서 기대된다."]});
    let schedules = json!({"items": [
        item("친구와 저녁 식사", "내일 저녁 7시에 친구랑 저녁 먹기로 했어요", when(Some(1), None, None), Some("19:00")),
        item("치과 예약", "금요일에 치과 예약 있어요", when(None, Some("friday"), None), None),
        // Never said: must be rejected.
        item("병원 방문", "모레 병원 가야 해요", when(Some(2), None, None), Some("10:00")),
    ]});
    let mood = json!({"label": "tired", "score": -0.2, "reason": "회사에서 피곤했지만 약속을 기대하고 있다.",
                      "quotes": ["회사에서 좀 피곤했어요"]});
    let fake = fake(vec![
        diary.to_string(),
        schedules.to_string(),
        mood.to_string(),
    ])
    .await;
    let pc = postcall(&db.store, &fake, fast_config());
    pc.enqueue_for_call("CA1").await.expect("enqueue");
    pc.enqueue_for_call("CA1")
        .await
        .expect("enqueue is idempotent");
    drain(&pc, 20).await;

    let jobs = pc
        .jobs(&JobFilter {
            call_sid: Some("CA1".into()),
            ..Default::default()
        })
        .await
        .expect("jobs");
    // Every kind, memory included (an unknown caller: done without asking the model).
    assert_eq!(jobs.len(), JobKind::ALL.len());
    assert_eq!(jobs.len(), 5);
    assert!(
        jobs.iter()
            .all(|j| j.state == JobState::Done && j.attempts == 1),
        "{jobs:#?}"
    );

    let d = pc.diary("CA1").await.expect("diary").expect("stored");
    assert_eq!(d.local_date, "2026-11-24");
    assert_eq!(d.language, "ko");
    assert_eq!(d.title, "친구와의 약속");
    assert_eq!(
        d.paragraphs,
        [
            "오늘은 회사에서 좀 피곤한 하루였다.",
            "그래도 내일 저녁에 친구와 저녁을 먹기로 해서 기대된다."
        ]
    );

    let s = pc.schedules("CA1").await.expect("schedules");
    let got: Vec<_> = s
        .iter()
        .map(|s| {
            (
                s.title.as_str(),
                s.starts_at.as_str(),
                s.all_day,
                s.local_time.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "친구와 저녁 식사",
                "2026-11-25T19:00+09:00",
                false,
                Some("19:00")
            ),
            ("치과 예약", "2026-11-27", true, None),
        ]
    );
    assert_eq!(s[0].quote, "내일 저녁 7시에 친구랑 저녁 먹기로 했어요");
    assert_eq!(s[0].timezone, "Asia/Seoul");
    let sj = jobs
        .iter()
        .find(|j| j.kind == JobKind::Schedules)
        .expect("schedules job");
    assert!(
        sj.detail
            .as_deref()
            .unwrap_or("")
            .contains("rejected `병원 방문`"),
        "{sj:?}"
    );

    let m = pc.mood("CA1").await.expect("mood").expect("stored");
    assert_eq!((m.label.as_str(), m.score), ("tired", -0.2));
    assert_eq!(m.quotes, ["회사에서 좀 피곤했어요"]);

    let q = pc.quality("CA1").await.expect("quality").expect("stored");
    assert_eq!((q.turns, q.caller_messages, q.bot_messages), (2, 2, 2));
    assert_eq!(q.caller_talk_ms, 3000);
    assert_eq!(
        (q.first_audio_p50_ms, q.first_audio_p95_ms),
        (Some(700), Some(800))
    );
    assert_eq!(q.call_duration_ms, Some(300_000));
    assert_eq!(q.long_silences, 1, "{q:?}");

    // Every LLM request was schema-constrained.
    let reqs = fake.requests_to(Ep::ChatCompletions);
    assert_eq!(reqs.len(), 3);
    for r in &reqs {
        let body = match &r.body {
            haru_fakes::RecordedBody::Json(v) => v.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    }
    // Re-running does not duplicate schedules.
    fake.set_config(haru_fakes::FakeOpenAiConfig {
        reply: haru_fakes::ReplyRule::Sequence(vec![schedules.to_string()]),
        ..haru_fakes::FakeOpenAiConfig::fast()
    });
    pc.rerun_kind("CA1", JobKind::Schedules)
        .await
        .expect("rerun");
    drain(&pc, 5).await;
    assert_eq!(pc.schedules("CA1").await.expect("schedules").len(), 2);
}

#[tokio::test]
async fn relative_dates_across_month_year_and_midnight() {
    let db = Db::new("dates").await;
    // Starts 23:50 on 31 December in Seoul; the second line is said after midnight.
    seed_call(
        &db.store,
        "CAY",
        "+821000000001",
        "2026-12-31T14:50:00.000Z",
        "2026-12-31T15:20:00.000Z",
        &[
            Said(
                User,
                "내일 아침 9시에 등산 가요.",
                "2026-12-31T14:55:00.000Z",
            ),
            Said(Assistant, "새해 첫 등산이네요!", "2026-12-31T14:55:05.000Z"),
            Said(
                User,
                "Oh, and tomorrow I have a dentist appointment at 3 pm.",
                "2026-12-31T15:10:00.000Z",
            ),
            Said(
                Assistant,
                "Noted. Next Friday is your mother's birthday, right?",
                "2026-12-31T15:10:05.000Z",
            ),
            Said(
                User,
                "맞아요, 다음 주 월요일에는 엄마랑 통화하기로 했어요.",
                "2026-12-31T15:11:00.000Z",
            ),
        ],
    )
    .await;
    seed_call(
        &db.store,
        "CAM",
        "+821000000002",
        "2026-11-30T05:00:00.000Z",
        "2026-11-30T05:10:00.000Z",
        &[Said(
            User,
            "I'm meeting Jisoo the day after tomorrow at 18:30, and on the 3rd of December too.",
            "2026-11-30T05:01:00.000Z",
        )],
    )
    .await;
    let year = json!({"items": [
        item("등산", "내일 아침 9시에 등산 가요", when(Some(1), None, None), Some("09:00")),
        item("Dentist", "tomorrow I have a dentist appointment at 3 pm", when(Some(1), None, None), Some("15:00")),
        item("Mother's birthday", "Next Friday is your mother's birthday", when(None, Some("friday"), Some(1)), None),
        item("엄마와 통화", "다음 주 월요일에는 엄마랑 통화하기로", when(None, Some("monday"), Some(1)), None),
    ]});
    let month = json!({"items": [
        item("Jisoo", "the day after tomorrow at 18:30", when(Some(2), None, None), Some("18:30")),
        item("Jisoo again", "on the 3rd of December too", json!({"day_offset": null, "weekday": null, "week_offset": null, "date": null, "month": 12, "day": 3}), None),
    ]});
    let fake = fake(vec![year.to_string(), month.to_string()]).await;
    let pc = postcall(&db.store, &fake, fast_config());
    // Only the schedules jobs, in a known order, so the canned answers line up.
    pc.rerun_kind("CAY", JobKind::Schedules)
        .await
        .expect("queue");
    drain(&pc, 5).await;
    pc.rerun_kind("CAM", JobKind::Schedules)
        .await
        .expect("queue");
    drain(&pc, 5).await;

    let y: Vec<_> = pc
        .schedules("CAY")
        .await
        .expect("s")
        .into_iter()
        .map(|s| (s.title, s.starts_at))
        .collect();
    assert_eq!(
        y,
        [
            ("등산".to_string(), "2027-01-01T09:00+09:00".to_string()),
            // Said at 00:10 on 1 January: "tomorrow" is the 2nd.
            ("Dentist".into(), "2027-01-02T15:00+09:00".into()),
            // 1 January 2027 is a Friday; next week's Monday and Friday.
            ("엄마와 통화".into(), "2027-01-04".into()),
            ("Mother's birthday".into(), "2027-01-08".into()),
        ]
    );
    let m: Vec<_> = pc
        .schedules("CAM")
        .await
        .expect("s")
        .into_iter()
        .map(|s| s.starts_at)
        .collect();
    assert_eq!(m, ["2026-12-02T18:30+09:00", "2026-12-03"]);
}

#[tokio::test]
async fn malformed_answers_are_retried_then_the_job_fails_with_the_error_kept() {
    let db = Db::new("malformed").await;
    seed_call(
        &db.store,
        "CAX",
        "+821000000003",
        "2026-11-24T10:00:00.000Z",
        "2026-11-24T10:01:00.000Z",
        &[Said(
            User,
            "오늘은 그냥 그랬어요.",
            "2026-11-24T10:00:10.000Z",
        )],
    )
    .await;
    let fake = fake(vec!["Sure! Here is your diary: {not json".into()]).await;
    let cfg = PostCallConfig {
        max_attempts: 2,
        ..fast_config()
    };
    let pc = postcall(&db.store, &fake, cfg);
    pc.rerun_kind("CAX", JobKind::Diary).await.expect("queue");
    drain(&pc, 10).await;

    let job = pc
        .find_job("CAX", JobKind::Diary)
        .await
        .expect("find")
        .expect("job");
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.attempts, 2);
    let err = job.last_error.unwrap_or_default();
    assert!(err.contains("not valid JSON"), "{err}");
    // Two attempts, each with one corrective retry that carried the validation error.
    let reqs = fake.requests_to(Ep::ChatCompletions);
    assert_eq!(reqs.len(), 4);
    let retry = format!("{:?}", reqs[1].body);
    assert!(retry.contains("That answer was rejected"), "{retry}");
    assert!(pc.diary("CAX").await.expect("diary").is_none());
}

#[tokio::test]
async fn a_korean_diary_that_copies_the_caller_is_asked_again_but_never_lost() {
    let said = "오늘 아침에 공원에서 산책을 했는데 날씨가 참 좋았어요.";
    let copied = json!({"title": "산책", "paragraphs": [said, "좋았다."]}).to_string();
    let retold = json!({"title": "산책한 날", "paragraphs": [
        "아침에 공원에서 산책을 했다.", "날씨가 좋아서 기분이 좋았다."]})
    .to_string();
    for (name, second, kept) in [
        ("retold", retold.clone(), "아침에 공원에서 산책을 했다."),
        // The second answer breaks the schema: the first, valid one stays.
        ("broken", "{not json".to_string(), said),
    ] {
        let db = Db::new(&format!("copied-{name}")).await;
        let sid = format!("CAC{name}");
        seed_call(
            &db.store,
            &sid,
            "+821000000009",
            "2026-11-24T10:00:00.000Z",
            "2026-11-24T10:01:00.000Z",
            &[Said(User, said, "2026-11-24T10:00:10.000Z")],
        )
        .await;
        let fake = fake(vec![copied.clone(), second]).await;
        let pc = postcall(&db.store, &fake, fast_config());
        pc.rerun_kind(&sid, JobKind::Diary).await.expect("queue");
        drain(&pc, 10).await;
        let d = pc.diary(&sid).await.expect("diary").expect("stored");
        assert_eq!(d.paragraphs[0], kept, "{name}");
        let reqs = fake.requests_to(Ep::ChatCompletions);
        assert_eq!(reqs.len(), 2, "{name}: one retry, no more");
        let retry = format!("{:?}", reqs[1].body);
        assert!(retry.contains("copies the caller"), "{name}: {retry}");
    }
}

#[tokio::test]
async fn an_llm_outage_waits_and_retries_without_failing_the_job() {
    let db = Db::new("outage").await;
    seed_call(
        &db.store,
        "CAO",
        "+821000000004",
        "2026-11-24T10:00:00.000Z",
        "2026-11-24T10:01:00.000Z",
        &[Said(User, "기분이 좋아요.", "2026-11-24T10:00:10.000Z")],
    )
    .await;
    let mood = json!({"label": "happy", "score": 0.7, "reason": "기분이 좋다고 했다.", "quotes": ["기분이 좋아요"]});
    let fake = fake(vec![mood.to_string()]).await;
    fake.set_fault(Ep::ChatCompletions, Some(Fault::HttpStatus(503)), None);
    let pc = postcall(
        &db.store,
        &fake,
        PostCallConfig {
            max_attempts: 1,
            ..fast_config()
        },
    );
    pc.rerun_kind("CAO", JobKind::Mood).await.expect("queue");
    drain(&pc, 4).await;
    let job = pc
        .find_job("CAO", JobKind::Mood)
        .await
        .expect("find")
        .expect("job");
    assert_eq!(job.state, JobState::Pending, "{job:?}");
    assert!(job.attempts >= 2, "{job:?}");
    assert!(job.last_error.unwrap_or_default().contains("503"));

    fake.clear_faults();
    drain(&pc, 10).await;
    let job = pc
        .find_job("CAO", JobKind::Mood)
        .await
        .expect("find")
        .expect("job");
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert_eq!(
        pc.mood("CAO").await.expect("mood").map(|m| m.label),
        Some("happy".into())
    );
}

#[tokio::test]
async fn a_job_interrupted_by_a_crash_resumes_after_its_lease_expires() {
    let db = Db::new("crash").await;
    seed_call(
        &db.store,
        "CAC",
        "+821000000005",
        "2026-11-24T10:00:00.000Z",
        "2026-11-24T10:01:00.000Z",
        &[Said(User, "오늘 산책했어요.", "2026-11-24T10:00:10.000Z")],
    )
    .await;
    let diary = json!({"title": "산책", "paragraphs": ["오늘 산책을 했다.", "기분이 상쾌했다."]});
    let fake = fake(vec![diary.to_string()]).await;
    // The first request hangs: the worker is mid-job when it "crashes".
    fake.set_fault(Ep::ChatCompletions, Some(Fault::Hang), Some(1));
    let cfg = PostCallConfig {
        lease: Duration::from_millis(600),
        ..fast_config()
    };
    let first = postcall(&db.store, &fake, cfg.clone());
    first
        .rerun_kind("CAC", JobKind::Diary)
        .await
        .expect("queue");
    let worker = first.clone().spawn_worker(CancellationToken::new());
    eventually("the job is running", || async {
        fake.request_count(Ep::ChatCompletions) == 1
    })
    .await;
    worker.abort(); // No cleanup runs: the row stays 'running' with a lease.
    let _ = worker.await;
    drop(first);

    // A restarted process with its own pool.
    let store2 = db.reopen().await;
    let second = postcall(&store2, &fake, cfg);
    let job = second
        .find_job("CAC", JobKind::Diary)
        .await
        .expect("find")
        .expect("job");
    assert_eq!(job.state, JobState::Running);
    assert!(
        second.claim_next().await.expect("claim").is_none(),
        "lease still held"
    );
    let handle = second.clone().spawn_worker(CancellationToken::new());
    eventually("the job is resumed and done", || async {
        matches!(second.find_job("CAC", JobKind::Diary).await, Ok(Some(j)) if j.state == JobState::Done)
    }).await;
    handle.abort();
    let job = second
        .find_job("CAC", JobKind::Diary)
        .await
        .expect("find")
        .expect("job");
    assert_eq!(job.attempts, 2);
    assert_eq!(
        second.diary("CAC").await.expect("diary").map(|d| d.title),
        Some("산책".into())
    );
}

#[tokio::test]
async fn a_stale_claim_cannot_complete_after_takeover() {
    let db = Db::new("stale").await;
    seed_call(
        &db.store,
        "CAS",
        "+821000000006",
        "2026-11-24T10:00:00.000Z",
        "2026-11-24T10:01:00.000Z",
        &[],
    )
    .await;
    let fake = fake(vec![]).await;
    let cfg = PostCallConfig {
        lease: Duration::from_millis(50),
        ..fast_config()
    };
    let pc = postcall(&db.store, &fake, cfg);
    pc.rerun_kind("CAS", JobKind::Quality).await.expect("queue");
    let stale = pc.claim_next().await.expect("claim").expect("a job");
    tokio::time::sleep(Duration::from_millis(80)).await;
    let fresh = pc.claim_next().await.expect("claim").expect("reclaimed");
    assert_eq!(fresh.job.id, stale.job.id);
    let now = chrono::Utc::now();
    assert!(
        !pc.store()
            .complete_job(&stale, &JobResult::Nothing, "late", now)
            .await
            .expect("complete")
    );
    assert!(
        pc.store()
            .complete_job(&fresh, &JobResult::Nothing, "ok", now)
            .await
            .expect("complete")
    );
}

#[tokio::test]
async fn two_workers_racing_run_each_job_once() {
    let db = Db::new("race").await;
    let store2 = db.reopen().await;
    let fake = fake(vec![
        json!({"title": "하루", "paragraphs": ["좋은 하루였다.", "내일도 좋겠다."]}).to_string(),
    ])
    .await;
    let a = postcall(&db.store, &fake, fast_config());
    let b = postcall(&store2, &fake, fast_config());
    for i in 0..12 {
        let sid = format!("CAR{i}");
        seed_call(
            &db.store,
            &sid,
            "+821000000007",
            "2026-11-24T10:00:00.000Z",
            "2026-11-24T10:01:00.000Z",
            &[Said(User, "좋은 하루였어요.", "2026-11-24T10:00:10.000Z")],
        )
        .await;
        a.rerun_kind(&sid, JobKind::Quality).await.expect("queue");
    }
    a.rerun_kind("CAR0", JobKind::Diary).await.expect("queue");

    async fn claim_all(pc: std::sync::Arc<haru_postcall::PostCall>) -> Vec<Claim> {
        let mut claims = vec![];
        while let Some(c) = pc.claim_next().await.expect("claim") {
            claims.push(c);
        }
        claims
    }
    let (x, y) = tokio::join!(
        tokio::spawn(claim_all(a.clone())),
        tokio::spawn(claim_all(b.clone()))
    );
    let (cx, cy) = (x.expect("task"), y.expect("task"));
    let (x, y): (Vec<i64>, Vec<i64>) = (
        cx.iter().map(|c| c.job.id).collect(),
        cy.iter().map(|c| c.job.id).collect(),
    );
    let all: Vec<i64> = x.iter().chain(&y).copied().collect();
    let unique: HashSet<i64> = all.iter().copied().collect();
    assert_eq!(all.len(), 13, "every job claimed: {x:?} {y:?}");
    assert_eq!(unique.len(), 13, "no job claimed twice: {x:?} {y:?}");

    // And with real workers: re-queue everything, let both run, each job runs once.
    for c in cx.iter().chain(&cy) {
        a.store()
            .release_job(c, chrono::Utc::now())
            .await
            .expect("release");
    }
    let stop = CancellationToken::new();
    let (wa, wb) = (
        a.clone().spawn_worker(stop.clone()),
        b.clone().spawn_worker(stop.clone()),
    );
    eventually("all jobs done", || async {
        a.jobs(&JobFilter::default())
            .await
            .map(|js| js.iter().all(|j| j.state == JobState::Done))
            .unwrap_or(false)
    })
    .await;
    stop.cancel();
    let _ = tokio::join!(wa, wb);
    let jobs = a.jobs(&JobFilter::default()).await.expect("jobs");
    assert!(jobs.iter().all(|j| j.attempts == 1), "{jobs:#?}");
    assert_eq!(
        fake.request_count(Ep::ChatCompletions),
        1,
        "the diary ran once"
    );
}

#[tokio::test]
async fn a_worker_on_an_in_memory_store_heartbeats_and_stops_cleanly() {
    // One connection only: the worker must never hold it while waiting for the model.
    let store = haru_store::SqlStore::open("sqlite::memory:")
        .await
        .expect("store");
    seed_call(
        &store,
        "CAI",
        "+821000000008",
        "2026-11-24T10:00:00.000Z",
        "2026-11-24T10:01:00.000Z",
        &[Said(
            User,
            "오늘 책을 읽었어요.",
            "2026-11-24T10:00:10.000Z",
        )],
    )
    .await;
    let diary = json!({"title": "독서", "paragraphs": ["오늘 책을 읽었다.", "조용한 하루였다."]});
    let mood = json!({"label": "calm", "score": 0.3, "reason": "책을 읽었다.", "quotes": ["책을 읽었어요"]});
    let replies = vec![
        diary.to_string(),
        json!({"items": []}).to_string(),
        mood.to_string(),
    ];
    let fake = fake(replies).await;
    // The model takes longer than the lease: only heartbeats keep the claim alive.
    fake.update_config(|c| c.llm_first_token_delay = Duration::from_millis(400));
    let cfg = PostCallConfig {
        lease: Duration::from_millis(150),
        ..fast_config()
    };
    let pc = postcall(&store, &fake, cfg);
    let stop = CancellationToken::new();
    let worker = pc.clone().spawn_worker(stop.clone());
    pc.enqueue_for_call("CAI").await.expect("enqueue");
    eventually("all jobs done", || async {
        pc.jobs(&JobFilter::default())
            .await
            .map(|js| js.len() == 5 && js.iter().all(|j| j.state == JobState::Done))
            .unwrap_or(false)
    })
    .await;
    let jobs = pc.jobs(&JobFilter::default()).await.expect("jobs");
    assert!(jobs.iter().all(|j| j.attempts == 1), "{jobs:#?}");
    assert_eq!(
        fake.request_count(Ep::ChatCompletions),
        3,
        "diary, schedules and mood, once each"
    );

    // Shutdown mid-job hands the job back at once instead of waiting out the lease.
    fake.set_fault(Ep::ChatCompletions, Some(Fault::Hang), None);
    pc.rerun_kind("CAI", JobKind::Diary).await.expect("rerun");
    eventually("the rerun is running", || async {
        matches!(pc.find_job("CAI", JobKind::Diary).await, Ok(Some(j)) if j.state == JobState::Running)
    }).await;
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), worker)
        .await
        .expect("worker stops")
        .expect("join");
    let job = pc
        .find_job("CAI", JobKind::Diary)
        .await
        .expect("find")
        .expect("job");
    assert_eq!((job.state, job.attempts), (JobState::Pending, 0), "{job:?}");
}
