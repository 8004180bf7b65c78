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
