//! A reply worker: the provider side of one reply, as its own task. STT → streamed LLM →
//! sentences → TTS → 8 kHz µ-law, reported to the call core as [`WorkerEvent`]s. It never
//! touches the transport: the core alone decides what is played, so a cancelled worker
//! (its task aborted) cannot leak audio after a `clear`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use haru_audio::PcmToMulaw;
use haru_providers::{ChatMessage, ProviderError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::io::{Job, ReplyId, WorkerEvent};
use crate::phrases::synthesize_to_mulaw;
use crate::sentences::SentenceSplitter;
use crate::{PhraseCache, Providers, SessionConfig};

pub(crate) struct Worker {
    pub id: ReplyId,
    pub providers: Providers,
    pub cfg: Arc<SessionConfig>,
    pub phrases: PhraseCache,
    pub events: mpsc::UnboundedSender<(ReplyId, WorkerEvent)>,
}

/// Past this the verdict would come after the decision it was meant for.
const TURN_MODEL_TIMEOUT: Duration = Duration::from_millis(500);

fn timeout_error(stage: &'static str, after: Duration) -> ProviderError {
    ProviderError::Timeout { stage, after }
}

impl Worker {
    fn emit(&self, ev: WorkerEvent) {
        let _ = self.events.send((self.id, ev));
    }

    /// Runs the job. `stop_after_stt` asks an answer to stop once its transcript is out.
    pub async fn run(self, job: Job, stop_after_stt: CancellationToken) {
        let (llm_total_ms, error) = match job {
            Job::Answer {
                audio,
                rate,
                history,
            } => self.answer(&audio, rate, history, &stop_after_stt).await,
            Job::Speak { text } => (None, self.speak_phrase(&text).await.err()),
        };
        if let Some(e) = error {
            self.emit(WorkerEvent::Failed {
                error: e.to_string(),
            });
        }
        self.emit(WorkerEvent::Finished { llm_total_ms });
    }

    async fn answer(
        &self,
        audio: &[i16],
        rate: u32,
        history: Vec<ChatMessage>,
        stop: &CancellationToken,
    ) -> (Option<i64>, Option<ProviderError>) {
        let started = Instant::now();
        let timeout = self.cfg.stt_timeout;
        let stt = tokio::time::timeout(timeout, self.providers.stt.transcribe(audio, rate));
        // The audio verdict runs beside the transcriber (it is local and much faster) and
        // is reported as soon as it is known; it never holds the transcript up.
        let judge = self.judge_pause(audio, rate);
        tokio::pin!(stt, judge);
        let mut judged = false;
        let stt = loop {
            tokio::select! {
                r = &mut stt => break r,
                _ = &mut judge, if !judged => judged = true,
            }
        };
        let text = match stt {
            Ok(Ok(text)) => text.trim().to_string(),
            Ok(Err(e)) => return (None, Some(e)),
            Err(_) => return (None, Some(timeout_error("stt", timeout))),
        };
        self.emit(WorkerEvent::Transcript {
            text: text.clone(),
            stt_ms: started.elapsed().as_millis() as i64,
        });
        if text.is_empty() || stop.is_cancelled() {
            return (None, None);
        }
        // Emergency or despair: the fixed, calm reply at once, not the LLM's.
        if let Some((kind, _)) = self.cfg.safety.detect(&text) {
            let (tx, rx) = mpsc::unbounded_channel();
            let _ = tx.send(self.cfg.safety.reply(kind).to_string());
            drop(tx);
            return tokio::select! {
                _ = stop.cancelled() => (None, None),
                e = self.synthesize_sentences(rx) => (None, e),
            };
        }
        let mut messages = history;
        messages.push(ChatMessage::user(text));
        tokio::select! {
            _ = stop.cancelled() => (None, None),
            r = self.reply(&messages) => r,
        }
    }

    /// Asks the audio end-of-turn model about this pause, if there is one. A model error
    /// or one slower than `TURN_MODEL_TIMEOUT` is logged and the decision goes on without
    /// it.
    async fn judge_pause(&self, audio: &[i16], rate: u32) {
        let Some(model) = self.providers.turn_model.clone() else {
            return;
        };
        if rate != haru_turn::VAD_RATE {
            return;
        }
        let started = Instant::now();
        let pcm = audio.to_vec();
        let run = tokio::task::spawn_blocking(move || model.finished(&pcm));
        match tokio::time::timeout(TURN_MODEL_TIMEOUT, run).await {
            Ok(Ok(Ok(p))) => self.emit(WorkerEvent::TurnScore {
                finished: p,
                ms: started.elapsed().as_millis() as i64,
            }),
            // Skipped verdicts are expected under load (the model's CPU budget): counted,
            // not warned about.
            Ok(Ok(Err(e))) => {
                metrics::counter!(crate::metrics::TURN_MODEL_SKIPPED_TOTAL).increment(1);
                tracing::debug!(error = %e, "no turn model verdict; deciding without it");
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "turn model task failed"),
            Err(_) => {
                metrics::counter!(crate::metrics::TURN_MODEL_SKIPPED_TOTAL).increment(1);
                tracing::debug!("turn model too slow; deciding without it");
            }
        }
    }

    /// Streams the LLM into sentences and speaks each one as soon as it is complete. A TTS
    /// failure stops the LLM at once, so the apology is not delayed by the rest of the text.
    async fn reply(&self, messages: &[ChatMessage]) -> (Option<i64>, Option<ProviderError>) {
        let (sent_tx, sent_rx) = mpsc::unbounded_channel::<String>();
        let llm = self.stream_llm(messages, sent_tx);
        let tts = self.synthesize_sentences(sent_rx);
        tokio::pin!(llm, tts);
        let mut llm_result: Option<(Option<i64>, Option<ProviderError>)> = None;
        let tts_error = loop {
            tokio::select! {
                r = &mut llm, if llm_result.is_none() => llm_result = Some(r),
                e = &mut tts => break e,
            }
        };
        let (llm_ms, llm_error) = llm_result.unwrap_or((None, None));
        (llm_ms, tts_error.or(llm_error))
    }

    async fn stream_llm(
        &self,
        messages: &[ChatMessage],
        sentences: mpsc::UnboundedSender<String>,
    ) -> (Option<i64>, Option<ProviderError>) {
        let started = Instant::now();
        let timeout = self.cfg.llm_timeout;
        let elapsed = || Some(started.elapsed().as_millis() as i64);
        let mut stream =
            match tokio::time::timeout(timeout, self.providers.llm.stream(messages)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return (None, Some(e)),
                Err(_) => return (None, Some(timeout_error("llm", timeout))),
            };
        let mut splitter = SentenceSplitter::new(self.cfg.sentence_max_chars);
        let mut first = true;
        let mut said = false;
        loop {
            match tokio::time::timeout(timeout, stream.next()).await {
                Ok(Some(Ok(token))) => {
                    if first {
                        first = false;
                        self.emit(WorkerEvent::LlmFirstToken {
                            ms: started.elapsed().as_millis() as i64,
                        });
                    }
                    for s in splitter.push(&token) {
                        self.send_piece(s, &mut said, &sentences);
                    }
                }
                Ok(None) => break,
                // Complete sentences so far are still spoken, then the apology.
                Ok(Some(Err(e))) => return (elapsed(), Some(e)),
                Err(_) => return (elapsed(), Some(timeout_error("llm", timeout))),
            }
        }
        if let Some(rest) = splitter.finish() {
            self.send_piece(rest, &mut said, &sentences);
        }
        (elapsed(), None)
    }

    /// Queues a piece for speech. The first one loses the word an acknowledgement may
    /// say for it (whether or not one plays: "날씨가 좋았군요." reads well alone); the core
    /// hears of the word, so that what is stored as said is the model's own text.
    fn send_piece(&self, piece: String, said: &mut bool, out: &mpsc::UnboundedSender<String>) {
        let rest = if *said {
            Some(piece)
        } else {
            let (lead, rest) = crate::sentences::split_ack(&piece, &self.cfg.acks);
            if let Some(word) = lead {
                self.emit(WorkerEvent::AckWord { text: word });
            }
            rest
        };
        if let Some(p) = rest {
            *said = true;
            let _ = out.send(p);
        }
    }

    async fn synthesize_sentences(
        &self,
        mut sentences: mpsc::UnboundedReceiver<String>,
    ) -> Option<ProviderError> {
        let mut first_byte_reported = false;
        while let Some(text) = sentences.recv().await {
            // "(웃음)", "—", an emoji: nothing to say, and not a reason to give up the reply.
            if !text.chars().any(char::is_alphanumeric) {
                continue;
            }
            if let Err(e) = self.speak_sentence(text, &mut first_byte_reported).await {
                return Some(e);
            }
        }
        None
    }

    async fn speak_sentence(
        &self,
        text: String,
        first_byte_reported: &mut bool,
    ) -> Result<(), ProviderError> {
        let tts = &self.providers.tts;
        let started = Instant::now();
        let timeout = self.cfg.tts_timeout;
        let mut stream = match tokio::time::timeout(timeout, tts.synthesize(&text)).await {
            Ok(r) => r?,
            Err(_) => return Err(timeout_error("tts", timeout)),
        };
        let mut conv = PcmToMulaw::new(tts.sample_rate()).map_err(|e| ProviderError::Protocol {
            stage: "tts",
            message: e.to_string(),
        })?;
        let mut begun = false;
        let mut frames = Vec::new();
        let flush = |frames: &mut Vec<u8>, begun: &mut bool| {
            if frames.is_empty() {
                return;
            }
            if !*begun {
                *begun = true;
                self.emit(WorkerEvent::SentenceBegin { text: text.clone() });
            }
            self.emit(WorkerEvent::Audio(std::mem::take(frames)));
        };
        loop {
            match tokio::time::timeout(timeout, stream.next()).await {
                Ok(Some(Ok(bytes))) => {
                    if !*first_byte_reported && !bytes.is_empty() {
                        *first_byte_reported = true;
                        self.emit(WorkerEvent::TtsFirstByte {
                            ms: started.elapsed().as_millis() as i64,
                        });
                    }
                    conv.push(&bytes, &mut frames);
                    flush(&mut frames, &mut begun);
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(e),
                Err(_) => return Err(timeout_error("tts", timeout)),
            }
        }
        conv.finish(&mut frames);
        flush(&mut frames, &mut begun);
        if begun {
            self.emit(WorkerEvent::SentenceEnd);
        }
        if !begun || conv.odd_byte() {
            return Err(ProviderError::Protocol {
                stage: "tts",
                message: if begun {
                    "odd number of PCM bytes".into()
                } else {
                    "no audio for sentence".into()
                },
            });
        }
        Ok(())
    }

    /// A fixed phrase that was not cached: synthesised whole, cached for every later call.
    async fn speak_phrase(&self, text: &str) -> Result<(), ProviderError> {
        let timeout = self.cfg.tts_timeout;
        let audio = match tokio::time::timeout(
            timeout,
            synthesize_to_mulaw(self.providers.tts.as_ref(), text),
        )
        .await
        {
            Ok(r) => r?,
            Err(_) => return Err(timeout_error("tts", timeout)),
        };
        if audio.is_empty() {
            return Err(ProviderError::Protocol {
                stage: "tts",
                message: "no audio for phrase".into(),
            });
        }
        self.phrases.insert(text, Arc::from(audio.as_slice()));
        self.emit(WorkerEvent::SentenceBegin {
            text: text.to_string(),
        });
        self.emit(WorkerEvent::Audio(audio));
        self.emit(WorkerEvent::SentenceEnd);
        Ok(())
    }
}
