//! Which model names each endpoint answers to (and what /v1/models lists).

use std::path::{Path, PathBuf};

use crate::error::ApiError;

/// The chat model used when none is chosen: small, fast, English only.
pub const DEFAULT_LLM_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Short names for the chat models `scripts/install-engines.sh` installs.
pub const LLM_NAMES: &[(&str, &str)] = &[
    ("smollm2", DEFAULT_LLM_FILE),
    ("qwen-0.5b", "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf"),
    ("qwen-1.5b", "Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf"),
];

/// Where the chat model is: nothing chosen means SmolLM2; a short name (`qwen-0.5b`) or a
/// bare file name is looked up in the models directory; anything else is a path.
pub fn resolve_llm(models_dir: &Path, choice: Option<&str>) -> PathBuf {
    let choice = choice.map(str::trim).filter(|c| !c.is_empty());
    let Some(choice) = choice else {
        return models_dir.join(DEFAULT_LLM_FILE);
    };
    if let Some((_, file)) = LLM_NAMES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(choice))
    {
        return models_dir.join(file);
    }
    let p = Path::new(choice);
    if p.components().count() == 1 && !p.exists() {
        return models_dir.join(p);
    }
    p.to_path_buf()
}

#[derive(Debug, Clone)]
pub struct Catalog {
    pub stt: Vec<String>,
    /// One list of names per loaded chat model, in load order; the first name of each is
    /// the id reported back.
    pub llm: Vec<Vec<String>>,
    pub tts: Vec<String>,
}

impl Catalog {
    /// Names are derived from the model files so a dropped-in model keeps a
    /// recognisable id: `ggml-base.bin` -> `whisper-base`, `ggml-base`;
    /// `SmolLM2-135M-Instruct.Q4_1.gguf` -> `smollm2-135m-instruct`,
    /// `smollm2-135m-instruct.q4_1`. OpenAI's own names are accepted as
    /// aliases so unmodified OpenAI clients work.
    /// `llm_aliases` are extra names (e.g. `gpt-4o-mini`) for the first chat model, so a
    /// client configured for OpenAI can be pointed here unchanged.
    pub fn new(whisper: &Path, llms: &[PathBuf], llm_aliases: &[String]) -> Self {
        let mut stt: Vec<String> = ["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"]
            .map(String::from)
            .to_vec();
        let w = stem(whisper);
        // `ggml-base-q8_0` is still Whisper base: its quantisation is not part of the name.
        let unquantised = w
            .rsplit_once('-')
            .filter(|(_, q)| is_quantisation(q))
            .map(|(base, _)| base.to_string());
        for name in unquantised.iter().chain(std::iter::once(&w)) {
            if let Some(size) = name.strip_prefix("ggml-") {
                stt.push(format!("whisper-{size}"));
            }
        }
        stt.extend(unquantised);
        stt.push(w);

        let mut taken = std::collections::HashSet::new();
        let mut llm = Vec::new();
        for (i, path) in llms.iter().enumerate() {
            let l = stem(path);
            let mut names = Vec::new();
            // The quantisation is the last dot-part: `qwen2.5-coder-0.5b-instruct.q4_k_m`.
            if let Some((base, _quant)) = l.rsplit_once('.') {
                names.push(base.to_string());
            }
            names.push(l);
            // An installed model also answers to its short name (`qwen-1.5b`), the name a
            // user gave `--llm-model`, so clients can send that name as it is.
            if let Some(file) = path.file_name().and_then(|f| f.to_str())
                && let Some((short, _)) = LLM_NAMES.iter().find(|(_, f)| *f == file)
            {
                names.push(short.to_string());
            }
            if i == 0 {
                names.extend(
                    llm_aliases
                        .iter()
                        .map(|a| a.trim().to_ascii_lowercase())
                        .filter(|a| !a.is_empty()),
                );
            }
            // A name answers for the first model that has it; the list stays (maybe
            // empty) so indices match the loaded engines.
            names.retain(|n| taken.insert(n.clone()));
            llm.push(names);
        }

        let tts = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "espeak-ng"]
            .map(String::from)
            .to_vec();
        dedup(&mut stt);
        Self { stt, llm, tts }
    }

    pub fn check_stt(&self, model: &str) -> Result<(), ApiError> {
        check(&self.stt, model)
    }
    /// Which loaded chat model answers to `model`.
    pub fn check_llm(&self, model: &str) -> Result<usize, ApiError> {
        if model.trim().is_empty() {
            return Err(ApiError::missing("model"));
        }
        let m = model.to_ascii_lowercase();
        self.llm
            .iter()
            .position(|names| names.contains(&m))
            .ok_or_else(|| ApiError::unknown_model(model))
    }
    pub fn check_tts(&self, model: &str) -> Result<(), ApiError> {
        check(&self.tts, model)
    }

    /// The name reported back in chat responses of model `i`.
    pub fn llm_id(&self, i: usize) -> &str {
        self.llm
            .get(i)
            .and_then(|n| n.first())
            .map_or("model", String::as_str)
    }

    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.stt
            .iter()
            .chain(self.llm.iter().flatten())
            .chain(&self.tts)
    }
}

/// The Whisper model haru-local loads when none is named: the q8_0 file the install
/// script makes (faster, same transcripts), or the f16 one an older install has.
pub fn default_whisper(models_dir: &Path) -> PathBuf {
    let q8 = models_dir.join("ggml-base-q8_0.bin");
    if q8.is_file() {
        q8
    } else {
        models_dir.join("ggml-base.bin")
    }
}

/// ggml's quantisation suffixes: `q8_0`, `q5_1`, `q4_k`, `f16`.
fn is_quantisation(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some('q' | 'f')) && c.next().is_some_and(|d| d.is_ascii_digit())
}

fn stem(p: &Path) -> String {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("model");
    let name = name
        .strip_suffix(".bin")
        .or_else(|| name.strip_suffix(".gguf"))
        .unwrap_or(name);
    name.to_ascii_lowercase()
}

fn dedup(v: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
}

fn check(names: &[String], model: &str) -> Result<(), ApiError> {
    if model.trim().is_empty() {
        return Err(ApiError::missing("model"));
    }
    let m = model.to_ascii_lowercase();
    if names.contains(&m) {
        Ok(())
    } else {
        Err(ApiError::unknown_model(model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_model_choice() {
        let m = Path::new("/m");
        assert_eq!(
            resolve_llm(m, None),
            m.join("SmolLM2-135M-Instruct.Q4_1.gguf")
        );
        assert_eq!(resolve_llm(m, Some(" ")), resolve_llm(m, None));
        assert_eq!(
            resolve_llm(m, Some("Qwen-1.5B")),
            m.join("Qwen2.5-Coder-1.5B-Instruct.Q4_K_M.gguf")
        );
        assert_eq!(resolve_llm(m, Some("x.gguf")), m.join("x.gguf"));
        assert_eq!(
            resolve_llm(m, Some("/elsewhere/x.gguf")),
            Path::new("/elsewhere/x.gguf")
        );
        let q = Catalog::new(
            Path::new("/m/ggml-base.bin"),
            &[
                resolve_llm(m, Some("qwen-0.5b")),
                resolve_llm(m, Some("qwen-1.5b")),
            ],
            &["gpt-4o-mini".to_string()],
        );
        assert_eq!(
            q.llm[0],
            [
                "qwen2.5-coder-0.5b-instruct",
                "qwen2.5-coder-0.5b-instruct.q4_k_m",
                "qwen-0.5b",
                "gpt-4o-mini"
            ]
        );
        // Each model answers to its own names; aliases go to the first.
        assert_eq!(q.check_llm("Qwen2.5-Coder-1.5B-Instruct").unwrap(), 1);
        assert_eq!(q.check_llm("gpt-4o-mini").unwrap(), 0);
        // …and to the short name it was installed under.
        assert_eq!(q.check_llm("qwen-1.5b").unwrap(), 1);
        assert_eq!(q.check_llm("QWEN-0.5B").unwrap(), 0);
        assert_eq!(q.llm_id(1), "qwen2.5-coder-1.5b-instruct");
        // A name shared by two files answers for the first.
        let twice = Catalog::new(
            Path::new("/m/ggml-base.bin"),
            &[PathBuf::from("/a/x.gguf"), PathBuf::from("/b/x.gguf")],
            &[],
        );
        assert_eq!(twice.check_llm("x").unwrap(), 0);
        assert!(twice.llm[1].is_empty());
    }

    #[test]
    fn a_quantised_whisper_keeps_its_names() {
        let c = Catalog::new(Path::new("/m/ggml-base-q8_0.bin"), &[], &[]);
        for name in ["whisper-1", "whisper-base", "ggml-base", "ggml-base-q8_0"] {
            assert!(c.stt.contains(&name.to_string()), "{name}: {:?}", c.stt);
        }
        let plain = Catalog::new(Path::new("/m/ggml-small-en.bin"), &[], &[]);
        assert!(plain.stt.contains(&"whisper-small-en".to_string()));
        assert!(!plain.stt.contains(&"ggml-small".to_string()));
    }

    #[test]
    fn names_derive_from_files() {
        let c = Catalog::new(
            Path::new("/m/ggml-base.bin"),
            &[PathBuf::from("/m/SmolLM2-135M-Instruct.Q4_1.gguf")],
            &["GPT-4o-mini".to_string(), " ".to_string()],
        );
        assert_eq!(
            c.stt,
            [
                "whisper-1",
                "gpt-4o-transcribe",
                "gpt-4o-mini-transcribe",
                "whisper-base",
                "ggml-base"
            ]
        );
        assert_eq!(
            c.llm[0],
            [
                "smollm2-135m-instruct",
                "smollm2-135m-instruct.q4_1",
                "smollm2",
                "gpt-4o-mini"
            ]
        );
        assert!(c.check_llm("SmolLM2-135M-Instruct").is_ok());
        assert!(c.check_stt("whisper-1").is_ok());
        assert!(c.check_llm("gpt-4o-mini").is_ok());
        assert_eq!(
            c.check_llm("gpt-4o").unwrap_err().status,
            axum::http::StatusCode::NOT_FOUND
        );
        assert_eq!(
            c.check_tts("").unwrap_err().status,
            axum::http::StatusCode::BAD_REQUEST
        );
    }
}
