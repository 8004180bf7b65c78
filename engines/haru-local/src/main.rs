//! haru-local: OpenAI-compatible speech-to-text, chat and text-to-speech on
//! loopback, with real local engines (whisper.cpp, llama.cpp, espeak-ng).
//!
//! Prints `LISTENING <addr>` on stdout once every engine is ready.

mod audio;
mod cpu_gate;
mod error;
mod g2p_ko;
mod g711;
mod kokoro;
mod llm;
mod models;
mod routes;
mod script_guard;
mod stt_client;
mod tts;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Local OpenAI-compatible STT/LLM/TTS server for haru")]
struct Args {
    /// Directory holding the models (installed by scripts/install-engines.sh).
    #[arg(long, env = "HARU_MODELS_DIR", default_value = "models")]
    models_dir: PathBuf,
    /// Listen address; port 0 picks a free port (reported on stdout).
    #[arg(long, env = "HARU_LOCAL_BIND", default_value = "127.0.0.1:8090")]
    bind: SocketAddr,
    /// ggml Whisper model [default: MODELS_DIR/ggml-base-q8_0.bin, else ggml-base.bin].
    #[arg(long, env = "HARU_WHISPER_MODEL")]
    whisper_model: Option<PathBuf>,
    /// GGUF chat models, comma-separated: `smollm2` (English), `qwen-0.5b` or `qwen-1.5b`
    /// (Korean too), a file in MODELS_DIR, or a path [default: smollm2]. Each answers to
    /// its own name (e.g. a fast one for the call, a larger one for post-call jobs).
    /// (Not `HARU_LLM_MODEL`: haru uses that name for the model it asks for.)
    #[arg(long, env = "HARU_LOCAL_LLM", value_delimiter = ',')]
    llm_model: Vec<String>,
    /// Extra names the chat model answers to, comma-separated (e.g.
    /// `gpt-4o-mini`, so an OpenAI-configured client works unchanged).
    #[arg(long, env = "HARU_LLM_ALIASES", value_delimiter = ',')]
    llm_alias: Vec<String>,
    /// LLM context window in tokens.
    #[arg(long, env = "HARU_LLM_CTX", default_value_t = 2048)]
    llm_ctx: u32,
    /// LLM repeat penalty over the last 64 tokens (1.0 = off).
    #[arg(long, env = "HARU_REPEAT_PENALTY", default_value_t = 1.1)]
    repeat_penalty: f32,
    /// Let the LLM write Chinese and Japanese script too (by default the script guard bans
    /// Han, kana and bopomofo: haru speaks Korean and English).
    #[arg(long, env = "HARU_ALLOW_ALL_SCRIPTS")]
    allow_all_scripts: bool,
    /// Inference threads per engine [default: all cores].
    #[arg(long, env = "HARU_THREADS")]
    threads: Option<i32>,
    /// The haru-local-stt binary [default: next to this executable].
    #[arg(long, env = "HARU_STT_BIN")]
    stt_bin: Option<PathBuf>,
    /// The espeak-ng executable.
    #[arg(long, env = "HARU_ESPEAK_BIN", default_value = "espeak-ng")]
    espeak_bin: PathBuf,
    /// Engine for Korean (Hangul) text; other text always uses espeak-ng.
    /// espeak until the round-trip CER shows Kokoro better (engines/README.md).
    /// Kokoro falls back to espeak-ng when it is not installed or fails.
    #[arg(long, env = "HARU_LOCAL_TTS", value_enum, default_value = "espeak")]
    tts: tts::KoreanTts,
    /// Kokoro voice for Korean when the request names an OpenAI voice or `ko`.
    #[arg(long, env = "HARU_KOKORO_VOICE", default_value = kokoro::DEFAULT_VOICE)]
    kokoro_voice: String,
    /// Shut down when stdin reaches EOF (for supervisors and tests that
    /// want the server to die with them).
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr) // stdout carries the LISTENING line
        .init();
    let args = Args::parse();

    let whisper = args
        .whisper_model
        .clone()
        .unwrap_or_else(|| models::default_whisper(&args.models_dir));
    let mut llm_paths: Vec<PathBuf> = Vec::new();
    for choice in &args.llm_model {
        let p = models::resolve_llm(&args.models_dir, Some(choice));
        if !llm_paths.contains(&p) {
            llm_paths.push(p);
        }
    }
    if llm_paths.is_empty() {
        llm_paths.push(models::resolve_llm(&args.models_dir, None));
    }
    require_file(&whisper, "Whisper model")?;
    for p in &llm_paths {
        require_file(p, "LLM model")?;
    }
    let stt_bin = match args.stt_bin.clone() {
        Some(p) => p,
        None => std::env::current_exe()
            .context("locating own executable")?
            .with_file_name("haru-local-stt"),
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get() as i32));

    // Bind before loading so a taken port fails fast; connections wait in
    // the backlog until the engines are ready.
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;

    let tts = tts::TtsEngine::new(args.espeak_bin.clone());
    tts.probe()
        .await
        .context("espeak-ng is required (scripts/install-engines.sh installs it)")?;
    let gate = cpu_gate::new();
    let tts = tts
        .with_korean(
            args.tts,
            &args.models_dir,
            &args.kokoro_voice,
            threads as usize,
            gate.clone(),
        )
        .await;
    // Load both models at once: each takes a few hundred ms to seconds.
    let (stt, llms) = tokio::join!(
        stt_client::SttClient::spawn(stt_client::SttConfig {
            binary: stt_bin,
            model: whisper.clone(),
            threads: args.threads,
            gate: gate.clone(),
        }),
        futures::future::join_all(llm_paths.iter().map(|p| {
            llm::LlmEngine::start(llm::LlmConfig {
                model: p.clone(),
                n_ctx: args.llm_ctx,
                threads,
                repeat_penalty: args.repeat_penalty,
                gate: gate.clone(),
                script_guard: !args.allow_all_scripts,
            })
        })),
    );
    let stt = stt.context("starting the STT worker")?;
    let mut llm = Vec::new();
    for (engine, path) in llms.into_iter().zip(&llm_paths) {
        llm.push(engine.with_context(|| format!("loading the LLM {}", path.display()))?);
    }
    let catalog = models::Catalog::new(&whisper, &llm_paths, &args.llm_alias);
    tracing::info!(n_ctx = args.llm_ctx, models = ?catalog.llm, "engines ready");

    let state = Arc::new(routes::AppState {
        catalog,
        llm,
        tts,
        stt,
    });
    let addr = listener.local_addr()?;
    println!("LISTENING {addr}");
    tracing::info!(%addr, "haru-local listening");
    axum::serve(listener, routes::router(state.clone()))
        .with_graceful_shutdown(shutdown_signal(args.exit_on_stdin_eof))
        .await?;
    state.stt.shutdown().await;
    Ok(())
}

fn require_file(path: &Path, what: &str) -> Result<()> {
    if !path.is_file() {
        bail!(
            "{what} not found at {}. Run scripts/install-engines.sh (or pass the path via flag/env).",
            path.display()
        );
    }
    Ok(())
}

async fn shutdown_signal(watch_stdin: bool) {
    let stdin_eof = async move {
        if !watch_stdin {
            return std::future::pending().await;
        }
        use tokio::io::AsyncReadExt;
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 64];
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
        tracing::info!("stdin closed, shutting down");
    };
    tokio::select! {
        _ = stdin_eof => {}
        _ = signals() => {}
    }
}

async fn signals() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
