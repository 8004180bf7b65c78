//! The per-call state machine: listening → caller speaking → thinking → speaking, with
//! barge-in, speculation, endings, and persistence of every turn.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haru_providers::{ChatMessage, ChatModel, Synthesizer, Transcriber};
use haru_store::{CallStore, NewMessage, Role, TurnTiming};
use haru_telephony::{Outbound, TwilioClient};
use haru_turn::{TurnDetector, TurnEvent, VAD_RATE};
use metrics::{counter, gauge, histogram};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::metrics as m;
use crate::reply::{Outcome, ReplyEvent, ReplyJob, ReplyKind};
use crate::{PhraseCache, SessionConfig, log};

/// What the WebSocket reader hands the session.
#[derive(Debug)]
pub enum Input {
    /// Decoded 8 kHz PCM of one media message.
    Audio(Vec<i16>),
    Mark(String),
    Dtmf(String),
    Stop,
}

#[derive(Clone)]
pub struct Providers {
    pub stt: Arc<dyn Transcriber>,
    pub llm: Arc<dyn ChatModel>,
    pub tts: Arc<dyn Synthesizer>,
}

/// Everything a session needs from the server; shared between calls, all immutable or
/// internally synchronised (the store and the HTTP pool).
#[derive(Clone)]
pub struct SessionDeps {
    pub providers: Providers,
    pub store: Arc<dyn CallStore>,
    pub twilio: Option<TwilioClient>,
    pub phrases: PhraseCache,
    pub cfg: Arc<SessionConfig>,
    pub ended: Option<mpsc::UnboundedSender<CallEnded>>,
}

#[derive(Debug, Clone)]
pub struct CallEnded {
    pub call_sid: String,
    pub reason: String,
}

/// One reply in flight (speculative or committed).
struct Active {
    job: u64,
    turn: i64,
    handle: JoinHandle<()>,
    gate: watch::Sender<bool>,
    committed: bool,
    is_phrase: bool,
    goodbye: bool,
    end_of_speech: Option<Instant>,
    voiced_ms: u32,
    transcript: Option<String>,
    user_saved: bool,
    stt_ms: Option<i64>,
    llm_first_ms: Option<i64>,
    tts_first_ms: Option<i64>,
    first_audio: Option<Instant>,
    started: Vec<(String, String)>,
    returned: HashSet<String>,
    done: Option<Done>,
}

struct Done {
    at: Instant,
    text: String,
    llm_total_ms: Option<i64>,
    outcome: Outcome,
    error: Option<String>,
    last_mark: Option<String>,
    audio_ms: u64,
}

enum Flow {
    Continue,
    End(&'static str),
}

pub struct Session {
    call_sid: String,
    stream_sid: String,
    deps: SessionDeps,
    out: mpsc::Sender<Outbound>,
    detector: TurnDetector,
    history: Vec<ChatMessage>,
    next_job: u64,
    turn: i64,
    active: Option<Active>,
    events_tx: mpsc::UnboundedSender<(i64, ReplyEvent)>,
    events_rx: mpsc::UnboundedReceiver<(i64, ReplyEvent)>,
    turn_events: Vec<TurnEvent>,
    pending_pause: Option<(Instant, u32)>,
    last_activity: Instant,
    idle_prompted: bool,
    started_at: Instant,
    ending: Option<Instant>,
}

impl Session {
    pub fn new(
        call_sid: String,
        stream_sid: String,
        deps: SessionDeps,
        out: mpsc::Sender<Outbound>,
    ) -> Self {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let detector = TurnDetector::new(deps.cfg.turn.clone());
        Self {
            call_sid,
            stream_sid,
            deps,
            out,
            detector,
            history: Vec::new(),
            next_job: 0,
            turn: 0,
            active: None,
            events_tx,
            events_rx,
            turn_events: Vec::new(),
            pending_pause: None,
            last_activity: Instant::now(),
            idle_prompted: false,
            started_at: Instant::now(),
            ending: None,
        }
    }

    /// Runs the call until `stop`, a closed socket, a hang-up or a time limit.
    pub async fn run(mut self, mut input: mpsc::Receiver<Input>) {
        gauge!(m::ACTIVE_CALLS).increment(1.0);
        log::call_start(&self.call_sid, &self.stream_sid);
        let cfg = self.deps.cfg.clone();
        if !cfg.greeting.is_empty() {
            self.start_phrase(cfg.greeting.clone(), false);
        }
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let reason = loop {
            let flow = tokio::select! {
                msg = input.recv() => match msg {
                    Some(Input::Audio(pcm)) => self.on_audio(&pcm).await,
                    Some(Input::Mark(name)) => self.on_mark(name).await,
                    Some(Input::Dtmf(d)) => self.on_dtmf(d).await,
                    Some(Input::Stop) => Flow::End("stop"),
                    None => Flow::End("socket closed"),
                },
                Some((job, ev)) = self.events_rx.recv() => self.on_reply_event(job, ev).await,
                _ = tick.tick() => self.on_tick().await,
            };
            if let Flow::End(reason) = flow {
                break reason;
            }
        };
        self.finish(reason).await;
        gauge!(m::ACTIVE_CALLS).decrement(1.0);
    }

    fn system_and_history(&self) -> Vec<ChatMessage> {
        let cfg = &self.deps.cfg;
        let skip = self.history.len().saturating_sub(cfg.max_history);
        let mut msgs = Vec::with_capacity(self.history.len() - skip + 1);
        msgs.push(ChatMessage::system(cfg.system_prompt.clone()));
        msgs.extend(self.history[skip..].iter().cloned());
        msgs
    }

    fn spawn_job(
        &mut self,
        kind: ReplyKind,
        turn: i64,
        open: bool,
    ) -> (u64, JoinHandle<()>, watch::Sender<bool>) {
        self.next_job += 1;
        let job_id = self.next_job;
        let (gate_tx, gate_rx) = watch::channel(open);
        // Events carry the job id so late events of a cancelled job are ignored.
        let (tx, mut rx) = mpsc::unbounded_channel::<(i64, ReplyEvent)>();
        let fwd = self.events_tx.clone();
        let job = ReplyJob {
            turn,
            kind,
            history: self.system_and_history(),
            gate: gate_rx,
            events: tx,
            out: self.out.clone(),
            stream_sid: self.stream_sid.clone(),
            providers: self.deps.providers.clone(),
            cfg: self.deps.cfg.clone(),
            phrases: self.deps.phrases.clone(),
        };
        let handle = tokio::spawn(async move {
            let run = job.run();
            let forward = async {
                while let Some((_, ev)) = rx.recv().await {
                    if fwd.send((job_id as i64, ev)).is_err() {
                        break;
                    }
                }
            };
            tokio::join!(run, forward);
        });
        (job_id, handle, gate_tx)
    }

    fn new_active(
        &self,
        job: u64,
        turn: i64,
        handle: JoinHandle<()>,
        gate: watch::Sender<bool>,
    ) -> Active {
        Active {
            job,
            turn,
            handle,
            gate,
            committed: false,
            is_phrase: false,
            goodbye: false,
            end_of_speech: None,
            voiced_ms: 0,
            transcript: None,
            user_saved: false,
            stt_ms: None,
            llm_first_ms: None,
            tts_first_ms: None,
            first_audio: None,
            started: Vec::new(),
            returned: HashSet::new(),
            done: None,
        }
    }

    fn start_phrase(&mut self, text: String, goodbye: bool) {
        let turn = self.turn;
        let (job, handle, gate) = self.spawn_job(ReplyKind::Phrase { text, goodbye }, turn, true);
        let mut a = self.new_active(job, turn, handle, gate);
        a.committed = true;
        a.is_phrase = true;
        a.goodbye = goodbye;
        a.end_of_speech = Some(Instant::now());
        self.active = Some(a);
    }

    fn start_answer(
        &mut self,
        audio: Vec<i16>,
        voiced_ms: u32,
        end_of_speech: Instant,
        committed: bool,
    ) {
        let turn = self.turn + 1;
        let (job, handle, gate) = self.spawn_job(
            ReplyKind::Answer {
                audio,
                rate: VAD_RATE,
            },
            turn,
            committed,
        );
        let mut a = self.new_active(job, turn, handle, gate);
        a.committed = committed;
        a.end_of_speech = Some(end_of_speech);
        a.voiced_ms = voiced_ms;
        if committed {
            self.turn = turn;
        }
        self.active = Some(a);
    }

    async fn on_audio(&mut self, pcm: &[i16]) -> Flow {
        let mut events = std::mem::take(&mut self.turn_events);
        self.detector.push_8k(pcm, &mut events);
        let cfg = self.deps.cfg.clone();
        for ev in events.drain(..) {
            match ev {
                TurnEvent::SpeechStarted => {
                    self.last_activity = Instant::now();
                    self.idle_prompted = false;
                }
                TurnEvent::Paused { audio, voiced_ms } => {
                    let eos = Instant::now() - Duration::from_millis(cfg.turn.pause_ms as u64);
                    self.pending_pause = Some((eos, voiced_ms));
                    if cfg.speculative && self.ending.is_none() {
                        // A committed reply still playing means the caller talked over it.
                        if self.active.as_ref().is_some_and(|a| a.committed) {
                            self.barge_in().await;
                        }
                        if self.active.is_none() {
                            self.start_answer(audio, voiced_ms, eos, false);
                        }
                    }
                }
                TurnEvent::Resumed => {
                    self.pending_pause = None;
                    if self.active.as_ref().is_some_and(|a| !a.committed)
                        && let Some(a) = self.active.take()
                    {
                        a.handle.abort();
                    }
                }
                TurnEvent::TurnEnded {
                    audio, voiced_ms, ..
                } => {
                    self.last_activity = Instant::now();
                    if self.ending.is_some() {
                        continue;
                    }
                    let eos = self
                        .pending_pause
                        .take()
                        .map(|(t, _)| t)
                        .unwrap_or_else(|| {
                            Instant::now() - Duration::from_millis(cfg.turn.end_silence_ms as u64)
                        });
                    match self.active.as_mut() {
                        Some(a) if !a.committed => {
                            // The speculative work becomes the real turn.
                            a.committed = true;
                            self.turn = a.turn;
                            let _ = a.gate.send(true);
                            self.save_user_if_ready().await;
                        }
                        _ => {
                            if self.active.is_some() {
                                self.barge_in().await;
                            }
                            self.start_answer(audio, voiced_ms, eos, true);
                        }
                    }
                }
                TurnEvent::Discarded { .. } => {}
            }
        }
        self.turn_events = events;
        // Barge-in: the caller has clearly been talking over a committed reply.
        if self.ending.is_none()
            && self.detector.in_speech()
            && self.detector.voiced_ms() >= cfg.barge_in_min_ms
            && self
                .active
                .as_ref()
                .is_some_and(|a| a.committed && !a.goodbye)
        {
            self.barge_in().await;
        }
        Flow::Continue
    }

    /// Stores the caller's words as soon as the turn is committed and its transcript known.
    async fn save_user_if_ready(&mut self) {
        let Some(mut a) = self.active.take() else {
            return;
        };
        if a.committed && a.transcript.is_some() {
            self.save_user_turn_text(&mut a).await;
        }
        self.active = Some(a);
    }

    async fn save_message(&mut self, turn: i64, role: Role, content: String, interrupted: bool) {
        let msg = NewMessage {
            call_sid: self.call_sid.clone(),
            turn_index: turn,
            role,
            content,
            interrupted,
        };
        if let Err(e) = self.deps.store.add_message(&msg).await {
            warn!(call_sid = %self.call_sid, error = %e, "could not store message");
        }
    }

    async fn barge_in(&mut self) {
        let Some(a) = self.active.take() else { return };
        a.handle.abort();
        let audio_started = a.first_audio.is_some();
        if audio_started {
            let _ = self
                .out
                .send(Outbound::Clear {
                    stream_sid: self.stream_sid.clone(),
                })
                .await;
        }
        counter!(m::BARGE_INS_TOTAL).increment(1);
        info!(call_sid = %self.call_sid, turn = a.turn, "barge-in: caller interrupted the reply");
        self.finalize(a, true).await;
    }

    /// Stores what the caller heard of a reply and its timings; `cut` means interrupted.
    async fn finalize(&mut self, mut a: Active, cut: bool) {
        if !a.committed {
            return;
        }
        self.save_user_turn_text(&mut a).await;
        let (heard, interrupted) = if cut {
            let mut parts: Vec<String> = Vec::new();
            let mut partial = false;
            for (mark, text) in &a.started {
                if a.returned.contains(mark) {
                    parts.push(text.clone());
                } else {
                    parts.push(format!("{text}…"));
                    partial = true;
                    break;
                }
            }
            (parts.join(" "), partial || a.done.is_none())
        } else {
            (
                a.done.as_ref().map(|d| d.text.clone()).unwrap_or_default(),
                false,
            )
        };
        if !heard.is_empty() {
            // The LLM sees exactly what the caller heard, cut-off marker included.
            self.history.push(ChatMessage::assistant(heard.clone()));
            self.save_message(a.turn, Role::Assistant, heard.clone(), interrupted)
                .await;
        }
        let eos = a.end_of_speech;
        let since = |t: Option<Instant>| -> Option<i64> {
            match (eos, t) {
                (Some(e), Some(t)) => Some(t.saturating_duration_since(e).as_millis() as i64),
                _ => None,
            }
        };
        let done_at = a.done.as_ref().map(|d| d.at);
        let outcome = match (&a.done, cut) {
            (_, true) => "interrupted",
            (Some(d), _) => d.outcome.as_str(),
            (None, _) => "cancelled",
        };
        let timing = TurnTiming {
            call_sid: self.call_sid.clone(),
            turn_index: a.turn,
            speech_ms: (a.voiced_ms > 0).then_some(a.voiced_ms as i64),
            stt_ms: a.stt_ms,
            llm_first_token_ms: a.llm_first_ms,
            llm_total_ms: a.done.as_ref().and_then(|d| d.llm_total_ms),
            tts_first_byte_ms: a.tts_first_ms,
            first_audio_ms: since(a.first_audio),
            total_ms: since(done_at.or(Some(Instant::now()))),
            barge_in: cut,
            outcome: outcome.to_string(),
            error: a.done.as_ref().and_then(|d| d.error.clone()),
        };
        if !a.is_phrase {
            counter!(m::TURNS_TOTAL, "outcome" => outcome.to_string()).increment(1);
            if let Some(ms) = timing.first_audio_ms {
                histogram!(m::FIRST_AUDIO_SECONDS).record(ms as f64 / 1000.0);
            }
            if let Some(ms) = timing.total_ms {
                histogram!(m::TURN_SECONDS).record(ms as f64 / 1000.0);
            }
            log::turn(&log::TurnLog {
                call_sid: &self.call_sid,
                turn: a.turn,
                transcript: a.transcript.as_deref().unwrap_or(""),
                reply: &heard,
                stt_ms: timing.stt_ms,
                llm_first_ms: timing.llm_first_token_ms,
                llm_total_ms: timing.llm_total_ms,
                tts_first_ms: timing.tts_first_byte_ms,
                first_audio_ms: timing.first_audio_ms,
                total_ms: timing.total_ms,
                outcome,
            });
        }
        if let Err(e) = self.deps.store.record_turn(&timing).await {
            warn!(call_sid = %self.call_sid, error = %e, "could not store turn timings");
        }
        self.last_activity = Instant::now();
    }

    async fn save_user_turn_text(&mut self, a: &mut Active) {
        if a.user_saved {
            return;
        }
        a.user_saved = true;
        if let Some(text) = a.transcript.clone().filter(|t| !t.is_empty()) {
            self.history.push(ChatMessage::user(text.clone()));
            self.save_message(a.turn, Role::User, text, false).await;
        }
    }

    async fn on_reply_event(&mut self, job: i64, ev: ReplyEvent) -> Flow {
        let Some(a) = self.active.as_mut().filter(|a| a.job as i64 == job) else {
            return Flow::Continue; // a cancelled job's late news
        };
        match ev {
            ReplyEvent::Transcript { text, stt_ms } => {
                a.transcript = Some(text);
                a.stt_ms = Some(stt_ms);
                histogram!(m::STT_SECONDS).record(stt_ms as f64 / 1000.0);
                self.save_user_if_ready().await;
            }
            ReplyEvent::LlmFirstToken { ms } => {
                a.llm_first_ms = Some(ms);
                histogram!(m::LLM_FIRST_TOKEN_SECONDS).record(ms as f64 / 1000.0);
            }
            ReplyEvent::TtsFirstByte { ms } => {
                a.tts_first_ms = Some(ms);
                histogram!(m::TTS_FIRST_BYTE_SECONDS).record(ms as f64 / 1000.0);
            }
            ReplyEvent::FirstAudio { at } => a.first_audio = Some(at),
            ReplyEvent::SentenceStarted { mark, text } => a.started.push((mark, text)),
            ReplyEvent::Done {
                text,
                llm_total_ms,
                outcome,
                error,
                last_mark,
                audio_ms,
            } => {
                if let Some(e) = &error {
                    counter!(m::PROVIDER_ERRORS_TOTAL).increment(1);
                    warn!(call_sid = %self.call_sid, turn = a.turn, error = %e, "provider failed; apology played");
                }
                if outcome == Outcome::Goodbye {
                    a.goodbye = true;
                }
                let no_audio = last_mark.is_none();
                a.done = Some(Done {
                    at: Instant::now(),
                    text,
                    llm_total_ms,
                    outcome,
                    error,
                    last_mark,
                    audio_ms,
                });
                if a.goodbye {
                    // Hang up once the goodbye has played (its mark returns), or after a margin.
                    self.ending = Some(Instant::now() + Duration::from_millis(audio_ms + 3000));
                }
                if no_audio
                    && a.committed
                    && let Some(a) = self.active.take()
                {
                    let goodbye = a.goodbye;
                    self.finalize(a, false).await;
                    if goodbye {
                        return self.hang_up().await;
                    }
                }
            }
        }
        Flow::Continue
    }

    async fn on_mark(&mut self, name: String) -> Flow {
        let Some(a) = self.active.as_mut() else {
            return Flow::Continue;
        };
        a.returned.insert(name.clone());
        let finished = a
            .done
            .as_ref()
            .is_some_and(|d| d.last_mark.as_deref() == Some(name.as_str()));
        if finished && let Some(a) = self.active.take() {
            let goodbye = a.goodbye;
            self.finalize(a, false).await;
            if goodbye {
                return self.hang_up().await;
            }
        }
        Flow::Continue
    }

    async fn on_dtmf(&mut self, digit: String) -> Flow {
        info!(call_sid = %self.call_sid, digit = %digit, "DTMF");
        let turn = self.turn;
        self.save_message(turn, Role::Dtmf, digit, false).await;
        Flow::Continue
    }

    async fn on_tick(&mut self) -> Flow {
        let now = Instant::now();
        let cfg = self.deps.cfg.clone();
        if let Some(deadline) = self.ending {
            if now >= deadline {
                if let Some(a) = self.active.take() {
                    self.finalize(a, false).await;
                }
                return self.hang_up().await;
            }
            return Flow::Continue;
        }
        // A reply whose marks never come back (a client that does not echo them) is
        // considered played once its audio duration has passed.
        if let Some(a) = &self.active
            && let Some(d) = &a.done
            && now >= d.at + Duration::from_millis(d.audio_ms.min(60_000) + 2000)
            && let Some(a) = self.active.take()
        {
            self.finalize(a, false).await;
        }
        if now.duration_since(self.started_at) >= cfg.max_call {
            info!(call_sid = %self.call_sid, "maximum call duration reached");
            self.say_goodbye().await;
            return Flow::Continue;
        }
        let listening = self.active.is_none() && self.detector.voiced_ms() == 0;
        if listening && now.duration_since(self.last_activity) >= cfg.idle_timeout {
            if self.idle_prompted {
                info!(call_sid = %self.call_sid, "caller idle after prompt; ending");
                self.say_goodbye().await;
            } else {
                self.idle_prompted = true;
                self.start_phrase(cfg.idle_prompt.clone(), false);
            }
            self.last_activity = now;
        }
        Flow::Continue
    }

    async fn say_goodbye(&mut self) {
        if let Some(a) = self.active.take() {
            a.handle.abort();
            if a.first_audio.is_some() {
                let _ = self
                    .out
                    .send(Outbound::Clear {
                        stream_sid: self.stream_sid.clone(),
                    })
                    .await;
            }
            self.finalize(a, true).await;
        }
        let text = self.deps.cfg.goodbye.clone();
        self.start_phrase(text, true);
        self.ending = Some(Instant::now() + Duration::from_secs(30));
    }

    async fn hang_up(&mut self) -> Flow {
        if let Some(tw) = &self.deps.twilio {
            match tw.hang_up(&self.call_sid).await {
                Ok(outcome) => info!(call_sid = %self.call_sid, ?outcome, "hung up"),
                Err(e) => warn!(call_sid = %self.call_sid, error = %e, "hang-up request failed"),
            }
        }
        let _ = self
            .deps
            .store
            .record_stream_event(&self.call_sid, Some(&self.stream_sid), "hangup", None)
            .await;
        Flow::End("goodbye")
    }

    async fn finish(mut self, reason: &str) {
        if let Some(a) = self.active.take() {
            a.handle.abort();
            let cut = a.done.is_none() || a.first_audio.is_some();
            self.finalize(a, cut && !reason.eq("goodbye")).await;
        }
        let messages = self
            .deps
            .store
            .messages(&self.call_sid)
            .await
            .unwrap_or_default();
        let transcript = messages
            .iter()
            .map(|m| {
                let who = match m.role {
                    Role::User => "👤",
                    Role::Assistant => "🤖",
                    Role::Dtmf => "🔢",
                    Role::System => "⚙️",
                };
                format!("{who} {}", m.content)
            })
            .collect::<Vec<_>>()
            .join("\n");
        if let Err(e) = self
            .deps
            .store
            .close_call(&self.call_sid, reason, &transcript)
            .await
        {
            warn!(call_sid = %self.call_sid, error = %e, "could not close call record");
        }
        log::call_end(&self.call_sid, reason, &transcript, messages.len());
        if let Some(tx) = &self.deps.ended {
            let _ = tx.send(CallEnded {
                call_sid: self.call_sid.clone(),
                reason: reason.to_string(),
            });
        }
    }
}
