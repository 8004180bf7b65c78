//! The end-of-turn benchmark's scoring, on real speech with a labelled hold.

use std::sync::Arc;

use haru_bench::eot::{Result1, Turn, replay};
use haru_session::{EotPolicy, SessionConfig};

fn speech() -> Vec<i16> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/en-walk.wav");
    let wav = haru_audio::decode_wav_mono(&std::fs::read(path).unwrap()).unwrap();
    haru_audio::resample(&wav.samples, wav.rate, 8000).unwrap()
}

/// "<speech> (1.2 s hold) <speech>", the hold after words that cannot end a sentence.
fn turn_with_hold(before_hold: &str) -> Turn {
    let s = speech();
    let mut pcm = vec![0i16; 8 * 400];
    pcm.extend(&s);
    let hold_start = pcm.len() as u64 / 8;
    pcm.extend(vec![0i16; 8 * 1200]);
    pcm.extend(&s);
    let end_ms = pcm.len() as u64 / 8;
    pcm.extend(vec![0i16; 8 * 4000]);
    Turn {
        lang: "en",
        pcm,
        holds: vec![(hold_start, hold_start + 1200, before_hold.into())],
        end_ms,
        text: format!("{before_hold} the dentist this morning"),
    }
}

fn cfg(policy: EotPolicy) -> Arc<SessionConfig> {
    let mut c = SessionConfig::default();
    c.greeting.clear();
    c.eot.policy = policy;
    Arc::new(c)
}

#[test]
fn silence_alone_cuts_a_long_hold_off() {
    let t = turn_with_hold("I went to the");
    assert_eq!(replay(&t, &cfg(EotPolicy::Silence), 200), Result1::CutOff);
}

#[test]
fn the_adaptive_policy_waits_through_it_and_answers_the_end() {
    let t = turn_with_hold("I went to the");
    match replay(&t, &cfg(EotPolicy::Adaptive), 200) {
        Result1::Latency(ms) => assert!(ms < 1200, "answered {ms} ms after the end"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_hold_after_words_that_sound_finished_is_still_a_risk() {
    // The benchmark must be able to fail the adaptive policy too.
    let t = turn_with_hold("I went to the market.");
    assert_eq!(replay(&t, &cfg(EotPolicy::Adaptive), 200), Result1::CutOff);
}
