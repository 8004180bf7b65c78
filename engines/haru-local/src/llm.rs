//! llama.cpp chat engine. One worker thread owns the model and its context
//! (llama.cpp contexts are not thread-safe) and serves requests in order;
//! tokens flow back over a channel so they can be streamed as produced.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::mpsc as std_mpsc;

use anyhow::{Context as _, Result, anyhow};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaChatTemplate, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use tokio::sync::mpsc;

use crate::cpu_gate::CpuGate;
use crate::error::ApiError;

/// A chat turn after validation (role is system/user/assistant).
#[derive(Debug, Clone)]
pub struct Turn {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone)]
pub struct GenParams {
    pub max_tokens: usize,
    pub temperature: f32,
    pub top_p: f32,
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
    pub seed: u32,
    pub stop: Vec<String>,
    /// A GBNF grammar the answer must match (from `response_format`).
    pub grammar: Option<String>,
}

#[derive(Debug)]
pub enum Event {
    /// Generated text (whole UTF-8 characters only).
    Delta(String),
    Done(Usage),
    Error(ApiError),
}

#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// true: stopped at end-of-turn or a stop string; false: hit max_tokens.
    pub stopped: bool,
}

struct Job {
    turns: Vec<Turn>,
    params: GenParams,
    events: mpsc::Sender<Event>,
}

pub struct LlmEngine {
    jobs: std_mpsc::Sender<Job>,
}

/// How the model is loaded and run.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub model: PathBuf,
    pub n_ctx: u32,
    pub threads: i32,
    /// llama.cpp repeat penalty over the last 64 tokens (1.0 = off). A mild
    /// one keeps a 135M model from looping ("la France, la France, ...").
    pub repeat_penalty: f32,
    /// Shared with the STT client: see `cpu_gate`.
    pub gate: CpuGate,
    /// Ban Chinese and Japanese script from every answer (`script_guard`).
    pub script_guard: bool,
}

impl LlmEngine {
    /// Load the model on a dedicated thread; returns once it is ready.
    pub async fn start(config: LlmConfig) -> Result<Self> {
        let (jobs_tx, jobs_rx) = std_mpsc::channel::<Job>();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Result<()>>();
        std::thread::Builder::new()
            .name("llm".into())
            .spawn(move || worker(&config, jobs_rx, ready_tx))
            .context("spawning LLM thread")?;
        ready_rx.await.context("LLM thread died while loading")??;
        Ok(Self { jobs: jobs_tx })
    }

    /// Queue a chat completion; events arrive on the returned receiver.
    /// Dropping the receiver cancels generation at the next token.
    pub fn generate(
        &self,
        turns: Vec<Turn>,
        params: GenParams,
    ) -> Result<mpsc::Receiver<Event>, ApiError> {
        let (tx, rx) = mpsc::channel(64);
        self.jobs
            .send(Job {
                turns,
                params,
                events: tx,
            })
            .map_err(|_| ApiError::unavailable("the LLM worker has stopped"))?;
        Ok(rx)
    }
}

/// llama.cpp's backend, initialised once per process however many models are loaded
/// (a second `init` is an error).
fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: std::sync::OnceLock<Result<LlamaBackend, String>> = std::sync::OnceLock::new();
    BACKEND
        .get_or_init(|| LlamaBackend::init().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|e| anyhow!("initialising llama.cpp: {e}"))
}

fn worker(
    config: &LlmConfig,
    jobs: std_mpsc::Receiver<Job>,
    ready: tokio::sync::oneshot::Sender<Result<()>>,
) {
    let (model_path, n_ctx, threads) = (&config.model, config.n_ctx, config.threads);
    let loaded = (|| -> Result<_> {
        llama_cpp_2::send_logs_to_tracing(
            llama_cpp_2::LogOptions::default().with_logs_enabled(false),
        );
        let backend = backend()?;
        let model = LlamaModel::load_from_file(backend, model_path, &LlamaModelParams::default())
            .with_context(|| format!("loading {}", model_path.display()))?;
        // Prefer the template baked into the GGUF; ChatML is SmolLM2's format.
        let template = match model.chat_template(None) {
            Ok(t) => t,
            Err(_) => LlamaChatTemplate::new("chatml")?,
        };
        Ok((backend, model, template))
    })();
    let (backend, model, template) = match loaded {
        Ok(v) => v,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(n_ctx))
        .with_n_batch(n_ctx)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = match model.new_context(backend, params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(anyhow!("creating llama context: {e}")));
            return;
        }
    };
    let guard: Vec<LlamaLogitBias> = if config.script_guard {
        let banned = crate::script_guard::banned_tokens(&model);
        tracing::info!(
            tokens = banned.len(),
            "script guard: Han and kana tokens banned"
        );
        banned
            .into_iter()
            .map(|t| LlamaLogitBias::new(t, f32::NEG_INFINITY))
            .collect()
    } else {
        Vec::new()
    };
    let _ = ready.send(Ok(()));

    // Tokens whose keys/values are in the KV cache. A phone call resends the
    // growing conversation every turn; reusing the shared prefix makes the
    // time to first token depend on the new turn, not the whole history.
    let mut cached: Vec<LlamaToken> = Vec::new();
    for job in jobs {
        let events = job.events.clone();
        let result = run_job(
            &model,
            &mut ctx,
            &template,
            config,
            &guard,
            &mut cached,
            job,
        );
        if result.is_err() {
            // The cache may be half-updated; start clean next time.
            ctx.clear_kv_cache();
            cached.clear();
        }
        let event = match result {
            Ok(usage) => Event::Done(usage),
            Err(e) => Event::Error(e),
        };
        let _ = events.blocking_send(event);
    }
}

fn run_job(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    template: &LlamaChatTemplate,
    config: &LlmConfig,
    guard: &[LlamaLogitBias],
    cached: &mut Vec<LlamaToken>,
    job: Job,
) -> Result<Usage, ApiError> {
    let n_ctx = config.n_ctx;
    let messages = job
        .turns
        .iter()
        .map(|t| LlamaChatMessage::new(t.role.clone(), t.content.clone()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| {
            ApiError::invalid("messages must not contain NUL characters", Some("messages"))
        })?;
    let prompt = model
        .apply_chat_template(template, &messages, true)
        .map_err(|e| ApiError::internal(format!("applying chat template: {e}")))?;
    let vocab = model.vocab();
    // parse_special: the template's <|im_start|> etc. must become control tokens.
    let tokens = vocab.tokenize(prompt.as_bytes(), true, true);
    let n_prompt = tokens.len();
    if n_prompt == 0 {
        return Err(ApiError::invalid("The prompt is empty.", Some("messages")));
    }
    if n_prompt + 1 >= n_ctx as usize {
        return Err(ApiError::invalid(
            format!("This model's maximum context length is {n_ctx} tokens; the messages use {n_prompt}."),
            Some("messages"),
        )
        .with_code("context_length_exceeded"));
    }
    let budget = job.params.max_tokens.min(n_ctx as usize - n_prompt - 1);

    // Keep the longest cached prefix, but always re-decode at least one
    // token: sampling needs fresh logits.
    let reuse = cached
        .iter()
        .zip(&tokens)
        .take_while(|(a, b)| a == b)
        .count()
        .min(n_prompt - 1);
    if ctx
        .clear_kv_cache_seq(Some(0), Some(reuse as u32), None)
        .is_err()
    {
        ctx.clear_kv_cache();
        cached.clear();
    } else {
        cached.truncate(reuse);
    }
    let start = cached.len();
    let mut batch = LlamaBatch::new(n_prompt - start, 1);
    let last = n_prompt - 1;
    for (i, t) in tokens.iter().enumerate().skip(start) {
        batch
            .add(*t, i as i32, &[0], i == last)
            .map_err(|e| ApiError::internal(format!("batch: {e}")))?;
    }
    {
        let _turn = config.gate.blocking_lock();
        ctx.decode(&mut batch)
            .map_err(|e| ApiError::internal(format!("prompt decode failed: {e}")))?;
    }
    cached.extend_from_slice(&tokens[start..]);
    tracing::debug!(prompt = n_prompt, reused = start, "prompt decoded");

    let mut sampler = build_sampler(model, &job.params, config.repeat_penalty, guard)?;
    let mut text = TextAssembler::new(job.params.stop.clone());
    let mut pos = n_prompt as i32;
    let mut generated = 0;
    let mut stopped = false;
    while generated < budget {
        let token: LlamaToken = sampler.sample(ctx, batch.n_tokens() - 1);
        if vocab.is_eog(token) {
            stopped = true;
            break;
        }
        generated += 1;
        let piece = vocab.token_to_piece(token, false, None);
        let (delta, hit_stop) = text.push(&piece);
        if !delta.is_empty() && job.events.blocking_send(Event::Delta(delta)).is_err() {
            break; // client disconnected: stop spending CPU on it
        }
        if hit_stop {
            stopped = true;
            break;
        }
        batch.clear();
        batch
            .add(token, pos, &[0], true)
            .map_err(|e| ApiError::internal(format!("batch: {e}")))?;
        pos += 1;
        let _turn = config.gate.blocking_lock();
        ctx.decode(&mut batch)
            .map_err(|e| ApiError::internal(format!("decode failed: {e}")))?;
        cached.push(token);
    }
    let tail = text.finish(stopped);
    if !tail.is_empty() {
        let _ = job.events.blocking_send(Event::Delta(tail));
    }
    Ok(Usage {
        prompt_tokens: n_prompt,
        completion_tokens: generated,
        stopped,
    })
}

fn build_sampler(
    model: &LlamaModel,
    p: &GenParams,
    repeat_penalty: f32,
    guard: &[LlamaLogitBias],
) -> Result<LlamaSampler, ApiError> {
    // OpenAI's frequency/presence penalties map onto llama.cpp's directly.
    let penalties = LlamaSampler::penalties(
        model.n_vocab(),
        64,
        repeat_penalty,
        p.frequency_penalty,
        p.presence_penalty,
    );
    // The script guard and the grammar go first: every later stage only ever sees tokens
    // they allow.
    let mut chain = Vec::new();
    if !guard.is_empty() {
        chain.push(LlamaSampler::logit_bias(model.n_vocab(), guard));
    }
    if let Some(g) = &p.grammar {
        chain.push(LlamaSampler::grammar(model, g, "root").map_err(|e| {
            ApiError::invalid(
                format!("This JSON schema cannot be enforced: {e:?}"),
                Some("response_format"),
            )
        })?);
    }
    chain.push(penalties);
    if p.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        chain.extend([
            LlamaSampler::top_k(40),
            LlamaSampler::top_p(p.top_p.clamp(0.01, 1.0), 1),
            LlamaSampler::temp(p.temperature),
            LlamaSampler::dist(p.seed),
        ]);
    }
    Ok(LlamaSampler::chain_simple(chain))
}

/// Turns token bytes into text deltas: holds back incomplete UTF-8 sequences
/// and any suffix that could be the start of a stop string.
struct TextAssembler {
    bytes: Vec<u8>,  // undecoded bytes (partial UTF-8)
    pending: String, // decoded text not yet emitted (possible stop prefix)
    stop: Vec<String>,
}

impl TextAssembler {
    fn new(stop: Vec<String>) -> Self {
        let stop = stop.into_iter().filter(|s| !s.is_empty()).collect();
        Self {
            bytes: Vec::new(),
            pending: String::new(),
            stop,
        }
    }

    /// Returns (text safe to emit, whether a stop string was hit).
    fn push(&mut self, piece: &[u8]) -> (String, bool) {
        self.bytes.extend_from_slice(piece);
        let valid = match std::str::from_utf8(&self.bytes) {
            Ok(s) => s.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(), // incomplete tail
            Err(_) => self.bytes.len(),                           // invalid: decode lossily below
        };
        let decoded = String::from_utf8_lossy(&self.bytes[..valid]).into_owned();
        self.bytes.drain(..valid);
        self.pending.push_str(&decoded);

        if let Some(at) = self
            .stop
            .iter()
            .filter_map(|s| self.pending.find(s.as_str()))
            .min()
        {
            let out = self.pending[..at].to_string();
            self.pending.clear();
            return (out, true);
        }
        // Keep back the longest suffix that is a prefix of some stop string.
        let keep = self
            .stop
            .iter()
            .map(|s| longest_suffix_prefix(&self.pending, s))
            .max()
            .unwrap_or(0);
        let cut = self.pending.len() - keep;
        let out = self.pending[..cut].to_string();
        self.pending.drain(..cut);
        (out, false)
    }

    fn finish(&mut self, stopped_by_stop_string: bool) -> String {
        if stopped_by_stop_string && self.pending.is_empty() {
            return String::new();
        }
        let mut out = std::mem::take(&mut self.pending);
        out.push_str(&String::from_utf8_lossy(&self.bytes));
        self.bytes.clear();
        out
    }
}

/// Length of the longest suffix of `text` that is a proper prefix of `stop`,
/// measured on char boundaries.
fn longest_suffix_prefix(text: &str, stop: &str) -> usize {
    let max = stop.len().saturating_sub(1).min(text.len());
    (1..=max)
        .rev()
        .find(|&n| {
            text.is_char_boundary(text.len() - n) && stop.starts_with(&text[text.len() - n..])
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_split_across_tokens_is_held_back() {
        let mut a = TextAssembler::new(vec![]);
        let snow = "é".as_bytes();
        assert_eq!(a.push(&snow[..1]), (String::new(), false));
        assert_eq!(a.push(&snow[1..]), ("é".to_string(), false));
    }

    #[test]
    fn stop_strings_cut_output() {
        let mut a = TextAssembler::new(vec!["\nUser:".into()]);
        assert_eq!(a.push(b"Hi there"), ("Hi there".to_string(), false));
        assert_eq!(a.push(b"\nUs"), (String::new(), false));
        assert_eq!(a.push(b"er: more"), (String::new(), true));
        assert_eq!(a.finish(true), "");
        let mut b = TextAssembler::new(vec!["xyz".into()]);
        assert_eq!(b.push(b"abx"), ("ab".to_string(), false));
        assert_eq!(b.push(b"q"), ("xq".to_string(), false));
        assert_eq!(b.push(b"x"), (String::new(), false));
        assert_eq!(b.finish(false), "x");
    }
}
