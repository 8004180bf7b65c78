//! `haru demo`: a complete phone conversation on this machine, with no key and no internet.
//!
//! Starts `haru-local` (Whisper, a local LLM and TTS behind the OpenAI API), starts the
//! haru server against it, and calls it with `haru sim`. The call is Korean by default
//! (Qwen2.5, Kokoro with haru's Korean G2P; the caller's lines are synthesised by
//! haru-local in another voice); `HARU_DEMO_LANG=en` holds an English call (SmolLM2,
//! espeak-ng, recorded WAVs). Only base URLs differ from a production setup with OpenAI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use haru_sim::{SimConfig, SimReport, Turn, run_call};
use haru_store::{CallStore, Message, TurnTiming};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// The language of the demo call (`HARU_DEMO_LANG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DemoLang {
    Korean,
    English,
}

impl DemoLang {
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("HARU_DEMO_LANG")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            // Korean first, as haru is.
            "" | "ko" | "kor" | "korean" => Ok(Self::Korean),
            "en" | "eng" | "english" => Ok(Self::English),
            other => bail!("HARU_DEMO_LANG={other:?}: use ko (the default) or en"),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Korean => "ko",
            Self::English => "en",
        }
    }
}

/// The Korean caller: an afternoon walk, an appointment to extract, a goodbye.
pub const KOREAN_CALLER: [&str; 3] = [
    "안녕하세요. 오늘 아침에 공원에서 산책을 했는데 날씨가 참 좋았어요.",
    "내일 저녁 7시에 치과 예약이 있어요. 이가 좀 아파서요.",
    "고마워요. 이제 끊을게요.",
];
/// The caller's Kokoro voice and rate: an older person speaking unhurriedly (haru speaks
/// with haru-local's default voice). Of the five voices, these two are the ones Whisper
/// understands best over the phone line (round-trip CER, engines/README.md).
pub const KOREAN_CALLER_VOICE: &str = "jf_nezumi";
pub const KOREAN_CALLER_SPEED: f32 = 0.85;
/// haru's own rate in Korean: slower than Kokoro's default, easier for older listeners
/// and for Whisper alike (13 % CER at 0.9 against 18 % at 1.0).
pub const KOREAN_TTS_SPEED: &str = "0.9";

/// The conversation model haru-local loads for a Korean call, and the post-call model of
/// both languages (measured choices: engines/README.md: the 0.5B model answers 0.3 s
/// sooner but mostly repeats the caller's words back).
pub const KOREAN_CHAT_MODEL: &str = "qwen-1.5b";
pub const POSTCALL_MODEL: &str = "qwen-1.5b";

pub struct DemoOptions {
    pub lang: DemoLang,
    pub models_dir: PathBuf,
    pub haru_local: PathBuf,
    /// The caller's turns as recorded WAVs (the English call)…
    pub wavs: Vec<PathBuf>,
    /// …or as lines haru-local speaks in [`KOREAN_CALLER_VOICE`] (the Korean call).
    pub caller_lines: Vec<String>,
    pub out_dir: PathBuf,
    /// Print the sim's live events.
    pub live: bool,
    /// How long to wait for the post-call jobs before stopping (zero: don't wait).
    pub postcall_wait: Duration,
}

async fn wait_for_jobs(pc: &haru_postcall::PostCall, call_sid: &str, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let filter = haru_postcall::JobFilter {
        call_sid: Some(call_sid.to_string()),
        limit: 50,
        ..Default::default()
    };
    while tokio::time::Instant::now() < deadline {
        if let Ok(jobs) = pc.jobs(&filter).await {
            let open = jobs.iter().any(|j| {
                matches!(
                    j.state,
                    haru_postcall::JobState::Pending | haru_postcall::JobState::Running
                )
            });
            if !jobs.is_empty() && !open {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl DemoOptions {
    /// Paths relative to the repository root (the working directory of `make demo`).
    pub fn from_repo(root: &Path, lang: DemoLang) -> Self {
        let models_dir = std::env::var_os("HARU_MODELS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("models"));
        let haru_local = std::env::var_os("HARU_LOCAL_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("engines/target/debug/haru-local"));
        let (wavs, caller_lines) = match lang {
            DemoLang::English => (
                vec![
                    models_dir.join("fixtures/clone-test.wav"),
                    root.join("fixtures/en-dentist.wav"),
                    root.join("fixtures/en-goodbye.wav"),
                ],
                Vec::new(),
            ),
            DemoLang::Korean => (
                Vec::new(),
                KOREAN_CALLER.iter().map(|s| s.to_string()).collect(),
            ),
        };
        Self {
            lang,
            wavs,
            caller_lines,
            models_dir,
            haru_local,
            out_dir: root.join("out"),
            live: true,
            // Qwen 1.5B writes four answers on two cores: minutes, not seconds.
            postcall_wait: Duration::from_secs(600),
        }
    }
}

pub struct DemoResult {
    pub report: SimReport,
    pub messages: Vec<Message>,
    pub turns: Vec<TurnTiming>,
    pub wav_path: PathBuf,
    pub json_path: PathBuf,
}

/// A running haru-local (killed when dropped; it also exits when our stdin pipe closes).
pub struct LocalEngines {
    _child: Child,
    /// `host:port` of its OpenAI-compatible API (base URL `http://{addr}/v1`).
    pub addr: String,
}

/// Starts haru-local with `args` and waits for its `LISTENING addr` line.
pub async fn start_local_engines(
    haru_local: &Path,
    models_dir: &Path,
    args: &[String],
) -> anyhow::Result<LocalEngines> {
    if !haru_local.exists() {
        bail!(
            "offline engines not built: {} is missing (run `make demo`, or scripts/install-engines.sh and `cargo build` in engines/)",
            haru_local.display()
        );
    }
    if !models_dir.join("ggml-base.bin").exists() {
        bail!(
            "models missing in {} (run scripts/install-engines.sh)",
            models_dir.display()
        );
    }
    let mut cmd = Command::new(haru_local);
    cmd.arg("--models-dir")
        .arg(models_dir)
        .args(["--bind", "127.0.0.1:0", "--exit-on-stdin-eof"]);
    cmd.args(args);
    // What the environment names for another setup must not change the demo's engines.
    for k in [
        "HARU_LOCAL_LLM",
        "HARU_LOCAL_TTS",
        "HARU_WHISPER_MODEL",
        "HARU_LLM_ALIASES",
    ] {
        cmd.env_remove(k);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", haru_local.display()))?;
    let stdout = child.stdout.take().context("haru-local stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(180), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(addr) = line.strip_prefix("LISTENING ") {
                return Ok::<_, anyhow::Error>(addr.trim().to_string());
            }
        }
        bail!("haru-local exited before it was ready")
    })
    .await
    .context("haru-local did not become ready within 180 s")??;
    Ok(LocalEngines {
        _child: child,
        addr,
    })
}

/// haru-local's arguments for the demo call in `lang`.
pub fn engine_args(lang: DemoLang) -> Vec<String> {
    let (models, tts) = match lang {
        // SmolLM2 answers fastest in English; Qwen 1.5B writes the post-call results.
        DemoLang::English => (format!("smollm2,{POSTCALL_MODEL}"), "espeak"),
        DemoLang::Korean if KOREAN_CHAT_MODEL == POSTCALL_MODEL => {
            (KOREAN_CHAT_MODEL.to_string(), "kokoro")
        }
        DemoLang::Korean => (format!("{KOREAN_CHAT_MODEL},{POSTCALL_MODEL}"), "kokoro"),
    };
    vec!["--llm-model".into(), models, "--tts".into(), tts.into()]
}

fn offline_config(
    lang: DemoLang,
    listen: &str,
    engines: &str,
    db: &Path,
    auth_token: &str,
) -> anyhow::Result<haru_server::Config> {
    let mut map: HashMap<&str, String> = HashMap::new();
    map.insert("HARU_BIND", listen.to_string());
    map.insert("API_BASE_URL", format!("http://{listen}"));
    map.insert("OPENAI_BASE_URL", format!("http://{engines}/v1"));
    map.insert("HARU_DATABASE_URL", format!("sqlite:{}", db.display()));
    map.insert("TWILIO_AUTH_TOKEN", auth_token.to_string());
    // haru-local keeps the prompt cached: read the system prompt while the greeting plays.
    map.insert("HARU_LLM_WARMUP", "true".into());
    // The demo's own server on loopback: its API serves the demo's direct requests only.
    map.insert("HARU_API_LOCAL_ONLY", "1".into());
    // Two cores shared by Whisper, the LLM and the caller: be patient rather than apologise.
    for k in [
        "HARU_STT_TIMEOUT_MS",
        "HARU_LLM_TIMEOUT_MS",
        "HARU_TTS_TIMEOUT_MS",
    ] {
        map.insert(k, "30000".into());
    }
    match lang {
        DemoLang::Korean => korean_config(&mut map),
        DemoLang::English => english_config(&mut map),
    }
    let cfg = haru_server::Config::from_source(&haru_server::config::Source(|k| {
        map.get(k)
            .cloned()
            .or_else(|| std::env::var(k).ok().filter(|_| k == "RUST_LOG"))
    }))?;
    Ok(cfg)
}

/// haru's own Korean texts (the server's defaults), the Qwen models and Kokoro.
fn korean_config(map: &mut HashMap<&str, String>) {
    map.insert("HARU_STT_LANGUAGE", "ko".into());
    map.insert("HARU_LLM_MODEL", KOREAN_CHAT_MODEL.into());
    map.insert("HARU_POSTCALL_MODEL", POSTCALL_MODEL.into());
    map.insert("HARU_LLM_MAX_TOKENS", "60".into());
    // `ko` is haru-local's default Kokoro voice for Hangul text.
    map.insert("HARU_TTS_VOICE", "ko".into());
    map.insert("HARU_TTS_SPEED", KOREAN_TTS_SPEED.into());
    // A small model keeps to a short prompt better than to the server's longer one.
    map.insert(
        "HARU_SYSTEM_PROMPT",
        "당신은 어르신께 매일 전화하는 다정한 말벗 하루입니다. 상대의 말을 되풀이하지 말고, \
         먼저 짧게 공감한 뒤 그 이야기에 대해 질문을 하나 하세요. 한국어 존댓말로 두 문장 \
         이내로 말하세요. 예: 산책하셨군요, 기분 좋으셨겠어요. 어느 공원에 가셨어요?"
            .into(),
    );
}

fn english_config(map: &mut HashMap<&str, String>) {
    // The small offline LLM speaks English only.
    map.insert("HARU_STT_LANGUAGE", "en".into());
    map.insert("HARU_LLM_MODEL", "smollm2".into());
    map.insert("HARU_POSTCALL_MODEL", POSTCALL_MODEL.into());
    map.insert("HARU_LLM_MAX_TOKENS", "48".into());
    map.insert("HARU_TTS_VOICE", "en-us".into());
    map.insert(
        "HARU_SYSTEM_PROMPT",
        "You are haru, a warm companion on a phone call. Ask the person about their day. \
         Reply in one or two short, friendly spoken sentences."
            .into(),
    );
    map.insert(
        "HARU_GREETING",
        "Hi, this is haru. How was your day?".into(),
    );
    map.insert(
        "HARU_GOODBYE",
        "Thank you for talking with me. Goodbye!".into(),
    );
    map.insert(
        "HARU_APOLOGY",
        "Sorry, I had a problem. Could you say that again?".into(),
    );
    map.insert("HARU_IDLE_PROMPT", "Are you still there?".into());
    map.insert("HARU_ACK", "I see.".into());
}

/// The caller's lines, spoken by haru-local in the caller's voice (WAV, 24 kHz).
async fn synthesise_caller(engines: &str, lines: &[String]) -> anyhow::Result<Vec<Turn>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    let mut turns = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let resp = http
            .post(format!("http://{engines}/v1/audio/speech"))
            .json(&serde_json::json!({
                "model": "tts-1",
                "voice": KOREAN_CALLER_VOICE,
                "speed": KOREAN_CALLER_SPEED,
                "input": line,
                "response_format": "wav",
            }))
            .send()
            .await
            .context("synthesising the caller's line")?;
        if !resp.status().is_success() {
            bail!(
                "haru-local could not speak the caller's line {line:?}: {} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        let wav = resp.bytes().await?;
        turns.push(Turn::from_wav_bytes(
            &wav,
            format!("caller line {}", i + 1),
        )?);
    }
    Ok(turns)
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<DemoResult> {
    for w in &opts.wavs {
        if !w.exists() {
            bail!(
                "caller audio {} is missing (run scripts/install-engines.sh)",
                w.display()
            );
        }
    }
    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    let engines =
        start_local_engines(&opts.haru_local, &opts.models_dir, &engine_args(opts.lang)).await?;
    let engines_addr = engines.addr.clone();
    tracing::info!("offline engines ready at http://{engines_addr}/v1");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let listen = listener.local_addr()?.to_string();
    let db = opts.out_dir.join("demo.db");
    let auth_token = format!("demo-{}", std::process::id());
    let cfg = offline_config(opts.lang, &listen, &engines_addr, &db, &auth_token)?;
    let shutdown = CancellationToken::new();
    let running = crate::run::start(cfg, listener, shutdown.clone()).await?;
    let store: Arc<dyn CallStore> = running.store.clone();
    tracing::info!("haru listening on http://{listen}; calling it with haru sim");
    // Loopback-only without a token: the dashboard opens without a login while the demo runs.
    tracing::info!("watch the call live in the dashboard: http://{listen}/app/live");

    let mut turns = Vec::new();
    for w in &opts.wavs {
        turns.push(Turn::from_wav_file(w)?);
    }
    if !opts.caller_lines.is_empty() {
        tracing::info!(
            "synthesising the caller's {} lines",
            opts.caller_lines.len()
        );
        turns.extend(synthesise_caller(&engines_addr, &opts.caller_lines).await?);
    }
    let cfg = SimConfig {
        server: format!("http://{listen}"),
        auth_token: Some(auth_token),
        turns,
        turn_timeout: Duration::from_secs(60),
        // On two busy cores the local LLM and Kokoro can pause between sentences; a
        // patient caller waits it out rather than talk over the reply.
        reply_settle: match opts.lang {
            DemoLang::English => Duration::from_secs(3),
            DemoLang::Korean => Duration::from_secs(6),
        },
        ..SimConfig::default()
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let live = opts.live;
    let printer = tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            if live {
                tracing::info!(target: "haru::sim", "📞 {ev}");
            }
        }
    });
    let report = run_call(cfg, Some(tx)).await;
    let _ = printer.await;
    let report = match report {
        Ok(r) => r,
        Err(e) => {
            shutdown.cancel();
            return Err(e);
        }
    };
    // After the call: diary, schedules and mood are written by the post-call worker.
    if opts.postcall_wait > Duration::ZERO {
        tracing::info!("waiting for the post-call jobs (diary, schedules, mood, quality)");
        wait_for_jobs(&running.postcall, &report.call_sid, opts.postcall_wait).await;
    } else {
        // Let the session finish writing the call before reading it back.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    shutdown.cancel();
    let _ = running.server.await;
    let _ = running.worker.await;
    drop(engines);
    let wav_path = opts.out_dir.join("demo-bot.wav");
    let json_path = opts.out_dir.join("demo-call.json");
    report.write_bot_wav(&wav_path)?;
    report.write_json(&json_path)?;
    let messages = store.messages(&report.call_sid).await?;
    let turns = store.turns(&report.call_sid).await?;
    Ok(DemoResult {
        report,
        messages,
        turns,
        wav_path,
        json_path,
    })
}

/// The closing summary printed by `haru demo`.
pub fn summary(r: &DemoResult) -> String {
    let mut s = String::new();
    s.push_str("\n📋 Full transcript\n────────────────────────────────────────\n");
    for m in &r.messages {
        let who = match m.role {
            haru_store::Role::User => "👤 caller",
            haru_store::Role::Assistant => "🤖 haru  ",
            _ => "   other ",
        };
        s.push_str(&format!(
            "{who}: {}{}\n",
            m.content,
            if m.interrupted { " (cut off)" } else { "" }
        ));
    }
    s.push_str("────────────────────────────────────────\n⏱️  Per-turn latency (ms)\n");
    s.push_str(
        "turn  stt  llm-first-token  tts-first-byte  end-of-speech→first-audio  →answer  outcome\n",
    );
    for t in &r.turns {
        let f = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        s.push_str(&format!(
            "{:>4} {:>4} {:>16} {:>15} {:>26} {:>8}  {}\n",
            t.turn_index,
            f(t.stt_ms),
            f(t.llm_first_token_ms),
            f(t.tts_first_byte_ms),
            f(t.first_audio_ms),
            f(t.answer_audio_ms),
            t.outcome
        ));
    }
    s.push_str(
        "(first audio is the acknowledgement \"네.\" when the answer was not ready; →answer is\n the answer itself)\n",
    );
    s.push_str(&format!(
        "\n🔊 bot audio as the caller heard it: {}\n🧾 call report (JSON): {}\n",
        r.wav_path.display(),
        r.json_path.display()
    ));
    s
}
