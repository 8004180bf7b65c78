//! `haru bench` command line.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::frame::measure_frame_path;
use crate::run::{BenchOptions, Delays, ServerMode, run_bench};
use crate::svg::latency_svg;
use crate::sweep::{STEPS, SweepOptions, run_sweep};

/// Load benchmark: concurrent simulated calls against haru with fake providers.
#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Concurrent calls.
    #[arg(long, default_value_t = 10)]
    pub calls: usize,
    /// Caller turns per call.
    #[arg(long, default_value_t = 2)]
    pub turns: usize,
    /// Spread call starts over this many ms [default: 5 ms per call].
    #[arg(long)]
    pub ramp_ms: Option<u64>,
    /// Benchmark an already running haru at this base URL instead of starting one.
    #[arg(long, conflicts_with = "in_process")]
    pub url: Option<String>,
    /// Serve haru from the bench process itself (no haru binary needed; CPU and RSS then
    /// include the callers and fake providers).
    #[arg(long)]
    pub in_process: bool,
    /// haru binary to start as `haru serve` [default: this executable, or `haru` next to it].
    #[arg(long)]
    pub haru_bin: Option<PathBuf>,
    /// Fake STT delay.
    #[arg(long, default_value_t = 150)]
    pub stt_delay_ms: u64,
    /// Fake LLM time to first token.
    #[arg(long, default_value_t = 200)]
    pub llm_first_token_ms: u64,
    /// Fake LLM tokens per second after the first.
    #[arg(long, default_value_t = 50.0)]
    pub llm_tokens_per_sec: f64,
    /// Fake TTS time to first audio byte.
    #[arg(long, default_value_t = 150)]
    pub tts_first_byte_ms: u64,
    /// What the caller says each turn [default: fixtures/en-walk.wav].
    #[arg(long)]
    pub wav: Option<PathBuf>,
    /// Raise N (10, 25, 50, ... 3000) until a step fails; server pinned to core 0, callers to core 1.
    #[arg(long)]
    pub sweep: bool,
    /// Sweep steps instead of the default ladder, e.g. --steps 200,400,800.
    #[arg(long, value_delimiter = ',')]
    pub steps: Option<Vec<usize>>,
    /// With --sweep: run every step even after one failed.
    #[arg(long)]
    pub keep_going: bool,
    /// Largest N the sweep tries.
    #[arg(long, default_value_t = 3000)]
    pub max_calls: usize,
    /// With --sweep: do not pin to cores.
    #[arg(long)]
    pub no_pin: bool,
    /// Time the per-frame audio path (µ-law decode + turn detector) on the fixtures instead.
    #[arg(long)]
    pub frame_path: bool,
    /// End of turn instead (eot-bench style): false cut-offs vs latency of the end-of-turn
    /// policies on a labelled set of Korean and English turns with mid-turn pauses.
    #[arg(long)]
    pub eot: bool,
    /// With --eot: how long the (ideal) transcriber takes at each pause.
    #[arg(long, default_value_t = 200)]
    pub eot_stt_delay_ms: u64,
    /// The database cost of a call's turns instead: N turns of writes (2 messages and a
    /// turn timing each) on `HARU_BENCH_DATABASE_URL`, else a fresh SQLite file.
    #[arg(long, value_name = "TURNS")]
    pub store_writes: Option<usize>,
    /// The dashboard's page times instead, with this many calls stored (run by the `haru`
    /// binary, which serves the dashboard).
    #[arg(long, value_name = "CALLS")]
    pub dashboard: Option<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Write a latency histogram + CDF here.
    #[arg(long)]
    pub svg: Option<PathBuf>,
}

/// Runs `haru bench` with the parsed arguments.
pub async fn run(args: BenchArgs) -> Result<()> {
    let fixtures = fixtures_dir();
    if let Some(turns) = args.store_writes {
        let r = crate::store_writes::run(turns.max(1)).await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            println!("{}", r.table());
        }
        return Ok(());
    }
    if args.eot {
        let delay = args.eot_stt_delay_ms;
        let r = tokio::task::spawn_blocking(move || {
            crate::eot::run_eot(&crate::eot::default_cache(), delay)
        })
        .await??;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            println!("{}", r.table());
        }
        if let Some(path) = &args.svg {
            write_svg(path, &r.svg())?;
        }
        return Ok(());
    }
    if args.frame_path {
        let dir = fixtures.context("cannot find the fixtures directory (run from the repo)")?;
        let wavs = vec![dir.join("en-walk.wav"), dir.join("ko-weather.wav")];
        let r = tokio::task::spawn_blocking(move || measure_frame_path(&wavs, 50)).await??;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            println!("{}", r.table());
        }
        return Ok(());
    }
    let caller_wav = match &args.wav {
        Some(w) => w.clone(),
        None => fixtures
            .map(|d| d.join("en-walk.wav"))
            .context("cannot find fixtures/en-walk.wav; pass --wav")?,
    };
    let server = if let Some(u) = &args.url {
        ServerMode::Url(u.clone())
    } else if args.in_process {
        ServerMode::InProcess
    } else {
        ServerMode::Child {
            haru_bin: haru_bin(args.haru_bin.as_deref())?,
            pin_core: None,
        }
    };
    let opts = BenchOptions {
        calls: args.calls,
        turns: args.turns,
        ramp_ms: args.ramp_ms,
        delays: Delays {
            stt_ms: args.stt_delay_ms,
            llm_first_token_ms: args.llm_first_token_ms,
            llm_tokens_per_sec: args.llm_tokens_per_sec,
            tts_first_byte_ms: args.tts_first_byte_ms,
        },
        server,
        caller_wav,
        progress: true,
    };
    if args.sweep {
        let r = run_sweep(&SweepOptions {
            base: opts,
            steps: args
                .steps
                .clone()
                .unwrap_or_else(|| STEPS.to_vec())
                .into_iter()
                .filter(|&n| n <= args.max_calls)
                .collect(),
            keep_going: args.keep_going,
            baseline_turns: 5,
            pin: !args.no_pin,
        })
        .await?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
        } else {
            println!("{}", r.single_call.table());
            println!("{}", r.table());
        }
        if let Some(path) = &args.svg {
            // The most loaded step that passed is the interesting distribution.
            let best = r
                .steps
                .iter()
                .rev()
                .find(|s| s.passed)
                .map(|s| &s.report)
                .unwrap_or(&r.single_call);
            let title = format!("haru: {} concurrent calls", best.calls);
            write_svg(path, &latency_svg(&title, &best.latencies_ms))?;
        }
        return Ok(());
    }
    let r = run_bench(&opts).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{}", r.table());
    }
    if let Some(path) = &args.svg {
        let title = format!(
            "haru: {} concurrent calls x {} turns",
            r.calls, r.turns_per_call
        );
        write_svg(path, &latency_svg(&title, &r.latencies_ms))?;
    }
    Ok(())
}

fn write_svg(path: &Path, svg: &str) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))
}

/// The haru binary: the override, this executable when it is haru itself, or a `haru`
/// next to this executable (the standalone `haru-bench` and test binaries).
fn haru_bin(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let exe = std::env::current_exe().context("cannot locate the running executable")?;
    if exe.file_stem().is_some_and(|s| s == "haru") {
        return Ok(exe);
    }
    let dir = exe.parent().context("executable has no directory")?;
    for cand in [dir.join("haru"), dir.join("../haru")] {
        if cand.is_file() {
            return Ok(cand);
        }
    }
    bail!(
        "no haru binary next to {}; build it (cargo build --release -p haru), pass --haru-bin, or use --in-process",
        exe.display()
    )
}

/// `fixtures/` in the current directory or an ancestor, else the source tree's.
pub fn fixtures_dir() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let from_cwd = cwd
        .iter()
        .flat_map(|c| c.ancestors())
        .map(|a| a.join("fixtures"))
        .find(|f| f.join("en-walk.wav").is_file());
    from_cwd.or_else(|| {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
        src.join("en-walk.wav").is_file().then_some(src)
    })
}
