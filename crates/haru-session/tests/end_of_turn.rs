//! The adaptive end-of-turn decision in the call core, in virtual time: the words said
//! before a pause and the caller's own pauses decide how much silence ends the turn.

mod harness;

use harness::*;
use haru_session::{EotPolicy, Output, SessionConfig, WorkerEvent};
use haru_store::Role;

fn adaptive() -> SessionConfig {
    let mut c = config();
    c.eot.policy = EotPolicy::Adaptive;
    c
}

/// The caller speaks, then `silence_ms` of silence runs while the transcript of the pause
/// (`words`) arrives `stt_ms` into it. Returns the reply id.
fn pause_with_words(c: &mut Call, words: &str, stt_ms: u64) -> haru_session::ReplyId {
    c.say(&speech());
    c.run_caller();
    // Speculation starts at the 150 ms pause (plus the VAD's hangover).
    c.run(300);
    let id = c.last_answer();
    c.run(stt_ms.saturating_sub(300));
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: words.into(),
            stt_ms: stt_ms as i64,
        },
    );
    id
}

fn committed(c: &Call, words: &str) -> bool {
    c.said_by(Role::User).iter().any(|w| w == words)
}

fn audio_frames(c: &Call) -> usize {
    c.count(|o| matches!(o, Output::Audio(_)))
}

#[test]
fn a_korean_connective_ending_waits_past_the_old_silence() {
    let mut c = Call::new(adaptive(), true);
    c.through_greeting();
    let id = pause_with_words(&mut c, "아침에 일어나서", 350);
    c.sentence(id, "네.", 5);
    c.run(900);
    assert!(
        !committed(&c, "아침에 일어나서"),
        "cut off after ~1.2 s of silence"
    );
    // ...the caller goes on: nothing was played, nothing stored.
    c.say(&speech());
    c.run(200);
    assert!(c.cancelled().contains(&(id, false)));
    let before = audio_frames(&c);
    let id = pause_with_words(&mut c, "아침에 일어나서 공원에 갔어요.", 350);
    c.sentence(id, "좋았겠어요.", 5);
    c.run(400);
    assert!(committed(&c, "아침에 일어나서 공원에 갔어요."));
    assert!(audio_frames(&c) > before);
}

#[test]
fn a_finished_sentence_is_answered_as_soon_as_silence_alone_or_sooner_if_configured() {
    let first_audio = |cfg: SessionConfig| {
        let mut c = Call::new(cfg, true);
        c.through_greeting();
        let id = pause_with_words(&mut c, "I went to the dentist today.", 300);
        c.sentence(id, "How did it go?", 5);
        c.worker(
            id,
            WorkerEvent::Finished {
                llm_total_ms: Some(50),
            },
        );
        c.run(1000);
        assert!(committed(&c, "I went to the dentist today."));
        c.turns().pop().unwrap().first_audio_ms.unwrap()
    };
    let adaptive_ms = first_audio(adaptive());
    let silence_ms = first_audio(config());
    assert!(
        adaptive_ms <= silence_ms + 40,
        "finished words: {adaptive_ms} ms, silence alone: {silence_ms} ms"
    );
    let mut brisk = adaptive();
    brisk.eot.complete_ms = 400;
    let brisk_ms = first_audio(brisk);
    assert!(
        brisk_ms + 150 <= silence_ms,
        "HARU_EOT_COMPLETE_MS=400: {brisk_ms} ms, silence alone: {silence_ms} ms"
    );
}

#[test]
fn while_the_words_are_not_known_haru_waits_for_them() {
    let mut c = Call::new(adaptive(), true);
    c.through_greeting();
    c.say(&speech());
    c.run_caller();
    c.run(900);
    assert!(!committed(&c, "I went for a walk."));
    let id = c.last_answer();
    // A slow transcriber: the words come 900 ms into the pause and finish the turn.
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "I went for a walk.".into(),
            stt_ms: 750,
        },
    );
    assert!(committed(&c, "I went for a walk."));
}

#[test]
fn fillers_and_trailing_words_wait_in_english_too() {
    for words in ["I went to the, um", "and then", "So I was talking with my"] {
        let mut c = Call::new(adaptive(), true);
        c.through_greeting();
        pause_with_words(&mut c, words, 350);
        c.run(1000);
        assert!(!committed(&c, words), "{words}: cut off");
        c.run(600);
        assert!(committed(&c, words), "{words}: but not forever");
    }
}

#[test]
fn a_caller_whose_pauses_grow_gets_more_patience() {
    let mut c = Call::new(adaptive(), true);
    c.through_greeting();
    // Three mid-turn holds of about a second after "and..." (which waits longest)...
    for hold in [900u64, 1000, 1100] {
        c.say(&speech());
        c.run_caller();
        c.run(300);
        let id = c.last_answer();
        c.worker(
            id,
            WorkerEvent::Transcript {
                text: "and".into(),
                stt_ms: 100,
            },
        );
        c.run(hold - 300);
        assert!(!committed(&c, "well"), "hold {hold}: cut off");
    }
    // ...now a neutral pause waits ≥ 1.2 × their usual hold, not the 800 ms default.
    c.say(&speech());
    c.run_caller();
    c.run(300);
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "well".into(),
            stt_ms: 100,
        },
    );
    c.run(900);
    assert!(!committed(&c, "well"), "the slow speaker was cut off");
    c.run(800);
    assert!(committed(&c, "well"));
}

#[test]
fn the_silence_policy_ignores_the_words() {
    let mut c = Call::new(config(), true);
    c.through_greeting();
    pause_with_words(&mut c, "아침에 일어나서", 350);
    c.run(400);
    assert!(
        committed(&c, "아침에 일어나서"),
        "silence alone ends at 600 ms"
    );
}

#[test]
fn a_one_word_answer_is_answered_promptly() {
    let mut c = Call::new(adaptive(), true);
    c.through_greeting();
    // About 300 ms of voice: "네." / "No."
    c.say(&speech()[..2800]);
    c.run_caller();
    c.run(300);
    let id = c.last_answer();
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "네.".into(),
            stt_ms: 100,
        },
    );
    c.run(400);
    assert!(committed(&c, "네."));
}

#[test]
fn a_backchannel_over_haru_does_not_interrupt_it() {
    let mut c = Call::new(adaptive(), true);
    c.through_greeting();
    let id = pause_with_words(&mut c, "I went to the park.", 300);
    c.sentence(id, "That sounds lovely, tell me everything about it.", 150);
    c.worker(
        id,
        WorkerEvent::Finished {
            llm_total_ms: Some(50),
        },
    );
    c.run(600);
    // "uh-huh" / "응": a short sound over the reply.
    c.say(&speech()[..2400]);
    c.run(1500);
    assert_eq!(c.count(|o| *o == Output::Clear), 0);
    c.run(2000);
    let turns = c.turns();
    assert_eq!(
        turns.last().unwrap().outcome,
        "answered",
        "{turns:?} {:?}",
        c.messages()
    );
}

#[test]
fn a_caller_known_from_earlier_calls_gets_their_patience_from_the_first_pause() {
    let mut c = Call::new(adaptive(), true);
    c.core.remember_holds(&[1200, 1300, 1250]);
    c.through_greeting();
    pause_with_words(&mut c, "well", 300);
    c.run(1000);
    assert!(
        !committed(&c, "well"),
        "a slow speaker cut off on the first pause"
    );
    c.run(900);
    assert!(committed(&c, "well"));
    // What was learned goes back with the call.
    assert_eq!(c.core.holds(), [1200, 1300, 1250]);
}

/// A call past its greeting whose caller has spoken and paused 300 ms, with the audio turn
/// model's verdict on that pause (if any) delivered. Returns the pause's reply.
fn call_paused_with(sound: Option<f32>) -> (Call, haru_session::ReplyId) {
    let mut c = Call::new(adaptive(), true);
    c.through_greeting();
    c.say(&speech());
    c.run_caller();
    c.run(300);
    let id = c.last_answer();
    if let Some(p) = sound {
        c.worker(
            id,
            WorkerEvent::TurnScore {
                finished: p,
                ms: 40,
            },
        );
    }
    (c, id)
}

/// A pause whose words and sound both say "finished": the sound verdict comes from the
/// audio turn model `model_ms` into the pause.
fn first_audio_with_sound(words: &str, sound: Option<f32>) -> Option<u64> {
    let (mut c, id) = call_paused_with(sound);
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: words.into(),
            stt_ms: 50,
        },
    );
    c.sentence(id, "How nice.", 5);
    c.worker(
        id,
        WorkerEvent::Finished {
            llm_total_ms: Some(50),
        },
    );
    c.run(2500);
    c.turns()
        .pop()
        .and_then(|t| t.first_audio_ms)
        .map(|ms| ms as u64)
}

#[test]
fn finished_words_that_also_sound_finished_are_answered_sooner() {
    let words = "I went to the dentist today.";
    let alone = first_audio_with_sound(words, None).expect("answered");
    let sure = first_audio_with_sound(words, Some(0.93)).expect("answered");
    let unsure = first_audio_with_sound(words, Some(0.2)).expect("answered");
    assert!(
        sure + 80 <= alone,
        "words+sound {sure} ms vs words alone {alone} ms"
    );
    // A sound that is not clearly finished never makes haru wait longer than the words.
    assert!(
        unsure <= alone + 20,
        "unsure sound {unsure} ms vs {alone} ms"
    );
}

#[test]
fn a_connective_ending_waits_however_finished_it_sounds() {
    let (mut c, id) = call_paused_with(Some(0.99));
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: "병원에 갔는데".into(),
            stt_ms: 60,
        },
    );
    c.run(1100);
    assert!(!committed(&c, "병원에 갔는데"), "cut off after a -는데");
}

#[test]
fn a_finished_sound_shortens_the_wait_for_slow_words_but_not_to_nothing() {
    // The words never come in time; the caller speaks again ~950 ms into the pause.
    // Returns whether that pause had already ended the turn.
    let ended_before_950 = |sound: Option<f32>, wait_ms: u64| {
        let (mut c, id) = call_paused_with(sound);
        c.run(wait_ms - 300);
        c.say(&speech());
        c.run(200);
        // A pause that had not ended the turn is a hold: its speculation is dropped.
        !c.cancelled().contains(&(id, false))
    };
    // Without the sound the words' unknown wait (1,000 ms) holds the floor...
    assert!(!ended_before_950(None, 950));
    // ...a finished sound ends the turn at the neutral wait (800 ms)...
    assert!(ended_before_950(Some(0.95), 950));
    // ...but never at the shortest one.
    assert!(!ended_before_950(Some(0.95), 560));
}

#[test]
fn a_verdict_for_a_stale_pause_changes_nothing() {
    let mut c = Call::new(adaptive(), true);
    c.through_greeting();
    let turns = c.turns().len();
    let id = pause_with_words(&mut c, "아침에 일어나서", 350);
    // The caller goes on: that speculation is cancelled...
    c.say(&speech());
    c.run(200);
    assert!(c.cancelled().contains(&(id, false)));
    // ...and its late verdict must not end the new utterance.
    c.worker(
        id,
        WorkerEvent::TurnScore {
            finished: 1.0,
            ms: 400,
        },
    );
    c.run_caller();
    c.run(100);
    assert_eq!(c.turns().len(), turns);
    assert!(c.said_by(Role::User).is_empty());
}
