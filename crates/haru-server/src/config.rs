//! Configuration from environment variables (and an optional `.env`), validated at start-up.
//!
//! Names follow the seed (`OPENAI_API_KEY`, `TEST_PHONE_NUMBER`, `API_BASE_URL`). A bad
//! value gives one error naming the variable; secret values never appear in errors or logs.

use std::net::SocketAddr;
use std::time::Duration;

use haru_session::SessionConfig;
use haru_telephony::url::PublicBase;

#[derive(Debug, thiserror::Error)]
#[error("configuration error in {var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

/// A secret that prints as `<redacted>`.
#[derive(Clone, Default, PartialEq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// `HARU_DATABASE_URL`: its password must never print (`Debug` shows it as `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&haru_store::redact_url(&self.0))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub api_key: Option<Secret>,
    pub stt_base_url: String,
    pub llm_base_url: String,
    pub tts_base_url: String,
    pub stt_model: String,
    pub stt_language: Option<String>,
    pub llm_model: String,
    pub llm_max_tokens: Option<u32>,
    /// The LLM for after-call jobs (diary, schedules, mood); defaults to the conversation's.
    pub postcall_base_url: String,
    pub postcall_model: String,
    pub tts_model: String,
    pub tts_voice: String,
    /// `HARU_TTS_SPEED`: OpenAI's `speed`, 0.25–4.0 (unset: the provider's 1.0).
    pub tts_speed: Option<f32>,
}

#[derive(Debug, Clone)]
pub struct TwilioConfig {
    pub account_sid: Option<String>,
    pub auth_token: Option<Secret>,
    pub phone_number: Option<String>,
    pub test_phone_number: Option<String>,
    pub api_base: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The daily companion's knobs (`HARU_SCHEDULER_TICK_MS`, `HARU_CALL_*`, ...).
    pub companion: CompanionSettings,
    /// Emergency/despair phrases per call language (`HARU_EMERGENCY_PHRASES_KO`, ...).
    pub safety_ko: haru_session::Safety,
    pub safety_en: haru_session::Safety,
    pub bind: SocketAddr,
    pub public_base: PublicBase,
    pub public_base_configured: bool,
    pub database_url: DatabaseUrl,
    /// `HARU_INSTANCE_LEASE_MS`: how long an instance's heartbeat holds its calls; after
    /// that, any instance closes them (`server lost`) and queues their post-call jobs.
    pub instance_lease_ms: u64,
    pub log_format: LogFormat,
    pub api_token: Option<Secret>,
    /// `HARU_API_LOCAL_ONLY=1`: without a token, the REST API serves direct loopback peers.
    pub api_local_only: bool,
    /// `HARU_RECORD_CALLS=1`: keep each call's audio (both sides, one stereo WAV) with the
    /// call; erased with its person. Off by default: recording needs the callers' consent.
    pub record_calls: bool,
    pub timezone: String,
    pub providers: ProviderConfig,
    pub twilio: TwilioConfig,
    pub session: SessionConfig,
    pub turn_model: TurnModelConfig,
    /// Connection limits at the edge (`HARU_*_TIMEOUT_MS`, `HARU_MAX_*`).
    pub limits: crate::serve::Limits,
    /// Media streams that may wait for their `start` at once (`HARU_MAX_PENDING_STREAMS`).
    pub max_pending_streams: usize,
    /// How much faster than real time a stream's audio may run (`HARU_STREAM_MAX_SPEED`).
    pub stream_max_speed: f64,
    /// Share of one core the turn model may use per second (`HARU_TURN_MODEL_CPU`).
    pub turn_model_cpu: f64,
}

/// Where the audio end-of-turn model (Smart Turn v3 and `libonnxruntime`) is found.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnModelConfig {
    /// `HARU_TURN_MODEL=off`: decide by silence and words only.
    Off,
    /// `HARU_TURN_MODEL=<dir>`: this directory must hold the model; start-up fails if not.
    Required(std::path::PathBuf),
    /// Default: use the model if `HARU_MODELS_DIR` (or `./models`) holds it.
    IfPresent(std::path::PathBuf),
}

/// Reads variables through `get`, so tests can configure without touching the process env.
pub struct Source<F: Fn(&str) -> Option<String>>(pub F);

impl<F: Fn(&str) -> Option<String>> Source<F> {
    fn opt(&self, var: &str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn or(&self, var: &str, default: &str) -> String {
        self.opt(var).unwrap_or_else(|| default.to_string())
    }

    fn parse<T: std::str::FromStr>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.opt(var) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError {
                var,
                message: format!("`{v}` is not valid: {e}"),
            }),
        }
    }

    fn ms(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        Ok(Duration::from_millis(self.parse(var, default)?))
    }

    fn url(&self, var: &'static str, default: &str) -> Result<String, ConfigError> {
        let v = self.or(var, default);
        match url::Url::parse(&v) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                Ok(v.trim_end_matches('/').to_string())
            }
            _ => Err(ConfigError {
                var,
                message: format!("`{v}` is not an http(s) URL"),
            }),
        }
    }
}

fn limits<F: Fn(&str) -> Option<String>>(
    s: &Source<F>,
) -> Result<crate::serve::Limits, ConfigError> {
    let d = crate::serve::Limits::default();
    let ms = |var: &'static str,
              default: std::time::Duration|
     -> Result<std::time::Duration, ConfigError> {
        let v: u64 = s.parse(var, default.as_millis() as u64)?;
        if v == 0 {
            return Err(ConfigError {
                var,
                message: "must be above 0".into(),
            });
        }
        Ok(std::time::Duration::from_millis(v))
    };
    Ok(crate::serve::Limits {
        header_timeout: ms("HARU_HEADER_TIMEOUT_MS", d.header_timeout)?,
        body_timeout: ms("HARU_BODY_TIMEOUT_MS", d.body_timeout)?,
        max_connections: s.parse("HARU_MAX_CONNECTIONS", d.max_connections)?,
        max_pending: s.parse("HARU_MAX_PENDING_CONNECTIONS", d.max_pending)?,
    })
}

impl Config {
    /// Loads `.env` (if present) and the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_source(&Source(|k| std::env::var(k).ok()))
    }

    pub fn from_source<F: Fn(&str) -> Option<String>>(s: &Source<F>) -> Result<Self, ConfigError> {
        let bind: SocketAddr = s.parse("HARU_BIND", "0.0.0.0:8000".parse().expect("literal"))?;
        let (public_base, configured) = match s.opt("API_BASE_URL") {
            Some(v) => (
                PublicBase::parse(&v).map_err(|e| ConfigError {
                    var: "API_BASE_URL",
                    message: e.to_string(),
                })?,
                true,
            ),
            None => {
                let host = if bind.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else {
                    bind.ip().to_string()
                };
                (
                    PublicBase::parse(&format!("http://{host}:{}", bind.port())).map_err(|e| {
                        ConfigError {
                            var: "HARU_BIND",
                            message: e.to_string(),
                        }
                    })?,
                    false,
                )
            }
        };
        let log_format = match s.or("HARU_LOG_FORMAT", "pretty").as_str() {
            "pretty" | "text" => LogFormat::Pretty,
            "json" => LogFormat::Json,
            other => {
                return Err(ConfigError {
                    var: "HARU_LOG_FORMAT",
                    message: format!("`{other}` is not one of pretty, json"),
                });
            }
        };
        let openai_base = s.url("OPENAI_BASE_URL", "https://api.openai.com/v1")?;
        let providers = ProviderConfig {
            api_key: s.opt("OPENAI_API_KEY").map(Secret),
            stt_base_url: s.url("HARU_STT_BASE_URL", &openai_base)?,
            llm_base_url: s.url("HARU_LLM_BASE_URL", &openai_base)?,
            tts_base_url: s.url("HARU_TTS_BASE_URL", &openai_base)?,
            stt_model: s.or("HARU_STT_MODEL", "whisper-1"),
            stt_language: Some(s.or("HARU_STT_LANGUAGE", "ko")).filter(|l| l != "auto"),
            llm_model: s.or("HARU_LLM_MODEL", "gpt-4o-mini"),
            llm_max_tokens: s
                .opt("HARU_LLM_MAX_TOKENS")
                .map(|v| v.parse())
                .transpose()
                .map_err(|e| ConfigError {
                    var: "HARU_LLM_MAX_TOKENS",
                    message: format!("not a number: {e}"),
                })?,
            postcall_base_url: s.url(
                "HARU_POSTCALL_BASE_URL",
                &s.or("HARU_LLM_BASE_URL", &openai_base),
            )?,
            postcall_model: s.or(
                "HARU_POSTCALL_MODEL",
                &s.or("HARU_LLM_MODEL", "gpt-4o-mini"),
            ),
            tts_model: s.or("HARU_TTS_MODEL", "tts-1"),
            tts_voice: s.or("HARU_TTS_VOICE", "alloy"),
            tts_speed: match s.opt("HARU_TTS_SPEED") {
                None => None,
                Some(v) => match v.trim().parse::<f32>() {
                    Ok(x) if (0.25..=4.0).contains(&x) => Some(x),
                    _ => {
                        return Err(ConfigError {
                            var: "HARU_TTS_SPEED",
                            message: format!("`{v}`: expected a number from 0.25 to 4.0"),
                        });
                    }
                },
            },
        };
        let twilio = TwilioConfig {
            account_sid: s.opt("TWILIO_ACCOUNT_SID"),
            auth_token: s.opt("TWILIO_AUTH_TOKEN").map(Secret),
            phone_number: s.opt("TWILIO_PHONE_NUMBER"),
            test_phone_number: s.opt("TEST_PHONE_NUMBER"),
            api_base: s.url("TWILIO_API_BASE", "https://api.twilio.com")?,
        };
        if let Some(sid) = &twilio.account_sid
            && (!sid.starts_with("AC") || sid.len() != 34)
        {
            return Err(ConfigError {
                var: "TWILIO_ACCOUNT_SID",
                message: "expected `AC` followed by 32 hex characters".into(),
            });
        }
        let d = SessionConfig::default();
        let mut turn = d.turn.clone();
        turn.vad_threshold = s.parse("HARU_VAD_THRESHOLD", turn.vad_threshold)?;
        turn.min_speech_ms = s.parse("HARU_MIN_SPEECH_MS", turn.min_speech_ms)?;
        turn.pause_ms = s.parse("HARU_PAUSE_MS", turn.pause_ms)?;
        turn.end_silence_ms = s.parse("HARU_END_SILENCE_MS", turn.end_silence_ms)?;
        turn.min_utterance_ms = s.parse("HARU_MIN_UTTERANCE_MS", turn.min_utterance_ms)?;
        turn.max_utterance_ms = s.parse("HARU_MAX_UTTERANCE_MS", turn.max_utterance_ms)?;
        let de = d.eot.clone();
        let eot = haru_session::EotConfig {
            policy: s.parse("HARU_EOT_POLICY", de.policy)?,
            complete_ms: s.parse("HARU_EOT_COMPLETE_MS", de.complete_ms)?,
            neutral_ms: s.parse("HARU_EOT_NEUTRAL_MS", de.neutral_ms)?,
            incomplete_ms: s.parse("HARU_EOT_INCOMPLETE_MS", de.incomplete_ms)?,
            unknown_ms: s.parse("HARU_EOT_UNKNOWN_MS", de.unknown_ms)?,
            max_ms: s.parse("HARU_EOT_MAX_MS", de.max_ms)?,
            sure_ms: s.parse("HARU_EOT_SURE_MS", de.sure_ms)?,
            audio_finished: s.parse("HARU_EOT_AUDIO_FINISHED", de.audio_finished)?,
            audio_unfinished: s.parse("HARU_EOT_AUDIO_UNFINISHED", de.audio_unfinished)?,
        };
        let turn_model = match s.opt("HARU_TURN_MODEL").as_deref() {
            Some("off") | Some("none") => TurnModelConfig::Off,
            Some(dir) => TurnModelConfig::Required(dir.into()),
            None => TurnModelConfig::IfPresent(
                s.opt("HARU_MODELS_DIR")
                    .unwrap_or_else(|| "models".into())
                    .into(),
            ),
        };
        let session = SessionConfig {
            turn,
            eot,
            system_prompt: s.or("HARU_SYSTEM_PROMPT", &d.system_prompt),
            greeting: (s.0)("HARU_GREETING").unwrap_or(d.greeting.clone()),
            goodbye: s.or("HARU_GOODBYE", &d.goodbye),
            apology: s.or("HARU_APOLOGY", &d.apology),
            idle_prompt: s.or("HARU_IDLE_PROMPT", &d.idle_prompt),
            end_keywords: s
                .opt("HARU_END_KEYWORDS")
                .map(|v| {
                    v.split(',')
                        .map(|k| k.trim().to_string())
                        .filter(|k| !k.is_empty())
                        .collect()
                })
                .unwrap_or(d.end_keywords.clone()),
            barge_in_min_ms: s.parse("HARU_BARGE_IN_MIN_MS", d.barge_in_min_ms)?,
            idle_timeout: s.ms("HARU_IDLE_TIMEOUT_MS", d.idle_timeout.as_millis() as u64)?,
            max_call: s.ms("HARU_MAX_CALL_MS", d.max_call.as_millis() as u64)?,
            stt_timeout: s.ms("HARU_STT_TIMEOUT_MS", d.stt_timeout.as_millis() as u64)?,
            llm_timeout: s.ms("HARU_LLM_TIMEOUT_MS", d.llm_timeout.as_millis() as u64)?,
            tts_timeout: s.ms("HARU_TTS_TIMEOUT_MS", d.tts_timeout.as_millis() as u64)?,
            sentence_max_chars: s.parse("HARU_SENTENCE_MAX_CHARS", d.sentence_max_chars)?,
            speculative: s.parse("HARU_SPECULATIVE", d.speculative)?,
            max_history: s.parse("HARU_MAX_HISTORY", d.max_history)?,
            language: None,
            safety: safety(s, providers.stt_language.as_deref().unwrap_or("ko")),
            llm_warmup: s.parse("HARU_LLM_WARMUP", d.llm_warmup)?,
            acks: s
                .opt("HARU_ACK")
                .map(|v| {
                    v.split('|')
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty())
                        .collect()
                })
                .or_else(|| (s.0)("HARU_ACK").map(|_| Vec::new()))
                .unwrap_or(d.acks.clone()),
            ack_after: s.ms("HARU_ACK_AFTER_MS", d.ack_after.as_millis() as u64)?,
        };
        session.validate().map_err(|e| ConfigError {
            var: e.var,
            message: e.message,
        })?;
        Ok(Self {
            companion: CompanionSettings {
                tick_ms: s.parse("HARU_SCHEDULER_TICK_MS", 15_000u64)?,
                max_attempts: s.parse("HARU_CALL_ATTEMPTS", 3u32)?,
                retry_minutes: s.parse("HARU_CALL_RETRY_MINUTES", 10u64)?,
                machine_hangup: match s.opt("HARU_MACHINE").as_deref() {
                    None | Some("message") => false,
                    Some("hangup") => true,
                    Some(other) => {
                        return Err(ConfigError {
                            var: "HARU_MACHINE",
                            message: format!("`{other}`: expected message or hangup"),
                        });
                    }
                },
                memory_tokens: s.parse("HARU_MEMORY_TOKENS", 400usize)?,
                low_mood_score: s.parse("HARU_ALERT_LOW_MOOD_SCORE", -0.5f64)?,
                low_mood_calls: s.parse("HARU_ALERT_LOW_MOOD_CALLS", 3usize)?,
                missed_calls: s.parse("HARU_ALERT_MISSED_CALLS", 3usize)?,
            },
            safety_ko: safety(s, "ko"),
            safety_en: safety(s, "en"),
            bind,
            public_base,
            public_base_configured: configured,
            database_url: DatabaseUrl(s.or("HARU_DATABASE_URL", "sqlite:haru.db")),
            instance_lease_ms: s.parse("HARU_INSTANCE_LEASE_MS", 15_000u64)?.max(1_000),
            log_format,
            api_token: s.opt("HARU_API_TOKEN").map(Secret),
            api_local_only: match s.opt("HARU_API_LOCAL_ONLY").as_deref() {
                None | Some("0") | Some("false") => false,
                Some("1") | Some("true") => true,
                Some(other) => {
                    return Err(ConfigError {
                        var: "HARU_API_LOCAL_ONLY",
                        message: format!("`{other}`: expected 1 or 0"),
                    });
                }
            },
            record_calls: match s.opt("HARU_RECORD_CALLS").as_deref() {
                None | Some("0") | Some("false") => false,
                Some("1") | Some("true") => true,
                Some(other) => {
                    return Err(ConfigError {
                        var: "HARU_RECORD_CALLS",
                        message: format!("`{other}`: expected 1 or 0"),
                    });
                }
            },
            timezone: s.or("HARU_TIMEZONE", "Asia/Seoul"),
            providers,
            twilio,
            session,
            turn_model,
            turn_model_cpu: s.parse("HARU_TURN_MODEL_CPU", 0.1)?,
            limits: limits(s)?,
            max_pending_streams: s.parse("HARU_MAX_PENDING_STREAMS", 128usize)?,
            stream_max_speed: match s
                .parse("HARU_STREAM_MAX_SPEED", crate::budget::AUDIO_SPEED_MAX)?
            {
                v if v.is_finite() && v >= 1.0 => v,
                v => {
                    return Err(ConfigError {
                        var: "HARU_STREAM_MAX_SPEED",
                        message: format!("`{v}`: must be at least 1 (real time)"),
                    });
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_source(&Source(move |k| map.get(k).cloned()))
    }

    #[test]
    fn defaults_are_usable() {
        let c = load(&[]).unwrap();
        assert_eq!(c.bind.to_string(), "0.0.0.0:8000");
        assert_eq!(c.providers.llm_base_url, "https://api.openai.com/v1");
        assert_eq!(c.twilio.api_base, "https://api.twilio.com");
        assert_eq!(c.database_url.expose(), "sqlite:haru.db");
        assert_eq!(c.session.turn.end_silence_ms, 600);
        assert!(!c.public_base_configured);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let e = load(&[("HARU_BIND", "not-an-addr")]).unwrap_err();
        assert_eq!(e.var, "HARU_BIND");
        let e = load(&[("OPENAI_BASE_URL", "ftp://x")]).unwrap_err();
        assert_eq!(e.var, "OPENAI_BASE_URL");
        let e = load(&[("API_BASE_URL", "https://x.io/path")]).unwrap_err();
        assert_eq!(e.var, "API_BASE_URL");
        let e = load(&[("HARU_END_SILENCE_MS", "soon")]).unwrap_err();
        assert_eq!(e.var, "HARU_END_SILENCE_MS");
        let e = load(&[("TWILIO_ACCOUNT_SID", "XY123")]).unwrap_err();
        assert_eq!(e.var, "TWILIO_ACCOUNT_SID");
        // Values that parse but no call could work with.
        let e = load(&[("HARU_MAX_CALL_MS", "18446744073709551615")]).unwrap_err();
        assert_eq!(e.var, "HARU_MAX_CALL_MS");
        let e = load(&[("HARU_END_SILENCE_MS", "4000000000")]).unwrap_err();
        assert_eq!(e.var, "HARU_END_SILENCE_MS");
        let e = load(&[("HARU_LLM_TIMEOUT_MS", "0")]).unwrap_err();
        assert_eq!(e.var, "HARU_LLM_TIMEOUT_MS");
        for bad in ["slow", "0", "5", "NaN"] {
            let e = load(&[("HARU_TTS_SPEED", bad)]).unwrap_err();
            assert_eq!(e.var, "HARU_TTS_SPEED", "{bad}");
        }
        assert_eq!(load(&[]).unwrap().providers.tts_speed, None);
        let c = load(&[("HARU_TTS_SPEED", "0.85")]).unwrap();
        assert_eq!(c.providers.tts_speed, Some(0.85));
    }

    #[test]
    fn secrets_never_print() {
        let c = load(&[
            ("OPENAI_API_KEY", "sk-very-secret"),
            ("TWILIO_AUTH_TOKEN", "tw-very-secret"),
            ("HARU_API_TOKEN", "api-very-secret"),
            (
                "HARU_DATABASE_URL",
                "postgres://haru:db-very-secret@db.internal/haru",
            ),
        ])
        .unwrap();
        let dump = format!("{c:?}");
        assert!(!dump.contains("very-secret"), "{dump}");
        assert!(
            dump.contains("db.internal"),
            "the database is still named: {dump}"
        );
        let e = load(&[("TWILIO_AUTH_TOKEN", "tw-very-secret"), ("HARU_BIND", "x")]).unwrap_err();
        assert!(!e.to_string().contains("very-secret"));
    }
}

/// The phrases for a language: the built-in lists, each replaced by
/// `HARU_EMERGENCY_PHRASES_<LANG>` / `HARU_DISTRESS_PHRASES_<LANG>` (comma-separated) when set.
fn safety<F: Fn(&str) -> Option<String>>(s: &Source<F>, language: &str) -> haru_session::Safety {
    let mut out = haru_session::Safety::for_language(language);
    let lang = if language.starts_with("en") {
        "EN"
    } else {
        "KO"
    };
    let list = |v: String| -> Vec<String> {
        v.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    };
    if let Some(v) = s.opt(&format!("HARU_EMERGENCY_PHRASES_{lang}")) {
        out.emergency = list(v);
    }
    if let Some(v) = s.opt(&format!("HARU_DISTRESS_PHRASES_{lang}")) {
        out.distress = list(v);
    }
    out
}

impl Config {
    /// The phrases for a call in `language`.
    pub fn safety_for(&self, language: &str) -> &haru_session::Safety {
        if language.starts_with("en") {
            &self.safety_en
        } else {
            &self.safety_ko
        }
    }
}

/// The daily companion's settings, read with the rest of the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CompanionSettings {
    pub tick_ms: u64,
    /// Tries per daily call, the first included.
    pub max_attempts: u32,
    /// Wait before the first retry (doubling, capped at 3×).
    pub retry_minutes: u64,
    /// `HARU_MACHINE=hangup`: hang up on answering machines instead of leaving a message.
    pub machine_hangup: bool,
    pub memory_tokens: usize,
    pub low_mood_score: f64,
    pub low_mood_calls: usize,
    pub missed_calls: usize,
}
