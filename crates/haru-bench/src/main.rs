//! Standalone `haru-bench` binary; `haru bench` runs the same code.

use clap::Parser;

#[derive(Parser)]
#[command(name = "haru-bench", about = "Load benchmark for haru")]
struct Cli {
    #[command(flatten)]
    args: haru_bench::cli::BenchArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "error".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    haru_bench::cli::run(Cli::parse().args).await
}
