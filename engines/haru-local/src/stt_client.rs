//! The STT worker process (haru-local-stt) and the client that talks to it.
//!
//! whisper.cpp cannot share a binary with llama.cpp (both vendor ggml), so
//! transcription runs in a child process on a private loopback port. The
//! child gets a stdin pipe and exits when it closes, so it dies with us even
//! if we are SIGKILLed. If the worker dies (a crash in whisper.cpp), the next
//! request or health check starts a new one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Mutex;

use crate::cpu_gate::CpuGate;
use crate::error::ApiError;

/// How to start a worker.
#[derive(Debug, Clone)]
pub struct SttConfig {
    pub binary: PathBuf,
    pub model: PathBuf,
    pub threads: Option<i32>,
    /// Shared with the LLM: see `cpu_gate`.
    pub gate: CpuGate,
}

pub struct SttClient {
    config: SttConfig,
    http: reqwest::Client,
    worker: Mutex<Worker>,
}

struct Worker {
    base: String,
    child: Child,
    // Held, never written: closing it tells the child to exit.
    _stdin: ChildStdin,
    /// Bumped on every respawn so concurrent failures respawn only once.
    generation: u64,
}

#[derive(Deserialize)]
struct Transcript {
    text: String,
}

#[derive(Deserialize)]
struct WorkerError {
    error: String,
}

/// Model loading plus warm-up; generous for slow CI disks.
const START_TIMEOUT: Duration = Duration::from_secs(180);

impl SttClient {
    pub async fn spawn(config: SttConfig) -> Result<Self> {
        let worker = start_worker(&config, 0).await?;
        let http = reqwest::Client::builder()
            .no_proxy() // loopback only; never route through an env proxy
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(Self {
            config,
            http,
            worker: Mutex::new(worker),
        })
    }

    /// True if the worker answers; restarts a dead one first.
    pub async fn healthy(&self) -> bool {
        let (base, generation, alive) = {
            let mut w = self.worker.lock().await;
            let alive = matches!(w.child.try_wait(), Ok(None));
            (w.base.clone(), w.generation, alive)
        };
        if !alive {
            return self.revive(generation, false).await;
        }
        self.http
            .get(format!("{base}/healthz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Transcribe mono 16 kHz samples.
    pub async fn transcribe(&self, samples: &[f32], language: &str) -> Result<String, ApiError> {
        let mut body = Vec::with_capacity(samples.len() * 4);
        for s in samples {
            body.extend_from_slice(&s.to_le_bytes());
        }
        let _turn = self.config.gate.lock().await;
        let mut retried = false;
        loop {
            let (base, generation) = {
                let w = self.worker.lock().await;
                (w.base.clone(), w.generation)
            };
            let sent = self
                .http
                .post(format!("{base}/transcribe"))
                .query(&[("language", language)])
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(resp) => return read_reply(resp).await,
                // Transport failure: if the worker died (or no longer
                // listens), restart it and try once more; a clip that
                // crashes it twice gets a 503.
                Err(e) if !retried && self.revive(generation, e.is_connect()).await => {
                    tracing::warn!("STT worker request failed ({e}); retrying on a new worker");
                    retried = true;
                }
                Err(e) => {
                    return Err(ApiError::unavailable(format!(
                        "STT worker unreachable: {e}"
                    )));
                }
            }
        }
    }

    /// Restart the worker if `generation` is still current and it has
    /// exited, or unconditionally with `unreachable` (it refused a
    /// connection, so it is useless even if not quite dead yet). Returns
    /// whether a live worker (possibly new) should be tried.
    async fn revive(&self, generation: u64, unreachable: bool) -> bool {
        let mut w = self.worker.lock().await;
        if w.generation != generation {
            return true; // someone else already restarted it
        }
        if matches!(w.child.try_wait(), Ok(None)) {
            // A killed multi-threaded process takes a moment to be reapable.
            let exited = tokio::time::timeout(Duration::from_secs(1), w.child.wait()).await;
            if exited.is_err() && !unreachable {
                return false; // alive: the failure was something else
            }
        }
        tracing::error!("STT worker died or stopped answering; restarting it");
        let _ = w.child.kill().await;
        match start_worker(&self.config, generation + 1).await {
            Ok(new) => {
                *w = new;
                true
            }
            Err(e) => {
                tracing::error!("restarting the STT worker failed: {e:#}");
                false
            }
        }
    }

    pub async fn shutdown(&self) {
        let _ = self.worker.lock().await.child.kill().await;
    }
}

async fn start_worker(config: &SttConfig, generation: u64) -> Result<Worker> {
    let mut cmd = Command::new(&config.binary);
    cmd.arg("--model")
        .arg(&config.model)
        .args(["--bind", "127.0.0.1:0", "--exit-on-stdin-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(t) = config.threads {
        cmd.arg("--threads").arg(t.to_string());
    }
    let mut child = cmd.spawn().with_context(|| {
        format!(
            "starting {} (build it with `cargo build` in engines/)",
            config.binary.display()
        )
    })?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow!("child stdin missing"))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("child stdout missing"))?;
    let mut lines = BufReader::new(stdout).lines();

    let addr: SocketAddr = tokio::time::timeout(START_TIMEOUT, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(a) = line.strip_prefix("LISTENING ") {
                return a.trim().parse::<SocketAddr>().context("bad LISTENING line");
            }
        }
        bail!("haru-local-stt exited before it was ready")
    })
    .await
    .context("haru-local-stt did not become ready in time")??;
    // Keep draining stdout so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Worker {
        base: format!("http://{addr}"),
        child,
        _stdin: stdin,
        generation,
    })
}

async fn read_reply(resp: reqwest::Response) -> Result<String, ApiError> {
    let status = resp.status();
    if status.is_success() {
        let ok: Transcript = resp
            .json()
            .await
            .map_err(|e| ApiError::internal(format!("bad STT worker reply: {e}")))?;
        return Ok(ok.text);
    }
    let msg = resp
        .json::<WorkerError>()
        .await
        .map_or_else(|_| format!("STT worker answered {status}"), |e| e.error);
    if status.is_client_error() {
        let param = msg.contains("language").then_some("language");
        Err(ApiError::invalid(msg, param))
    } else {
        Err(ApiError::internal(msg))
    }
}
