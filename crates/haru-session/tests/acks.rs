//! The acknowledgement before a slow answer, in virtual time.

mod harness;

use std::time::Duration;

use harness::*;
use haru_session::{Action, SessionConfig, WorkerEvent};
use haru_store::Role;

fn acking() -> SessionConfig {
    SessionConfig {
        acks: vec!["Mm-hm.".into()],
        ack_after: Duration::from_millis(400),
        ..config()
    }
}

fn transcript(c: &mut Call, id: haru_session::ReplyId, text: &str) {
    c.worker(
        id,
        WorkerEvent::Transcript {
            text: text.into(),
            stt_ms: 900,
        },
    );
}

fn finish(c: &mut Call, id: haru_session::ReplyId) {
    c.worker(
        id,
        WorkerEvent::Finished {
            llm_total_ms: Some(900),
        },
    );
}

#[test]
fn a_slow_answer_starts_with_the_acknowledgement_and_both_times_are_kept() {
    let mut c = Call::new(acking(), true);
    c.through_greeting();
    // The turn was taken ~100 ms ago (caller_turn runs 100 ms past the end silence).
    c.caller_turn();
    let id = c.last_answer();
    transcript(&mut c, id, "I went for a walk.");
    c.run(200);
    assert!(!c.sent_tags().contains(&ACK_TAG), "not before it is due");
    c.run(200);
    assert!(
        c.sent_tags().contains(&ACK_TAG),
        "due 400 ms after the turn"
    );
    // The answer arrives a second later and follows the acknowledgement.
    c.run(1000);
    c.sentence(id, "That sounds lovely.", 20);
    finish(&mut c, id);
    c.run(1500);
    assert_eq!(
        c.said_by(Role::Assistant).last().map(String::as_str),
        Some("Mm-hm. That sounds lovely.")
    );
    let t = c.turns().pop().unwrap();
    assert_eq!(t.outcome, "answered");
    let (first, answer) = (t.first_audio_ms.unwrap(), t.answer_audio_ms.unwrap());
    // End of speech → acknowledgement: the end-of-turn silence plus `ack_after`.
    assert!(
        (900..=1_150).contains(&first),
        "acknowledged after {first} ms"
    );
    assert!(
        answer >= first + 1_000,
        "answer {answer} ms, ack {first} ms"
    );
    assert_eq!(c.answers().len(), 1, "the acknowledgement is not a job");
}

#[test]
fn a_ready_answer_plays_without_one() {
    let mut c = Call::new(acking(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.answer(id, "I went for a walk.", &[("That sounds lovely.", 20)]);
    c.run(2000);
    assert!(!c.sent_tags().contains(&ACK_TAG));
    let t = c.turns().pop().unwrap();
    assert_eq!(t.first_audio_ms, t.answer_audio_ms);
    assert_eq!(
        c.said_by(Role::Assistant).last().map(String::as_str),
        Some("That sounds lovely.")
    );
}

#[test]
fn nothing_is_acknowledged_before_the_words_are_known_or_when_there_were_none() {
    let mut c = Call::new(acking(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    // Transcription is slow: no acknowledgement of words not heard yet...
    c.run(1500);
    assert!(!c.sent_tags().contains(&ACK_TAG));
    // ...and it plays as soon as they are in, the answer still not ready.
    transcript(&mut c, id, "I went for a walk.");
    c.run(40);
    assert!(c.sent_tags().contains(&ACK_TAG));

    // A noise: the empty transcript gets no acknowledgement.
    let mut c = Call::new(acking(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    transcript(&mut c, id, "");
    finish(&mut c, id);
    c.run(2000);
    assert!(!c.sent_tags().contains(&ACK_TAG));
}

#[test]
fn a_goodbye_is_not_acknowledged() {
    let mut c = Call::new(acking(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    transcript(&mut c, id, "Okay, goodbye.");
    c.run(3000);
    assert!(!c.sent_tags().contains(&ACK_TAG));
    assert!(c.sent_tags().contains(&GOODBYE_TAG));
}

#[test]
fn an_acknowledgement_not_cached_is_cached_at_the_start_and_skipped_meanwhile() {
    let c = Call::new(acking(), false);
    let asked: Vec<&Action> = c
        .actions
        .iter()
        .map(|(_, a)| a)
        .filter(|a| matches!(a, Action::CachePhrases(_)))
        .collect();
    assert_eq!(asked, [&Action::CachePhrases(vec!["Mm-hm.".to_string()])]);
    let cached = Call::new(acking(), true);
    assert!(
        !cached
            .actions
            .iter()
            .any(|(_, a)| matches!(a, Action::CachePhrases(_)))
    );
    let mut c = Call::new(acking(), false);
    c.run(1500);
    c.caller_turn();
    let id = c.last_answer();
    transcript(&mut c, id, "I went for a walk.");
    c.run(1000);
    assert!(!c.sent_tags().contains(&ACK_TAG));
    c.sentence(id, "That sounds lovely.", 20);
    finish(&mut c, id);
    c.run(1500);
    assert_eq!(
        c.said_by(Role::Assistant).last().map(String::as_str),
        Some("That sounds lovely.")
    );
}

#[test]
fn the_acknowledged_word_is_stored_as_the_model_wrote_it() {
    // The worker left the answer's leading "Mm-hm," unsaid for the acknowledgement: what
    // is stored (and what the LLM sees next turn) is the model's own text.
    let mut c = Call::new(acking(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    transcript(&mut c, id, "I went for a walk.");
    c.run(600);
    assert!(c.sent_tags().contains(&ACK_TAG));
    c.worker(
        id,
        WorkerEvent::AckWord {
            text: "Mm-hm,".into(),
        },
    );
    c.sentence(id, "that sounds lovely.", 20);
    finish(&mut c, id);
    c.run(1500);
    assert_eq!(
        c.said_by(Role::Assistant).last().map(String::as_str),
        Some("Mm-hm, that sounds lovely.")
    );
}
