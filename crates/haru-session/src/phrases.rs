//! Fixed phrases (greeting, goodbye, apology, idle prompt) as 8 kHz µ-law, synthesised once
//! for all calls. [`PhraseCache::warm`] fills the cache at start-up and keeps retrying in the
//! background while TTS is down, so a failing provider is answered at once from memory
//! (or with a chime) instead of after another timeout.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use futures::StreamExt;
use haru_audio::PcmToMulaw;
use haru_providers::{ProviderError, Synthesizer};
use tracing::{info, warn};

#[derive(Default, Clone)]
pub struct PhraseCache {
    inner: Arc<RwLock<HashMap<String, Arc<[u8]>>>>,
}

impl PhraseCache {
    pub fn lookup(&self, text: &str) -> Option<Arc<[u8]>> {
        self.inner.read().ok()?.get(text).cloned()
    }

    pub fn insert(&self, text: &str, audio: Arc<[u8]>) {
        if audio.is_empty() {
            return;
        }
        if let Ok(mut m) = self.inner.write() {
            m.insert(text.to_string(), audio);
        }
    }

    /// Synthesises every phrase not cached yet; retries the failures with backoff
    /// (1 s doubling to 60 s) until all are cached. Run it as a background task.
    pub async fn warm(self, tts: Arc<dyn Synthesizer>, texts: Vec<String>, timeout: Duration) {
        let mut backoff = Duration::from_secs(1);
        loop {
            let mut missing = 0;
            for text in texts.iter().filter(|t| !t.is_empty()) {
                if self.lookup(text).is_some() {
                    continue;
                }
                match tokio::time::timeout(timeout, synthesize_to_mulaw(tts.as_ref(), text)).await {
                    Ok(Ok(audio)) if !audio.is_empty() => self.insert(text, audio.into()),
                    Ok(Ok(_)) => missing += 1,
                    Ok(Err(e)) => {
                        warn!(error = %e, "could not synthesise a fixed phrase; will retry");
                        missing += 1;
                    }
                    Err(_) => {
                        warn!(?timeout, "fixed phrase synthesis timed out; will retry");
                        missing += 1;
                    }
                }
            }
            if missing == 0 {
                info!("fixed phrases cached");
                return;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    }
}

/// Synthesises a whole phrase to 8 kHz µ-law.
pub async fn synthesize_to_mulaw(
    tts: &dyn Synthesizer,
    text: &str,
) -> Result<Vec<u8>, ProviderError> {
    let mut stream = tts.synthesize(text).await?;
    let mut conv = PcmToMulaw::new(tts.sample_rate()).map_err(|e| ProviderError::Protocol {
        stage: "tts",
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        conv.push(&chunk?, &mut out);
    }
    conv.finish(&mut out);
    Ok(out)
}

/// 2 × 150 ms tones, falling: recognisably "something went wrong" without words. Played
/// when even the cached apology is missing (TTS has been down since start-up).
pub fn chime() -> Arc<[u8]> {
    static CHIME: OnceLock<Arc<[u8]>> = OnceLock::new();
    CHIME
        .get_or_init(|| {
            let mut pcm = Vec::with_capacity(2880);
            for (hz, n) in [(660.0f32, 1200), (440.0, 1200)] {
                for i in 0..n {
                    let v = (i as f32 * hz * std::f32::consts::TAU / 8000.0).sin() * 6000.0;
                    pcm.push(v as i16);
                }
                pcm.extend(std::iter::repeat_n(0i16, 240));
            }
            haru_audio::mulaw::encode(&pcm).into()
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chime_is_whole_frames() {
        assert_eq!(chime().len() % haru_audio::FRAME_SAMPLES, 0);
        assert!(chime().len() >= 2 * 1200);
    }

    #[test]
    fn empty_audio_is_not_cached() {
        let c = PhraseCache::default();
        c.insert("a", Arc::from(Vec::new()));
        assert!(c.lookup("a").is_none());
        c.insert("a", Arc::from(vec![1u8; 160]));
        assert_eq!(c.lookup("a").map(|a| a.len()), Some(160));
    }
}
