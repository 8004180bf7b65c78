//! One benchmark run: fake providers + server + N ramped concurrent simulated calls.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, ReplyRule, SttRule};
use haru_sim::{SimConfig, SimReport, Turn, run_call};
use tokio_util::sync::CancellationToken;

use crate::procstat::{self, Sample};
use crate::report::{BenchReport, Breakdown, ErrorCount, Percentiles, ServerUsage};
use crate::server::Server;

/// The transcript every STT request returns (matches fixtures/en-walk.wav).
const TRANSCRIPT: &str = "Hello, I went for a walk in the park today.";
/// A short reply whose first LLM token ("Nice. ") is already a whole sentence, so the
/// server's residual time is haru's own work, not a wait for the sentence to finish, and
/// calls stay short (~1 s of bot audio per turn).
const REPLY: &str = "Nice. Tell me more.";

/// HARU_PAUSE_MS given to the servers we start (haru's default). With speculation the
/// reply pipeline starts this long after the VAD's end of speech, so it is part of the
/// server's first_audio time but not haru's own work.
pub fn pause_ms() -> i64 {
    haru_turn::TurnConfig::default().pause_ms as i64
}

/// Fake provider timings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delays {
    pub stt_ms: u64,
    pub llm_first_token_ms: u64,
    pub llm_tokens_per_sec: f64,
    pub tts_first_byte_ms: u64,
}

impl Default for Delays {
    fn default() -> Self {
        Self {
            stt_ms: 150,
            llm_first_token_ms: 200,
            llm_tokens_per_sec: 50.0,
            tts_first_byte_ms: 150,
        }
    }
}

impl Delays {
    /// The provider chain a reply cannot beat: STT, then LLM first token, then TTS.
    pub fn chain_ms(&self) -> u64 {
        self.stt_ms + self.llm_first_token_ms + self.tts_first_byte_ms
    }
}

/// Which haru to benchmark.
#[derive(Debug, Clone)]
pub enum ServerMode {
    /// Start `haru_bin serve`, pinned to `pin_core` if given.
    Child {
        haru_bin: PathBuf,
        pin_core: Option<usize>,
    },
    /// Serve haru's app from this process (no binary needed; CPU/RSS include the bench).
    InProcess,
    /// An already running server; it must use providers we do not control, so the
    /// configured delays only describe what it was set up with.
    Url(String),
}

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub calls: usize,
    pub turns: usize,
    /// Time over which call starts are spread evenly; `None`: 5 ms per call.
    pub ramp_ms: Option<u64>,
    pub delays: Delays,
    pub server: ServerMode,
    /// What the caller says each turn.
    pub caller_wav: PathBuf,
    /// Live progress line on stderr.
    pub progress: bool,
}

impl BenchOptions {
    pub fn ramp(&self) -> Duration {
        Duration::from_millis(self.ramp_ms.unwrap_or(5 * self.calls as u64))
    }
}

/// What one call task returns.
struct CallOutcome {
    result: Result<SimReport>,
}

#[derive(Default)]
struct Counters {
    started: AtomicUsize,
    active: AtomicUsize,
    peak: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
}

/// Runs the benchmark and returns what it measured. Errors only for setup problems
/// (bad options, server unreachable or not starting); failing calls are counted.
pub async fn run_bench(opts: &BenchOptions) -> Result<BenchReport> {
    if opts.calls == 0 || opts.turns == 0 {
        bail!("--calls and --turns must be at least 1");
    }
    let mut notes = Vec::new();
    let nofile = procstat::raise_nofile().unwrap_or(0);
    // Caller socket + server socket + provider connections per call, roughly.
    if nofile > 0 && (nofile as usize) < opts.calls * 6 + 64 {
        notes.push(format!(
            "open-file limit {nofile} may be too low for {} calls (raise `ulimit -n`)",
            opts.calls
        ));
    }
    let turn = Turn::from_wav_file(&opts.caller_wav)?;

    let d = opts.delays;
    let fake = FakeOpenAi::start(FakeOpenAiConfig {
        stt_delay: Duration::from_millis(d.stt_ms),
        llm_first_token_delay: Duration::from_millis(d.llm_first_token_ms),
        llm_tokens_per_sec: d.llm_tokens_per_sec,
        tts_first_byte_delay: Duration::from_millis(d.tts_first_byte_ms),
        stt: SttRule::Fixed(TRANSCRIPT.into()),
        reply: ReplyRule::Fixed(REPLY.into()),
        // Thousands of recorded requests would only inflate the bench's own memory.
        max_recorded_requests: 0,
        ..FakeOpenAiConfig::default()
    })
    .await
    .context("cannot start the fake providers")?;

    let server = match &opts.server {
        ServerMode::Child { haru_bin, pin_core } => {
            Server::child(haru_bin, &fake.base_url(), *pin_core).await
        }
        ServerMode::InProcess => Server::in_process(&fake.base_url()).await,
        ServerMode::Url(u) => Server::external(u).await,
    };
    let mut server = match server {
        Ok(s) => s,
        Err(e) => {
            fake.shutdown().await;
            return Err(e);
        }
    };
    if matches!(opts.server, ServerMode::Url(_)) {
        notes.push(
            "--url: the server uses its own providers; the fake delays above do not apply to it, \
             and no CPU/RSS or per-stage breakdown is available"
                .into(),
        );
    }
    let result = drive(opts, &server, turn, &mut notes).await;
    server.shutdown().await;
    fake.shutdown().await;
    let (outcomes, usage, bench, wall, peak) = result?;
    let breakdown = match &server.db_url {
        Some(db) => match breakdown(db, &outcomes).await {
            Ok(b) => Some(b),
            Err(e) => {
                notes.push(format!("no per-stage breakdown: {e:#}"));
                None
            }
        },
        None => None,
    };
    if let Some(db) = server.db_path() {
        // Thousands of calls' rows per run; the numbers that matter are in the report.
        for ext in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", db.display()));
        }
    }
    if let Some(log) = server.log_path() {
        notes.push(format!("server log: {}", log.display()));
    }
    notes.push(
        "outbound pacing jitter is not reported: haru_sim exposes no per-frame arrival times; \
         playout underruns measure the pacing that matters to a caller"
            .into(),
    );
    let mut report = summarise(opts, &server, outcomes, usage, wall, breakdown, notes);
    report.peak_concurrent_calls = peak;
    report.bench = bench;
    Ok(report)
}

/// Call outcomes, server usage, wall time, peak concurrent calls.
type Driven = (
    Vec<CallOutcome>,
    Option<ServerUsage>,
    Option<ServerUsage>,
    Duration,
    usize,
);

/// Places the calls while sampling the server process.
async fn drive(
    opts: &BenchOptions,
    server: &Server,
    turn: Turn,
    notes: &mut Vec<String>,
) -> Result<Driven> {
    let counters = Arc::new(Counters::default());
    let stop = CancellationToken::new();
    // Let startup work (migrations, allocator warm-up) settle before the baseline.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sampler = server.pid.map(|pid| {
        let stop = stop.clone();
        tokio::spawn(sample_loop(pid, stop))
    });
    let me = std::process::id();
    let self_sampler = (server.pid != Some(me)).then(|| {
        let stop = stop.clone();
        tokio::spawn(sample_loop(me, stop))
    });
    let progress = opts.progress.then(|| {
        let c = counters.clone();
        let stop = stop.clone();
        let total = opts.calls;
        tokio::spawn(progress_loop(c, total, stop))
    });

    let started = Instant::now();
    let ramp = opts.ramp();
    let turns = vec![turn; opts.turns];
    // Generous: a healthy call lasts (speech + reply + settle) per turn, ~6 s.
    let call_timeout = Duration::from_secs(30 + 25 * opts.turns as u64);
    let mut tasks = Vec::with_capacity(opts.calls);
    for i in 0..opts.calls {
        let offset = ramp.mul_f64(i as f64 / opts.calls as f64);
        let cfg = SimConfig {
            server: server.url.clone(),
            turns: turns.clone(),
            speed: 1.0,
            lead_in: Duration::from_millis(300),
            // No greeting is configured: start talking after the lead-in.
            greeting_wait: Duration::ZERO,
            reply_settle: Duration::from_millis(800),
            gap: Duration::from_millis(400),
            turn_timeout: Duration::from_secs(10),
            ..SimConfig::default()
        };
        let c = counters.clone();
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until((started + offset).into()).await;
            c.started.fetch_add(1, Ordering::Relaxed);
            let now = c.active.fetch_add(1, Ordering::Relaxed) + 1;
            c.peak.fetch_max(now, Ordering::Relaxed);
            let result = match tokio::time::timeout(call_timeout, run_call(cfg, None)).await {
                Ok(r) => r,
                Err(_) => Err(anyhow::anyhow!(
                    "call did not finish within {call_timeout:?}"
                )),
            };
            c.active.fetch_sub(1, Ordering::Relaxed);
            let ok = result.as_ref().is_ok_and(call_complete);
            if ok {
                c.done.fetch_add(1, Ordering::Relaxed);
            } else {
                c.failed.fetch_add(1, Ordering::Relaxed);
            }
            CallOutcome { result }
        }));
    }
    let mut outcomes = Vec::with_capacity(tasks.len());
    for t in tasks {
        outcomes.push(match t.await {
            Ok(o) => o,
            Err(e) => CallOutcome {
                result: Err(anyhow::anyhow!("call task failed: {e}")),
            },
        });
    }
    let wall = started.elapsed();
    stop.cancel();
    if let Some(p) = progress {
        let _ = p.await;
    }
    let server_usage = match sampler {
        Some(s) => match s.await {
            Ok(Ok(samples)) => usage(
                server.pid.unwrap_or(0),
                server.includes_bench,
                &samples,
                counters.peak.load(Ordering::Relaxed),
                opts.calls,
            ),
            Ok(Err(e)) => {
                notes.push(format!("no CPU/RSS figures: {e:#}"));
                None
            }
            Err(e) => {
                notes.push(format!("no CPU/RSS figures: sampler failed: {e}"));
                None
            }
        },
        None => None,
    };
    let peak = counters.peak.load(Ordering::Relaxed);
    let bench = match self_sampler {
        Some(s) => match s.await {
            Ok(Ok(samples)) => usage(me, true, &samples, peak, opts.calls),
            _ => None,
        },
        None => None,
    };
    Ok((outcomes, server_usage, bench, wall, peak))
}

/// Every turn got a reply that started and finished within the turn timeout.
fn call_complete(r: &SimReport) -> bool {
    r.turns
        .iter()
        .all(|t| t.reply.latency_ms.is_some() && !t.reply.timed_out)
}

/// Samples `/proc/PID` every 250 ms until `stop`; the first sample is the baseline.
async fn sample_loop(pid: u32, stop: CancellationToken) -> Result<Vec<Sample>> {
    let mut samples = vec![procstat::sample(pid)?];
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => samples.push(procstat::sample(pid)?),
            _ = stop.cancelled() => {
                samples.push(procstat::sample(pid)?);
                return Ok(samples);
            }
        }
    }
}

fn usage(
    pid: u32,
    includes_bench: bool,
    s: &[Sample],
    peak_calls: usize,
    calls: usize,
) -> Option<ServerUsage> {
    let (first, last) = (s.first()?, s.last()?);
    let tck = procstat::clk_tck() as f64;
    let cpu_ms = (last.cpu_ticks.saturating_sub(first.cpu_ticks)) as f64 * 1000.0 / tck;
    let wall_ms = last.at.duration_since(first.at).as_secs_f64() * 1000.0;
    // Peak over ~1 s windows (4 sampling intervals): single 250 ms windows are too coarse
    // for 10 ms clock ticks.
    let mut peak_pct: f64 = 0.0;
    for w in s.windows(5) {
        let ms = w[4].at.duration_since(w[0].at).as_secs_f64() * 1000.0;
        // A stalled sampler can take samples back to back; a short window over 10 ms
        // ticks would report nonsense like 7000 %.
        if ms >= 900.0 {
            let cpu = (w[4].cpu_ticks.saturating_sub(w[0].cpu_ticks)) as f64 * 1000.0 / tck;
            peak_pct = peak_pct.max(cpu / ms * 100.0);
        }
    }
    let avg_pct = if wall_ms > 0.0 {
        cpu_ms / wall_ms * 100.0
    } else {
        0.0
    };
    let peak_rss = s.iter().map(|x| x.rss_kb).max().unwrap_or(0);
    Some(ServerUsage {
        pid,
        includes_bench,
        baseline_rss_kb: first.rss_kb,
        peak_rss_kb: peak_rss,
        rss_per_call_kb: peak_rss.saturating_sub(first.rss_kb) as f64 / peak_calls.max(1) as f64,
        cpu_ms,
        cpu_ms_per_call: cpu_ms / calls.max(1) as f64,
        cpu_percent_avg: avg_pct,
        cpu_percent_peak: peak_pct.max(avg_pct),
    })
}

/// One stderr line, rewritten in place on a terminal, every second otherwise.
async fn progress_loop(c: Arc<Counters>, total: usize, stop: CancellationToken) {
    let tty = std::io::stderr().is_terminal();
    let every = Duration::from_millis(if tty { 250 } else { 2000 });
    let t0 = Instant::now();
    loop {
        let line = format!(
            "[{:>5.1}s] calls started {}/{total}  active {}  completed {}  failed {}",
            t0.elapsed().as_secs_f64(),
            c.started.load(Ordering::Relaxed),
            c.active.load(Ordering::Relaxed),
            c.done.load(Ordering::Relaxed),
            c.failed.load(Ordering::Relaxed),
        );
        {
            let mut err = std::io::stderr().lock();
            let _ = if tty {
                write!(err, "\r{line}\x1b[K")
            } else {
                writeln!(err, "{line}")
            };
            let _ = err.flush();
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => {
                if tty {
                    eprintln!();
                }
                return;
            }
        }
    }
}

/// Joins the caller's latencies with the server's own per-turn timings from its store.
async fn breakdown(db_url: &str, outcomes: &[CallOutcome]) -> Result<Breakdown> {
    let store = haru_store::open(db_url)
        .await
        .with_context(|| format!("cannot open {}", haru_store::redact_url(db_url)))?;
    let (mut stt, mut llm, mut tts, mut first, mut resid, mut decision) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for r in outcomes.iter().filter_map(|o| o.result.as_ref().ok()) {
        let timings = store.turns(&r.call_sid).await?;
        for t in timings.iter().filter(|t| !t.barge_in) {
            let Some(fa) = t.first_audio_ms else { continue };
            first.push(fa as f64);
            if let (Some(s), Some(l), Some(x)) =
                (t.stt_ms, t.llm_first_token_ms, t.tts_first_byte_ms)
            {
                stt.push(s as f64);
                llm.push(l as f64);
                tts.push(x as f64);
                resid.push((fa - pause_ms() - s - l - x) as f64);
            }
            // Store turn k (1-based, no greeting) answers caller turn k.
            let caller = usize::try_from(t.turn_index)
                .ok()
                .and_then(|k| k.checked_sub(1))
                .and_then(|k| r.turns.get(k))
                .and_then(|ct| ct.reply.latency_ms);
            if let Some(c) = caller {
                decision.push(c as f64 - fa as f64);
            }
        }
    }
    Ok(Breakdown {
        turns: first.len(),
        stt_ms: Percentiles::of(&stt),
        llm_first_token_ms: Percentiles::of(&llm),
        tts_first_byte_ms: Percentiles::of(&tts),
        first_audio_ms: Percentiles::of(&first),
        residual_ms: Percentiles::of(&resid),
        vad_lag_ms: Percentiles::of(&decision),
    })
}

fn summarise(
    opts: &BenchOptions,
    server: &Server,
    outcomes: Vec<CallOutcome>,
    usage: Option<ServerUsage>,
    wall: Duration,
    breakdown: Option<Breakdown>,
    notes: Vec<String>,
) -> BenchReport {
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    let (mut completed, mut answered, mut timed_out) = (0, 0, 0);
    let (mut underrun, mut with_underrun, mut clears, mut malformed) = (0, 0, 0u64, 0u64);
    let mut latencies = Vec::new();
    for o in &outcomes {
        match &o.result {
            Ok(r) => {
                if call_complete(r) {
                    completed += 1;
                } else {
                    *errors
                        .entry("a reply never started or did not finish in time".into())
                        .or_default() += 1;
                }
                for t in &r.turns {
                    if let Some(l) = t.reply.latency_ms {
                        answered += 1;
                        latencies.push(l);
                    }
                    if t.reply.timed_out {
                        timed_out += 1;
                    }
                }
                underrun += r.underrun_ms;
                with_underrun += usize::from(r.underrun_ms > 0);
                clears += u64::from(r.clears_total);
                malformed += u64::from(r.malformed_messages);
            }
            Err(e) => {
                // Keep the chain (it names the cause) but not unbounded text.
                let msg: String = format!("{e:#}").chars().take(200).collect();
                *errors.entry(msg).or_default() += 1;
            }
        }
    }
    let lat_f: Vec<f64> = latencies.iter().map(|&l| l as f64).collect();
    let d = opts.delays;
    let mut errors: Vec<ErrorCount> = errors
        .into_iter()
        .map(|(error, count)| ErrorCount { error, count })
        .collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.count));
    BenchReport {
        server_url: server.url.clone(),
        server_mode: server.mode.into(),
        calls: opts.calls,
        turns_per_call: opts.turns,
        ramp_ms: opts.ramp().as_millis() as u64,
        stt_delay_ms: d.stt_ms,
        llm_first_token_ms: d.llm_first_token_ms,
        llm_tokens_per_sec: d.llm_tokens_per_sec,
        tts_first_byte_ms: d.tts_first_byte_ms,
        caller_wav: opts.caller_wav.display().to_string(),
        calls_completed: completed,
        calls_failed: opts.calls - completed,
        peak_concurrent_calls: 0,
        turns_answered: answered,
        turns_timed_out: timed_out,
        latency_ms: Percentiles::of(&lat_f),
        latencies_ms: latencies,
        underrun_ms_total: underrun,
        calls_with_underruns: with_underrun,
        clears_total: clears,
        malformed_messages: malformed,
        errors,
        server: usage,
        bench: None,
        breakdown,
        wall_ms: wall.as_millis() as u64,
        notes,
    }
}
