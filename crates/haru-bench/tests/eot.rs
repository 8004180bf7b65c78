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
        group: "en",
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

/// The recorded part of the set loads from the installed packages, checksums and all, and
/// its labels are consistent with the audio: every hold is quiet and lies before the end.
#[test]
fn the_recorded_turns_load_and_their_holds_are_silences() {
    let set = haru_bench::eot::human_set(&Default::default())
        .expect("recorded set (scripts/install-engines.sh installs pocketsphinx-testdata)");
    assert!(set.len() >= 15, "{} turns", set.len());
    let holds: usize = set.iter().map(|t| t.holds.len()).sum();
    assert!(holds >= 10, "{holds} holds");
    for t in &set {
        assert_eq!(t.group, "en-human");
        assert!(!t.text.is_empty());
        let loud = |a: u64, b: u64| {
            let s = &t.pcm[(a * 8) as usize..(b * 8) as usize];
            (s.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / s.len().max(1) as f64).sqrt()
        };
        let speech = loud(0, t.end_ms);
        for (start, end, words) in &t.holds {
            assert!(start < end && *end <= t.end_ms, "{words}: {start}..{end}");
            // The middle of a hold is far quieter than the turn's speech.
            let mid = (start + end) / 2;
            assert!(
                loud(mid.saturating_sub(20), mid + 20) < speech / 4.0,
                "{words}"
            );
        }
    }
}

/// With the audio turn model and its words agreeing, a turn ends sooner than on words
/// alone; the replay delivers the model's verdict to the call core.
#[test]
fn a_verdict_of_finished_shortens_the_wait_in_the_replay() {
    let t = turn_with_hold("I went to the");
    let c = cfg(EotPolicy::Adaptive);
    let words = match replay(&t, &c, 200) {
        Result1::Latency(ms) => ms,
        other => panic!("{other:?}"),
    };
    let mut asked = 0;
    let with_sound = haru_bench::eot::replay_with(&t, &c, 200, &mut |_, at| {
        asked += 1;
        // Unfinished at the hold, finished at the end.
        Some(if at < t.end_ms { 0.1 } else { 0.95 })
    });
    assert!(asked >= 2, "the model was asked {asked} times");
    match with_sound {
        Result1::Latency(ms) => assert!(ms + 60 <= words, "{ms} ms vs {words} ms on words"),
        other => panic!("{other:?}"),
    }
}
