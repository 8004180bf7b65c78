//! The whole server as `haru serve` runs it: the call server, the REST API, and the post-call
//! worker fed by calls as they end.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use haru_postcall::{PostCall, PostCallConfig};
use haru_server::Config;
use haru_store::{CallStore, SqlStore};
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
    /// Heartbeats this instance and closes the calls of instances that died.
    pub keeper: JoinHandle<()>,
}

/// This run's instance id: a name (`HARU_INSTANCE_ID`, else the host name) and a random
/// suffix. Every start is a new instance, so a restarted one never mistakes the calls its
/// previous run left open for its own: they are closed once that run's lease runs out.
fn instance_id() -> String {
    let name = std::env::var("HARU_INSTANCE_ID")
        .ok()
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "haru".into());
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{name}-{suffix}")
}

/// Renews this instance's lease every third of it, on a task of its own (a long sweep
/// must never let a live instance's lease run out); every half a lease, closes the calls
/// of instances whose lease ran out. Several instances may sweep at once: a call is closed
/// by one conditional write (`close_lost`), and only the instance that closed it queues
/// its post-call jobs (queueing is idempotent besides).
async fn keep_instance(
    db: Arc<SqlStore>,
    postcall: Arc<PostCall>,
    started: String,
    lease: Duration,
    shutdown: CancellationToken,
) {
    let beat_every = (lease / 3).max(Duration::from_millis(200));
    let sweep_every = (lease / 2).max(Duration::from_millis(300));
    let beating = {
        let (db, shutdown) = (db.clone(), shutdown.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(beat_every) => {}
                    _ = shutdown.cancelled() => break,
                }
                if let Err(e) = db.beat().await {
                    tracing::warn!(error = %e, "instance heartbeat failed");
                }
            }
        })
    };
    let store: &dyn CallStore = db.as_ref();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(sweep_every) => {}
            _ = shutdown.cancelled() => break,
        }
        recover_lost_calls(store, &postcall, &started).await;
    }
    let _ = beating.await;
    if let Err(e) = db.retire().await {
        tracing::warn!(error = %e, "could not mark this instance stopped");
    }
}

/// Opens and migrates the database `HARU_DATABASE_URL` names, and says which one it is
/// (the password never printed).
pub async fn open_store(url: &str) -> anyhow::Result<SqlStore> {
    let db = SqlStore::open(url).await.map_err(|e| {
        anyhow::anyhow!(
            "HARU_DATABASE_URL={}: cannot open the database: {}",
            haru_store::redact_url(url),
            haru_store::redact_password_in(&e.to_string(), url)
        )
    })?;
    let version = db
        .schema_version()
        .await
        .context("reading the schema version")?;
    tracing::info!(
        backend = db.backend().name(),
        schema_version = version,
        database = %haru_store::redact_url(url),
        "store ready"
    );
    Ok(db)
}

pub async fn start(
    cfg: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<Running> {
    // Calls that streamed before this moment belong to a process that is gone.
    let started = haru_store::ts(chrono::Utc::now());
    let lease = Duration::from_millis(cfg.instance_lease_ms);
    let instance = instance_id();
    let db = Arc::new(
        open_store(cfg.database_url.expose())
            .await?
            .for_instance(&instance, lease),
    );
    db.register_instance(&format!(
        "haru {} pid {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    ))
    .await
    .context("registering this instance in the database")?;
    tracing::info!(instance = %instance, lease_ms = cfg.instance_lease_ms, "instance registered");
    let store: Arc<dyn CallStore> = db.clone();
    let companion = crate::companion::build(&cfg, db.clone());
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
        (*db).clone(),
        chat,
        PostCallConfig {
            timezone,
            language,
            ..PostCallConfig::default()
        },
    ));
    // The dashboard follows the operator API's rule (token, or loopback-only without one).
    let gate = Arc::new(haru_web::Gate::new(
        api_token.as_deref(),
        local_only,
        public_base.starts_with("https://"),
    ));
    // A browser call opens with a ticket from the dashboard's talk page.
    app.set_browser_tickets(Arc::new(WebTickets(gate.clone())));
    let web = haru_web::router(haru_web::WebState {
        store: store.clone(),
        db: db.clone(),
        postcall: postcall.clone(),
        gate,
        public_base: public_base.clone(),
        timezone,
    });
    let api = haru_api::router(haru_api::ApiState {
        store: store.clone(),
        postcall: postcall.clone(),
        api_token,
        local_only,
        db: db.clone(),
        companion: Some(companion.clone()),
        public_base,
    });
    let worker = postcall.clone().spawn_worker(shutdown.clone());
    let scheduler = companion.clone().spawn(shutdown.clone());
    let app = app.merge(api).merge(web);
    // At once, before the first call: calls a previous run (or a dead instance) left open.
    recover_lost_calls(store.as_ref(), &postcall, &started).await;
    let keeper = tokio::spawn(keep_instance(
        db.clone(),
        postcall.clone(),
        started,
        lease,
        shutdown.clone(),
    ));
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
        keeper,
    })
}

struct WebTickets(Arc<haru_web::Gate>);

impl haru_server::TicketCheck for WebTickets {
    fn redeem(&self, ticket: &str) -> bool {
        self.0.redeem_ticket(ticket, haru_web::Gate::now())
    }
}

/// After a crash or kill, calls that were streaming into the dead instance stay open: close
/// each from its stored messages ("server lost") and queue its post-call jobs. Only calls
/// with a stream: one still ringing may yet connect to a live instance.
async fn recover_lost_calls(store: &dyn CallStore, postcall: &PostCall, before: &str) {
    let calls = match store.lost_calls(before).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for calls left open by a previous run");
            return;
        }
    };
    for c in calls {
        let sid = &c.call_sid;
        match haru_session::recover::close_from_store(store, sid, "server lost").await {
            // Another instance (or the session itself) closed it first.
            Ok(false) => {}
            Ok(true) => {
                tracing::warn!(call_sid = %sid, "closed a call whose instance is gone; queueing its post-call jobs");
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
