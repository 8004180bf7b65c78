//! haru-local-stt: the Whisper half of haru-local.
//!
//! whisper.cpp and llama.cpp each vendor their own ggml and cannot be linked
//! into one binary, so haru-local spawns this worker and forwards decoded
//! audio to it over loopback HTTP:
//!
//!   POST /transcribe?language=en   body: f32 little-endian mono 16 kHz samples
//!     200 {"text": "..."} | 400/500 {"error": "..."}
//!   GET  /healthz
//!
//! On startup it prints `LISTENING <addr>` on stdout once ready. With
//! `--exit-on-stdin-eof` it exits when stdin closes, i.e. when its parent dies.

mod engine;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use clap::Parser;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;

use engine::{SttEngine, SttError};

#[derive(Parser, Debug)]
#[command(about = "Whisper transcription worker for haru-local")]
struct Args {
    /// ggml Whisper model file.
    #[arg(long, env = "HARU_WHISPER_MODEL")]
    model: PathBuf,
    /// Address to listen on; port 0 picks a free one (reported on stdout).
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// Inference threads.
    #[arg(long, env = "HARU_STT_THREADS", default_value_t = default_threads())]
    threads: i32,
    /// Exit when stdin reaches EOF (the parent holds the other end).
    #[arg(long)]
    exit_on_stdin_eof: bool,
}

fn default_threads() -> i32 {
    std::thread::available_parallelism().map_or(2, |n| n.get() as i32)
}

/// Longest accepted clip: 10 minutes of 16 kHz f32.
const MAX_BODY: usize = 10 * 60 * engine::SAMPLE_RATE * 4;

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr) // stdout carries the LISTENING line
        .init();
    let args = Args::parse();

    if args.exit_on_stdin_eof {
        tokio::spawn(async {
            let mut stdin = tokio::io::stdin();
            let mut buf = [0u8; 64];
            while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
            tracing::info!("stdin closed: parent gone, exiting");
            std::process::exit(0);
        });
    }

    let model = args.model.clone();
    let threads = args.threads;
    let engine = tokio::task::spawn_blocking(move || SttEngine::load(&model, threads))
        .await
        .context("model loader panicked")??;
    tracing::info!(model = %args.model.display(), "whisper model loaded");

    let app = Router::new()
        .route("/transcribe", post(transcribe))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Arc::new(engine));
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("binding {}", args.bind))?;
    let addr = listener.local_addr()?;
    println!("LISTENING {addr}");
    tracing::info!(%addr, "haru-local-stt listening");
    axum::serve(listener, app).await?;
    Ok(())
}

#[derive(Deserialize)]
struct TranscribeQuery {
    language: Option<String>,
}

async fn transcribe(
    State(engine): State<Arc<SttEngine>>,
    Query(q): Query<TranscribeQuery>,
    body: Bytes,
) -> Response {
    if !body.len().is_multiple_of(4) {
        return error(StatusCode::BAD_REQUEST, "body is not f32 samples".into());
    }
    let samples: Vec<f32> = body
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let language = q.language.unwrap_or_else(|| "en".into());
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || engine.transcribe(&samples, &language)).await;
    match result {
        Ok(Ok(text)) => {
            tracing::info!(ms = started.elapsed().as_millis() as u64, "transcribed");
            Json(json!({ "text": text })).into_response()
        }
        Ok(Err(SttError::BadRequest(msg))) => error(StatusCode::BAD_REQUEST, msg),
        Ok(Err(SttError::Internal(e))) => {
            tracing::error!("transcription failed: {e:#}");
            error(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}"))
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("worker panicked: {e}"),
        ),
    }
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}
