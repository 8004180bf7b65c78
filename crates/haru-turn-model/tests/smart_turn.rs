//! The real model on real speech. Needs `scripts/install-engines.sh` (models/).

use std::path::PathBuf;

use haru_turn::TurnModel;
use haru_turn_model::{LogMel, SmartTurn, SmartTurnPaths};

fn models() -> PathBuf {
    std::env::var_os("HARU_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models"))
}

fn speech(name: &str) -> Vec<i16> {
    let bytes = std::fs::read(models().join("fixtures").join(name))
        .unwrap_or_else(|e| panic!("{name}: {e} (run scripts/install-engines.sh)"));
    let wav = haru_audio::decode_wav_mono(&bytes).expect("wav");
    haru_audio::resample(&wav.samples, wav.rate, 16_000).expect("resample")
}

fn model() -> SmartTurn {
    let paths = SmartTurnPaths::in_dir(&models());
    assert!(
        paths.exist(),
        "{paths:?} missing (run scripts/install-engines.sh)"
    );
    SmartTurn::load(&paths, 1)
        .expect("load")
        .with_cpu_share(f64::INFINITY)
}

/// Reference values from pipecat's own numpy feature code on the same clip.
#[test]
fn features_match_the_reference_extractor() {
    let f = LogMel::new().features(&speech("beckett.wav"));
    let at = |m: usize, t: usize| f[m * 800 + t];
    let mean = f.iter().map(|v| *v as f64).sum::<f64>() / f.len() as f64;
    assert!((mean - 0.5032).abs() < 0.002, "mean {mean}");
    for (m, t, want) in [(0, 797, 1.1332), (1, 798, 1.0337), (2, 799, 1.0311)] {
        assert!(
            (at(m, t) - want).abs() < 0.01,
            "[{m}][{t}] = {} vs {want}",
            at(m, t)
        );
    }
}

#[test]
fn a_finished_sentence_scores_higher_than_one_cut_mid_phrase() {
    let m = model();
    let pcm = speech("beckett.wav");
    // "... Try again. Fail again. Fail better." and 300 ms of silence: finished.
    let mut done = pcm.clone();
    done.extend(std::iter::repeat_n(0, 16 * 300));
    let p_done = m.finished(&done).expect("run");
    // The same reading stopped in the middle of a word, then silence.
    let mut cut = pcm[..pcm.len() * 55 / 100].to_vec();
    cut.extend(std::iter::repeat_n(0, 16 * 300));
    let p_cut = m.finished(&cut).expect("run");
    assert!(p_done > 0.5, "finished reading scored {p_done}");
    assert!(p_done > p_cut, "finished {p_done} vs cut {p_cut}");
}

#[test]
fn silence_and_empty_audio_do_not_fail() {
    let m = model();
    for pcm in [vec![], vec![0i16; 16_000]] {
        let p = m.finished(&pcm).expect("run");
        assert!((0.0..=1.0).contains(&p));
    }
}

#[test]
fn past_its_cpu_budget_the_model_declines_at_once() {
    let m = model().with_cpu_share(0.0);
    let pcm = speech("clone-test.wav");
    let e = m.finished(&pcm).expect_err("over budget");
    assert!(e.contains("budget"), "{e}");
}
