//! `haru bench --eot`: end of turn measured the way LiveKit's eot-bench measures it.
//!
//! A labelled set of caller turns: each turn is spoken segments separated by mid-turn
//! pauses ("holds"), then the true end of turn. The audio goes frame by frame (8 kHz
//! µ-law, as a phone delivers it) through haru's real call core (`haru_session::core`:
//! the VAD, the speculation at the pause, the end-of-turn decision); at each pause the
//! transcriber returns, after `--stt-delay-ms`, the words spoken before it (an ideal STT:
//! what the policy could know). A policy that takes the floor during a hold made a
//! *false cut-off*; otherwise its *latency* is the silence after the true end before haru
//! played its first audio. Policies and their knobs are swept; the report gives, per
//! language, the false cut-off rate at 300 / 600 ms mean latency and the latency at 5 % /
//! 10 % false cut-offs, and the Pareto frontier as an SVG.
//!
//! The set is synthesised with espeak-ng (Korean and English; Korean holds after
//! connective endings and fillers, ending on final endings) from the scripts below, with
//! hold lengths drawn from a fixed seed: the same on every machine with the same
//! espeak-ng. Synthetic voices are not people; the numbers rank policies, they do not
//! promise the rates on real callers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use haru_session::core::CallCore;
use haru_session::{
    Action, EotConfig, EotPolicy, Input, Job, Output, PhraseCache, SessionConfig, WorkerEvent,
};
use serde::Serialize;

/// One turn's script: segments, each spoken, with a hold after every one but the last.
struct Script {
    lang: &'static str,
    segments: &'static [&'static str],
}

const KO: &[&[&str]] = &[
    &["아침에 일어나서", "공원에 산책을 갔어요"],
    &["어제 병원에 갔는데", "의사 선생님이 괜찮다고 하셨어요"],
    &["음", "오늘은 딸이 전화를 했어요"],
    &["점심을 먹고", "텔레비전을 봤어요"],
    &["그래서", "일찍 잤어요"],
    &["비가 오니까", "밖에 못 나갔어요"],
    &["친구랑", "시장에 가서", "과일을 샀어요"],
    &["날씨가 추워서", "집에 있었어요"],
    &["무릎이 좀 아파서", "어", "약을 먹었어요"],
    &["손주가 와서", "같이 놀았어요"],
    &["아침에는 밥을 먹었고요", "오후에는 잤어요"],
    &["그게", "잘 기억이 안 나요"],
    &["노래 교실에 갔는데", "그리고", "사람들이 많았어요"],
    &["요즘 잠을 잘 못 자요", "밤에 자꾸 깨요"],
    &["오늘 기분이 좋아요"],
    &["네"],
    &["동생이랑 통화하면서", "옛날 이야기를 했어요"],
    &["반찬을 만들려고", "장을 봤어요"],
    &["저녁에", "국수를 먹었어요"],
    &["산책을 하다가", "친구를 만났어요"],
];

const EN: &[&[&str]] = &[
    &["I went to the", "um", "the dentist this morning"],
    &["My daughter called", "and we talked for an hour"],
    &["I had lunch with", "my neighbor"],
    &["So", "I stayed home today"],
    &["It was raining", "so I didn't go out"],
    &["I watched the news", "and then I took a nap"],
    &["My knee hurts a little", "but it's okay"],
    &["I'm feeling fine today"],
    &["I went to the market.", "I bought some apples."],
    &["Well", "I don't remember"],
    &["No"],
    &["We played cards", "and I won"],
    &["I was thinking about", "my old friend"],
    &["The doctor said", "I should walk more"],
    &["After breakfast I", "uh", "read the paper"],
    &["My son is coming on Sunday.", "He will bring the kids."],
    &["I cooked some soup", "because it was cold"],
    &["Yes"],
    &["I called my sister and", "we made plans for Friday"],
    &["In the afternoon", "I went for a walk"],
];

fn scripts() -> Vec<Script> {
    let ko = KO.iter().map(|s| Script {
        lang: "ko",
        segments: s,
    });
    let en = EN.iter().map(|s| Script {
        lang: "en",
        segments: s,
    });
    ko.chain(en).collect()
}

/// A labelled turn: 8 kHz PCM (µ-law round trip), the holds and the true end.
pub struct Turn {
    pub lang: &'static str,
    pub pcm: Vec<i16>,
    /// (start ms, end ms, words spoken before it) of every mid-turn hold.
    pub holds: Vec<(u64, u64, String)>,
    /// Where the last speech ends (ms) and the whole transcript.
    pub end_ms: u64,
    pub text: String,
}

/// Hold lengths: 300..1500 ms from a fixed linear congruential sequence (reproducible).
fn hold_lengths(n: usize) -> Vec<u64> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            300 + (x >> 33) % 1200
        })
        .collect()
}

fn synth(text: &str, lang: &str, cache: &Path) -> Result<Vec<i16>> {
    let voice = if lang == "ko" { "ko" } else { "en-us" };
    let name = format!("{:016x}.wav", fnv(&format!("{voice}|{text}")));
    let path = cache.join(name);
    if !path.is_file() {
        let status = std::process::Command::new("espeak-ng")
            .args(["-v", voice, "-s", "150", "-w"])
            .arg(&path)
            .arg(text)
            .status()
            .context("espeak-ng is needed for the end-of-turn set (apt-get install espeak-ng)")?;
        if !status.success() {
            bail!("espeak-ng failed on {text:?}");
        }
    }
    let wav = haru_audio::decode_wav_mono(&std::fs::read(&path)?)?;
    let pcm = haru_audio::resample(&wav.samples, wav.rate, 8000)?;
    // The phone line: through µ-law and back.
    Ok(haru_audio::mulaw::decode(&haru_audio::mulaw::encode(
        &trim(&pcm),
    )))
}

/// espeak-ng pads its output with silence; the holds are ours to set.
fn trim(pcm: &[i16]) -> Vec<i16> {
    let loud = |s: &i16| s.unsigned_abs() > 300;
    let start = pcm.iter().position(loud).unwrap_or(0);
    let end = pcm
        .iter()
        .rposition(loud)
        .map(|e| e + 1)
        .unwrap_or(pcm.len());
    pcm[start..end.max(start)].to_vec()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

/// Builds (or reads from the cache) the labelled set.
pub fn build_set(cache: &Path) -> Result<Vec<Turn>> {
    std::fs::create_dir_all(cache)?;
    let scripts = scripts();
    let holds_needed: usize = scripts.iter().map(|s| s.segments.len() - 1).sum();
    let mut lengths = hold_lengths(holds_needed).into_iter();
    let mut turns = Vec::new();
    for s in scripts {
        let mut pcm = vec![0i16; 8 * 400];
        let mut holds = Vec::new();
        let mut said: Vec<&str> = Vec::new();
        for (i, seg) in s.segments.iter().enumerate() {
            pcm.extend(synth(seg, s.lang, cache)?);
            said.push(seg);
            if i + 1 < s.segments.len() {
                let len = lengths.next().unwrap_or(600);
                let start = pcm.len() as u64 / 8;
                holds.push((start, start + len, said.join(" ")));
                pcm.extend(std::iter::repeat_n(0i16, len as usize * 8));
            }
        }
        let end_ms = pcm.len() as u64 / 8;
        pcm.extend(std::iter::repeat_n(0i16, 8 * 4000));
        turns.push(Turn {
            lang: s.lang,
            pcm,
            holds,
            end_ms,
            text: said.join(" "),
        });
    }
    Ok(turns)
}

/// What one policy did on one turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Result1 {
    /// Took the floor during a hold.
    CutOff,
    /// Took the floor this long after the true end.
    Latency(u64),
    /// Never answered within 4 s.
    Missed,
}

/// Replays one turn through the call core; returns when haru first played audio.
pub fn replay(turn: &Turn, cfg: &Arc<SessionConfig>, stt_delay_ms: u64) -> Result1 {
    let t0 = Instant::now();
    let mut core = CallCore::new("CAeot", cfg.clone(), PhraseCache::default(), t0);
    core.start(t0);
    // (due ms, job id, words) of transcripts in flight.
    let mut pending: Vec<(u64, haru_session::ReplyId, String)> = Vec::new();
    for (i, frame) in turn.pcm.chunks(160).enumerate() {
        let at_ms = (i as u64 + 1) * 20;
        let now = t0 + Duration::from_millis(at_ms);
        core.handle_input(Input::Audio(frame.to_vec()), now);
        let mut due: Vec<_> = Vec::new();
        pending.retain(|p| {
            if p.0 <= at_ms {
                due.push(p.clone());
                false
            } else {
                true
            }
        });
        for (_, id, words) in due {
            core.handle_worker(
                id,
                WorkerEvent::Transcript {
                    text: words,
                    stt_ms: stt_delay_ms as i64,
                },
                now,
            );
            core.handle_worker(
                id,
                WorkerEvent::SentenceBegin {
                    text: "네.".into()
                },
                now,
            );
            core.handle_worker(id, WorkerEvent::Audio(vec![0xFF; 1600]), now);
            core.handle_worker(id, WorkerEvent::SentenceEnd, now);
            core.handle_worker(
                id,
                WorkerEvent::Finished {
                    llm_total_ms: Some(1),
                },
                now,
            );
        }
        if core.poll_timeout(now).is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
        while let Some(a) = core.poll_action() {
            match a {
                Action::Start {
                    id,
                    job: Job::Answer { .. },
                } => {
                    // An ideal transcriber: the words spoken before this moment, with
                    // the full stop Whisper puts on finished and unfinished clauses alike.
                    let mut words = words_before(turn, at_ms);
                    if !words.is_empty() && !words.ends_with(['.', '?', '!']) {
                        words.push('.');
                    }
                    pending.push((at_ms + stt_delay_ms, id, words));
                }
                Action::Send(Output::Audio(_)) => {
                    return if at_ms < turn.end_ms {
                        Result1::CutOff
                    } else {
                        // The first frame plays when it is sent; the frame clock is 20 ms.
                        Result1::Latency(at_ms - turn.end_ms)
                    };
                }
                _ => {}
            }
        }
    }
    Result1::Missed
}

fn words_before(turn: &Turn, at_ms: u64) -> String {
    if at_ms >= turn.end_ms {
        return turn.text.clone();
    }
    turn.holds
        .iter()
        .rev()
        .find(|(start, _, _)| *start <= at_ms)
        .map(|(_, _, w)| w.clone())
        .unwrap_or_default()
}

/// One point of a sweep: a policy with its knobs, scored on one language.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub policy: String,
    pub lang: String,
    pub turns: usize,
    pub false_cutoff_rate: f64,
    pub mean_latency_ms: f64,
    pub missed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub policy: String,
    pub lang: String,
    /// Lowest false cut-off rate with mean latency ≤ 300 / 600 ms (None: no such point).
    pub fcr_at_300ms: Option<f64>,
    pub fcr_at_600ms: Option<f64>,
    /// Lowest mean latency with ≤ 5 % / 10 % false cut-offs.
    pub latency_at_5pct: Option<f64>,
    pub latency_at_10pct: Option<f64>,
    /// The default configuration's point.
    pub default_point: Option<Point>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EotReport {
    pub stt_delay_ms: u64,
    pub points: Vec<Point>,
    pub summaries: Vec<Summary>,
}

fn score(turns: &[&Turn], cfg: &Arc<SessionConfig>, stt_delay_ms: u64) -> (f64, f64, usize) {
    let (mut cut, mut lat, mut n_lat, mut missed) = (0usize, 0u64, 0usize, 0usize);
    for t in turns {
        match replay(t, cfg, stt_delay_ms) {
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

/// The configurations swept: silence alone over its one knob; the adaptive policy over
/// its finished / unfinished waits.
fn configs() -> Vec<(String, String, SessionConfig)> {
    let mut out = Vec::new();
    for silence in (300..=2000).step_by(100) {
        let mut c = SessionConfig::default();
        c.greeting.clear();
        c.eot.policy = EotPolicy::Silence;
        c.turn.end_silence_ms = silence;
        out.push(("silence".into(), format!("end_silence={silence}"), c));
    }
    for complete in [300, 400, 500, 600, 700, 900, 1200, 1500] {
        for incomplete in [1000, 1300, 1600, 2000] {
            for neutral in [600, 800, 1000] {
                let mut c = SessionConfig::default();
                c.greeting.clear();
                c.eot = EotConfig {
                    policy: EotPolicy::Adaptive,
                    complete_ms: complete,
                    neutral_ms: neutral,
                    incomplete_ms: incomplete,
                    ..EotConfig::default()
                };
                out.push((
                    "adaptive".into(),
                    format!("complete={complete},neutral={neutral},incomplete={incomplete}"),
                    c,
                ));
            }
        }
    }
    out
}

pub fn run_eot(cache: &Path, stt_delay_ms: u64) -> Result<EotReport> {
    let set = build_set(cache)?;
    let mut points = Vec::new();
    let mut summaries = Vec::new();
    let defaults = SessionConfig::default();
    for lang in ["ko", "en"] {
        let turns: Vec<&Turn> = set.iter().filter(|t| t.lang == lang).collect();
        for family in ["silence", "adaptive"] {
            let mut fam_points = Vec::new();
            let mut default_point = None;
            for (f, knobs, cfg) in configs().into_iter().filter(|c| c.0 == family) {
                let is_default = match family {
                    "silence" => cfg.turn.end_silence_ms == defaults.turn.end_silence_ms,
                    _ => cfg.eot == defaults.eot,
                };
                let cfg = Arc::new(cfg);
                let (fcr, mean, missed) = score(&turns, &cfg, stt_delay_ms);
                let p = Point {
                    policy: format!("{f} {knobs}"),
                    lang: lang.into(),
                    turns: turns.len(),
                    false_cutoff_rate: fcr,
                    mean_latency_ms: mean,
                    missed,
                };
                if is_default {
                    default_point = Some(p.clone());
                }
                fam_points.push(p);
            }
            let best_fcr = |budget: f64| {
                fam_points
                    .iter()
                    .filter(|p| p.mean_latency_ms <= budget)
                    .map(|p| p.false_cutoff_rate)
                    .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
            };
            let best_lat = |budget: f64| {
                fam_points
                    .iter()
                    .filter(|p| p.false_cutoff_rate <= budget + 1e-9)
                    .map(|p| p.mean_latency_ms)
                    .fold(None, |a: Option<f64>, b| Some(a.map_or(b, |a| a.min(b))))
            };
            summaries.push(Summary {
                policy: family.into(),
                lang: lang.into(),
                fcr_at_300ms: best_fcr(300.0),
                fcr_at_600ms: best_fcr(600.0),
                latency_at_5pct: best_lat(0.05),
                latency_at_10pct: best_lat(0.10),
                default_point,
            });
            points.extend(fam_points);
        }
    }
    Ok(EotReport {
        stt_delay_ms,
        points,
        summaries,
    })
}

impl EotReport {
    pub fn table(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1} %", v * 100.0));
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} ms"));
        let mut s = format!(
            "end of turn, ideal STT after {} ms\n\
             | lang | policy | FCR @300 ms | FCR @600 ms | latency @5 % | latency @10 % | default: FCR / latency |\n\
             |---|---|---:|---:|---:|---:|---:|\n",
            self.stt_delay_ms
        );
        for x in &self.summaries {
            let d = x.default_point.as_ref().map_or("-".to_string(), |p| {
                format!(
                    "{:.1} % / {:.0} ms",
                    p.false_cutoff_rate * 100.0,
                    p.mean_latency_ms
                )
            });
            s += &format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                x.lang,
                x.policy,
                pct(x.fcr_at_300ms),
                pct(x.fcr_at_600ms),
                ms(x.latency_at_5pct),
                ms(x.latency_at_10pct),
                d
            );
        }
        s
    }

    /// False cut-off rate against mean latency, every point, one colour per policy and
    /// language.
    pub fn svg(&self) -> String {
        let (w, h, m) = (640.0, 420.0, 50.0);
        let max_lat = 2500.0;
        let x = |lat: f64| m + (lat.min(max_lat) / max_lat) * (w - 2.0 * m);
        let y = |fcr: f64| h - m - fcr.min(1.0) * (h - 2.0 * m);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
             <text x=\"{m}\" y=\"20\" font-size=\"14\">haru end of turn: false cut-offs vs latency</text>\
             <line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\
             <line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>\
             <text x=\"{}\" y=\"{}\">mean latency after the true end (ms)</text>\
             <text x=\"8\" y=\"{m}\">FCR</text>",
            h - m,
            w - m,
            h - m,
            h - m,
            w / 2.0 - 80.0,
            h - 15.0
        );
        for t in [0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0] {
            s += &format!(
                "<text x=\"{}\" y=\"{}\">{t}</text>",
                x(t) - 10.0,
                h - m + 14.0
            );
        }
        for f in [0.0, 0.25, 0.5, 0.75, 1.0] {
            s += &format!(
                "<text x=\"20\" y=\"{}\">{:.0}%</text>",
                y(f) + 4.0,
                f * 100.0
            );
        }
        let colour = |p: &Point| match (p.policy.starts_with("silence"), p.lang.as_str()) {
            (true, "ko") => "#d62728",
            (true, _) => "#ff9896",
            (false, "ko") => "#1f77b4",
            (false, _) => "#aec7e8",
        };
        for p in self.points.iter().filter(|p| p.mean_latency_ms.is_finite()) {
            s += &format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"><title>{} {}: {:.1} % at {:.0} ms</title></circle>",
                x(p.mean_latency_ms),
                y(p.false_cutoff_rate),
                colour(p),
                p.lang,
                p.policy,
                p.false_cutoff_rate * 100.0,
                p.mean_latency_ms
            );
        }
        for (i, (label, c)) in [
            ("silence, ko", "#d62728"),
            ("silence, en", "#ff9896"),
            ("adaptive, ko", "#1f77b4"),
            ("adaptive, en", "#aec7e8"),
        ]
        .iter()
        .enumerate()
        {
            let yy = m + 10.0 + i as f64 * 16.0;
            s += &format!(
                "<circle cx=\"{}\" cy=\"{yy}\" r=\"4\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{label}</text>",
                w - 150.0,
                w - 140.0,
                yy + 4.0
            );
        }
        s + "</svg>"
    }
}

/// Where the synthesised set is cached between runs.
pub fn default_cache() -> PathBuf {
    std::env::var_os("HARU_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/haru")))
        .unwrap_or_else(|| PathBuf::from(".cache/haru"))
        .join("eot-set")
}
