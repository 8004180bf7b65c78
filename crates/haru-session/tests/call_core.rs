//! The call core's rules, one test each, in virtual time (no sockets, no sleeps).

mod harness;

use std::time::Duration;

use harness::*;
use haru_session::{Input, Job, Output, WorkerEvent};
use haru_store::Role;

fn is_clear(o: &Output) -> bool {
    *o == Output::Clear
}

#[test]
fn greeting_then_a_normal_turn() {
    let mut c = Call::new(config(), true);
    // The greeting plays at once from the cache, then its mark comes back.
    c.run(100);
    assert_eq!(c.sent_tags().first(), Some(&GREETING_TAG));
    c.through_greeting();
    assert_eq!(c.said_by(Role::Assistant), ["Hello! How was your day?"]);
    assert_eq!(c.turns()[0].outcome, "phrase");

    c.say(&speech());
    c.pause(350);
    c.run_caller();
    // Speculation started at the pause; nothing plays before the end of turn.
    let id = c.last_answer();
    let before = c.sent_tags().len();
    c.answer(
        id,
        "I went for a walk.",
        &[("That sounds lovely.", 20), ("Where did you go?", 15)],
    );
    assert_eq!(
        c.sent_tags().len(),
        before,
        "no audio before the turn is confirmed"
    );
    c.pause(600);
    c.run(600);
    assert!(
        c.sent_tags().len() > before,
        "audio goes out once the turn ends"
    );
    c.run(1500);
    assert_eq!(c.said_by(Role::User), ["I went for a walk."]);
    assert_eq!(
        c.said_by(Role::Assistant)[1],
        "That sounds lovely. Where did you go?"
    );
    let t = c.turns().pop().unwrap();
    assert_eq!(
        (t.turn_index, t.outcome.as_str(), t.barge_in),
        (1, "answered", false)
    );
    assert_eq!(t.stt_ms, Some(100));
    // End of speech → first audio: the end-of-turn silence (600 ms) minus the pause it is
    // measured from, within a tick or two.
    let first = t.first_audio_ms.unwrap();
    assert!((560..=680).contains(&first), "first audio after {first} ms");
    // Only one job: the speculative one became the turn.
    assert_eq!(c.answers().len(), 1);
}

/// A reply in flight after one caller turn: returns its id.
fn replying(c: &mut Call, sentences: &[(&str, usize)]) -> (haru_session::ReplyId, Vec<u8>) {
    c.caller_turn();
    let id = c.last_answer();
    let tags = c.answer(id, "I went for a walk.", sentences);
    (id, tags)
}

#[test]
fn barge_in_mid_sentence_clears_and_keeps_only_what_was_heard() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    let (_, tags) = replying(
        &mut c,
        &[
            ("First sentence.", 25),
            ("Second one is long.", 100),
            ("Third.", 20),
        ],
    );
    // Let the first sentence and a little of the second play.
    c.run(700);
    assert_eq!(c.twilio.played_of(tags[0]), 25 * 160);
    assert!(c.twilio.played_of(tags[1]) > 0);
    c.say(&speech());
    c.run(600);
    assert_eq!(c.count(is_clear), 1, "barge-in sends clear");
    let heard = c.said_by(Role::Assistant).pop().unwrap();
    assert_eq!(heard, "First sentence. Second one is long.…");
    let t = c.turns().pop().unwrap();
    assert_eq!((t.outcome.as_str(), t.barge_in), ("interrupted", true));
    // Nothing of the old reply leaves after the clear.
    let clear_at = c
        .actions
        .iter()
        .position(|(_, a)| *a == haru_session::Action::Send(Output::Clear))
        .unwrap();
    let after: Vec<u8> = c.actions[clear_at..]
        .iter()
        .filter_map(|(_, a)| match a {
            haru_session::Action::Send(Output::Audio(a)) => Some(a[0]),
            _ => None,
        })
        .collect();
    assert!(after.iter().all(|t| !tags.contains(t)), "{after:?}");
}

fn speech_for(ms: usize) -> Vec<i16> {
    speech()[..ms * 8].to_vec()
}

#[test]
fn speculation_starts_at_the_pause_and_is_dropped_when_the_caller_resumes() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.say(&speech());
    c.pause(350);
    c.run_caller();
    let first = c.last_answer();
    // The caller goes on talking: the speculative job is cancelled, its late news ignored.
    c.say(&speech());
    c.run(300);
    assert!(
        c.cancelled().contains(&(first, false)),
        "{:?}",
        c.cancelled()
    );
    c.answer(first, "stale", &[("Stale reply.", 20)]);
    c.pause(800);
    c.run_caller();
    let second = c.last_answer();
    assert_ne!(first, second);
    let tags = c.answer(
        second,
        "I went for a walk, and then home.",
        &[("Nice.", 10)],
    );
    c.run(1000);
    assert!(c.sent_tags().contains(&tags[0]));
    assert!(
        !c.said_by(Role::Assistant)
            .iter()
            .any(|s| s.contains("Stale"))
    );
    assert_eq!(c.said_by(Role::User), ["I went for a walk, and then home."]);
    // The job was given the whole utterance, both parts.
    let jobs = c.jobs();
    let Job::Answer { audio, .. } = &jobs.last().unwrap().1 else {
        panic!()
    };
    assert!(
        audio.len() > speech().len() * 2 * 2 - 16_000,
        "{}",
        audio.len()
    );
}

#[test]
fn barge_in_during_the_greeting_keeps_what_was_heard() {
    let mut c = Call::new(config(), true);
    c.run(300);
    c.say(&speech());
    c.run(700);
    assert_eq!(c.count(is_clear), 1);
    assert_eq!(c.said_by(Role::Assistant), ["Hello! How was your day?…"]);
    let greeting = &c.turns()[0];
    assert_eq!(
        (greeting.turn_index, greeting.outcome.as_str()),
        (0, "interrupted")
    );
    // The caller's turn goes on normally.
    c.pause(900);
    c.run_caller();
    assert_eq!(c.answers().len(), 1);
}

#[test]
fn barge_in_between_sentences_stores_the_heard_ones_whole() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "Hi.".into(),
            stt_ms: 90,
        },
    );
    c.sentence(id, "First.", 10);
    c.run(600); // played, mark back; the LLM is slow with the next sentence
    c.say(&speech());
    c.run(600);
    assert_eq!(c.count(is_clear), 1);
    let msgs = c.messages();
    let last = msgs.last().unwrap();
    assert_eq!((last.content.as_str(), last.interrupted), ("First.", true));
    // The worker was told to stop; its late sentence never plays.
    assert!(c.cancelled().contains(&(id, false)));
    let late = c.sentence(id, "Late.", 10);
    c.run(500);
    assert!(!c.sent_tags().contains(&late));
}

#[test]
fn speech_after_the_last_mark_is_a_new_turn_not_a_barge_in() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    let (_, _) = replying(&mut c, &[("Short.", 10)]);
    c.run(1000);
    assert_eq!(c.turns().last().unwrap().outcome, "answered");
    c.caller_turn();
    assert_eq!(c.count(is_clear), 0);
    assert_eq!(c.answers().len(), 2);
}

#[test]
fn the_goodbye_is_never_interrupted_and_ends_in_a_hang_up() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "Okay, bye for now.".into(),
            stt_ms: 80,
        },
    );
    assert!(
        c.cancelled().contains(&(id, false)),
        "no LLM answer for an end request"
    );
    c.run(200);
    assert!(c.sent_tags().contains(&GOODBYE_TAG));
    // The caller talks over the goodbye, long enough that any other reply would stop.
    c.say(&speech());
    c.run_caller();
    c.run(1500);
    assert_eq!(c.count(is_clear), 0);
    assert!(c.hung_up());
    // The caller was still talking at the hang-up: those words are transcribed first
    // (here the transcriber never answers, so the close waits out the STT timeout).
    assert!(c.closed().is_none());
    c.jump(Duration::from_secs(10));
    let (reason, transcript) = c.closed().unwrap();
    assert_eq!(reason, "goodbye");
    assert!(
        transcript.ends_with("🤖 Goodbye, take care."),
        "{transcript}"
    );
    let t = c.turns().pop().unwrap();
    assert_eq!((t.turn_index, t.outcome.as_str()), (1, "goodbye"));
    // Close is the last thing the core does.
    assert!(matches!(
        c.actions.last().unwrap().1,
        haru_session::Action::Close { .. }
    ));
}

/// With a barge-in minimum longer than an utterance, a pause of the caller's over the
/// reply does not interrupt it (the old second rule did).
#[test]
fn one_barge_in_rule_a_pause_over_the_reply_does_not_interrupt() {
    let mut cfg = config();
    cfg.barge_in_min_ms = 1500;
    let mut c = Call::new(cfg, true);
    c.through_greeting();
    replying(&mut c, &[("A long answer that plays for a while.", 150)]);
    c.run(300);
    c.say(&speech_for(700));
    c.pause(400);
    c.run_caller();
    assert_eq!(
        c.count(is_clear),
        0,
        "a short remark over haru is not a barge-in"
    );
    c.run(3000);
    assert_eq!(c.turns().last().unwrap().outcome, "answered");
}

#[test]
fn unknown_duplicate_and_out_of_order_marks_change_nothing() {
    let mut c = Call::new(config(), true);
    c.twilio.return_marks = false;
    c.run(1200);
    let greeting_mark = c.marks()[0].clone();
    c.input(haru_session::Input::Mark(greeting_mark.clone()));
    c.run(100);
    c.caller_turn();
    let id = c.last_answer();
    c.answer(id, "Hello.", &[("One.", 5), ("Two.", 5), ("Three.", 60)]);
    c.run(300);
    let marks = c.marks();
    let (one, two) = (marks[1].clone(), marks[2].clone());
    // Stale (the greeting's), foreign, out of order, duplicated.
    for m in [
        greeting_mark,
        "bogus".to_string(),
        two.clone(),
        one.clone(),
        one.clone(),
    ] {
        c.input(haru_session::Input::Mark(m));
    }
    c.say(&speech());
    c.run(600);
    // Only "One." came back in order; "Two." was played but its mark came out of order.
    let heard = c.said_by(Role::Assistant).pop().unwrap();
    assert_eq!(heard, "One. Two.…");
    // Every played item had its own mark.
    let all = c.marks();
    let unique: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "{all:?}");
}

#[test]
fn marks_that_never_return_count_as_played_after_the_audio() {
    let mut c = Call::new(config(), true);
    c.twilio.return_marks = false;
    c.run(1000);
    // The greeting (1 s) is assumed heard 2 s after it ended.
    assert!(c.turns().is_empty());
    c.run(2200);
    assert_eq!(c.said_by(Role::Assistant), ["Hello! How was your day?"]);
    c.caller_turn();
    let id = c.last_answer();
    c.answer(id, "Hi.", &[("Hello there.", 10)]);
    c.run(3000);
    assert_eq!(c.turns().last().unwrap().outcome, "answered");
    assert_eq!(c.said_by(Role::Assistant)[1], "Hello there.");
}

#[test]
fn stop_in_every_state_closes_once_and_keeps_the_words() {
    // Listening.
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.input(Input::Stop);
    assert_eq!(c.closed().unwrap().0, "stop");

    // Speculating, transcript known: the caller's words are kept.
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.say(&speech());
    c.pause(350);
    c.run_caller();
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "Wait, one more thing".into(),
            stt_ms: 50,
        },
    );
    c.input(Input::Closed);
    assert_eq!(c.said_by(Role::User), ["Wait, one more thing"]);
    assert_eq!(c.closed().unwrap().0, "socket closed");

    // Speculating, transcript not back yet: the close waits for it.
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.say(&speech());
    c.pause(350);
    c.run_caller();
    let id = c.last_answer();
    c.input(Input::Stop);
    assert!(c.closed().is_none(), "waits for the transcript");
    assert!(c.cancelled().contains(&(id, true)));
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "Bye then".into(),
            stt_ms: 50,
        },
    );
    let (_, transcript) = c.closed().unwrap();
    assert!(transcript.contains("👤 Bye then"), "{transcript}");

    // ...and does not wait forever.
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.say(&speech());
    c.pause(350);
    c.run_caller();
    c.input(Input::Stop);
    c.jump(Duration::from_secs(10));
    assert!(c.closed().is_some());

    // Replying while thinking, and while speaking.
    for speaking in [false, true] {
        let mut c = Call::new(config(), true);
        c.through_greeting();
        c.caller_turn();
        let id = c.last_answer();
        c.worker(
            id,
            WorkerEvent::Transcript {
                text: "Hi.".into(),
                stt_ms: 50,
            },
        );
        if speaking {
            c.sentence(id, "Half of this is heard.", 50);
            c.run(300);
        }
        c.input(Input::Stop);
        let msgs = c.messages();
        assert_eq!(msgs[1].content, "Hi.");
        if speaking {
            assert_eq!(msgs[2].content, "Half of this is heard.…");
            assert!(msgs[2].interrupted);
        } else {
            assert_eq!(msgs.len(), 2);
        }
        assert_eq!(c.turns().last().unwrap().outcome, "interrupted");
        let closes = c
            .actions
            .iter()
            .filter(|(_, a)| matches!(a, haru_session::Action::Close { .. }))
            .count();
        assert_eq!(closes, 1);
        // Nothing after the close.
        c.input(Input::Stop);
        c.run(100);
        assert!(matches!(
            c.actions.last().unwrap().1,
            haru_session::Action::Close { .. }
        ));
    }

    // Ending.
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "goodbye".into(),
            stt_ms: 50,
        },
    );
    c.run(300);
    c.input(Input::Stop);
    assert_eq!(
        c.said_by(Role::Assistant).pop().unwrap(),
        "Goodbye, take care.…"
    );
    assert_eq!(c.turns().last().unwrap().outcome, "goodbye");
}

#[test]
fn a_failing_provider_at_each_stage_is_answered_with_the_apology() {
    // STT fails: no words, the apology.
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Failed {
            error: "stt failed with HTTP 500".into(),
        },
    );
    c.worker(id, WorkerEvent::Finished { llm_total_ms: None });
    c.run(1500);
    assert!(c.sent_tags().contains(&APOLOGY_TAG));
    let t = c.turns().pop().unwrap();
    assert_eq!(t.outcome, "error");
    assert!(t.error.unwrap().contains("stt"));
    assert_eq!(
        c.said_by(Role::Assistant).pop().unwrap(),
        "Sorry, something went wrong."
    );

    // The LLM breaks after one sentence: that sentence, then the apology, in one message.
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "Hi.".into(),
            stt_ms: 50,
        },
    );
    c.sentence(id, "Let me think.", 10);
    c.worker(
        id,
        WorkerEvent::Failed {
            error: "llm timed out after 8s".into(),
        },
    );
    c.worker(
        id,
        WorkerEvent::Finished {
            llm_total_ms: Some(8000),
        },
    );
    c.run(2000);
    assert_eq!(
        c.said_by(Role::Assistant).pop().unwrap(),
        "Let me think. Sorry, something went wrong."
    );
    assert_eq!(c.said_by(Role::User), ["Hi."]);

    // TTS fails mid-sentence: what played of it, then the apology.
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "Hi.".into(),
            stt_ms: 50,
        },
    );
    c.worker(
        id,
        WorkerEvent::SentenceBegin {
            text: "Broken audio.".into(),
        },
    );
    c.worker(id, WorkerEvent::Audio(vec![7; 1600]));
    c.worker(
        id,
        WorkerEvent::Failed {
            error: "tts sent an invalid answer".into(),
        },
    );
    c.worker(
        id,
        WorkerEvent::Finished {
            llm_total_ms: Some(100),
        },
    );
    c.run(2000);
    assert_eq!(
        c.said_by(Role::Assistant).pop().unwrap(),
        // Only part of the sentence was spoken: it is stored as cut.
        "Broken audio.… Sorry, something went wrong."
    );
    assert!(c.turns().pop().unwrap().error.unwrap().contains("tts"));
}

#[test]
fn an_uncached_apology_is_a_chime_and_no_words() {
    let mut c = Call::new(config(), false);
    // The greeting is synthesised by a worker; it fails too: a chime, nothing stored.
    let (greet, _) = c.jobs()[0].clone();
    c.worker(
        greet,
        WorkerEvent::Failed {
            error: "tts unreachable".into(),
        },
    );
    c.worker(greet, WorkerEvent::Finished { llm_total_ms: None });
    c.run(1500);
    let audio = |c: &Call| c.count(|o| matches!(o, Output::Audio(_)));
    assert!(audio(&c) > 0, "the chime played");
    assert!(c.said_by(Role::Assistant).is_empty());
    c.caller_turn();
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "Hello?".into(),
            stt_ms: 50,
        },
    );
    c.worker(
        id,
        WorkerEvent::Failed {
            error: "tts timed out after 3s".into(),
        },
    );
    c.worker(
        id,
        WorkerEvent::Finished {
            llm_total_ms: Some(10),
        },
    );
    let before = audio(&c);
    c.run(100);
    assert!(audio(&c) > before, "the chime plays at once");
    c.run(1500);
    assert_eq!(c.said_by(Role::User), ["Hello?"]);
    assert!(c.said_by(Role::Assistant).is_empty(), "{:?}", c.messages());
}

#[test]
fn the_end_keyword_while_a_reply_is_streaming_cuts_it_and_says_goodbye() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    let (_, tags) = replying(&mut c, &[("This is a long story.", 200)]);
    c.run(500);
    c.say(&fixture("en-goodbye.wav"));
    c.pause(800);
    c.run_caller();
    assert_eq!(c.count(is_clear), 1);
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "Okay, goodbye.".into(),
            stt_ms: 70,
        },
    );
    c.run(2000);
    assert!(c.hung_up());
    assert_eq!(c.closed().unwrap().0, "goodbye");
    let said = c.said_by(Role::Assistant);
    assert!(said[1].ends_with('…'), "{said:?}");
    assert_eq!(said[2], "Goodbye, take care.");
    assert!(c.twilio.played_of(tags[0]) < 200 * 160);
}

#[test]
fn an_end_request_seen_while_speculating_is_answered_at_the_end_of_turn() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.say(&fixture("en-goodbye.wav"));
    c.pause(350);
    c.run_caller();
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "goodbye".into(),
            stt_ms: 70,
        },
    );
    assert!(c.cancelled().contains(&(id, false)));
    assert!(
        !c.sent_tags().contains(&GOODBYE_TAG),
        "not before the turn ends"
    );
    c.run(1800);
    assert!(c.hung_up());
    assert_eq!(c.said_by(Role::User), ["goodbye"]);
}

#[test]
fn an_idle_caller_is_prompted_then_told_goodbye() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.run(19_000);
    assert!(!c.sent_tags().contains(&IDLE_TAG));
    c.run(1_500);
    assert!(c.sent_tags().contains(&IDLE_TAG));
    c.run(21_000);
    assert!(c.hung_up());
    let said = c.said_by(Role::Assistant);
    assert_eq!(
        said,
        [
            "Hello! How was your day?",
            "Are you still there?",
            "Goodbye, take care."
        ]
    );
    let turns: Vec<i64> = c.turns().iter().map(|t| t.turn_index).collect();
    assert_eq!(turns, [0, 1, 2], "each played item is its own turn");
}

#[test]
fn a_caller_who_answers_the_idle_prompt_is_not_hung_up_on() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.run(21_000);
    c.caller_turn();
    let id = c.last_answer();
    c.answer(id, "Yes, I'm here.", &[("Good to hear.", 10)]);
    c.run(25_000);
    assert!(
        !c.hung_up(),
        "the prompt was answered; the next idle gets a prompt again"
    );
    let prompts = c
        .said_by(Role::Assistant)
        .iter()
        .filter(|s| *s == "Are you still there?")
        .count();
    assert_eq!(prompts, 2);
}

#[test]
fn the_maximum_duration_ends_a_call_mid_reply() {
    let mut cfg = config();
    cfg.max_call = Duration::from_secs(10);
    let mut c = Call::new(cfg, true);
    c.through_greeting();
    replying(&mut c, &[("A story with no end.", 1000)]);
    let at = c.at();
    c.run((10_000 - at.as_millis() as u64) + 200);
    assert_eq!(c.count(is_clear), 1);
    c.run(2000);
    assert!(c.hung_up());
    let said = c.said_by(Role::Assistant);
    assert!(said[1].ends_with('…'), "{said:?}");
    assert_eq!(said[2], "Goodbye, take care.");
}

#[test]
fn a_thirty_minute_call_ends_on_time_in_milliseconds() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.answer(id, "Hi.", &[("Hello.", 10)]);
    c.run(1000);
    // A caller who keeps the line open without a word for half an hour (idle prompts
    // answered by keypad presses keep it from timing out in this model).
    c.jump(Duration::from_secs(30 * 60));
    c.run(2000);
    assert!(c.hung_up());
}

#[test]
fn dtmf_mid_turn_is_stored_and_changes_nothing_else() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    c.say(&speech());
    c.run(800);
    c.input(Input::Dtmf("5".into()));
    c.pause(900);
    c.run_caller();
    let id = c.last_answer();
    c.answer(id, "I went for a walk.", &[("Lovely.", 10)]);
    c.run(1000);
    let roles: Vec<Role> = c.messages().iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [Role::Assistant, Role::Dtmf, Role::User, Role::Assistant]
    );
    assert_eq!(c.turns().last().unwrap().outcome, "answered");
}

#[test]
fn absurd_durations_never_overflow_the_clock() {
    let mut cfg = config();
    cfg.max_call = Duration::MAX;
    cfg.idle_timeout = Duration::MAX;
    cfg.stt_timeout = Duration::MAX;
    cfg.turn.pause_ms = u32::MAX / 2;
    cfg.turn.end_silence_ms = u32::MAX;
    let mut c = Call::new(cfg, true);
    c.say(&speech());
    c.run(5000);
    c.jump(Duration::from_secs(3600));
    c.input(Input::Stop);
    c.jump(Duration::from_secs(31));
    assert!(c.closed().is_some());
}

#[test]
fn words_still_being_said_when_the_call_ends_are_kept() {
    let mut cfg = config();
    cfg.speculative = false;
    let mut c = Call::new(cfg, true);
    c.through_greeting();
    c.say(&speech());
    c.run_caller();
    // The caller hangs up mid-sentence, before any end of turn.
    c.input(Input::Stop);
    assert!(c.closed().is_none(), "waits for the last words' transcript");
    let (id, job) = c.jobs().pop().unwrap();
    assert!(matches!(job, Job::Answer { .. }));
    assert!(
        c.cancelled().contains(&(id, true)),
        "transcript only, no reply"
    );
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "and then bye".into(),
            stt_ms: 50,
        },
    );
    let (_, transcript) = c.closed().unwrap();
    assert!(transcript.ends_with("👤 and then bye"), "{transcript}");
}

#[test]
fn warm_up_sends_the_opening_once_and_only_when_asked() {
    use haru_session::Action;
    let warmups = |c: &Call| -> Vec<Vec<haru_providers::ChatMessage>> {
        c.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::WarmUp(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    };
    let mut c = Call::new(config(), true);
    c.run(100);
    assert!(warmups(&c).is_empty(), "off by default");

    let mut cfg = config();
    cfg.llm_warmup = true;
    let mut c = Call::new(cfg.clone(), true);
    c.through_greeting();
    c.caller_turn();
    let w = warmups(&c);
    assert_eq!(w.len(), 1, "{w:?}");
    // Exactly how the first turn's request begins: system prompt, then the greeting.
    let expected = vec![
        haru_providers::ChatMessage::system(cfg.system_prompt.clone()),
        haru_providers::ChatMessage::assistant(cfg.greeting.clone()),
    ];
    assert_eq!(w[0], expected);
    let first_answer = c
        .jobs()
        .into_iter()
        .find_map(|(_, j)| match j {
            Job::Answer { history, .. } => Some(history),
            _ => None,
        })
        .expect("an answer job");
    assert_eq!(first_answer[..2], expected[..]);
}
