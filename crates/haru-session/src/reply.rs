//! One bot turn: transcript → streamed LLM → sentences → TTS → paced µ-law frames.
//!
//! Three futures run concurrently inside one task: the LLM stream feeds a sentence
//! channel, the synthesizer turns sentences into 20 ms µ-law frames, and the pacer sends
//! those frames to Twilio in real time (a small lead keeps Twilio's buffer short, so a
//! `clear` silences the bot at once). The pacer waits on a gate: with speculation the
//! whole pipeline runs while the caller may still resume, and nothing is played until
//! the session confirms the end of turn. Dropping the task cancels everything.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::StreamExt;
use haru_audio::{FRAME_SAMPLES, StreamResampler, mulaw};
use haru_providers::{ChatMessage, ProviderError, Synthesizer};
use haru_telephony::Outbound;
use haru_telephony::media::{MarkBody, MediaOut};
use tokio::sync::{mpsc, watch};

use crate::SessionConfig;
use crate::phrases::PhraseCache;
use crate::sentences::SentenceSplitter;
use crate::session::Providers;

/// How far ahead of real time the pacer may send (Twilio buffers this much). Enough to
/// ride out scheduler hiccups under load, short enough that `clear` is near-instant.
const LEAD: Duration = Duration::from_millis(100);
const FRAME: Duration = Duration::from_millis(20);

#[derive(Debug)]
pub(crate) enum ReplyEvent {
    Transcript {
        text: String,
        stt_ms: i64,
    },
    LlmFirstToken {
        ms: i64,
    },
    TtsFirstByte {
        ms: i64,
    },
    FirstAudio {
        at: Instant,
    },
    /// The first frame of a sentence was sent.
    SentenceStarted {
        mark: String,
        text: String,
    },
    /// Every frame has been sent; `text` is everything that was sent.
    Done {
        text: String,
        llm_total_ms: Option<i64>,
        outcome: Outcome,
        error: Option<String>,
        last_mark: Option<String>,
        audio_ms: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Answered,
    EmptyTranscript,
    Goodbye,
    Error,
    Phrase,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Answered => "answered",
            Outcome::EmptyTranscript => "empty_transcript",
            Outcome::Goodbye => "goodbye",
            Outcome::Error => "error",
            Outcome::Phrase => "phrase",
        }
    }
}

pub(crate) enum ReplyKind {
    /// Transcribe this 16 kHz utterance and answer it.
    Answer { audio: Vec<i16>, rate: u32 },
    /// Speak a fixed phrase (greeting, idle prompt, goodbye).
    Phrase { text: String, goodbye: bool },
}

pub(crate) struct ReplyJob {
    pub turn: i64,
    pub kind: ReplyKind,
    pub history: Vec<ChatMessage>,
    pub gate: watch::Receiver<bool>,
    pub events: mpsc::UnboundedSender<(i64, ReplyEvent)>,
    pub out: mpsc::Sender<Outbound>,
    pub stream_sid: String,
    pub providers: Providers,
    pub cfg: Arc<SessionConfig>,
    pub phrases: PhraseCache,
}

/// What the producer hands the pacer.
enum Play {
    Begin { mark: String, text: String },
    Frame(Vec<u8>),
    End { mark: String },
}

impl ReplyJob {
    fn emit(&self, e: ReplyEvent) {
        let _ = self.events.send((self.turn, e));
    }

    pub(crate) async fn run(self) {
        let (text_source, outcome_hint) = match &self.kind {
            ReplyKind::Phrase { text, goodbye } => (
                TextSource::Phrase(text.clone()),
                if *goodbye {
                    Outcome::Goodbye
                } else {
                    Outcome::Phrase
                },
            ),
            ReplyKind::Answer { audio, rate } => {
                let started = Instant::now();
                let stt = self.providers.stt.transcribe(audio, *rate);
                let result = match tokio::time::timeout(self.cfg.stt_timeout, stt).await {
                    Ok(r) => r,
                    Err(_) => Err(ProviderError::Timeout {
                        stage: "stt",
                        after: self.cfg.stt_timeout,
                    }),
                };
                let stt_ms = started.elapsed().as_millis() as i64;
                match result {
                    Ok(text) => {
                        let text = text.trim().to_string();
                        self.emit(ReplyEvent::Transcript {
                            text: text.clone(),
                            stt_ms,
                        });
                        if text.is_empty() {
                            self.emit(ReplyEvent::Done {
                                text: String::new(),
                                llm_total_ms: None,
                                outcome: Outcome::EmptyTranscript,
                                error: None,
                                last_mark: None,
                                audio_ms: 0,
                            });
                            return;
                        }
                        if self.cfg.is_end_request(&text) {
                            (
                                TextSource::Phrase(self.cfg.goodbye.clone()),
                                Outcome::Goodbye,
                            )
                        } else {
                            (TextSource::Llm(text), Outcome::Answered)
                        }
                    }
                    Err(e) => {
                        self.emit(ReplyEvent::Transcript {
                            text: String::new(),
                            stt_ms,
                        });
                        (TextSource::Failed(e), Outcome::Error)
                    }
                }
            }
        };
        self.speak(text_source, outcome_hint).await;
    }

    async fn speak(&self, source: TextSource, outcome: Outcome) {
        let (play_tx, play_rx) = mpsc::channel::<Play>(256);
        let producer = self.produce(source, play_tx);
        let pacer = self.pace(play_rx);
        let ((llm_total_ms, error), (sent_text, last_mark, audio_ms)) =
            tokio::join!(producer, pacer);
        let outcome = if error.is_some() {
            Outcome::Error
        } else {
            outcome
        };
        self.emit(ReplyEvent::Done {
            text: sent_text,
            llm_total_ms,
            outcome,
            error: error.map(|e| e.to_string()),
            last_mark,
            audio_ms,
        });
    }

    /// Produces frames; returns the LLM's total time and the first provider error.
    async fn produce(
        &self,
        source: TextSource,
        play: mpsc::Sender<Play>,
    ) -> (Option<i64>, Option<ProviderError>) {
        match source {
            TextSource::Phrase(text) => {
                let audio = self
                    .phrases
                    .get(self.providers.tts.as_ref(), &text, self.cfg.tts_timeout)
                    .await;
                send_clip(&play, format!("t{}-s0", self.turn), text, &audio).await;
                (None, None)
            }
            TextSource::Failed(e) => {
                self.apology(&play).await;
                (None, Some(e))
            }
            TextSource::Llm(user_text) => {
                let (sent_tx, sent_rx) = mpsc::unbounded_channel::<String>();
                let mut messages = self.history.clone();
                messages.push(ChatMessage::user(user_text));
                let llm = self.stream_llm(&messages, sent_tx);
                let tts = self.synthesize_sentences(sent_rx, &play);
                let ((llm_ms, llm_err), tts_err) = tokio::join!(llm, tts);
                let err = tts_err.or(llm_err);
                if err.is_some() {
                    self.apology(&play).await;
                }
                (llm_ms, err)
            }
        }
    }

    async fn apology(&self, play: &mpsc::Sender<Play>) {
        let audio = self
            .phrases
            .get(
                self.providers.tts.as_ref(),
                &self.cfg.apology,
                self.cfg.tts_timeout,
            )
            .await;
        send_clip(
            play,
            format!("t{}-apology", self.turn),
            self.cfg.apology.clone(),
            &audio,
        )
        .await;
    }

    async fn stream_llm(
        &self,
        messages: &[ChatMessage],
        sentences: mpsc::UnboundedSender<String>,
    ) -> (Option<i64>, Option<ProviderError>) {
        let started = Instant::now();
        let timeout = self.cfg.llm_timeout;
        let to_err = || ProviderError::Timeout {
            stage: "llm",
            after: timeout,
        };
        let mut stream =
            match tokio::time::timeout(timeout, self.providers.llm.stream(messages)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return (None, Some(e)),
                Err(_) => return (None, Some(to_err())),
            };
        let mut splitter = SentenceSplitter::new(self.cfg.sentence_max_chars);
        let mut first = true;
        loop {
            match tokio::time::timeout(timeout, stream.next()).await {
                Ok(Some(Ok(token))) => {
                    if first {
                        first = false;
                        self.emit(ReplyEvent::LlmFirstToken {
                            ms: started.elapsed().as_millis() as i64,
                        });
                    }
                    for s in splitter.push(&token) {
                        let _ = sentences.send(s);
                    }
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    // Speak what complete sentences we have, then apologise.
                    return (Some(started.elapsed().as_millis() as i64), Some(e));
                }
                Err(_) => return (Some(started.elapsed().as_millis() as i64), Some(to_err())),
            }
        }
        if let Some(rest) = splitter.finish() {
            let _ = sentences.send(rest);
        }
        (Some(started.elapsed().as_millis() as i64), None)
    }

    async fn synthesize_sentences(
        &self,
        mut sentences: mpsc::UnboundedReceiver<String>,
        play: &mpsc::Sender<Play>,
    ) -> Option<ProviderError> {
        let mut index = 0;
        let mut first_byte_reported = false;
        while let Some(text) = sentences.recv().await {
            let mark = format!("t{}-s{}", self.turn, index);
            index += 1;
            let started = Instant::now();
            let timeout = self.cfg.tts_timeout;
            let to_err = || ProviderError::Timeout {
                stage: "tts",
                after: timeout,
            };
            let mut stream =
                match tokio::time::timeout(timeout, self.providers.tts.synthesize(&text)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return Some(e),
                    Err(_) => return Some(to_err()),
                };
            let mut conv = match PcmToMulaw::new(self.providers.tts.sample_rate()) {
                Ok(c) => c,
                Err(e) => {
                    return Some(ProviderError::Protocol {
                        stage: "tts",
                        message: e.to_string(),
                    });
                }
            };
            let mut begun = false;
            let mut frames = Vec::new();
            loop {
                match tokio::time::timeout(timeout, stream.next()).await {
                    Ok(Some(Ok(bytes))) => {
                        if !first_byte_reported && !bytes.is_empty() {
                            first_byte_reported = true;
                            self.emit(ReplyEvent::TtsFirstByte {
                                ms: started.elapsed().as_millis() as i64,
                            });
                        }
                        conv.push(&bytes, &mut frames);
                        if !frames.is_empty() && !begun {
                            begun = true;
                            if play
                                .send(Play::Begin {
                                    mark: mark.clone(),
                                    text: text.clone(),
                                })
                                .await
                                .is_err()
                            {
                                return None;
                            }
                        }
                        for f in frames.drain(..) {
                            if play.send(Play::Frame(f)).await.is_err() {
                                return None;
                            }
                        }
                    }
                    Ok(None) => break,
                    Ok(Some(Err(e))) => return Some(e),
                    Err(_) => return Some(to_err()),
                }
            }
            conv.finish(&mut frames);
            if !begun && !frames.is_empty() {
                begun = true;
                let _ = play
                    .send(Play::Begin {
                        mark: mark.clone(),
                        text: text.clone(),
                    })
                    .await;
            }
            for f in frames.drain(..) {
                if play.send(Play::Frame(f)).await.is_err() {
                    return None;
                }
            }
            if !begun || conv.odd_byte {
                return Some(ProviderError::Protocol {
                    stage: "tts",
                    message: if begun {
                        "odd number of PCM bytes".into()
                    } else {
                        "no audio for sentence".into()
                    },
                });
            }
            let _ = play.send(Play::End { mark }).await;
        }
        None
    }

    /// Sends frames in real time once the gate opens; returns the text whose audio began
    /// playing, the last mark sent and the audio duration sent.
    async fn pace(&self, mut play: mpsc::Receiver<Play>) -> (String, Option<String>, u64) {
        let mut gate = self.gate.clone();
        let mut sent_text: Vec<String> = Vec::new();
        let mut last_mark = None;
        let mut frames_sent: u64 = 0;
        let mut pending_text: Option<(String, String)> = None;
        let mut clock: Option<tokio::time::Instant> = None;
        while let Some(item) = play.recv().await {
            if !*gate.borrow() && gate.wait_for(|open| *open).await.is_err() {
                break;
            }
            match item {
                Play::Begin { mark, text } => pending_text = Some((mark, text)),
                Play::Frame(frame) => {
                    let now = tokio::time::Instant::now();
                    // After a gap (slow TTS) restart the clock rather than bursting to catch up.
                    let due = match clock {
                        Some(c) if c + LEAD >= now => c,
                        _ => now,
                    };
                    if due > now + LEAD {
                        tokio::time::sleep_until(due - LEAD).await;
                    }
                    clock = Some(due + FRAME);
                    let payload = base64::engine::general_purpose::STANDARD.encode(&frame);
                    let msg = Outbound::Media {
                        stream_sid: self.stream_sid.clone(),
                        media: MediaOut { payload },
                    };
                    if self.out.send(msg).await.is_err() {
                        break;
                    }
                    if frames_sent == 0 {
                        self.emit(ReplyEvent::FirstAudio { at: Instant::now() });
                    }
                    frames_sent += 1;
                    if let Some((mark, text)) = pending_text.take() {
                        sent_text.push(text.clone());
                        self.emit(ReplyEvent::SentenceStarted { mark, text });
                    }
                }
                Play::End { mark } => {
                    let msg = Outbound::Mark {
                        stream_sid: self.stream_sid.clone(),
                        mark: MarkBody { name: mark.clone() },
                    };
                    if self.out.send(msg).await.is_err() {
                        break;
                    }
                    last_mark = Some(mark);
                }
            }
        }
        (sent_text.join(" "), last_mark, frames_sent * 20)
    }
}

enum TextSource {
    Llm(String),
    Phrase(String),
    Failed(ProviderError),
}

async fn send_clip(play: &mpsc::Sender<Play>, mark: String, text: String, audio: &[u8]) {
    if play
        .send(Play::Begin {
            mark: mark.clone(),
            text,
        })
        .await
        .is_err()
    {
        return;
    }
    for chunk in audio.chunks(FRAME_SAMPLES) {
        if play.send(Play::Frame(chunk.to_vec())).await.is_err() {
            return;
        }
    }
    let _ = play.send(Play::End { mark }).await;
}

/// s16le PCM at any rate, in arbitrary byte pieces → 160-byte µ-law frames at 8 kHz.
struct PcmToMulaw {
    carry: Option<u8>,
    odd_byte: bool,
    any_audio: bool,
    resampler: StreamResampler,
    samples: Vec<i16>,
    out8k: Vec<i16>,
}

impl PcmToMulaw {
    fn new(rate: u32) -> Result<Self, haru_audio::ResampleError> {
        Ok(Self {
            carry: None,
            odd_byte: false,
            any_audio: false,
            resampler: StreamResampler::new(rate, 8_000, (rate / 50) as usize)?,
            samples: Vec::new(),
            out8k: Vec::new(),
        })
    }

    fn push(&mut self, bytes: &[u8], frames: &mut Vec<Vec<u8>>) {
        self.samples.clear();
        let mut rest = bytes;
        if let Some(lo) = self.carry.take() {
            if let Some((&hi, tail)) = rest.split_first() {
                self.samples.push(i16::from_le_bytes([lo, hi]));
                rest = tail;
            } else {
                self.carry = Some(lo);
            }
        }
        let mut pairs = rest.chunks_exact(2);
        self.samples
            .extend(pairs.by_ref().map(|p| i16::from_le_bytes([p[0], p[1]])));
        if let [b] = pairs.remainder() {
            self.carry = Some(*b);
        }
        self.any_audio |= !self.samples.is_empty();
        let samples = std::mem::take(&mut self.samples);
        self.resampler.push(&samples, &mut self.out8k);
        self.samples = samples;
        self.emit_full_frames(frames);
    }

    fn finish(&mut self, frames: &mut Vec<Vec<u8>>) {
        self.odd_byte = self.carry.is_some();
        if !self.any_audio {
            // Flushing would pad silence into frames: an empty body must stay empty.
            return;
        }
        self.resampler.flush(&mut self.out8k);
        self.emit_full_frames(frames);
        if !self.out8k.is_empty() {
            self.out8k.resize(FRAME_SAMPLES, 0);
            self.emit_full_frames(frames);
        }
    }

    fn emit_full_frames(&mut self, frames: &mut Vec<Vec<u8>>) {
        let full = self.out8k.len() / FRAME_SAMPLES * FRAME_SAMPLES;
        for chunk in self.out8k[..full].chunks(FRAME_SAMPLES) {
            frames.push(mulaw::encode(chunk));
        }
        self.out8k.drain(..full);
    }
}

/// Synthesises a whole phrase to 8 kHz µ-law (for the phrase cache).
pub(crate) async fn synthesize_to_mulaw(
    tts: &dyn Synthesizer,
    text: &str,
) -> Result<Vec<u8>, ProviderError> {
    let mut stream = tts.synthesize(text).await?;
    let mut conv = PcmToMulaw::new(tts.sample_rate()).map_err(|e| ProviderError::Protocol {
        stage: "tts",
        message: e.to_string(),
    })?;
    let mut frames = Vec::new();
    while let Some(chunk) = stream.next().await {
        conv.push(&chunk?, &mut frames);
    }
    conv.finish(&mut frames);
    Ok(frames.concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcm_split_at_odd_bytes_converts_like_whole() {
        let pcm: Vec<i16> = (0..4800)
            .map(|i| ((i as f32 * 0.05).sin() * 8000.0) as i16)
            .collect();
        let bytes: Vec<u8> = pcm.iter().flat_map(|s| s.to_le_bytes()).collect();
        let mut a = PcmToMulaw::new(24_000).unwrap();
        let mut fa = Vec::new();
        a.push(&bytes, &mut fa);
        a.finish(&mut fa);
        let mut b = PcmToMulaw::new(24_000).unwrap();
        let mut fb = Vec::new();
        for piece in bytes.chunks(333) {
            b.push(piece, &mut fb);
        }
        b.finish(&mut fb);
        assert_eq!(fa, fb);
        // 200 ms at 24 kHz → 10 frames of 20 ms (plus at most one padded tail frame).
        assert!((10..=12).contains(&fa.len()), "{}", fa.len());
        assert!(fa.iter().all(|f| f.len() == FRAME_SAMPLES));
        assert!(!a.odd_byte);
    }
}
