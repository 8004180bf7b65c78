//! `haru bench --eot`: end of turn measured the way LiveKit's eot-bench measures it.
//!
//! A labelled set of caller turns ([`set`]): speech with mid-turn pauses ("holds"), then
//! the true end of turn. The audio goes frame by frame (8 kHz µ-law, as a phone delivers
//! it) through haru's real call core ([`replay`]: the VAD, the speculation at the pause,
//! the end-of-turn decision); at each pause the transcriber returns, after
//! `--eot-stt-delay-ms`, the words spoken before it, and the audio turn model (Smart Turn
//! v3, when installed) judges the audio so far. A policy that takes the floor during a
//! hold made a *false cut-off*; otherwise its *latency* is the silence after the true end
//! before haru played its first audio. Three policy families are swept over their knobs:
//! silence alone, words (transcript completeness), and words + sound (with the model).
//! The report ([`report`]) gives, per group of turns, the false cut-off rate at 300 / 600
//! ms mean latency, the latency at 5 % / 10 % false cut-offs, each family's default
//! point, and the Pareto frontier as an SVG.

pub mod replay;
pub mod report;
pub mod set;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use haru_session::{EotConfig, EotPolicy, SessionConfig};
use haru_turn::TurnModel;

pub use replay::{Result1, replay, replay_with};
pub use report::{EotReport, Point, Summary};
pub use set::{HumanSources, Turn, build_set, default_cache, human_set, synthetic_set};

/// The audio turn model's verdicts, computed once per (turn, pause): the pauses are the
/// VAD's, the same under every end-of-turn policy.
pub struct Judge<'a> {
    model: &'a dyn TurnModel,
    cache: HashMap<(usize, u64), f32>,
    runs: u32,
    cpu: std::time::Duration,
}

impl<'a> Judge<'a> {
    pub fn new(model: &'a dyn TurnModel) -> Self {
        Self {
            model,
            cache: HashMap::new(),
            runs: 0,
            cpu: Default::default(),
        }
    }

    fn verdict(&mut self, turn: usize, audio: &[i16], at_ms: u64) -> Option<f32> {
        if let Some(p) = self.cache.get(&(turn, at_ms)) {
            return Some(*p);
        }
        let t = Instant::now();
        let p = self.model.finished(audio).ok()?;
        self.cpu += t.elapsed();
        self.runs += 1;
        self.cache.insert((turn, at_ms), p);
        Some(p)
    }

    pub fn mean_ms(&self) -> Option<f64> {
        (self.runs > 0).then(|| self.cpu.as_secs_f64() * 1000.0 / self.runs as f64)
    }
}

fn score(
    turns: &[(usize, &Turn)],
    cfg: &Arc<SessionConfig>,
    stt_delay_ms: u64,
    mut judge: Option<&mut Judge>,
) -> (f64, f64, usize) {
    let (mut cut, mut lat, mut n_lat, mut missed) = (0usize, 0u64, 0usize, 0usize);
    for (idx, t) in turns {
        let r = match judge.as_deref_mut() {
            Some(j) => replay_with(t, cfg, stt_delay_ms, &mut |a, at| j.verdict(*idx, a, at)),
            None => replay(t, cfg, stt_delay_ms),
        };
        match r {
            Result1::CutOff => cut += 1,
            Result1::Latency(ms) => {
                lat += ms;
                n_lat += 1;
            }
            Result1::Missed => missed += 1,
        }
    }
    let fcr = cut as f64 / turns.len().max(1) as f64;
    let mean = if n_lat == 0 {
        f64::INFINITY
    } else {
        lat as f64 / n_lat as f64
    };
    (fcr, mean, missed)
}

fn base() -> SessionConfig {
    let mut c = SessionConfig::default();
    c.greeting.clear();
    c
}

/// The configurations swept, by family: silence alone over its one knob; words over the
/// finished / neutral / unfinished waits; words + sound over those and the model's
/// thresholds.
fn configs(family: &str) -> Vec<(String, SessionConfig)> {
    let mut out = Vec::new();
    match family {
        "silence" => {
            for silence in (300..=2000).step_by(100) {
                let mut c = base();
                c.eot.policy = EotPolicy::Silence;
                c.turn.end_silence_ms = silence;
                out.push((format!("end_silence={silence}"), c));
            }
        }
        "words" => {
            for complete in [300, 400, 500, 600, 700, 900, 1200, 1500] {
                for incomplete in [1000, 1300, 1600, 2000] {
                    for neutral in [600, 800, 1000] {
                        let mut c = base();
                        c.eot = EotConfig {
                            complete_ms: complete,
                            neutral_ms: neutral,
                            incomplete_ms: incomplete,
                            ..EotConfig::default()
                        };
                        out.push((
                            format!(
                                "complete={complete},neutral={neutral},incomplete={incomplete}"
                            ),
                            c,
                        ));
                    }
                }
            }
        }
        _ => {
            for sure in [200, 300, 400, 500, 600] {
                for complete in [500, 600, 800, 1000] {
                    for neutral in [800, 1000] {
                        for incomplete in [1300, 1600] {
                            for (fin, unfin) in
                                [(0.5, 0.2), (0.7, 0.2), (0.5, 0.0), (0.8, 0.0), (0.9, 0.0)]
                            {
                                let mut c = base();
                                c.eot = EotConfig {
                                    sure_ms: sure,
                                    complete_ms: complete,
                                    neutral_ms: neutral,
                                    incomplete_ms: incomplete,
                                    audio_finished: fin,
                                    audio_unfinished: unfin,
                                    ..EotConfig::default()
                                };
                                out.push((
                                    format!(
                                        "sure={sure},complete={complete},neutral={neutral},\
                                         incomplete={incomplete},finished={fin},unfinished={unfin}"
                                    ),
                                    c,
                                ));
                            }
                        }
                    }
                }
            }
            // The defaults are always a point of their own.
            out.push(("default".into(), base()));
        }
    }
    out
}

pub const GROUPS: [&str; 3] = ["ko", "en", "en-human"];

/// Runs the sweep on `set`; `model` adds the words + sound family.
pub fn run_sweep(set: &[Turn], stt_delay_ms: u64, model: Option<&dyn TurnModel>) -> EotReport {
    let mut points = Vec::new();
    let mut summaries = Vec::new();
    let defaults = SessionConfig::default();
    let mut judge = model.map(Judge::new);
    let families: &[&str] = if judge.is_some() {
        &["silence", "words", "words+sound"]
    } else {
        &["silence", "words"]
    };
    for group in GROUPS {
        let turns: Vec<(usize, &Turn)> = set
            .iter()
            .enumerate()
            .filter(|(_, t)| t.group == group)
            .collect();
        if turns.is_empty() {
            continue;
        }
        for &family in families {
            let mut fam_points = Vec::new();
            let mut default_point = None;
            for (knobs, cfg) in configs(family) {
                let is_default = match family {
                    "silence" => cfg.turn.end_silence_ms == defaults.turn.end_silence_ms,
                    _ => cfg.eot == defaults.eot,
                };
                let cfg = Arc::new(cfg);
                let j = if family == "words+sound" {
                    judge.as_mut()
                } else {
                    None
                };
                let (fcr, mean, missed) = score(&turns, &cfg, stt_delay_ms, j);
                let p = Point {
                    policy: format!("{family} {knobs}"),
                    group: group.into(),
                    turns: turns.len(),
                    false_cutoff_rate: fcr,
                    mean_latency_ms: mean,
                    missed,
                };
                if is_default && default_point.is_none() {
                    default_point = Some(p.clone());
                }
                fam_points.push(p);
            }
            summaries.push(summarise(family, group, &fam_points, default_point));
            points.extend(fam_points);
        }
    }
    // The model's cost spread over the caller's audio: one verdict per pause, ~35 ms each.
    let speech_s: f64 = set.iter().map(|t| t.end_ms as f64 / 1000.0).sum();
    let model_ms_per_frame = judge
        .as_ref()
        .map(|j| j.cpu.as_secs_f64() * 1000.0 / (speech_s * 50.0).max(1.0));
    EotReport {
        stt_delay_ms,
        model_ms_per_frame,
        model_ms: judge.as_ref().and_then(Judge::mean_ms),
        points,
        summaries,
    }
}

fn summarise(family: &str, group: &str, points: &[Point], default_point: Option<Point>) -> Summary {
    let best_fcr = |budget: f64| {
        points
            .iter()
            .filter(|p| p.mean_latency_ms <= budget)
            .map(|p| p.false_cutoff_rate)
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
    };
    let best_lat = |budget: f64| {
        points
            .iter()
            .filter(|p| p.false_cutoff_rate <= budget + 1e-9)
            .map(|p| p.mean_latency_ms)
            .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
    };
    Summary {
        policy: family.into(),
        group: group.into(),
        fcr_at_300ms: best_fcr(300.0),
        fcr_at_600ms: best_fcr(600.0),
        latency_at_5pct: best_lat(0.05),
        latency_at_10pct: best_lat(0.10),
        default_point,
    }
}

/// The audio turn model from the models directory, if installed.
pub fn installed_model() -> Option<haru_turn_model::SmartTurn> {
    let paths = haru_turn_model::SmartTurnPaths::in_dir(&set::models_dir());
    if !paths.exist() {
        return None;
    }
    // The replay asks for every verdict, back to back: no CPU budget here.
    match haru_turn_model::SmartTurn::load(&paths, 1) {
        Ok(m) => Some(m.with_cpu_share(f64::INFINITY)),
        Err(e) => {
            tracing::warn!(error = %e, "audio turn model not loaded");
            None
        }
    }
}

/// The whole benchmark: builds the set and sweeps every family.
pub fn run_eot(cache: &Path, stt_delay_ms: u64) -> Result<EotReport> {
    let set = build_set(cache, &HumanSources::default())?;
    let model = installed_model();
    Ok(run_sweep(
        &set,
        stt_delay_ms,
        model.as_ref().map(|m| m as &dyn TurnModel),
    ))
}
