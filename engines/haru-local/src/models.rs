//! Which model names each endpoint answers to (and what /v1/models lists).

use std::path::Path;

use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct Catalog {
    pub stt: Vec<String>,
    pub llm: Vec<String>,
    pub tts: Vec<String>,
}

impl Catalog {
    /// Names are derived from the model files so a dropped-in model keeps a
    /// recognisable id: `ggml-base.bin` -> `whisper-base`, `ggml-base`;
    /// `SmolLM2-135M-Instruct.Q4_1.gguf` -> `smollm2-135m-instruct`,
    /// `smollm2-135m-instruct.q4_1`. OpenAI's own names are accepted as
    /// aliases so unmodified OpenAI clients work.
    /// `llm_aliases` are extra chat model names (e.g. `gpt-4o-mini`) so a
    /// client configured for OpenAI can be pointed here unchanged.
    pub fn new(whisper: &Path, llm: &Path, llm_aliases: &[String]) -> Self {
        let mut stt: Vec<String> = ["whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"]
            .map(String::from)
            .to_vec();
        let w = stem(whisper);
        if let Some(size) = w.strip_prefix("ggml-") {
            stt.push(format!("whisper-{size}"));
        }
        stt.push(w);

        let l = stem(llm);
        let mut llm = Vec::new();
        if let Some((base, _quant)) = l.split_once('.') {
            llm.push(base.to_string());
        }
        llm.push(l);
        llm.extend(
            llm_aliases
                .iter()
                .map(|a| a.trim().to_ascii_lowercase())
                .filter(|a| !a.is_empty()),
        );

        let tts = ["tts-1", "tts-1-hd", "gpt-4o-mini-tts", "espeak-ng"]
            .map(String::from)
            .to_vec();
        dedup(&mut stt);
        dedup(&mut llm);
        Self { stt, llm, tts }
    }

    pub fn check_stt(&self, model: &str) -> Result<(), ApiError> {
        check(&self.stt, model)
    }
    pub fn check_llm(&self, model: &str) -> Result<(), ApiError> {
        check(&self.llm, model)
    }
    pub fn check_tts(&self, model: &str) -> Result<(), ApiError> {
        check(&self.tts, model)
    }

    /// The name reported back in chat responses.
    pub fn llm_id(&self) -> &str {
        &self.llm[0]
    }

    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.stt.iter().chain(&self.llm).chain(&self.tts)
    }
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
    fn names_derive_from_files() {
        let c = Catalog::new(
            Path::new("/m/ggml-base.bin"),
            Path::new("/m/SmolLM2-135M-Instruct.Q4_1.gguf"),
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
            c.llm,
            [
                "smollm2-135m-instruct",
                "smollm2-135m-instruct.q4_1",
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
