//! Fixed phrases (apology) synthesised once and kept as µ-law, so a failing provider
//! still leaves the caller hearing something sensible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use haru_providers::Synthesizer;

use crate::reply::synthesize_to_mulaw;

#[derive(Default, Clone)]
pub struct PhraseCache {
    inner: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
}

impl PhraseCache {
    /// µ-law audio for `text`: cached, else synthesised now, else a short two-tone chime
    /// (when the synthesizer itself is what failed).
    pub async fn get(
        &self,
        tts: &dyn Synthesizer,
        text: &str,
        timeout: std::time::Duration,
    ) -> Arc<Vec<u8>> {
        if let Some(a) = self.lookup(text) {
            return a;
        }
        match tokio::time::timeout(timeout, synthesize_to_mulaw(tts, text)).await {
            Ok(Ok(audio)) if !audio.is_empty() => {
                let audio = Arc::new(audio);
                if let Ok(mut m) = self.inner.lock() {
                    m.insert(text.to_string(), audio.clone());
                }
                audio
            }
            _ => Arc::new(chime()),
        }
    }

    fn lookup(&self, text: &str) -> Option<Arc<Vec<u8>>> {
        self.inner.lock().ok()?.get(text).cloned()
    }
}

/// 2 × 150 ms tones, falling: recognisably "something went wrong" without words.
fn chime() -> Vec<u8> {
    let mut pcm = Vec::with_capacity(2800);
    for (hz, n) in [(660.0f32, 1200), (440.0, 1200)] {
        for i in 0..n {
            let v = (i as f32 * hz * std::f32::consts::TAU / 8000.0).sin() * 6000.0;
            pcm.push(v as i16);
        }
        pcm.extend(std::iter::repeat_n(0i16, 200));
    }
    haru_audio::mulaw::encode(&pcm)
}
