//! The haru server under test: a child `haru serve`, an in-process app, or one by URL.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use tokio_util::sync::CancellationToken;

/// How long a fresh server may take to answer `/healthz` (sqlite migrations included).
const READY_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) struct Server {
    pub url: String,
    /// Process to sample for CPU and RSS.
    pub pid: Option<u32>,
    pub includes_bench: bool,
    /// The store the server writes turn timings to, when we chose it.
    pub db_url: Option<String>,
    pub mode: &'static str,
    kind: Kind,
}

enum Kind {
    Child {
        child: tokio::process::Child,
        log: PathBuf,
    },
    InProcess {
        shutdown: CancellationToken,
        join: tokio::task::JoinHandle<()>,
    },
    External,
}

fn unique(tag: &str, ext: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "haru-bench-{}-{nanos}-{tag}.{ext}",
        std::process::id()
    ))
}

/// The database a bench server uses: `HARU_BENCH_DATABASE_URL` (a PostgreSQL server, to
/// measure that backend), else a fresh SQLite file.
fn db_url(db: &Path) -> String {
    std::env::var("HARU_BENCH_DATABASE_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| format!("sqlite:{}", db.display()))
}

/// The settings every bench server gets: loopback, fake providers, no greeting (so every
/// reply is an answer to a caller turn), no webhook signatures.
fn env_for(addr: &str, openai_base: &str, db: &Path) -> Vec<(String, String)> {
    [
        ("HARU_BIND", addr.to_string()),
        ("API_BASE_URL", format!("http://{addr}")),
        ("OPENAI_BASE_URL", openai_base.to_string()),
        ("OPENAI_API_KEY", "x".into()),
        ("HARU_DATABASE_URL", db_url(db)),
        ("HARU_GREETING", String::new()),
        ("HARU_STT_LANGUAGE", "en".into()),
        ("HARU_PAUSE_MS", crate::run::pause_ms().to_string()),
        ("RUST_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("cannot bind a local port")?;
    Ok(l.local_addr()?.port())
}

impl Server {
    /// `haru serve` as a child, optionally pinned to `pin_core` before it execs (so its
    /// tokio runtime sizes itself to that one core).
    pub async fn child(
        haru_bin: &Path,
        openai_base: &str,
        pin_core: Option<usize>,
    ) -> Result<Server> {
        if !haru_bin.is_file() {
            bail!(
                "haru binary {} not found; build it (cargo build --release -p haru) or pass --haru-bin",
                haru_bin.display()
            );
        }
        let addr = format!("127.0.0.1:{}", free_port()?);
        let db = unique("db", "sqlite");
        let log = unique("server", "log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut cmd = tokio::process::Command::new(haru_bin);
        cmd.arg("serve")
            // Away from the repo so a developer's .env cannot change the setup.
            .current_dir(std::env::temp_dir())
            .stdin(std::process::Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true);
        for (k, v) in env_for(&addr, openai_base, &db) {
            cmd.env(k, v);
        }
        if let Some(core) = pin_core {
            // SAFETY: the closure only makes one async-signal-safe syscall.
            unsafe {
                cmd.pre_exec(move || crate::procstat::pin_current_thread(core));
            }
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("cannot start {} serve", haru_bin.display()))?;
        let pid = child.id();
        let mut server = Server {
            url: format!("http://{addr}"),
            pid,
            includes_bench: false,
            db_url: Some(db_url(&db)),
            mode: "child",
            kind: Kind::Child { child, log },
        };
        if let Err(e) = server.wait_ready().await {
            let tail = server.log_tail();
            server.shutdown().await;
            return Err(e.context(format!("haru serve did not come up; its log ends:\n{tail}")));
        }
        Ok(server)
    }

    /// haru's app served from this process (used by tests; needs no haru binary).
    pub async fn in_process(openai_base: &str) -> Result<Server> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("cannot bind a local port")?;
        let addr = listener.local_addr()?.to_string();
        let db = unique("db", "sqlite");
        let map: HashMap<String, String> = env_for(&addr, openai_base, &db).into_iter().collect();
        let cfg = haru_server::Config::from_source(&haru_server::config::Source(move |k| {
            map.get(k).cloned()
        }))
        .context("bad in-process server config")?;
        let app = haru_server::build(cfg)
            .await
            .context("cannot build the in-process haru server")?;
        let (router, _state, mut ended) = app.into_parts();
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let join = tokio::spawn(async move {
            // Nobody does post-call work here; drain so the channel never grows.
            tokio::spawn(async move { while ended.recv().await.is_some() {} });
            if let Err(e) = haru_server::App::serve_router(listener, router, token).await {
                tracing::error!("in-process haru stopped: {e}");
            }
        });
        let mut server = Server {
            url: format!("http://{addr}"),
            pid: Some(std::process::id()),
            includes_bench: true,
            db_url: Some(db_url(&db)),
            mode: "in-process",
            kind: Kind::InProcess { shutdown, join },
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// A server someone else runs. Checked up front so a typo fails in a second with a
    /// clear message instead of N identical call errors.
    pub async fn external(url: &str) -> Result<Server> {
        let parsed = url::Url::parse(url).with_context(|| format!("--url {url:?} is not a URL"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            bail!("--url must be http:// or https://, got {url:?}");
        }
        let url = url.trim_end_matches('/').to_string();
        let server = Server {
            url,
            pid: None,
            includes_bench: false,
            db_url: None,
            mode: "url",
            kind: Kind::External,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(3))
            .build()?;
        let health = format!("{}/healthz", server.url);
        let resp = http
            .get(&health)
            .send()
            .await
            .with_context(|| format!("cannot reach haru at {}", server.url))?;
        if !resp.status().is_success() {
            bail!(
                "haru at {} answered {} on /healthz; is it a haru server?",
                server.url,
                resp.status()
            );
        }
        Ok(server)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()?;
        let health = format!("{}/healthz", self.url);
        let deadline = tokio::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Kind::Child { child, .. } = &mut self.kind
                && let Some(status) = child.try_wait()?
            {
                bail!("haru serve exited during startup: {status}");
            }
            if let Ok(r) = http.get(&health).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(anyhow!("no answer on {health} within {READY_TIMEOUT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Last lines of the child's log, for error messages.
    pub fn log_tail(&self) -> String {
        let Kind::Child { log, .. } = &self.kind else {
            return String::new();
        };
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    /// The sqlite file behind `db_url`.
    pub fn db_path(&self) -> Option<PathBuf> {
        self.db_url
            .as_deref()
            .and_then(|u| u.strip_prefix("sqlite:"))
            .map(PathBuf::from)
    }

    pub fn log_path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::Child { log, .. } => Some(log),
            _ => None,
        }
    }

    /// Stops the server so it flushes its last turn timings to the store. A child gets
    /// SIGINT (what `haru serve` handles for a graceful stop), then SIGKILL after 5 s.
    pub async fn shutdown(&mut self) {
        match &mut self.kind {
            Kind::Child { child, .. } => {
                if let Some(pid) = child.id() {
                    // SAFETY: signalling our own child by its pid.
                    unsafe { libc::kill(pid as i32, libc::SIGINT) };
                }
                if tokio::time::timeout(Duration::from_secs(5), child.wait())
                    .await
                    .is_err()
                {
                    let _ = child.kill().await;
                }
            }
            Kind::InProcess { shutdown, join } => {
                shutdown.cancel();
                let _ = tokio::time::timeout(Duration::from_secs(5), join).await;
            }
            Kind::External => {}
        }
    }
}
