//! The whole server as `haru serve` runs it: the call server, the REST API, and the post-call
//! worker fed by calls as they end.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use haru_postcall::{PostCall, PostCallConfig};
use haru_server::Config;
use haru_store::{CallStore, SqliteStore};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Tokens a post-call answer may take: the schemas bound every string and list to fit.
const POSTCALL_MAX_TOKENS: u32 = 1024;

pub struct Running {
    pub server: JoinHandle<std::io::Result<()>>,
    pub worker: JoinHandle<()>,
    pub store: Arc<dyn CallStore>,
    pub postcall: Arc<PostCall>,
    pub companion: Arc<haru_companion::Companion>,
    pub scheduler: JoinHandle<()>,
}

pub async fn start(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    // Calls that streamed before this moment belong to a process that is gone.
    let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if !cfg.database_url.starts_with("sqlite:") {
        anyhow::bail!("HARU_DATABASE_URL: only sqlite: URLs are supported so far");
    }
    let sqlite = SqliteStore::open(&cfg.database_url)
        .await
        .with_context(|| format!("opening the store {}", cfg.database_url))?;
    let pool = sqlite.pool().clone();
    let sqlite = Arc::new(sqlite);
    let store: Arc<dyn CallStore> = sqlite.clone();
    let companion = crate::companion::build(&cfg, sqlite.clone());
    let public_base = cfg.public_base.http_url("");
    let timezone: haru_postcall::chrono_tz::Tz = cfg
        .timezone
        .parse()
        .map_err(|e| anyhow::anyhow!("HARU_TIMEZONE: {e}"))?;
    let language = cfg
        .providers
        .stt_language
        .clone()
        .unwrap_or_else(|| "ko".into());
    let api_token = cfg.api_token.as_ref().map(|t| t.expose().to_string());
    let local_only = cfg.api_local_only;
    let limits = cfg.limits.clone();
    if api_token.is_none() {
        if local_only {
            tracing::warn!(
                "HARU_API_TOKEN is not set: the REST API answers only direct loopback requests \
                 (HARU_API_LOCAL_ONLY=1); outbound calls are disabled"
            );
        } else {
            tracing::warn!(
                "HARU_API_TOKEN is not set: the REST API and outbound calls are disabled"
            );
        }
    }
    let p = &cfg.providers;
    let chat: Arc<dyn haru_providers::ChatModel> = Arc::new(
        haru_providers::OpenAiChat::new(
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(Duration::from_secs(120))
                .build()?,
            haru_providers::Endpoint::new(
                &p.postcall_base_url,
                p.api_key.as_ref().map(|k| k.expose()),
            ),
            &p.postcall_model,
        )
        // Room for the largest answer the schemas allow (a small local model's default
        // would cut the JSON off mid-string).
        // Temperature 0: extraction should not depend on the dice (a sampled answer once
        // wrote the time as the string "null").
        .with_limits(Some(POSTCALL_MAX_TOKENS), Some(0.0)),
    );
    let hooks_cfg = Arc::new(cfg.clone());
    let app = haru_server::build_with_store(cfg, store.clone())?;
    app.set_hooks(Arc::new(crate::companion::Hooks {
        companion: companion.clone(),
        cfg: hooks_cfg,
    }));
    let postcall = Arc::new(PostCall::new(
        pool.clone(),
        chat,
        PostCallConfig {
            timezone,
            language,
            ..PostCallConfig::default()
        },
    ));
    let api = haru_api::router(haru_api::ApiState {
        store: store.clone(),
        sqlite: pool,
        postcall: postcall.clone(),
        api_token,
        local_only,
        sqlite_store: sqlite,
        companion: Some(companion.clone()),
        public_base,
    });
    let worker = postcall.clone().spawn_worker(shutdown.clone());
    let scheduler = companion.clone().spawn(shutdown.clone());
    let app = app.merge(api);
    recover_lost_calls(store.as_ref(), &postcall, started).await;
    app.log_startup(listener.local_addr()?);
    let (router, _state, mut ended) = app.into_parts();
    // Each ended call gets its diary, schedules, mood and quality jobs, durably queued.
    let pc = postcall.clone();
    tokio::spawn(async move {
        while let Some(call) = ended.recv().await {
            for attempt in 0..5u64 {
                match pc.enqueue_for_call(&call.call_sid).await {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(call_sid = %call.call_sid, error = %e, "could not queue post-call jobs");
                        tokio::time::sleep(Duration::from_millis(200 * (attempt + 1))).await;
                    }
                }
            }
        }
    });
    let server = tokio::spawn(haru_server::App::serve_router_with(
        listener, router, limits, shutdown,
    ));
    Ok(Running {
        server,
        worker,
        store,
        postcall,
        companion,
        scheduler,
    })
}

/// After a crash or kill, calls that were streaming into the dead process stay open: close
/// each from its stored messages ("server lost") and queue its post-call jobs. Only calls
/// with a stream: one still ringing may yet connect to this instance.
async fn recover_lost_calls(store: &dyn CallStore, postcall: &PostCall, before: String) {
    let calls = match store.open_streamed_calls(&before).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for calls left open by a previous run");
            return;
        }
    };
    for c in calls {
        let sid = &c.call_sid;
        match haru_session::recover::close_from_store(store, sid, "server lost").await {
            Ok(()) => {
                tracing::warn!(call_sid = %sid, "closed a call left open by a previous run; queueing its post-call jobs");
                if let Err(e) = postcall.enqueue_for_call(sid).await {
                    tracing::warn!(call_sid = %sid, error = %e, "could not queue post-call jobs");
                }
            }
            Err(e) => {
                tracing::warn!(call_sid = %sid, error = %e, "could not close a call left open")
            }
        }
    }
}
