//! Random calls: a caller who talks, pauses, interrupts, presses keys and loses marks,
//! providers that answer, fail or hang at random. Whatever happens, the core must never
//! panic, never let audio of a cleared reply out, never store words the caller did not
//! hear, and close the call exactly once.

mod harness;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use harness::*;
use haru_session::{Action, Input, Job, Output, ReplyId, WorkerEvent};
use haru_store::Role;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Scripted providers: each job gets a random plan of events at future times.
struct Providers {
    rng: StdRng,
    plans: HashMap<ReplyId, Vec<(Duration, Planned)>>,
    seen_jobs: usize,
    seen_cancels: usize,
}

#[derive(Clone)]
enum Planned {
    Ev(WorkerEvent),
    /// A sentence of `frames` frames (tagged by the harness when delivered).
    Sentence(usize),
}

impl Providers {
    fn plan(&mut self, at: Duration, job: &Job) -> Vec<(Duration, Planned)> {
        let r = &mut self.rng;
        let mut t = at + ms(r.random_range(30..700));
        let mut p = Vec::new();
        match job {
            Job::Speak { text } => {
                if r.random_bool(0.15) {
                    p.push((
                        t,
                        Planned::Ev(WorkerEvent::Failed {
                            error: "tts down".into(),
                        }),
                    ));
                } else {
                    p.push((
                        t,
                        Planned::Ev(WorkerEvent::SentenceBegin { text: text.clone() }),
                    ));
                    p.push((t, Planned::Ev(WorkerEvent::Audio(vec![249; 160 * 20]))));
                    p.push((t, Planned::Ev(WorkerEvent::SentenceEnd)));
                }
                p.push((t, Planned::Ev(WorkerEvent::Finished { llm_total_ms: None })));
            }
            Job::Answer { .. } => {
                let roll = r.random_range(0..100);
                if roll < 5 {
                    return p; // hangs forever (the worker's own timeout is tested elsewhere)
                }
                if roll < 10 {
                    p.push((
                        t,
                        Planned::Ev(WorkerEvent::Failed {
                            error: "stt failed".into(),
                        }),
                    ));
                    p.push((t, Planned::Ev(WorkerEvent::Finished { llm_total_ms: None })));
                    return p;
                }
                let text = match roll {
                    10..14 => String::new(),
                    14..17 => "ok goodbye".to_string(),
                    _ => format!("u{}", r.random_range(0..1_000_000)),
                };
                p.push((
                    t,
                    Planned::Ev(WorkerEvent::Transcript {
                        text: text.clone(),
                        stt_ms: 10,
                    }),
                ));
                if text.is_empty() {
                    p.push((t, Planned::Ev(WorkerEvent::Finished { llm_total_ms: None })));
                    return p;
                }
                t += ms(r.random_range(50..500));
                p.push((t, Planned::Ev(WorkerEvent::LlmFirstToken { ms: 1 })));
                for _ in 0..r.random_range(1..4) {
                    t += ms(r.random_range(20..400));
                    p.push((t, Planned::Sentence(r.random_range(3..80))));
                }
                if r.random_bool(0.1) {
                    p.push((
                        t,
                        Planned::Ev(WorkerEvent::Failed {
                            error: "llm broke".into(),
                        }),
                    ));
                }
                p.push((
                    t,
                    Planned::Ev(WorkerEvent::Finished {
                        llm_total_ms: Some(5),
                    }),
                ));
            }
        }
        p
    }

    /// Looks at new actions, then delivers what is due.
    fn step(&mut self, c: &mut Call) {
        let jobs = c.jobs();
        for (id, job) in &jobs[self.seen_jobs..] {
            let plan = self.plan(c.at(), job);
            self.plans.insert(*id, plan);
        }
        self.seen_jobs = jobs.len();
        let cancels = c.cancelled();
        for (id, keep) in &cancels[self.seen_cancels..] {
            if let Some(plan) = self.plans.get_mut(id) {
                // An aborted task says nothing more; one asked to keep its transcript
                // still delivers it, then finishes.
                plan.retain(|(_, e)| {
                    *keep && matches!(e, Planned::Ev(WorkerEvent::Transcript { .. }))
                });
                if *keep {
                    let at = plan.first().map(|p| p.0).unwrap_or(c.at());
                    plan.push((
                        at,
                        Planned::Ev(WorkerEvent::Finished { llm_total_ms: None }),
                    ));
                }
            }
        }
        self.seen_cancels = cancels.len();
        let now = c.at();
        let ids: Vec<ReplyId> = self.plans.keys().copied().collect();
        for id in ids {
            loop {
                let due = self
                    .plans
                    .get(&id)
                    .and_then(|p| p.first())
                    .is_some_and(|(t, _)| *t <= now);
                if !due {
                    break;
                }
                let (_, ev) = self.plans.get_mut(&id).unwrap().remove(0);
                match ev {
                    Planned::Ev(e) => c.worker(id, e),
                    Planned::Sentence(frames) => {
                        let tag = c.next_tag();
                        c.sentence_tagged(id, tag, &format!("s{tag}."), frames);
                    }
                }
            }
        }
    }
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn run(c: &mut Call, p: &mut Providers, ms: u64) {
    for _ in 0..ms.div_ceil(20) {
        c.run(20);
        p.step(c);
    }
}

fn one_call(seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cfg = config();
    cfg.speculative = rng.random_bool(0.8);
    if rng.random_bool(0.5) {
        cfg.eot.policy = haru_session::EotPolicy::Adaptive;
    }
    cfg.idle_timeout = Duration::from_secs(rng.random_range(3..25));
    let mut c = Call::new(cfg, rng.random_bool(0.8));
    let mut p = Providers {
        rng: StdRng::seed_from_u64(seed ^ 0x5eed),
        plans: HashMap::new(),
        seen_jobs: 0,
        seen_cancels: 0,
    };
    let clip = speech();
    for _ in 0..rng.random_range(5..30) {
        match rng.random_range(0..100) {
            0..40 => {
                let len = rng.random_range(150..2600) * 8;
                let start = rng.random_range(0..clip.len() - len.min(clip.len() - 1));
                c.say(&clip[start..(start + len).min(clip.len())]);
                c.pause(rng.random_range(50..1600));
                let ms = c.queued_ms();
                run(&mut c, &mut p, ms);
            }
            40..65 => run(&mut c, &mut p, rng.random_range(100..4000)),
            65..70 => c.input(Input::Dtmf("7".into())),
            70..78 => {
                // A stale mark, or one nobody sent.
                let marks = c.marks();
                let m = if !marks.is_empty() && rng.random_bool(0.6) {
                    marks[rng.random_range(0..marks.len())].clone()
                } else {
                    format!("h{}", rng.random_range(0..400))
                };
                if !marks.contains(&m) || rng.random_bool(0.5) {
                    c.input(Input::Mark(m));
                }
            }
            78..84 => c.twilio.return_marks = !c.twilio.return_marks,
            _ => run(&mut c, &mut p, rng.random_range(20..400)),
        }
        if c.closed().is_some() {
            break;
        }
    }
    c.input(if rng.random_bool(0.5) {
        Input::Stop
    } else {
        Input::Closed
    });
    run(&mut c, &mut p, 1000);
    c.jump(Duration::from_secs(60));
    check(&c, seed);
}

fn check(c: &Call, seed: u64) {
    // Closed exactly once, and nothing after it.
    let closes: Vec<usize> = c
        .actions
        .iter()
        .enumerate()
        .filter(|(_, (_, a))| matches!(a, Action::Close { .. }))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(closes.len(), 1, "seed {seed}: closes {closes:?}");
    assert_eq!(
        closes[0],
        c.actions.len() - 1,
        "seed {seed}: actions after close"
    );

    // After a clear, no audio of any sentence sent before it (phrase tags ≥ 249 repeat).
    let mut seen: HashSet<u8> = HashSet::new();
    let mut dead: HashSet<u8> = HashSet::new();
    for (_, a) in &c.actions {
        match a {
            Action::Send(Output::Clear) => dead.extend(seen.iter().copied()),
            Action::Send(Output::Audio(a)) => {
                for t in a.chunks(160).filter_map(tag_of).filter(|t| *t < 249) {
                    if dead.contains(&t) && std::env::var("HARU_RANDOM_DEBUG").is_ok() {
                        for (at, a) in &c.actions {
                            match a {
                                Action::Send(Output::Audio(x)) => {
                                    eprintln!("{at:?} audio {} x{}", x[0], x.len() / 160)
                                }
                                other => eprintln!("{at:?} {other:?}"),
                            }
                        }
                    }
                    assert!(
                        !dead.contains(&t),
                        "seed {seed}: sentence {t} after a clear"
                    );
                    seen.insert(t);
                }
            }
            _ => {}
        }
    }

    // Never stored as heard what was not played; a cut sentence had started.
    let sent = c.sent_tags();
    for m in c.messages().iter().filter(|m| m.role == Role::Assistant) {
        for (tag, text) in &c.tags {
            if *tag >= 249 {
                continue;
            }
            let cut = format!("{text}…");
            if m.content.contains(&cut) {
                assert!(sent.contains(tag), "seed {seed}: cut {text} was never sent");
            } else if m.content.split(' ').any(|w| w == text) {
                assert_eq!(
                    c.twilio.played_of(*tag),
                    c.tag_len[tag],
                    "seed {seed}: {text} stored as heard in {:?} but not fully played",
                    m.content
                );
            }
        }
    }

    // One row per turn (the store keys turns by index).
    let turns: Vec<i64> = c.turns().iter().map(|t| t.turn_index).collect();
    let unique: HashSet<_> = turns.iter().collect();
    assert_eq!(unique.len(), turns.len(), "seed {seed}: turns {turns:?}");

    // The caller's words are stored once each.
    let users = c.said_by(Role::User);
    let unique: HashSet<_> = users.iter().filter(|u| u.starts_with('u')).collect();
    assert_eq!(
        unique.len(),
        users.iter().filter(|u| u.starts_with('u')).count(),
        "seed {seed}: {users:?}"
    );
}

#[test]
fn random_calls_keep_every_invariant() {
    let seeds: u64 = std::env::var("HARU_RANDOM_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let first: u64 = std::env::var("HARU_RANDOM_FIRST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for seed in first..first + seeds {
        one_call(seed);
    }
}
