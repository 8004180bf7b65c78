//! `haru sim`: call a haru server with WAV files and print the conversation as it happens.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::{SimConfig, SimEvent, SimReport, Turn, run_call};

/// Call a running haru server the way Twilio would, speaking one WAV file per turn.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Base URL of the haru server.
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub server: String,
    /// Public base URL the server signs webhooks against (defaults to --server).
    #[arg(long)]
    pub public_base: Option<String>,
    /// Twilio auth token used to sign the voice webhook.
    #[arg(long, env = "TWILIO_AUTH_TOKEN", hide_env_values = true)]
    pub auth_token: Option<String>,
    /// WAV file the caller says, one per turn, in order (any rate / channels).
    #[arg(long = "wav", value_name = "FILE", required = true)]
    pub wavs: Vec<PathBuf>,
    /// Silence between the end of a bot reply and the next caller turn.
    #[arg(long, default_value_t = 600)]
    pub gap_ms: u64,
    /// Quiet time after the bot's audio has played out before its reply counts as finished.
    #[arg(long, default_value_t = 1200)]
    pub settle_ms: u64,
    /// Longest wait for a reply, from the end of the caller's speech.
    #[arg(long, default_value_t = 20_000)]
    pub turn_timeout_ms: u64,
    /// Silence before anything else.
    #[arg(long, default_value_t = 500)]
    pub lead_in_ms: u64,
    /// How long after the lead-in to wait for a bot greeting before speaking first.
    #[arg(long, default_value_t = 1500)]
    pub greeting_wait_ms: u64,
    /// Clock speed; above 1 sends audio faster than real time (tests).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Talk over the bot this long after its reply starts (turns after the first).
    #[arg(long)]
    pub barge_in_ms: Option<u64>,
    /// CallSid to use (random CA… when omitted).
    #[arg(long)]
    pub call_sid: Option<String>,
    /// Caller number.
    #[arg(long, default_value = "+15005550006")]
    pub from: String,
    /// Called number.
    #[arg(long, default_value = "+15005550001")]
    pub to: String,
    /// Where to write the bot audio as played.
    #[arg(long, default_value = "out/sim-bot.wav")]
    pub out_wav: PathBuf,
    /// Where to write the report and transcript.
    #[arg(long, default_value = "out/sim-call.json")]
    pub out_json: PathBuf,
    /// Also print every mark echo.
    #[arg(long)]
    pub verbose: bool,
}

impl SimArgs {
    /// Builds the call configuration, reading every WAV up front so a bad file fails fast.
    pub fn to_config(&self) -> Result<SimConfig> {
        let mut turns = Vec::with_capacity(self.wavs.len());
        for (i, path) in self.wavs.iter().enumerate() {
            let mut turn = Turn::from_wav_file(path)?;
            if i > 0
                && let Some(ms) = self.barge_in_ms
            {
                turn.barge_in_after = Some(Duration::from_millis(ms));
            }
            turns.push(turn);
        }
        let cfg = SimConfig {
            server: self.server.clone(),
            public_base: self.public_base.clone(),
            auth_token: self.auth_token.clone().filter(|t| !t.is_empty()),
            call_sid: self.call_sid.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            turns,
            gap: Duration::from_millis(self.gap_ms),
            reply_settle: Duration::from_millis(self.settle_ms),
            turn_timeout: Duration::from_millis(self.turn_timeout_ms),
            speed: self.speed,
            lead_in: Duration::from_millis(self.lead_in_ms),
            greeting_wait: Duration::from_millis(self.greeting_wait_ms),
            ..SimConfig::default()
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Runs one call, printing it live, then writes the WAV and JSON and prints a summary.
pub async fn run(args: SimArgs) -> Result<()> {
    let cfg = args.to_config()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let verbose = args.verbose;
    // Same task as the call: the printer ends when the call drops its sender.
    let printer = async move {
        while let Some(ev) = rx.recv().await {
            if verbose || !matches!(ev, SimEvent::MarkEchoed { .. }) {
                println!("{ev}");
            }
        }
    };
    let (report, ()) = tokio::join!(run_call(cfg, Some(tx)), printer);
    let report = report?;
    report.write_bot_wav(&args.out_wav)?;
    report.write_json(&args.out_json)?;
    print!("{}", summary(&report));
    println!(
        "wrote {} and {}",
        args.out_wav.display(),
        args.out_json.display()
    );
    Ok(())
}

/// A human-readable summary of a finished call.
pub fn summary(r: &SimReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let ms = |v: Option<u64>| v.map_or("-".to_string(), |v| format!("{v} ms"));
    let _ = writeln!(
        s,
        "\ncall {} ({:?}, {} ms)",
        r.call_sid, r.ended, r.duration_ms
    );
    if r.greeting.bot_audio_ms > 0 {
        let _ = writeln!(
            s,
            "  greeting: {} ms of audio after {}",
            r.greeting.bot_audio_ms,
            ms(r.greeting.latency_ms)
        );
    }
    for t in &r.turns {
        let _ = writeln!(
            s,
            "  turn {} {:<20} caller {:>5} ms | latency {:>8} | bot {:>5} ms | marks {} | clears {}{}{}",
            t.turn,
            t.label,
            t.caller_audio_ms,
            ms(t.reply.latency_ms),
            t.reply.bot_audio_ms,
            t.reply.marks_echoed,
            t.reply.clears_received,
            if t.barged_in { " | barge-in" } else { "" },
            if t.reply.timed_out {
                " | TIMED OUT"
            } else {
                ""
            },
        );
    }
    let _ = writeln!(
        s,
        "  bot audio {} ms received, {} ms played; underruns {} ms; malformed messages {}",
        r.bot_audio_total_ms, r.bot_audio_played_ms, r.underrun_ms, r.malformed_messages
    );
    if let Some(msgs) = &r.transcript {
        let _ = writeln!(s, "  transcript:");
        for m in msgs {
            let _ = writeln!(s, "    {:>9}: {}", m.role, m.content);
        }
    }
    s
}
