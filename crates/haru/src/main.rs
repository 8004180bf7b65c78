//! `haru`: the server and its tools.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use haru_fakes::{FakeOpenAi, FakeOpenAiConfig, FakeTwilio, FakeTwilioConfig};
use haru_server::{Config, LogFormat};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "haru",
    version,
    about = "Real-time phone voice conversations over Twilio"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (configuration from the environment and .env; see README).
    Serve,
    /// The offline demo: a whole phone conversation with local engines (no key, no internet).
    Demo,
    /// Call a running haru server the way Twilio would, speaking WAV files as the caller.
    Sim(haru_sim::cli::SimArgs),
    /// Load benchmark: N concurrent simulated calls against fake providers (see BENCHMARKS.md).
    Bench(haru_bench::cli::BenchArgs),
    /// List stored calls.
    Calls(haru_api::cli::CallsArgs),
    /// Show one call: transcript, diary, schedules, mood.
    Show(haru_api::cli::ShowArgs),
    /// The people haru calls every day: add, list, show, pause, resume, delete.
    #[command(subcommand)]
    People(haru_api::people_cli::PeopleCommand),
    /// Apply the database migrations (HARU_DATABASE_URL) and exit.
    Migrate,
    /// Say which database, schema version and live instances haru would run with.
    Doctor,
    /// Run local fake OpenAI-compatible and Twilio REST servers (for trying haru and benchmarks).
    FakeProviders(FakeArgs),
}

#[derive(clap::Args)]
struct FakeArgs {
    /// Address of the fake OpenAI-compatible server (base URL is http://ADDR/v1).
    #[arg(long, default_value = "127.0.0.1:8070")]
    openai: SocketAddr,
    /// Address of the fake Twilio REST API.
    #[arg(long, default_value = "127.0.0.1:8071")]
    twilio: SocketAddr,
    #[arg(long, default_value_t = 150)]
    stt_delay_ms: u64,
    #[arg(long, default_value_t = 200)]
    llm_first_token_ms: u64,
    #[arg(long, default_value_t = 50.0)]
    llm_tokens_per_sec: f64,
    #[arg(long, default_value_t = 150)]
    tts_first_byte_ms: u64,
    /// Text every transcription returns.
    #[arg(long, default_value = "Hello, I had a nice walk in the park today.")]
    transcript: String,
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,hyper=warn,tower_http=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve => serve().await,
        Command::FakeProviders(args) => fake_providers(args).await,
        Command::Demo => {
            init_logs(LogFormat::Pretty);
            let root = std::env::current_dir()?;
            let lang = haru::demo::DemoLang::from_env()?;
            let opts = haru::demo::DemoOptions::from_repo(&root, lang);
            let db = opts.out_dir.join("demo.db");
            let result = haru::demo::run(opts).await?;
            println!("{}", haru::demo::summary(&result));
            let show = haru_api::cli::ShowArgs {
                call_sid: result.report.call_sid.clone(),
                timezone: "Asia/Seoul".into(),
            };
            match haru_api::cli::show(&format!("sqlite:{}", db.display()), &show).await {
                Ok(text) => println!("📔 After the call (haru show {}):\n{text}", show.call_sid),
                Err(e) => println!("could not read the post-call results: {e:#}"),
            }
            println!(
                "🖥  See the call in the dashboard: HARU_DATABASE_URL=sqlite:{} HARU_API_LOCAL_ONLY=1 \\\n   \
                 cargo run --release -p haru -- serve, then open http://127.0.0.1:8000/app",
                db.display()
            );
            Ok(())
        }
        Command::Bench(args) if args.dashboard.is_some() => {
            let calls = args.dashboard.unwrap_or(1000).max(1);
            println!("{}", haru::dashboard_bench::run(calls).await?);
            Ok(())
        }
        Command::Bench(args) => haru_bench::cli::run(args).await,
        Command::Migrate => {
            let url = database_url()?;
            let db = haru::run::open_store(&url).await?;
            println!(
                "migrated {} ({}) to schema version {}",
                haru_store::redact_url(&url),
                db.backend().name(),
                db.schema_version().await?
            );
            Ok(())
        }
        Command::Doctor => {
            let url = database_url()?;
            let db = haru::run::open_store(&url).await?;
            println!("database:       {}", haru_store::redact_url(&url));
            println!("backend:        {}", db.backend().name());
            println!("schema version: {}", db.schema_version().await?);
            let live = db.live_instances().await?;
            println!("live instances: {}", live.len());
            for (id, started, beat) in live {
                println!("  {id}  started {started}  last heartbeat {beat}");
            }
            Ok(())
        }
        Command::Calls(args) => {
            let db = database_url()?;
            println!("{}", haru_api::cli::list_calls(&db, &args).await?);
            Ok(())
        }
        Command::People(cmd) => {
            let cfg = Config::from_env()?;
            let base = cfg.public_base.http_url("");
            println!(
                "{}",
                haru_api::people_cli::run(cfg.database_url.expose(), &base, &cmd).await?
            );
            Ok(())
        }
        Command::Show(args) => {
            let db = database_url()?;
            println!("{}", haru_api::cli::show(&db, &args).await?);
            Ok(())
        }
        Command::Sim(args) => {
            init_logs(LogFormat::Pretty);
            haru_sim::cli::run(args).await
        }
    }
}

/// The store named by the configuration (same as `haru serve` uses).
fn database_url() -> anyhow::Result<String> {
    Ok(Config::from_env()?.database_url.expose().to_string())
}

/// Descriptors kept out of the connection cap for everything else the server opens.
const FD_RESERVE: u64 = 128;

async fn serve() -> anyhow::Result<()> {
    let mut cfg = Config::from_env()?;
    init_logs(cfg.log_format);
    // A call costs a socket: use every descriptor the system allows, and keep a reserve
    // (the database, models, provider connections) out of the connection cap.
    if let Some(nofile) = haru_server::serve::raise_fd_limit() {
        let cap = usize::try_from(nofile.saturating_sub(FD_RESERVE)).unwrap_or(usize::MAX);
        cfg.limits.max_connections = cfg.limits.max_connections.min(cap.max(16));
        tracing::info!(
            nofile,
            max_connections = cfg.limits.max_connections,
            "open-files limit"
        );
    }
    let bind = cfg.bind;
    let app_cfg = cfg;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind} (HARU_BIND)"))?;
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        s.cancel();
    });
    let running = haru::run::start(app_cfg, listener, shutdown).await?;
    running.server.await??;
    let _ = running.worker.await;
    Ok(())
}

async fn fake_providers(a: FakeArgs) -> anyhow::Result<()> {
    init_logs(LogFormat::Pretty);
    let cfg = FakeOpenAiConfig {
        stt_delay: Duration::from_millis(a.stt_delay_ms),
        llm_first_token_delay: Duration::from_millis(a.llm_first_token_ms),
        llm_tokens_per_sec: a.llm_tokens_per_sec,
        tts_first_byte_delay: Duration::from_millis(a.tts_first_byte_ms),
        stt: haru_fakes::SttRule::Fixed(a.transcript),
        ..FakeOpenAiConfig::default()
    };
    let openai = FakeOpenAi::start_on(a.openai, cfg).await?;
    let twilio = FakeTwilio::start_on(a.twilio, FakeTwilioConfig::default()).await?;
    println!("fake OpenAI-compatible API: {}", openai.base_url());
    println!("fake Twilio REST API:       {}", twilio.base_url());
    println!(
        "  account SID {}  (auth token as configured in FakeTwilioConfig::default)",
        twilio.account_sid()
    );
    println!(
        "point haru at them: OPENAI_BASE_URL={} TWILIO_API_BASE={}",
        openai.base_url(),
        twilio.base_url()
    );
    tokio::signal::ctrl_c().await?;
    Ok(())
}
