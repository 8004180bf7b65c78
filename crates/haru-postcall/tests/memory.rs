//! The memory job end to end: the real OpenAI client against the fake server, people
//! and memory items in the store's companion tables.

mod common;

use common::*;
use haru_fakes::{Endpoint as Ep, FakeOpenAi, FakeOpenAiConfig, RecordedBody, ReplyRule};
use haru_postcall::{Job, JobKind, JobState, PostCall, PostCallConfig};
use haru_store::Role::{Assistant, User};
use haru_store::SqlStore;
use haru_store::Table;
use haru_store::companion::{NewPerson, Person};
use serde_json::json;

async fn person(store: &SqlStore, name: &str, phone: &str) -> Person {
    // Hangul in the name: a Korean speaker.
    let language = if name.chars().any(|c| c > '\u{3000}') {
        "ko"
    } else {
        "en"
    };
    store
        .add_person(&NewPerson {
            name: name.into(),
            phone: phone.into(),
            language: language.into(),
            timezone: "Asia/Seoul".into(),
            call_times: vec!["10:00".into()],
            window_minutes: 60,
            days: vec![],
            active: true,
            caregivers: vec![],
        })
        .await
        .expect("store")
        .expect("phone is free")
}

/// A one-exchange call from `from`: the caller's line, then Haru's answer.
async fn call(store: &SqlStore, sid: &str, from: &str, caller: &str, haru: &str) {
    seed_call(
        store,
        sid,
        from,
        "2026-11-24T01:00:00.000Z",
        "2026-11-24T01:05:00.000Z",
        &[
            Said(User, caller, "2026-11-24T01:00:10.000Z"),
            Said(Assistant, haru, "2026-11-24T01:00:15.000Z"),
        ],
    )
    .await;
}

fn answer(remember: &[(&str, &str)], forget: &[i64]) -> String {
    let remember: Vec<_> = remember
        .iter()
        .map(|(text, quote)| json!({"text": text, "quote": quote}))
        .collect();
    json!({"remember": remember, "forget": forget}).to_string()
}

/// Scripts the model's next answers (the sequence starts over).
fn script(fake: &FakeOpenAi, replies: Vec<String>) {
    fake.set_config(FakeOpenAiConfig {
        reply: ReplyRule::Sequence(replies),
        ..FakeOpenAiConfig::fast()
    });
}

/// Runs only the memory job of `sid`, to its end.
async fn run_memory(pc: &PostCall, sid: &str) -> Job {
    pc.rerun_kind(sid, JobKind::Memory).await.expect("queue");
    drain(pc, 10).await;
    pc.find_job(sid, JobKind::Memory)
        .await
        .expect("find")
        .expect("job")
}

/// The user message of a recorded chat request (memory list and transcript).
fn prompt(body: &RecordedBody) -> String {
    let RecordedBody::Json(v) = body else {
        panic!("{body:?}")
    };
    v["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .filter_map(|m| m["content"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

fn one_attempt() -> PostCallConfig {
    PostCallConfig {
        max_attempts: 1,
        ..fast_config()
    }
}

#[tokio::test]
async fn a_fact_asked_to_be_kept_is_remembered_then_forgotten_on_request() {
    let db = Db::new("memory-keep").await;
    let grandma = person(&db.store, "김순자", "+821055550001").await;
    call(
        &db.store,
        "CAM1",
        "+821055550001",
        "손녀 이름은 지민이에요. 꼭 기억해 주세요.",
        "네, 지민이, 기억해 둘게요.",
    )
    .await;
    let fake = fake(vec![answer(
        &[("손녀 이름은 지민", "손녀 이름은 지민이에요")],
        &[],
    )])
    .await;
    let pc = postcall(&db.store, &fake, fast_config());

    let job = run_memory(&pc, "CAM1").await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert_eq!(job.detail.as_deref(), Some("remembered 1, forgot 0"));
    let items = pc.memory(&grandma.id).await.expect("memory");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].text, "손녀 이름은 지민");
    assert_eq!(items[0].quote.as_deref(), Some("손녀 이름은 지민이에요"));
    assert_eq!(items[0].call_sid.as_deref(), Some("CAM1"));
    assert_eq!(items[0].person_id, grandma.id);
    // The request was schema-constrained.
    let reqs = fake.requests_to(Ep::ChatCompletions);
    assert_eq!(reqs.len(), 1);
    let RecordedBody::Json(body) = &reqs[0].body else {
        panic!("{:?}", reqs[0].body)
    };
    assert_eq!(body["response_format"]["json_schema"]["name"], "memory");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);

    // The next day: the caller asks to forget it.
    let id = items[0].id;
    call(
        &db.store,
        "CAM2",
        "+821055550001",
        "지민이 얘기는 잊어 주세요.",
        "알겠어요, 잊을게요.",
    )
    .await;
    script(&fake, vec![answer(&[], &[id])]);
    let job = run_memory(&pc, "CAM2").await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert_eq!(job.detail.as_deref(), Some("remembered 0, forgot 1"));
    assert!(pc.memory(&grandma.id).await.expect("memory").is_empty());
    // The model saw the item with its id, beside the transcript.
    let reqs = fake.requests_to(Ep::ChatCompletions);
    assert_eq!(reqs.len(), 2, "one request per call");
    let p = prompt(&reqs[1].body);
    assert!(p.contains(&format!("[id {id}] 손녀 이름은 지민")), "{p}");
    assert!(p.contains("Caller: 지민이 얘기는 잊어 주세요."), "{p}");
}

#[tokio::test]
async fn a_known_fact_is_not_stored_twice() {
    let db = Db::new("memory-dup").await;
    let p = person(&db.store, "이영희", "+821055550002").await;
    db.store
        .add_memory_item(&p.id, "아들은 일요일에 온다", None, None)
        .await
        .expect("seed");
    call(
        &db.store,
        "CAD1",
        "+821055550002",
        "아들은 일요일마다 와요. 그리고 다음 달에 무릎 수술을 받아요.",
        "그렇군요.",
    )
    .await;
    let fake = fake(vec![answer(
        &[
            ("아들은 일요일에 온다.", "아들은 일요일마다 와요"),
            (
                "다음 달에 무릎 수술을 받는다",
                "다음 달에 무릎 수술을 받아요",
            ),
        ],
        &[],
    )])
    .await;
    let pc = postcall(&db.store, &fake, fast_config());
    let job = run_memory(&pc, "CAD1").await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert_eq!(
        job.detail.as_deref(),
        Some("remembered 1, forgot 0; 1 already known")
    );
    let texts: Vec<_> = pc
        .memory(&p.id)
        .await
        .expect("memory")
        .into_iter()
        .map(|i| i.text)
        .collect();
    assert_eq!(
        texts,
        ["아들은 일요일에 온다", "다음 달에 무릎 수술을 받는다"]
    );
}

#[tokio::test]
async fn a_forget_nobody_asked_for_or_an_unsaid_quote_is_rejected() {
    let db = Db::new("memory-reject").await;
    let p = person(&db.store, "김순자", "+821055550003").await;
    let kept = db
        .store
        .add_memory_item(
            &p.id,
            "손녀 이름은 지민",
            Some("손녀 이름은 지민이에요"),
            None,
        )
        .await
        .expect("seed");
    // No forget request in this call: the model forgets on its own, twice.
    call(
        &db.store,
        "CAR1",
        "+821055550003",
        "오늘은 날씨가 좋아서 산책했어요.",
        "좋네요! 지민이는 잘 지내요?",
    )
    .await;
    let fake = fake(vec![answer(&[], &[kept])]).await;
    let pc = postcall(&db.store, &fake, one_attempt());
    let job = run_memory(&pc, "CAR1").await;
    assert_eq!(job.state, JobState::Failed, "{job:?}");
    let err = job.last_error.unwrap_or_default();
    assert!(err.contains("did not ask to forget"), "{err}");
    // One corrective retry carried the error back to the model.
    let reqs = fake.requests_to(Ep::ChatCompletions);
    assert_eq!(reqs.len(), 2);
    assert!(
        format!("{:?}", reqs[1].body).contains("did not ask to forget"),
        "{:?}",
        reqs[1].body
    );
    let ids: Vec<_> = pc
        .memory(&p.id)
        .await
        .expect("memory")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, [kept]);

    // A quote the caller never said (it is Haru's line) is not evidence either.
    call(
        &db.store,
        "CAR2",
        "+821055550003",
        "네, 그럭저럭 지내요.",
        "지민이가 다음 주에 온다고 했죠?",
    )
    .await;
    script(
        &fake,
        vec![answer(
            &[("손녀가 다음 주에 온다", "지민이가 다음 주에 온다고 했죠")],
            &[],
        )],
    );
    let job = run_memory(&pc, "CAR2").await;
    assert_eq!(job.state, JobState::Failed, "{job:?}");
    let err = job.last_error.unwrap_or_default();
    assert!(err.contains("not something the caller said"), "{err}");
    let items = pc.memory(&p.id).await.expect("memory");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].id, kept);
}

#[tokio::test]
async fn memory_never_crosses_people() {
    let db = Db::new("memory-people").await;
    let a = person(&db.store, "김순자", "+821055550004").await;
    let b = person(&db.store, "박영호", "+821055550005").await;
    let a_item = db
        .store
        .add_memory_item(
            &a.id,
            "손녀 이름은 지민",
            Some("손녀 이름은 지민이에요"),
            None,
        )
        .await
        .expect("seed a");
    let b_item = db
        .store
        .add_memory_item(&b.id, "매일 아침 등산을 한다", None, None)
        .await
        .expect("seed b");
    // B asks to forget, but the model names A's item.
    call(
        &db.store,
        "CAB1",
        "+821055550005",
        "그 얘기는 잊어버려요.",
        "알겠어요.",
    )
    .await;
    let fake = fake(vec![answer(&[], &[a_item])]).await;
    let pc = postcall(&db.store, &fake, one_attempt());
    let job = run_memory(&pc, "CAB1").await;
    assert_eq!(job.state, JobState::Failed, "{job:?}");
    let err = job.last_error.unwrap_or_default();
    assert!(
        err.contains(&format!("id {a_item} is not one of the listed")),
        "{err}"
    );
    // B's prompt listed only B's items.
    let p = prompt(&fake.requests_to(Ep::ChatCompletions)[0].body);
    assert!(p.contains(&format!("[id {b_item}]")), "{p}");
    assert!(!p.contains("지민"), "{p}");
    let a_ids: Vec<_> = pc
        .memory(&a.id)
        .await
        .expect("memory")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(a_ids, [a_item]);
    let b_ids: Vec<_> = pc
        .memory(&b.id)
        .await
        .expect("memory")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(b_ids, [b_item]);
}

#[tokio::test]
async fn an_unknown_callers_call_asks_nothing_and_is_done() {
    let db = Db::new("memory-unknown").await;
    // Someone is known, but not this caller.
    person(&db.store, "김순자", "+821055550006").await;
    call(
        &db.store,
        "CAU1",
        "+821099998888",
        "제 이름은 민수예요. 기억해 주세요.",
        "반가워요, 민수 님.",
    )
    .await;
    let fake = fake(vec![answer(&[("이름은 민수", "제 이름은 민수예요")], &[])]).await;
    let pc = postcall(&db.store, &fake, fast_config());
    let job = run_memory(&pc, "CAU1").await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    assert_eq!(job.attempts, 1);
    assert_eq!(
        job.detail.as_deref(),
        Some("no person: nothing to remember")
    );
    assert_eq!(fake.request_count(Ep::ChatCompletions), 0);
    let n = pc
        .store()
        .count_rows(Table::MemoryItems)
        .await
        .expect("count");
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_call_before_the_person_existed_is_linked_and_remembered() {
    let db = Db::new("memory-late").await;
    call(
        &db.store,
        "CAL1",
        "+821055550007",
        "remember that my son visits on Sundays",
        "I will.",
    )
    .await;
    let p = person(&db.store, "Tom", "+821055550007").await;
    let fake = fake(vec![answer(
        &[(
            "Tom's son visits him on Sundays",
            "my son visits on Sundays",
        )],
        &[],
    )])
    .await;
    let pc = postcall(&db.store, &fake, fast_config());
    let job = run_memory(&pc, "CAL1").await;
    assert_eq!(job.state, JobState::Done, "{job:?}");
    let items = pc.memory(&p.id).await.expect("memory");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0].text, "Tom's son visits him on Sundays");
}

#[tokio::test]
async fn every_job_of_a_persons_call_runs_on_a_one_connection_store() {
    // One connection: the memory write must not wait on a transaction of its own job.
    let store = SqlStore::open("sqlite::memory:").await.expect("store");
    let p = person(&store, "김순자", "+821055550008").await;
    call(
        &store,
        "CAW1",
        "+821055550008",
        "손녀 이름은 지민이에요. 꼭 기억해 주세요.",
        "네, 기억해 둘게요.",
    )
    .await;
    let diary = json!({"title": "손녀 이야기", "paragraphs": ["손녀 지민이 이야기를 했다.", "하루에게 기억해 달라고 했다."]});
    let mood = json!({"label": "calm", "score": 0.25, "reason": "차분하게 이야기했다.", "quotes": ["꼭 기억해 주세요"]});
    let fake = fake(vec![
        diary.to_string(),
        json!({"items": []}).to_string(),
        mood.to_string(),
        answer(&[("손녀 이름은 지민", "손녀 이름은 지민이에요")], &[]),
    ])
    .await;
    let pc = postcall(&store, &fake, fast_config());
    let stop = tokio_util::sync::CancellationToken::new();
    let worker = pc.clone().spawn_worker(stop.clone());
    pc.enqueue_for_call("CAW1").await.expect("enqueue");
    eventually("all five jobs done", || async {
        pc.jobs(&haru_postcall::JobFilter::default())
            .await
            .map(|js| js.len() == 5 && js.iter().all(|j| j.state == JobState::Done))
            .unwrap_or(false)
    })
    .await;
    stop.cancel();
    let _ = worker.await;
    let job = pc
        .find_job("CAW1", JobKind::Memory)
        .await
        .expect("find")
        .expect("job");
    assert_eq!(job.detail.as_deref(), Some("remembered 1, forgot 0"));
    let texts: Vec<_> = pc
        .memory(&p.id)
        .await
        .expect("memory")
        .into_iter()
        .map(|i| i.text)
        .collect();
    assert_eq!(texts, ["손녀 이름은 지민"]);
}
