//! Backchannels and short answers: "네", "응", "uh-huh" said over haru's reply are kept
//! but not answered; a one-word answer to haru's question is answered.

mod harness;

use harness::*;
use haru_session::{EotPolicy, Output, SessionConfig, WorkerEvent};
use haru_store::Role;

fn adaptive() -> SessionConfig {
    let mut c = config();
    c.eot.policy = EotPolicy::Adaptive;
    c
}

fn audio_frames(c: &Call) -> usize {
    c.count(|o| matches!(o, Output::Audio(_)))
}

/// haru answers a turn with `reply` (800 ms of audio); ~200 ms before it ends the caller
/// says a short `word` (~350 ms of voice, below the barge-in threshold). Returns the call
/// and how many audio frames had been sent when the caller's word was transcribed.
fn word_over_the_end_of(reply: &str, word: &str) -> (Call, usize) {
    let mut c = Call::new(adaptive(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.answer(id, "I went to the park.", &[(reply, 40)]);
    c.run(600);
    c.say(&speech()[..2800]);
    c.run_caller();
    c.run(300);
    let id2 = c.last_answer();
    assert_ne!(id, id2, "the word was not heard as an utterance");
    c.worker(
        id2,
        WorkerEvent::Transcript {
            text: word.into(),
            stt_ms: 100,
        },
    );
    let sent = audio_frames(&c);
    c.sentence(id2, "Reply to the backchannel.", 5);
    c.run(1500);
    (c, sent)
}

#[test]
fn a_backchannel_over_a_statement_is_kept_but_not_answered() {
    for word in ["네.", "응 응", "Uh-huh."] {
        let (c, sent) = word_over_the_end_of("That sounds lovely.", word);
        assert_eq!(
            audio_frames(&c),
            sent,
            "{word}: haru answered a backchannel"
        );
        assert!(
            c.said_by(Role::User).iter().any(|w| w == word),
            "{word}: its words were lost"
        );
        let last = c.turns().pop().expect("turn record");
        assert_eq!(last.outcome, "backchannel", "{word}");
    }
}

#[test]
fn a_yes_to_haru_s_question_is_answered() {
    let (c, sent) = word_over_the_end_of("Did you enjoy it?", "네.");
    assert!(audio_frames(&c) > sent, "a one-word answer went unanswered");
}

#[test]
fn a_real_reply_over_the_end_is_answered() {
    let (c, sent) = word_over_the_end_of("That sounds lovely.", "Yes, and then I went home.");
    assert!(audio_frames(&c) > sent);
}

#[test]
fn a_yes_after_a_real_pause_is_a_turn() {
    // Said well after haru finished: an answer, not a backchannel.
    let mut c = Call::new(adaptive(), true);
    c.through_greeting();
    c.caller_turn();
    let id = c.last_answer();
    c.answer(id, "I went to the park.", &[("That sounds lovely.", 40)]);
    c.run(2000);
    c.say(&speech()[..2800]);
    c.run_caller();
    c.run(300);
    let id2 = c.last_answer();
    c.worker(
        id2,
        WorkerEvent::Transcript {
            text: "Yeah.".into(),
            stt_ms: 100,
        },
    );
    let sent = audio_frames(&c);
    c.sentence(id2, "Tell me more.", 5);
    c.run(1500);
    assert!(audio_frames(&c) > sent);
}
