//! Text-to-speech, 24 kHz 16-bit mono (OpenAI's `pcm` format), streamed as
//! it is synthesised: Kokoro-82M with our Korean G2P for Hangul text (when
//! installed), the espeak-ng CLI (resampled from 22,050 Hz) for everything
//! else and as Kokoro's fallback.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::mpsc;

use crate::audio::{StreamResampler, to_pcm16le};
use crate::cpu_gate::CpuGate;
use crate::error::ApiError;
use crate::{g2p_ko, kokoro};

/// OpenAI's `pcm` output rate.
pub const OUTPUT_RATE: u32 = 24_000;
/// OpenAI's input limit for /v1/audio/speech.
pub const MAX_INPUT_CHARS: usize = 4096;
const BASE_WPM: f32 = 175.0; // espeak-ng's default speaking rate

/// Silence between two Kokoro sentences.
const SENTENCE_GAP_MS: usize = 200;

/// Which engine speaks Korean (`--tts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KoreanTts {
    /// Kokoro-82M + haru's Korean G2P (espeak-ng if Kokoro is not installed).
    Kokoro,
    /// espeak-ng's `ko` voice.
    Espeak,
}

pub struct TtsEngine {
    binary: PathBuf,
    kokoro: Option<KokoroVoice>,
}

struct KokoroVoice {
    model: Arc<kokoro::Kokoro>,
    default_voice: String,
    /// Shared with the LLM and STT: see `cpu_gate`.
    gate: CpuGate,
}

/// The engine and voice chosen for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Voice {
    Espeak(String),
    Kokoro(String),
}

/// A chunk of 16-bit LE PCM at 24 kHz, or a mid-stream failure.
pub type PcmChunk = Result<Bytes, std::io::Error>;

impl TtsEngine {
    pub fn new(binary: PathBuf) -> Self {
        Self {
            binary,
            kokoro: None,
        }
    }

    /// Load Kokoro for Korean text if `mode` asks for it and it is installed;
    /// otherwise (or if it fails to load) Korean stays with espeak-ng.
    pub async fn with_korean(
        mut self,
        mode: KoreanTts,
        models_dir: &Path,
        default_voice: &str,
        threads: usize,
        gate: CpuGate,
    ) -> Self {
        if mode == KoreanTts::Espeak {
            return self;
        }
        let paths = kokoro::KokoroPaths::in_models_dir(models_dir);
        if let Some(missing) = paths.missing() {
            tracing::warn!(
                "Kokoro not installed ({} missing; scripts/install-engines.sh installs it): Korean uses espeak-ng",
                missing.display()
            );
            return self;
        }
        let started = std::time::Instant::now();
        match tokio::task::spawn_blocking(move || kokoro::Kokoro::load(&paths, threads)).await {
            Ok(Ok(model)) => {
                let default_voice = if model.has_voice(default_voice) {
                    default_voice.to_string()
                } else {
                    tracing::warn!(
                        voice = default_voice,
                        "unknown Kokoro voice, using {}",
                        kokoro::DEFAULT_VOICE
                    );
                    kokoro::DEFAULT_VOICE.to_string()
                };
                tracing::info!(ms = started.elapsed().as_millis() as u64, voice = %default_voice, "Kokoro loaded: Korean text uses it");
                self.kokoro = Some(KokoroVoice {
                    model: Arc::new(model),
                    default_voice,
                    gate,
                });
            }
            Ok(Err(e)) => tracing::warn!("Kokoro failed to load, Korean uses espeak-ng: {e:#}"),
            Err(e) => tracing::warn!("Kokoro failed to load, Korean uses espeak-ng: {e}"),
        }
        self
    }

    /// Pick the engine: Kokoro for text with Hangul (unless the request names
    /// the `espeak-ng` model or an espeak voice other than `ko` and OpenAI's
    /// names), espeak-ng otherwise. A Kokoro voice id (`jf_alpha`, …) picks
    /// that voice; any other voice gets the default one.
    pub fn choose(&self, text: &str, model: &str, voice: &str) -> Result<Voice, ApiError> {
        let v = voice.trim().to_ascii_lowercase();
        if let Some(k) = &self.kokoro
            && !model.eq_ignore_ascii_case("espeak-ng")
            && g2p_ko::has_hangul(text)
        {
            if k.model.has_voice(&v) {
                return Ok(Voice::Kokoro(v));
            }
            let espeak = resolve_voice(voice)?;
            if v == "ko" || v != espeak {
                // `ko` or an OpenAI voice name.
                return Ok(Voice::Kokoro(k.default_voice.clone()));
            }
            return Ok(Voice::Espeak(espeak));
        }
        resolve_voice(voice).map(Voice::Espeak)
    }

    /// Start synthesis; the audio streams through the receiver.
    pub async fn synthesize(
        &self,
        text: &str,
        voice: &Voice,
        speed: f32,
    ) -> Result<mpsc::Receiver<PcmChunk>, ApiError> {
        self.synthesize_with(text, voice, speed, true).await
    }

    /// `early_start`: the client plays as it receives (a phone call), so Kokoro may cut a
    /// long first sentence for an earlier first sound, at some cost in intonation. A
    /// client that waits for the whole file gets whole sentences.
    async fn synthesize_with(
        &self,
        text: &str,
        voice: &Voice,
        speed: f32,
        early_start: bool,
    ) -> Result<mpsc::Receiver<PcmChunk>, ApiError> {
        match voice {
            Voice::Espeak(v) => self.espeak(text, v, speed).await,
            Voice::Kokoro(v) => match self.kokoro_stream(text, v, speed, early_start).await {
                Ok(rx) => Ok(rx),
                Err(e) => {
                    tracing::warn!("Kokoro failed, falling back to espeak-ng: {e:#}");
                    self.espeak(text, "ko", speed).await
                }
            },
        }
    }

    /// Kokoro, sentence by sentence. The first sentence is synthesised before
    /// returning, so a failure can still fall back to espeak-ng.
    async fn kokoro_stream(
        &self,
        text: &str,
        voice: &str,
        speed: f32,
        early_start: bool,
    ) -> anyhow::Result<mpsc::Receiver<PcmChunk>> {
        let k = self.kokoro.as_ref().context("Kokoro not loaded")?;
        let mut chunks = kokoro::chunks(&g2p_ko::to_ipa(text));
        anyhow::ensure!(!chunks.is_empty(), "nothing speakable in the input");
        // The first sound waits for the first chunk: keep it short (see split_first).
        let mut joined_to_first = false;
        if let Some((head, tail)) = kokoro::split_first(&chunks[0]).filter(|_| early_start) {
            chunks[0] = tail;
            chunks.insert(0, head);
            joined_to_first = true;
        }
        let mut chunks = chunks.into_iter();
        let first = chunks.next().context("nothing speakable in the input")?;
        let run = |ipa: String| {
            let (model, gate, voice) = (k.model.clone(), k.gate.clone(), voice.to_string());
            async move {
                // One inference at a time across engines (see cpu_gate).
                let _turn = gate.lock().await;
                tokio::task::spawn_blocking(move || model.synthesize(&ipa, &voice, speed))
                    .await
                    .map_err(|e| anyhow::anyhow!("Kokoro task: {e}"))?
            }
        };
        let audio = run(first).await?;
        anyhow::ensure!(!audio.is_empty(), "Kokoro produced no audio");
        let (tx, rx) = mpsc::channel(8);
        let rest: Vec<_> = chunks.map(run).collect();
        tokio::spawn(async move {
            if tx.send(Ok(Bytes::from(to_pcm16le(&audio)))).await.is_err() {
                return;
            }
            let gap = to_pcm16le(&vec![
                0.0;
                kokoro::SAMPLE_RATE as usize * SENTENCE_GAP_MS / 1000
            ]);
            for (i, next) in rest.into_iter().enumerate() {
                let chunk = match next.await {
                    Ok(a) => {
                        // The rest of a cut first sentence follows without a pause.
                        let mut pcm = if i == 0 && joined_to_first {
                            Vec::new()
                        } else {
                            gap.clone()
                        };
                        pcm.extend_from_slice(&to_pcm16le(&a));
                        Ok(Bytes::from(pcm))
                    }
                    Err(e) => Err(std::io::Error::other(format!("{e:#}"))),
                };
                let failed = chunk.is_err();
                // A closed receiver means the client went away: stop synthesising.
                if tx.send(chunk).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// Check that espeak-ng runs, so a missing install fails at startup.
    pub async fn probe(&self) -> anyhow::Result<()> {
        let out = Command::new(&self.binary)
            .arg("--version")
            .output()
            .await
            .map_err(|e| anyhow::anyhow!("cannot run {}: {e}", self.binary.display()))?;
        anyhow::ensure!(
            out.status.success(),
            "{} --version failed",
            self.binary.display()
        );
        Ok(())
    }

    /// Start espeak-ng. Errors that espeak reports before producing audio
    /// (unknown voice) come back as `Err`; the audio then streams through the
    /// receiver. Dropping the receiver kills espeak.
    async fn espeak(
        &self,
        text: &str,
        voice: &str,
        speed: f32,
    ) -> Result<mpsc::Receiver<PcmChunk>, ApiError> {
        let wpm = (BASE_WPM * speed).round().clamp(80.0, 500.0) as u32;
        let mut child = Command::new(&self.binary)
            .args(["--stdout", "--stdin", "-v", voice, "-s", &wpm.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ApiError::internal(format!("cannot start espeak-ng: {e}")))?;

        // Text goes through stdin, never argv: no option injection, no size limit.
        let mut stdin = child
            .stdin
            .take()
            .ok_or_else(|| ApiError::internal("espeak-ng stdin unavailable"))?;
        let input = text.as_bytes().to_vec();
        tokio::spawn(async move {
            // A write error means espeak died; its exit status reports why.
            let _ = stdin.write_all(&input).await;
            let _ = stdin.shutdown().await;
        });

        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| ApiError::internal("espeak-ng stdout unavailable"))?;
        let header = match read_wav_header(&mut stdout).await {
            Ok(h) => h,
            Err(why) => return Err(espeak_failure(child, voice, why).await),
        };
        let resampler = StreamResampler::new(header.sample_rate, OUTPUT_RATE)
            .map_err(|e| ApiError::internal(format!("resampler: {e}")))?;

        let (tx, rx) = mpsc::channel(32);
        tokio::spawn(pump(child, stdout, header.leftover, resampler, tx));
        Ok(rx)
    }

    /// Synthesise completely; returns 24 kHz 16-bit LE PCM.
    pub async fn synthesize_all(
        &self,
        text: &str,
        voice: &Voice,
        speed: f32,
    ) -> Result<Vec<u8>, ApiError> {
        let mut rx = self.synthesize_with(text, voice, speed, false).await?;
        let mut pcm = Vec::new();
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk.map_err(|e| ApiError::internal(format!("speech synthesis: {e}")))?;
            pcm.extend_from_slice(&chunk);
        }
        Ok(pcm)
    }
}

/// Map a request's voice to an espeak-ng voice. OpenAI's voice names become
/// English voices (variants for some variety); anything else must look like
/// an espeak voice id (`ko`, `en-us`, `en-gb+f3`), which espeak then resolves.
pub fn resolve_voice(voice: &str) -> Result<String, ApiError> {
    let v = voice.trim().to_ascii_lowercase();
    let mapped = match v.as_str() {
        "" => return Err(ApiError::missing("voice")),
        "alloy" | "echo" | "onyx" | "ash" | "verse" => "en-us",
        "fable" | "ballad" => "en-gb",
        "nova" | "shimmer" | "coral" | "sage" => "en-us+f3",
        _ => {
            if !looks_like_espeak_voice(&v) {
                return Err(ApiError::invalid(
                    format!(
                        "Unsupported voice '{voice}'. Use an OpenAI voice name or an espeak-ng voice such as 'en-us' or 'ko'."
                    ),
                    Some("voice"),
                ));
            }
            return Ok(v);
        }
    };
    Ok(mapped.to_string())
}

fn looks_like_espeak_voice(v: &str) -> bool {
    let (base, variant) = v.split_once('+').unwrap_or((v, ""));
    let ok = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    !base.is_empty()
        && !base.starts_with('-') // would be read as an option
        && base.len() <= 40
        && variant.len() <= 20
        && ok(base)
        && ok(variant)
}

struct WavHeader {
    sample_rate: u32,
    leftover: Vec<u8>, // PCM bytes read past the header
}

/// Read RIFF chunks up to the `data` chunk. espeak streams, so the size
/// fields are placeholders; only the format matters.
async fn read_wav_header(out: &mut ChildStdout) -> Result<WavHeader, String> {
    let mut buf = Vec::with_capacity(4096);
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(h) = parse_header(&buf)? {
            return Ok(h);
        }
        if buf.len() > 64 * 1024 {
            return Err("no data chunk in espeak-ng output".into());
        }
        let n = out.read(&mut tmp).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("espeak-ng produced no audio".into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

fn parse_header(buf: &[u8]) -> Result<Option<WavHeader>, String> {
    if buf.len() < 12 {
        return Ok(None);
    }
    if &buf[0..4] != b"RIFF" || &buf[8..12] != b"WAVE" {
        return Err("espeak-ng output is not WAV".into());
    }
    let mut pos = 12;
    let mut rate = None;
    while buf.len() >= pos + 8 {
        let id = &buf[pos..pos + 4];
        let size =
            u32::from_le_bytes([buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]]) as usize;
        let body = pos + 8;
        if id == b"data" {
            let sample_rate = rate.ok_or("data before fmt in espeak-ng output")?;
            return Ok(Some(WavHeader {
                sample_rate,
                leftover: buf[body..].to_vec(),
            }));
        }
        if buf.len() < body + size {
            return Ok(None);
        }
        if id == b"fmt " {
            if size < 16 {
                return Err("short fmt chunk".into());
            }
            let f = &buf[body..body + 16];
            let (format, channels, bits) = (
                u16::from_le_bytes([f[0], f[1]]),
                u16::from_le_bytes([f[2], f[3]]),
                u16::from_le_bytes([f[14], f[15]]),
            );
            if format != 1 || channels != 1 || bits != 16 {
                return Err(format!(
                    "unexpected espeak-ng format {format}/{channels}ch/{bits}bit"
                ));
            }
            rate = Some(u32::from_le_bytes([f[4], f[5], f[6], f[7]]));
        }
        pos = body + size + (size & 1);
    }
    Ok(None)
}

/// Build the error for an espeak run that produced no audio.
async fn espeak_failure(mut child: Child, voice: &str, why: String) -> ApiError {
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr).await;
    }
    let _ = child.wait().await;
    if stderr.contains("voice does not exist") {
        ApiError::invalid(format!("Unknown espeak-ng voice '{voice}'."), Some("voice"))
    } else {
        ApiError::internal(format!("espeak-ng failed: {why} {}", stderr.trim()))
    }
}

/// Read espeak's PCM, resample to 24 kHz and forward it in chunks.
async fn pump(
    mut child: Child,
    mut stdout: ChildStdout,
    leftover: Vec<u8>,
    mut resampler: StreamResampler,
    tx: mpsc::Sender<PcmChunk>,
) {
    let mut carry = leftover; // bytes not yet forming a whole sample
    let mut tmp = vec![0u8; 8192];
    loop {
        let samples: Vec<f32> = carry
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
            .collect();
        carry.drain(..samples.len() * 2);
        if !samples.is_empty() {
            match resampler.push(&samples) {
                Ok(out) if !out.is_empty() => {
                    if tx.send(Ok(Bytes::from(to_pcm16le(&out)))).await.is_err() {
                        return; // client went away; dropping child kills espeak
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            }
        }
        match stdout.read(&mut tmp).await {
            Ok(0) => break,
            Ok(n) => carry.extend_from_slice(&tmp[..n]),
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        }
    }
    match resampler.finish() {
        Ok(tail) if !tail.is_empty() => {
            let _ = tx.send(Ok(Bytes::from(to_pcm16le(&tail)))).await;
        }
        Ok(_) => {}
        Err(e) => {
            let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
        }
    }
    if let Ok(status) = child.wait().await
        && !status.success()
    {
        tracing::warn!(%status, "espeak-ng exited with an error after producing audio");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voices_map_and_validate() {
        assert_eq!(resolve_voice("alloy").unwrap(), "en-us");
        assert_eq!(resolve_voice("Nova").unwrap(), "en-us+f3");
        assert_eq!(resolve_voice("ko").unwrap(), "ko");
        assert_eq!(resolve_voice("en-gb+f2").unwrap(), "en-gb+f2");
        assert!(resolve_voice("--help").is_err());
        assert!(resolve_voice("a b").is_err());
        assert!(resolve_voice("").is_err());
    }

    #[test]
    fn header_parsing_finds_data() {
        let mut h = Vec::new();
        h.extend_from_slice(b"RIFF\xff\xff\xff\x7fWAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&[1, 0, 1, 0]);
        h.extend_from_slice(&22_050u32.to_le_bytes());
        h.extend_from_slice(&44_100u32.to_le_bytes());
        h.extend_from_slice(&[2, 0, 16, 0]);
        h.extend_from_slice(b"data\xff\xff\xff\x7f\x01\x02");
        let parsed = parse_header(&h).unwrap().unwrap();
        assert_eq!(parsed.sample_rate, 22_050);
        assert_eq!(parsed.leftover, [1, 2]);
        assert!(parse_header(&h[..30]).unwrap().is_none());
        assert!(parse_header(b"RIFX....WAVE").is_err());
    }
}
