//! Application state and router.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use haru_providers::{Endpoint, OpenAiChat, OpenAiSynthesizer, OpenAiTranscriber};
use haru_session::{CallEnded, PhraseCache, Providers, SessionDeps};
use haru_store::CallStore;
use haru_telephony::TwilioClient;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::Config;
use crate::{metrics, twilio_routes, ws};

#[derive(Clone)]
pub struct AppState {
    pub cfg: Arc<Config>,
    pub store: Arc<dyn CallStore>,
    pub twilio: Option<TwilioClient>,
    pub deps: SessionDeps,
    /// Media streams waiting for their `start` (each holds a permit until then).
    pub streams_waiting: Arc<tokio::sync::Semaphore>,
    /// Set once, after the app is built (`App::set_hooks`).
    pub hooks: crate::hooks::SharedHooks,
    /// Calls whose session runs in this process (a `completed` callback for an open call
    /// that is not here closes it from the store).
    pub active: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// Set once: who may open a browser call (`App::set_browser_tickets`); none, nobody.
    pub browser_tickets: crate::browser::SharedTickets,
}

pub struct App {
    pub state: AppState,
    router: Router,
    /// Calls that ended, for post-call work.
    pub ended: mpsc::UnboundedReceiver<CallEnded>,
}

/// Builds the app with the store named in the config.
pub async fn build(cfg: Config) -> anyhow::Result<App> {
    let store = haru_store::open(cfg.database_url.expose()).await?;
    build_with_store(cfg, store)
}

/// The audio end-of-turn model, if configured and installed. One ONNX session per core:
/// pauses of different calls are judged in parallel, each on one thread.
fn load_turn_model(
    cfg: &crate::config::TurnModelConfig,
    cpu_share: f64,
) -> anyhow::Result<Option<Arc<dyn haru_turn::TurnModel>>> {
    use crate::config::TurnModelConfig as C;
    use haru_turn_model::{SmartTurn, SmartTurnPaths};
    let (dir, required) = match cfg {
        C::Off => return Ok(None),
        C::Required(d) => (d, true),
        C::IfPresent(d) => (d, false),
    };
    let paths = SmartTurnPaths::in_dir(dir);
    if !paths.exist() {
        if required {
            anyhow::bail!(
                "HARU_TURN_MODEL: {} or {} missing (scripts/install-engines.sh installs them)",
                paths.model.display(),
                paths.runtime.display()
            );
        }
        tracing::info!(dir = %dir.display(), "no audio turn model installed: end of turn by silence and words");
        return Ok(None);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    match SmartTurn::load(&paths, threads) {
        Ok(m) => {
            let m = m.with_cpu_share(cpu_share);
            tracing::info!(model = %paths.model.display(), "audio turn model loaded (Smart Turn v3)");
            Ok(Some(Arc::new(m)))
        }
        Err(e) if required => anyhow::bail!("HARU_TURN_MODEL: {e}"),
        Err(e) => {
            tracing::warn!(error = %e, "audio turn model not loaded: end of turn by silence and words");
            Ok(None)
        }
    }
}

pub fn build_with_store(cfg: Config, store: Arc<dyn CallStore>) -> anyhow::Result<App> {
    let http = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(5))
        .pool_idle_timeout(std::time::Duration::from_secs(90))
        .build()?;
    let p = &cfg.providers;
    let key = p.api_key.as_ref().map(|k| k.expose());
    let providers = Providers {
        stt: Arc::new(OpenAiTranscriber::new(
            http.clone(),
            Endpoint::new(&p.stt_base_url, key),
            &p.stt_model,
            p.stt_language.as_deref(),
        )),
        llm: Arc::new(
            OpenAiChat::new(
                http.clone(),
                Endpoint::new(&p.llm_base_url, key),
                &p.llm_model,
            )
            .with_limits(p.llm_max_tokens, None),
        ),
        tts: Arc::new(
            OpenAiSynthesizer::new(
                http.clone(),
                Endpoint::new(&p.tts_base_url, key),
                &p.tts_model,
                &p.tts_voice,
            )
            .with_speed(p.tts_speed),
        ),
        turn_model: load_turn_model(&cfg.turn_model, cfg.turn_model_cpu)?,
    };
    let twilio = match (&cfg.twilio.account_sid, &cfg.twilio.auth_token) {
        (Some(sid), Some(token)) => Some(TwilioClient::new(
            http.clone(),
            &cfg.twilio.api_base,
            sid,
            token.expose(),
        )),
        _ => None,
    };
    let (ended_tx, ended) = mpsc::unbounded_channel();
    let phrases = PhraseCache::default();
    warm_phrases(&phrases, &providers, &cfg.session);
    let deps = SessionDeps {
        providers,
        store: store.clone(),
        phrases,
        cfg: Arc::new(cfg.session.clone()),
        ended: Some(ended_tx),
    };
    let state = AppState {
        streams_waiting: Arc::new(tokio::sync::Semaphore::new(cfg.max_pending_streams.max(1))),
        cfg: Arc::new(cfg),
        store,
        twilio,
        deps,
        hooks: Default::default(),
        active: Default::default(),
        browser_tickets: Default::default(),
    };
    let router = router(state.clone());
    Ok(App {
        state,
        router,
        ended,
    })
}

/// Fixed phrases are synthesised at start-up, in the background, and retried while TTS is
/// down: a failing provider is then answered at once from memory.
fn warm_phrases(phrases: &PhraseCache, providers: &Providers, s: &haru_session::SessionConfig) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let mut texts = vec![
        s.greeting.clone(),
        s.apology.clone(),
        s.goodbye.clone(),
        s.idle_prompt.clone(),
    ];
    texts.extend(s.acks.iter().cloned());
    rt.spawn(
        phrases
            .clone()
            .warm(providers.tts.clone(), texts, s.tts_timeout),
    );
}

fn router(state: AppState) -> Router {
    let metrics_handle = metrics::handle();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route(
            "/metrics",
            get(move || {
                let h = metrics_handle.clone();
                async move { h.map(|h| h.render()).unwrap_or_default() }
            }),
        )
        .route("/api/twilio/voice", post(twilio_routes::voice))
        .route("/api/twilio/call-status", post(twilio_routes::call_status))
        .route("/api/twilio/amd", post(twilio_routes::amd_status))
        .route("/api/twilio/call", post(twilio_routes::place_call))
        .route("/api/twilio/stream", get(ws::stream))
        .route("/api/browser/stream", get(crate::browser::stream))
        // Webhook bodies are small; refuse anything large before parsing it.
        .layer(DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

impl App {
    /// The daily companion's hooks into every call (set once; later calls are ignored).
    pub fn set_hooks(&self, hooks: Arc<dyn crate::CallHooks>) {
        let _ = self.state.hooks.set(hooks);
    }

    /// What admits a browser call (the dashboard's tickets; set once).
    pub fn set_browser_tickets(&self, tickets: Arc<dyn crate::browser::TicketCheck>) {
        let _ = self.state.browser_tickets.set(tickets);
    }

    /// Extra routes (the REST API) merged into the same server.
    pub fn merge(mut self, other: Router) -> Self {
        self.router = self.router.merge(other);
        self
    }

    pub fn log_startup(&self, addr: SocketAddr) {
        let cfg = &self.state.cfg;
        info!("haru listening on http://{addr}");
        info!(
            "Twilio voice webhook: {}  status callback: {}",
            cfg.public_base.http_url("/api/twilio/voice"),
            cfg.public_base.http_url("/api/twilio/call-status")
        );
        if !cfg.public_base_configured {
            warn!(
                "API_BASE_URL is not set: Twilio cannot reach {}; set it to your public (e.g. ngrok) host",
                cfg.public_base.http_url("")
            );
        }
        if cfg.twilio.auth_token.is_none() {
            warn!(
                "TWILIO_AUTH_TOKEN is not set: webhook signatures are NOT checked (fine for local tests only)"
            );
        }
        if cfg.providers.api_key.is_none() && cfg.providers.llm_base_url.contains("api.openai.com")
        {
            warn!("OPENAI_API_KEY is not set but the providers point at api.openai.com");
        }
    }

    /// Serves until `shutdown` is cancelled, with the configured connection limits.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        self.log_startup(listener.local_addr()?);
        let limits = self.state.cfg.limits.clone();
        crate::serve::serve(listener, self.router, limits, shutdown).await
    }

    /// Serves a prepared router (used by tests and tools that merged extra routes) with the
    /// default connection limits.
    pub async fn serve_router(
        listener: TcpListener,
        router: Router,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        crate::serve::serve(listener, router, crate::serve::Limits::default(), shutdown).await
    }

    /// Serves a prepared router with these limits.
    pub async fn serve_router_with(
        listener: TcpListener,
        router: Router,
        limits: crate::serve::Limits,
        shutdown: CancellationToken,
    ) -> std::io::Result<()> {
        crate::serve::serve(listener, router, limits, shutdown).await
    }

    pub fn into_parts(self) -> (Router, AppState, mpsc::UnboundedReceiver<CallEnded>) {
        (self.router, self.state, self.ended)
    }
}
