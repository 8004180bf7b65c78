//! whisper.cpp engine: one loaded model, one reusable decoding state.

use std::path::Path;
use std::sync::Mutex;

use anyhow::{Result, anyhow};
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

/// Whisper's sample rate; callers must resample to it.
pub const SAMPLE_RATE: usize = 16_000;

/// Encoder frames per second of audio (1500 frames per 30 s window).
const FRAMES_PER_SEC: f64 = 50.0;
/// Extra encoder frames beyond the clip. Cutting the window exactly to the
/// clip makes the decoder lose track of the end and repeat itself; a margin
/// (whisper.cpp issue 1855 suggests 128) keeps accuracy with most of the speed.
const AUDIO_CTX_MARGIN: f64 = 128.0;
const FULL_AUDIO_CTX: f64 = 1500.0;
/// Peak below which a clip is treated as silence (-60 dBFS).
const SILENCE_PEAK: f32 = 1e-3;

pub struct SttEngine {
    // The state owns big scratch buffers: reuse it rather than reallocate per
    // request. The context must outlive it, hence both live here.
    state: Mutex<WhisperState>,
    _ctx: WhisperContext,
    threads: i32,
    /// Text tokens a Korean transcript never holds (`haru_script::is_korean_piece`).
    banned_ko: Vec<i32>,
    /// Text tokens that would write Chinese or Japanese script, for English.
    banned_en: Vec<i32>,
}

/// With Korean forced, Whisper still spells what it cannot make out in kana, Latin or
/// Cyrillic ("끊을게요" → "くのうげ요", "ku'n'n'n'…"); only Hangul, digits and punctuation
/// may be written, so it must pick the nearest Hangul. English only loses Han and kana.
fn banned_for<'a>(engine: &'a SttEngine, language: &str) -> Option<&'a Vec<i32>> {
    match language {
        "ko" => Some(&engine.banned_ko),
        "en" => Some(&engine.banned_en),
        _ => None,
    }
}

/// whisper.cpp's logits filter: the banned tokens get −∞ before sampling.
/// `user_data` is one of the engine's banned lists, alive for the whole `full()` call.
unsafe extern "C" fn ban_tokens(
    _ctx: *mut whisper_rs::WhisperSysContext,
    _state: *mut whisper_rs::WhisperSysState,
    _tokens: *const whisper_rs::WhisperTokenData,
    _n_tokens: std::os::raw::c_int,
    logits: *mut f32,
    user_data: *mut std::ffi::c_void,
) {
    if logits.is_null() || user_data.is_null() {
        return;
    }
    // SAFETY: user_data is a `&SttEngine` list (set in `transcribe`, which holds `&self`
    // across `full()`); every id in it is a text token, below n_vocab, the logits' length.
    let banned = unsafe { &*(user_data as *const Vec<i32>) };
    for &id in banned {
        unsafe { *logits.add(id as usize) = f32::NEG_INFINITY };
    }
}

/// Every text token (below end-of-text) whose bytes `banned` rejects.
fn banned_tokens(ctx: &WhisperContext, banned: impl Fn(&[u8]) -> bool) -> Vec<i32> {
    (0..ctx.token_eot())
        .filter(|&id| ctx.token_to_bytes(id).is_ok_and(&banned))
        .collect()
}

/// Why a transcription was refused; `BadRequest` maps to HTTP 400.
#[derive(Debug)]
pub enum SttError {
    BadRequest(String),
    Internal(anyhow::Error),
}

impl SttEngine {
    pub fn load(model: &Path, threads: i32) -> Result<Self> {
        whisper_rs::install_logging_hooks(); // keep whisper.cpp's chatter off stderr
        let ctx = WhisperContext::new_with_params(model, WhisperContextParameters::default())
            .map_err(|e| anyhow!("loading whisper model {}: {e:?}", model.display()))?;
        let state = ctx
            .create_state()
            .map_err(|e| anyhow!("creating whisper state: {e:?}"))?;
        let banned_ko = banned_tokens(&ctx, |b| !haru_script::is_korean_piece(b));
        let banned_en = banned_tokens(&ctx, haru_script::is_banned_piece);
        let engine = Self {
            state: Mutex::new(state),
            _ctx: ctx,
            threads,
            banned_ko,
            banned_en,
        };
        // The first inference pays for graph allocation; do it before serving.
        engine
            .transcribe(&vec![0.0; SAMPLE_RATE], "en")
            .map_err(|e| anyhow!("warm-up transcription failed: {e:?}"))?;
        Ok(engine)
    }

    /// Transcribe mono 16 kHz samples in `language` ("auto" detects it).
    pub fn transcribe(&self, samples: &[f32], language: &str) -> Result<String, SttError> {
        if language != "auto" && !valid_language(language) {
            return Err(SttError::BadRequest(format!(
                "unsupported language '{language}'"
            )));
        }
        if samples.is_empty() {
            return Err(SttError::BadRequest("audio contains no samples".into()));
        }
        // Digital silence: Whisper would invent "[BLANK_AUDIO]" or worse.
        if samples.iter().all(|s| s.abs() < SILENCE_PEAK) {
            return Ok(String::new());
        }
        // whisper.cpp refuses clips under 100 ms; pad tiny clips with silence.
        let mut padded;
        let samples = if samples.len() < SAMPLE_RATE / 2 {
            padded = samples.to_vec();
            padded.resize(SAMPLE_RATE / 2, 0.0);
            &padded[..]
        } else {
            samples
        };
        let secs = samples.len() as f64 / SAMPLE_RATE as f64;

        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.threads);
        // (whisper-rs leaks this string, a few bytes per request; acceptable.)
        params.set_language(Some(language));
        params.set_translate(false);
        params.set_no_context(true);
        params.set_no_timestamps(true);
        params.set_single_segment(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        // Non-speech tokens stay allowed on purpose: suppressing them makes
        // Whisper invent sentences for noise; we strip the annotations instead.
        // One deterministic pass: fallback re-decodes cost seconds on a 2-core box.
        params.set_temperature(0.0);
        params.set_temperature_inc(0.0);
        params.set_audio_ctx(audio_ctx_for(secs));
        // Greedy decoding with a shrunken window can loop ("…했어요. …했어요. …"); no one
        // says more than ~10 tokens a second, so a bound proportional to the clip ends a loop.
        params.set_max_tokens(max_tokens_for(secs));
        if let Some(banned) = banned_for(self, language).filter(|b| !b.is_empty()) {
            // SAFETY: the callback only writes logits below n_vocab and reads `banned`,
            // which outlives this call (it is `self`'s and `full()` returns before we do).
            unsafe {
                params.set_filter_logits_callback(Some(ban_tokens));
                params.set_filter_logits_callback_user_data(
                    banned as *const Vec<i32> as *mut std::ffi::c_void,
                );
            }
        }

        let mut state = self
            .state
            .lock()
            .map_err(|_| SttError::Internal(anyhow!("whisper state poisoned")))?;
        state
            .full(params, samples)
            .map_err(|e| SttError::Internal(anyhow!("whisper_full failed: {e:?}")))?;
        let mut text = String::new();
        for segment in state.as_iter() {
            let piece = segment
                .to_str_lossy()
                .map_err(|e| SttError::Internal(anyhow!("reading segment: {e:?}")))?;
            text.push_str(&piece);
        }
        Ok(drop_repeats(&unquote(&strip_annotations(&text))))
    }
}

/// The decoder's token budget for a clip of `secs` seconds.
pub fn max_tokens_for(secs: f64) -> i32 {
    (16.0 + secs * 12.0).min(224.0) as i32
}

/// Collapse a sentence Whisper repeated back to back into one (a decoding loop: people
/// rarely say the same sentence twice in a row, and haru loses nothing if they did).
pub fn drop_repeats(text: &str) -> String {
    let mut sentences: Vec<&str> = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '?' | '!' | '。') {
            let end = i + c.len_utf8();
            sentences.push(text[start..end].trim());
            start = end;
        }
    }
    if start < text.len() && !text[start..].trim().is_empty() {
        sentences.push(text[start..].trim());
    }
    let mut out: Vec<&str> = Vec::new();
    for s in sentences {
        let norm = |x: &str| x.trim_end_matches(['.', '?', '!', '。']).to_string();
        // A cut-off last repeat (the token budget) is a repeat too.
        if let Some(prev) = out.last()
            && (norm(prev) == norm(s) || (!s.is_empty() && norm(prev).starts_with(&norm(s))))
        {
            continue;
        }
        out.push(s);
    }
    out.join(" ")
}

/// What Whisper wraps around speech that is not speech: quotes around the whole text
/// (`"안녕하세요."`), and U+FFFD where the token budget cut a Hangul syllable in two.
pub fn unquote(text: &str) -> String {
    let text: String = text.chars().filter(|&c| c != '\u{FFFD}').collect();
    let t = text.trim();
    for (open, close) in [('"', '"'), ('“', '”'), ('\'', '\''), ('「', '」')] {
        if let Some(inner) = t.strip_prefix(open).and_then(|r| r.strip_suffix(close))
            && !inner.contains([open, close])
        {
            return inner.trim().to_string();
        }
        // An opening quote the budget cut before its close.
        if let Some(inner) = t.strip_prefix(open)
            && !inner.contains([open, close])
        {
            return inner.trim().to_string();
        }
    }
    t.to_string()
}

/// Drop Whisper's non-speech annotations ("[BLANK_AUDIO]", "( whistling )",
/// "*music*") and tidy whitespace; what remains is what was said.
pub fn strip_annotations(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut close: Option<char> = None;
    for c in text.chars() {
        match (close, c) {
            (None, '[') => close = Some(']'),
            (None, '(') => close = Some(')'),
            (None, '*') => close = Some('*'),
            (None, _) => out.push(c),
            (Some(end), _) if c == end => close = None,
            (Some(_), _) => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Encoder window for a clip: its length plus a margin; full window for long
/// clips, where whisper.cpp's 30 s seeking assumes the native size.
fn audio_ctx_for(secs: f64) -> i32 {
    let frames = (secs * FRAMES_PER_SEC).ceil() + AUDIO_CTX_MARGIN;
    if frames >= FULL_AUDIO_CTX {
        0 // 0 = model default (1500)
    } else {
        frames as i32
    }
}

fn valid_language(lang: &str) -> bool {
    // Check the charset first: whisper-rs panics on interior NUL bytes.
    !lang.is_empty()
        && lang.len() <= 16
        && lang.bytes().all(|b| b.is_ascii_lowercase())
        && whisper_rs::get_lang_id(lang).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_are_removed() {
        assert_eq!(strip_annotations(" [BLANK_AUDIO]"), "");
        assert_eq!(strip_annotations("(whistling)"), "");
        assert_eq!(
            strip_annotations("Hello (laughs) there. *music*"),
            "Hello there."
        );
        assert_eq!(
            strip_annotations(" I do.  I think so."),
            "I do. I think so."
        );
    }

    #[test]
    fn quotes_and_broken_syllables_are_not_words() {
        assert_eq!(
            unquote("\"안녕하세요. 날씨가 좋아요. \""),
            "안녕하세요. 날씨가 좋아요."
        );
        assert_eq!(unquote("“Hello there.”"), "Hello there.");
        assert_eq!(unquote("\"잘 지냈어요"), "잘 지냈어요");
        assert_eq!(
            unquote("그가 \"좋다\"고 했어요."),
            "그가 \"좋다\"고 했어요."
        );
        // The budget cut the repeat mid-syllable: the repeat goes, and the broken end.
        assert_eq!(
            drop_repeats(&unquote(
                "고마워요, 이제 끊어 오게요. 고마워요, 이제 \u{FFFD}"
            )),
            "고마워요, 이제 끊어 오게요."
        );
    }

    #[test]
    fn decoding_loops_are_collapsed() {
        assert_eq!(
            drop_repeats("아침에 산책을 했어요. 아침에 산책을 했어요. 아침에 산책을"),
            "아침에 산책을 했어요."
        );
        assert_eq!(drop_repeats("Yes. No. Yes."), "Yes. No. Yes.");
        assert_eq!(drop_repeats("I walked. I walked"), "I walked.");
        assert_eq!(drop_repeats("no punctuation"), "no punctuation");
        assert_eq!(drop_repeats(""), "");
        assert_eq!(max_tokens_for(3.0), 52);
        assert_eq!(max_tokens_for(60.0), 224);
    }

    #[test]
    fn audio_ctx_grows_with_clip_and_falls_back_to_full() {
        assert_eq!(audio_ctx_for(4.0), 200 + 128);
        assert_eq!(audio_ctx_for(0.5), 25 + 128);
        assert_eq!(audio_ctx_for(29.0), 0);
    }
}
