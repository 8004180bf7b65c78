//! The STT worker process (haru-local-stt) and the client that talks to it.
//!
//! whisper.cpp cannot share a binary with llama.cpp (both vendor ggml), so
//! transcription runs in a child process on a private loopback port. The
//! child gets a stdin pipe and exits when it closes, so it dies with us even
//! if we are SIGKILLed.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::Mutex;

use crate::error::ApiError;

pub struct SttClient {
    base: String,
    http: reqwest::Client,
    // Held, never used: closing it tells the child to exit.
    _stdin: ChildStdin,
    child: Mutex<Child>,
}

#[derive(Deserialize)]
struct Ok200 {
    text: String,
}

#[derive(Deserialize)]
struct Err4xx {
    error: String,
}

/// Model loading plus warm-up; generous for slow CI disks.
const START_TIMEOUT: Duration = Duration::from_secs(180);

impl SttClient {
    pub async fn spawn(binary: &Path, model: &Path, threads: Option<i32>) -> Result<Self> {
        let mut cmd = Command::new(binary);
        cmd.arg("--model")
            .arg(model)
            .args(["--bind", "127.0.0.1:0", "--exit-on-stdin-eof"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(t) = threads {
            cmd.arg("--threads").arg(t.to_string());
        }
        let mut child = cmd.spawn().with_context(|| {
            format!(
                "starting {} (build it with `cargo build` in engines/)",
                binary.display()
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

        let http = reqwest::Client::builder()
            .no_proxy() // loopback only; never route through an env proxy
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(Self {
            base: format!("http://{addr}"),
            http,
            _stdin: stdin,
            child: Mutex::new(child),
        })
    }

    pub async fn healthy(&self) -> bool {
        let alive = matches!(self.child.lock().await.try_wait(), Ok(None));
        alive
            && self
                .http
                .get(format!("{}/healthz", self.base))
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
        let resp = self
            .http
            .post(format!("{}/transcribe", self.base))
            .query(&[("language", language)])
            .body(body)
            .send()
            .await
            .map_err(|e| ApiError::unavailable(format!("STT worker unreachable: {e}")))?;
        let status = resp.status();
        if status.is_success() {
            let ok: Ok200 = resp
                .json()
                .await
                .map_err(|e| ApiError::internal(format!("bad STT worker reply: {e}")))?;
            return Ok(ok.text);
        }
        let msg = resp
            .json::<Err4xx>()
            .await
            .map_or_else(|_| format!("STT worker answered {status}"), |e| e.error);
        if status.is_client_error() {
            let param = msg.contains("language").then_some("language");
            Err(ApiError::invalid(msg, param))
        } else {
            Err(ApiError::internal(msg))
        }
    }

    pub async fn shutdown(&self) {
        let _ = self.child.lock().await.kill().await;
    }
}
