//! The call core: one call's conversation as a sans-IO state machine.
//!
//! It owns all call state — who holds the floor, the turn detector, the history the LLM
//! sees, the playback ledger of the reply in flight — and decides every rule of a call:
//! speculation, end of turn, barge-in, provider failures, endings. It does no I/O and
//! reads no clock: the driver (`driver.rs`) feeds it [`Input`]s, [`WorkerEvent`]s and the
//! time, and carries out the [`Action`]s it emits. Tests drive it the same way, in
//! virtual time.
//!
//! ```text
//!             Paused (speculative)         TurnEnded
//! Listening ───────────────────▶ Speculating ─────────▶ Replying ──played──▶ Listening
//!    │  ▲        Resumed: drop ◀──┘                        │  ▲
//!    │  └───────────── barge-in (caller voiced ≥ barge_in_min_ms) ◀┘
//!    │ TurnEnded (no speculation) ──────────────────────────┘
//!    └ idle / max duration / end request ──▶ Ending (goodbye) ──played──▶ HangUp ─▶ Closed
//!                                 Stop / Closed in any state ─▶ (Closing) ─▶ Closed
//! ```

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haru_providers::ChatMessage;
use haru_store::{NewMessage, Role};
use haru_turn::{TurnDetector, TurnEvent, VAD_RATE, completeness, is_backchannel};
use metrics::{counter, histogram};
use tracing::{info, warn};

use crate::config::EotPolicy;
use crate::io::{Action, Input, Job, Output, ReplyId, StoreOp, WorkerEvent};
use crate::ledger::Ledger;
use crate::phrases::{PhraseCache, chime};
use crate::record::{Finish, Outcome, TurnRecord};
use crate::{SessionConfig, metrics as m};

/// A reply whose marks never come back counts as played this long after its audio ends.
pub const MARK_GRACE: Duration = Duration::from_secs(2);
/// The goodbye gets at most this long (synthesis included) before haru hangs up anyway.
pub const GOODBYE_MAX: Duration = Duration::from_secs(60);

/// Who holds the floor. Every transition is in this file.
enum Floor {
    /// haru is silent; the caller may be talking (the detector knows).
    Listening,
    /// The caller paused: a reply is being prepared but not played (they may resume).
    Speculating(Reply),
    /// A committed reply: being prepared and/or playing.
    Replying(Reply),
    /// The goodbye is playing; haru hangs up once it has been heard. No barge-in.
    Ending(Reply),
    /// The call is over; waiting (up to a deadline) for the transcripts of words the
    /// caller said just before it ended.
    Closing {
        reason: String,
        deadline: Instant,
    },
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Answer,
    Greeting,
    IdlePrompt,
    Goodbye,
}

/// One signal's reading of a pause.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Evidence {
    Finished,
    Unsure,
    Unfinished,
}

struct Reply {
    id: ReplyId,
    purpose: Purpose,
    /// Assigned when the reply is committed (0 while speculating).
    turn: i64,
    ledger: Ledger,
    record: TurnRecord,
    /// Its worker may still add audio.
    producing: bool,
    /// The transcript asked to end the call (seen while speculating; acted on at commit).
    end_requested: bool,
    /// The audio turn model's probability that the caller had finished at this pause.
    sounds_finished: Option<f32>,
    /// The caller's words began over haru's reply: a lone "응" / "uh-huh" is a backchannel,
    /// stored but not answered.
    over_reply: bool,
    /// When an acknowledgement plays if the answer has no audio yet (committed answers).
    ack_due: Option<Instant>,
    /// Items at the head of the ledger that are the acknowledgement (0 or 1).
    ack_items: usize,
    /// The model's own spelling of the acknowledged word ("네,").
    ack_word: Option<String>,
}

pub struct CallCore {
    call_sid: String,
    cfg: Arc<SessionConfig>,
    phrases: PhraseCache,
    detector: TurnDetector,
    floor: Floor,
    /// The conversation as the caller heard it (what the LLM sees).
    history: Vec<ChatMessage>,
    /// The call log's transcript, one line per stored message.
    transcript: Vec<String>,
    actions: VecDeque<Action>,
    turn_events: Vec<TurnEvent>,
    next_reply: u64,
    next_mark: u64,
    last_turn: i64,
    started_at: Instant,
    /// Since when neither side has said anything (for the idle prompt).
    quiet_since: Instant,
    idle_prompted: bool,
    /// The caller's end of speech of the current pause.
    pause_eos: Option<Instant>,
    /// Cancelled answers whose worker still finishes the transcript, with their turn.
    orphans: Vec<(ReplyId, i64)>,
    goodbye_deadline: Option<Instant>,
    /// This caller's recent mid-turn pauses (ms of silence before they went on).
    holds: VecDeque<u32>,
    /// When haru last finished (or stopped) speaking.
    spoke_until: Option<Instant>,
    /// The caller's current utterance began while haru was speaking, or just after.
    over_reply: bool,
}

/// Speech that starts this soon after haru stopped still overlaps its reply (the VAD
/// reports a start 160 ms in, and listeners answer a reply's last word as it ends).
const BACKCHANNEL_GRACE: Duration = Duration::from_millis(700);

/// Mid-turn pauses remembered per call, for the caller's own patience.
const HOLDS_KEPT: usize = 12;

impl CallCore {
    pub fn new(
        call_sid: impl Into<String>,
        cfg: Arc<SessionConfig>,
        phrases: PhraseCache,
        now: Instant,
    ) -> Self {
        Self {
            call_sid: call_sid.into(),
            detector: TurnDetector::new(cfg.turn.clone()),
            cfg,
            phrases,
            floor: Floor::Listening,
            history: Vec::new(),
            transcript: Vec::new(),
            actions: VecDeque::new(),
            turn_events: Vec::new(),
            next_reply: 0,
            next_mark: 0,
            last_turn: 0,
            started_at: now,
            quiet_since: now,
            idle_prompted: false,
            pause_eos: None,
            spoke_until: None,
            over_reply: false,
            orphans: Vec::new(),
            goodbye_deadline: None,
            holds: VecDeque::new(),
        }
    }

    /// Seeds this caller's pause habits from earlier calls (oldest first).
    pub fn remember_holds(&mut self, holds: &[u32]) {
        for &h in holds.iter().rev().take(HOLDS_KEPT).rev() {
            self.holds.push_back(h);
        }
    }

    /// The caller's recent mid-turn pauses, to keep for their next call.
    pub fn holds(&self) -> Vec<u32> {
        self.holds.iter().copied().collect()
    }

    /// Opens the call with the greeting, if one is configured.
    pub fn start(&mut self, now: Instant) {
        if self.cfg.llm_warmup {
            // The opening exactly as the first turn's request will begin.
            let mut opening = self.llm_history();
            if !self.cfg.greeting.is_empty() {
                opening.push(ChatMessage::assistant(self.cfg.greeting.clone()));
            }
            self.actions.push_back(Action::WarmUp(opening));
        }
        let uncached: Vec<String> = (self.cfg.acks.iter())
            .filter(|a| !a.is_empty() && self.phrases.lookup(a).is_none())
            .cloned()
            .collect();
        if !uncached.is_empty() {
            self.actions.push_back(Action::CachePhrases(uncached));
        }
        if !self.cfg.greeting.is_empty() {
            // The greeting is turn 0; the caller's first turn is 1.
            let text = self.cfg.greeting.clone();
            let r = self.phrase_reply(Purpose::Greeting, text, 0);
            self.floor = Floor::Replying(r);
        }
        self.settle(now);
    }

    pub fn handle_input(&mut self, input: Input, now: Instant) {
        if self.is_over() {
            return;
        }
        match input {
            Input::Audio(pcm) => self.on_audio(&pcm, now),
            Input::Mark(name) => self.on_mark(&name),
            Input::Dtmf(digit) => {
                info!(call_sid = %self.call_sid, digit = %digit, "DTMF");
                let turn = self.last_turn;
                self.store_message(turn, Role::Dtmf, digit, false);
            }
            Input::Stop => return self.close("stop", now),
            Input::Closed => return self.close("socket closed", now),
        }
        self.settle(now);
    }

    pub fn handle_worker(&mut self, id: ReplyId, ev: WorkerEvent, now: Instant) {
        if let Some(pos) = self.orphans.iter().position(|(o, _)| *o == id) {
            return self.on_orphan_event(pos, ev);
        }
        if self.is_over() {
            return;
        }
        if let WorkerEvent::Transcript { text, stt_ms } = ev {
            self.on_transcript(id, text, stt_ms, now);
            return self.settle(now);
        }
        if let WorkerEvent::TurnScore { finished, ms } = ev {
            self.on_turn_score(id, finished, ms, now);
            return self.settle(now);
        }
        let (mut r, wrap): (Reply, fn(Reply) -> Floor) = match self.take_floor() {
            Floor::Speculating(r) if r.id == id => (r, Floor::Speculating),
            Floor::Replying(r) if r.id == id => (r, Floor::Replying),
            Floor::Ending(r) if r.id == id => (r, Floor::Ending),
            other => {
                // Late news of a cancelled reply.
                self.floor = other;
                return;
            }
        };
        match ev {
            WorkerEvent::Transcript { .. } | WorkerEvent::TurnScore { .. } => {}
            WorkerEvent::LlmFirstToken { ms } => {
                r.record.llm_first_ms = Some(ms);
                histogram!(m::LLM_FIRST_TOKEN_SECONDS).record(ms as f64 / 1000.0);
            }
            WorkerEvent::TtsFirstByte { ms } => {
                if r.record.tts_first_ms.is_none() {
                    r.record.tts_first_ms = Some(ms);
                    histogram!(m::TTS_FIRST_BYTE_SECONDS).record(ms as f64 / 1000.0);
                }
            }
            WorkerEvent::AckWord { text } => {
                if r.ack_items > 0 {
                    r.ledger.set_text(0, text.clone());
                }
                r.ack_word = Some(text);
            }
            WorkerEvent::SentenceBegin { text } => {
                let mark = self.mark();
                r.ledger.begin(mark, Some(text));
            }
            WorkerEvent::Audio(audio) => r.ledger.append(&audio),
            WorkerEvent::SentenceEnd => r.ledger.end(),
            WorkerEvent::Failed { error } => self.on_failure(&mut r, error),
            WorkerEvent::Finished { llm_total_ms } => {
                r.record.llm_total_ms = r.record.llm_total_ms.or(llm_total_ms);
                r.ledger.end();
                r.producing = false;
            }
        }
        self.floor = wrap(r);
        self.settle(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.floor {
            Floor::Closed => return,
            Floor::Closing { deadline, .. } => {
                if now >= *deadline {
                    self.orphans.clear();
                    self.finish_close();
                }
                return;
            }
            Floor::Ending(_) if self.goodbye_deadline.is_some_and(|d| now >= d) => {
                if let Floor::Ending(r) = self.take_floor() {
                    self.cancel(r.id, false);
                    self.finalize(r, false, false, now);
                }
                return self.hang_up(now);
            }
            Floor::Ending(_) => {}
            _ if self
                .started_at
                .checked_add(self.cfg.max_call)
                .is_some_and(|t| now >= t) =>
            {
                info!(call_sid = %self.call_sid, "maximum call duration reached");
                self.begin_goodbye(now);
                return self.settle(now);
            }
            _ => {}
        }
        if let Floor::Replying(r) | Floor::Ending(r) = &mut self.floor
            && played_fallback(r, now).is_some_and(|t| now >= t)
        {
            r.ledger.assume_played();
        }
        self.maybe_ack(now);
        if matches!(self.floor, Floor::Listening)
            && self.detector.voiced_ms() == 0
            && self
                .quiet_since
                .checked_add(self.cfg.idle_timeout)
                .is_some_and(|t| now >= t)
        {
            if self.idle_prompted {
                info!(call_sid = %self.call_sid, "caller idle after the prompt; ending");
                self.begin_goodbye(now);
            } else {
                self.idle_prompted = true;
                let turn = self.next_turn();
                let text = self.cfg.idle_prompt.clone();
                let r = self.phrase_reply(Purpose::IdlePrompt, text, turn);
                self.floor = Floor::Replying(r);
            }
        }
        self.settle(now);
    }

    /// When [`CallCore::handle_timeout`] must run next.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut at = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        match &self.floor {
            Floor::Closed => return None,
            Floor::Closing { deadline, .. } => return Some(*deadline),
            Floor::Ending(r) => {
                at(r.ledger.next_pump(now));
                at(played_fallback(r, now));
                at(self.goodbye_deadline);
                return next;
            }
            Floor::Replying(r) => {
                at(r.ledger.next_pump(now));
                at(played_fallback(r, now));
                at(self.ack_due(r));
            }
            Floor::Listening if self.detector.voiced_ms() == 0 => {
                at(self.quiet_since.checked_add(self.cfg.idle_timeout));
            }
            Floor::Listening | Floor::Speculating(_) => {}
        }
        at(self.started_at.checked_add(self.cfg.max_call));
        next
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The call has ended and its `Close` action was emitted.
    pub fn is_closed(&self) -> bool {
        matches!(self.floor, Floor::Closed)
    }

    fn is_over(&self) -> bool {
        matches!(self.floor, Floor::Closing { .. } | Floor::Closed)
    }

    // --- the caller's audio -------------------------------------------------------------

    fn on_audio(&mut self, pcm: &[i16], now: Instant) {
        let mut events = std::mem::take(&mut self.turn_events);
        self.detector.push_8k(pcm, &mut events);
        for ev in events.drain(..) {
            self.on_turn_event(ev, now);
        }
        self.turn_events = events;
        // The one barge-in rule: the caller has been talking over a committed reply for
        // `barge_in_min_ms` of voiced audio. Shorter sounds ("응", echo, a cough) never
        // interrupt, and the goodbye (`Ending`) is never interrupted.
        if matches!(self.floor, Floor::Replying(_))
            && self.detector.in_speech()
            && self.detector.voiced_ms() >= self.cfg.barge_in_min_ms
        {
            self.barge_in(now);
        }
    }

    fn on_turn_event(&mut self, ev: TurnEvent, now: Instant) {
        match ev {
            TurnEvent::SpeechStarted => {
                self.quiet_since = now;
                self.idle_prompted = false;
                self.over_reply = matches!(self.floor, Floor::Replying(_) | Floor::Ending(_))
                    || self
                        .spoke_until
                        .is_some_and(|t| now.saturating_duration_since(t) <= BACKCHANNEL_GRACE);
            }
            TurnEvent::Paused { audio, voiced_ms } => {
                let eos = now.checked_sub(ms(self.cfg.turn.pause_ms)).unwrap_or(now);
                self.pause_eos = Some(eos);
                if self.cfg.speculative && matches!(self.floor, Floor::Listening) {
                    let r = self.answer_reply(audio, voiced_ms, eos);
                    self.floor = Floor::Speculating(r);
                    if self.cfg.eot.policy == EotPolicy::Adaptive {
                        // Wait for the words of this pause before deciding.
                        let wait = self.patient(self.cfg.eot.unknown_ms, 1.2);
                        self.require_silence(wait, now);
                    }
                }
            }
            TurnEvent::Resumed { after_ms } => {
                self.pause_eos = None;
                self.holds.push_back(after_ms);
                if self.holds.len() > HOLDS_KEPT {
                    self.holds.pop_front();
                }
                if matches!(self.floor, Floor::Speculating(_))
                    && let Floor::Speculating(r) = self.take_floor()
                {
                    self.cancel(r.id, false);
                }
            }
            TurnEvent::TurnEnded {
                audio,
                voiced_ms,
                forced,
            } => {
                self.quiet_since = now;
                let pause_eos = self.pause_eos.take();
                let eos = if forced {
                    now
                } else {
                    pause_eos.unwrap_or_else(|| {
                        now.checked_sub(ms(self.cfg.turn.end_silence_ms))
                            .unwrap_or(now)
                    })
                };
                match self.take_floor() {
                    Floor::Speculating(r) => self.commit(r, now),
                    Floor::Listening => {
                        let r = self.answer_reply(audio, voiced_ms, eos);
                        self.commit(r, now);
                    }
                    // Speech over haru too short to barge in (a backchannel), or over the
                    // goodbye: haru keeps the floor.
                    other => self.floor = other,
                }
            }
            TurnEvent::Discarded { .. } => {}
        }
    }

    fn on_mark(&mut self, name: &str) {
        let counted = match &mut self.floor {
            Floor::Replying(r) | Floor::Ending(r) => r.ledger.on_mark(name),
            _ => false,
        };
        if !counted {
            tracing::debug!(call_sid = %self.call_sid, mark = name, "mark ignored (unknown, repeated or out of order)");
        }
    }

    // --- replies ------------------------------------------------------------------------

    fn answer_reply(&mut self, audio: Vec<i16>, voiced_ms: u32, eos: Instant) -> Reply {
        let id = self.next_id();
        self.actions.push_back(Action::Start {
            id,
            job: Job::Answer {
                audio,
                rate: VAD_RATE,
                history: self.llm_history(),
            },
        });
        Reply {
            id,
            purpose: Purpose::Answer,
            turn: 0,
            ledger: Ledger::default(),
            record: TurnRecord::for_speech(eos, voiced_ms),
            producing: true,
            end_requested: false,
            sounds_finished: None,
            over_reply: self.over_reply,
            ack_due: None,
            ack_items: 0,
            ack_word: None,
        }
    }

    fn phrase_reply(&mut self, purpose: Purpose, text: String, turn: i64) -> Reply {
        let id = self.next_id();
        let mut r = Reply {
            id,
            purpose,
            turn,
            ledger: Ledger::default(),
            record: TurnRecord::default(),
            producing: false,
            end_requested: false,
            sounds_finished: None,
            over_reply: false,
            ack_due: None,
            ack_items: 0,
            ack_word: None,
        };
        match self.phrases.lookup(&text) {
            Some(audio) => {
                let mark = self.mark();
                r.ledger.push_clip(mark, Some(text), &audio);
            }
            None => {
                r.producing = true;
                self.actions.push_back(Action::Start {
                    id,
                    job: Job::Speak { text },
                });
            }
        }
        r
    }

    /// The end of turn is confirmed: the reply becomes real and may play.
    fn commit(&mut self, mut r: Reply, now: Instant) {
        r.turn = self.next_turn();
        if let Some(text) = r.record.transcript.clone() {
            self.save_user(r.turn, &text);
            if self.is_backchannel(&r, &text) {
                return self.keep_backchannel(r, now);
            }
        }
        if r.end_requested {
            self.answer_with_goodbye(r, now);
        } else {
            if r.purpose == Purpose::Answer && !self.cfg.acks.is_empty() {
                r.ack_due = now.checked_add(self.cfg.ack_after);
            }
            self.floor = Floor::Replying(r);
        }
    }

    /// The acknowledgement this reply would play now, if it is due: the answer has no
    /// audio yet and is going to be one (its words are in, not empty, not failed).
    fn ack_due(&self, r: &Reply) -> Option<Instant> {
        let due = r.ack_due?;
        let answering = r.purpose == Purpose::Answer
            && r.producing
            && r.ledger.is_empty()
            && r.record.errors.is_empty()
            && r.record
                .transcript
                .as_deref()
                .is_some_and(|t| !t.is_empty());
        answering.then_some(due)
    }

    /// Plays the acknowledgement ahead of a slow answer (see `SessionConfig::acks`).
    fn maybe_ack(&mut self, now: Instant) {
        let Floor::Replying(r) = &self.floor else {
            return;
        };
        if self.ack_due(r).is_none_or(|t| now < t) {
            return;
        }
        let n = self.cfg.acks.len().max(1);
        let text = self.cfg.acks[(r.turn.unsigned_abs() as usize) % n].clone();
        let audio = self.phrases.lookup(&text);
        let mark = self.mark();
        if let Floor::Replying(r) = &mut self.floor {
            r.ack_due = None;
            // Not cached (TTS was down): no acknowledgement rather than a late one.
            if let Some(audio) = audio {
                let words = r.ack_word.clone().unwrap_or(text);
                r.ledger.push_clip(mark, Some(words), &audio);
                r.ack_items = 1;
            }
        }
    }

    fn on_transcript(&mut self, id: ReplyId, text: String, stt_ms: i64, now: Instant) {
        histogram!(m::STT_SECONDS).record(stt_ms as f64 / 1000.0);
        let end = !text.is_empty() && self.cfg.is_end_request(&text);
        match self.take_floor() {
            Floor::Speculating(mut r) if r.id == id => {
                r.record.stt_ms = Some(stt_ms);
                r.record.transcript = Some(text.clone());
                if end {
                    self.cancel(r.id, false);
                    r.producing = false;
                    r.end_requested = true;
                }
                self.floor = Floor::Speculating(r);
                self.decide_end_of_turn(now);
            }
            Floor::Replying(mut r) if r.id == id => {
                r.record.stt_ms = Some(stt_ms);
                r.record.transcript = Some(text.clone());
                self.save_user(r.turn, &text);
                if self.is_backchannel(&r, &text) {
                    self.keep_backchannel(r, now);
                } else if end {
                    self.cancel(r.id, false);
                    self.answer_with_goodbye(r, now);
                } else {
                    self.floor = Floor::Replying(r);
                }
            }
            other => self.floor = other,
        }
    }

    /// "응", "네", "uh-huh" said over haru's reply, when that reply asked nothing: the
    /// caller is listening, not taking the turn.
    fn is_backchannel(&self, r: &Reply, text: &str) -> bool {
        let asked = self
            .history
            .iter()
            .rev()
            .find(|m| m.role == "assistant")
            .is_some_and(|m| m.content.trim_end().ends_with(['?', '？']));
        r.purpose == Purpose::Answer && r.over_reply && !asked && is_backchannel(text)
    }

    /// The backchannel's words are kept (already stored by the caller); haru says nothing
    /// and keeps listening.
    fn keep_backchannel(&mut self, r: Reply, now: Instant) {
        info!(call_sid = %self.call_sid, turn = r.turn, "backchannel: kept, not answered");
        self.cancel(r.id, false);
        self.record_unplayed(r, Outcome::Backchannel, now);
        self.floor = Floor::Listening;
    }

    fn on_turn_score(&mut self, id: ReplyId, finished: f32, ms: i64, now: Instant) {
        histogram!(m::TURN_MODEL_SECONDS).record(ms as f64 / 1000.0);
        if let Floor::Speculating(r) = &mut self.floor
            && r.id == id
        {
            r.sounds_finished = Some(finished);
            self.decide_end_of_turn(now);
        }
    }

    /// The end-of-turn decision at a pause: how much silence means "finished", from what
    /// was said (the speculative transcript), how it sounded (the audio turn model, when
    /// there is one) and this caller's own pauses. Re-taken as each signal arrives.
    fn decide_end_of_turn(&mut self, now: Instant) {
        let eot = &self.cfg.eot;
        if eot.policy == EotPolicy::Silence {
            return;
        }
        let Floor::Speculating(r) = &self.floor else {
            return;
        };
        let words = r.record.transcript.as_deref();
        let sound = r.sounds_finished.map(|p| {
            if p >= eot.audio_finished {
                Evidence::Finished
            } else if p < eot.audio_unfinished {
                Evidence::Unfinished
            } else {
                Evidence::Unsure
            }
        });
        let said = words.map(|t| {
            let c = completeness(t);
            if c >= 0.8 {
                Evidence::Finished
            } else if c <= 0.2 {
                Evidence::Unfinished
            } else {
                Evidence::Unsure
            }
        });
        use Evidence::*;
        let wait = match (words, said, sound) {
            // Nothing was said (noise, a breath): the reply will be empty anyway.
            (Some(""), _, _) => eot.complete_ms,
            // Words not back yet: wait for them, less if it already sounds finished.
            (None, _, Some(Finished)) => self.patient(eot.unknown_ms.min(eot.neutral_ms), 1.2),
            (None, _, _) => self.patient(eot.unknown_ms, 1.2),
            // A connective ending, a particle, a filler, "and": the caller is going on,
            // however the last syllable sounded.
            (_, Some(Unfinished), _) => self.patient(eot.incomplete_ms, 1.5),
            (_, Some(Finished), Some(Finished)) => self.patient(eot.sure_ms, 0.5),
            (_, Some(Finished), Some(Unfinished)) => self.patient(eot.neutral_ms, 1.2),
            (_, Some(Finished), _) => self.patient(eot.complete_ms, 0.5),
            (_, _, Some(Finished)) => self.patient(eot.complete_ms, 0.8),
            (_, _, Some(Unfinished)) => self.patient(eot.incomplete_ms, 1.5),
            _ => self.patient(eot.neutral_ms, 1.2),
        };
        tracing::debug!(call_sid = %self.call_sid, ?said, ?sound, wait, "end-of-turn decision");
        self.require_silence(wait, now);
    }

    /// `base`, or more for a caller whose own pauses mid-turn have been long: `factor` ×
    /// their usual (80th percentile) hold, capped at `max_ms`.
    fn patient(&self, base: u32, factor: f32) -> u32 {
        let eot = &self.cfg.eot;
        if self.holds.len() < 2 {
            return base;
        }
        let mut h: Vec<u32> = self.holds.iter().copied().collect();
        h.sort_unstable();
        let usual = h[(h.len() * 4 / 5).min(h.len() - 1)];
        base.max(((usual as f32 * factor) as u32).min(eot.max_ms))
    }

    fn require_silence(&mut self, ms: u32, now: Instant) {
        let mut events = std::mem::take(&mut self.turn_events);
        self.detector.require_silence(ms, &mut events);
        for ev in events.drain(..) {
            self.on_turn_event(ev, now);
        }
        self.turn_events = events;
    }

    /// The caller asked to end the call: the goodbye is this turn's answer.
    fn answer_with_goodbye(&mut self, r: Reply, now: Instant) {
        let text = self.cfg.goodbye.clone();
        let mut g = self.phrase_reply(Purpose::Goodbye, text, r.turn);
        g.record = r.record;
        g.record.goodbye = true;
        self.floor = Floor::Ending(g);
        self.goodbye_deadline = now.checked_add(GOODBYE_MAX);
    }

    /// haru ends the call on its own (idle, maximum duration): stop what is playing, then
    /// the goodbye as a turn of its own.
    fn begin_goodbye(&mut self, now: Instant) {
        match self.take_floor() {
            Floor::Replying(r) => self.stop_reply(r, true, false, now),
            Floor::Speculating(r) => self.abandon_speculation(r, now),
            Floor::Ending(r) => {
                self.floor = Floor::Ending(r);
                return;
            }
            other => self.floor = other,
        }
        let turn = self.next_turn();
        let text = self.cfg.goodbye.clone();
        let g = self.phrase_reply(Purpose::Goodbye, text, turn);
        self.floor = Floor::Ending(g);
        self.goodbye_deadline = now.checked_add(GOODBYE_MAX);
    }

    fn barge_in(&mut self, now: Instant) {
        if let Floor::Replying(r) = self.take_floor() {
            counter!(m::BARGE_INS_TOTAL).increment(1);
            // The caller took the floor: whatever they say is a turn, not a backchannel.
            self.over_reply = false;
            info!(call_sid = %self.call_sid, turn = r.turn, "barge-in: the caller interrupted the reply");
            self.stop_reply(r, true, true, now);
        }
    }

    /// Cuts a committed reply: its worker stops (finishing the caller's transcript if that
    /// is still missing), its unplayed audio is cleared, and what was heard is stored.
    fn stop_reply(&mut self, r: Reply, clear: bool, barge_in: bool, now: Instant) {
        self.cancel_keeping_words(&r);
        if clear && r.ledger.audio_sent() {
            self.actions.push_back(Action::Send(Output::Clear));
        }
        self.finalize(r, true, barge_in, now);
    }

    /// Drops a speculative reply, keeping the caller's words: stored now if transcribed,
    /// else as soon as the transcript arrives.
    fn abandon_speculation(&mut self, mut r: Reply, now: Instant) {
        r.turn = self.next_turn();
        match r.record.transcript.clone() {
            Some(text) => {
                self.cancel(r.id, false);
                self.save_user(r.turn, &text);
            }
            None => self.cancel_keeping_words(&r),
        }
        self.record_unplayed(r, Outcome::Cancelled, now);
    }

    /// The turn record of a reply that played nothing.
    fn record_unplayed(&mut self, r: Reply, outcome: Outcome, now: Instant) {
        let timing = r.record.finish(Finish {
            call_sid: &self.call_sid,
            turn: r.turn,
            outcome,
            heard: "",
            first_audio: None,
            answer_audio: None,
            barge_in: false,
            now,
        });
        self.actions.push_back(Action::Store(StoreOp::Turn(timing)));
    }

    fn cancel_keeping_words(&mut self, r: &Reply) {
        let keep = r.purpose == Purpose::Answer && r.record.transcript.is_none() && r.producing;
        self.cancel(r.id, keep);
        if keep {
            self.orphans.push((r.id, r.turn));
        }
    }

    fn on_failure(&mut self, r: &mut Reply, error: String) {
        counter!(m::PROVIDER_ERRORS_TOTAL).increment(1);
        warn!(call_sid = %self.call_sid, turn = r.turn, error = %error, "provider failed; the caller hears an apology");
        r.record.errors.push(error);
        r.ledger.end_cut();
        r.producing = false;
        // The fallback is already in memory, so it plays at once: the cached apology for an
        // answer, a chime when that is missing too or when a fixed phrase itself failed.
        let apology = (r.purpose == Purpose::Answer)
            .then(|| self.phrases.lookup(&self.cfg.apology))
            .flatten();
        let mark = self.mark();
        match apology {
            Some(audio) => r
                .ledger
                .push_clip(mark, Some(self.cfg.apology.clone()), &audio),
            None => r.ledger.push_clip(mark, None, &chime()),
        }
    }

    fn on_orphan_event(&mut self, pos: usize, ev: WorkerEvent) {
        match ev {
            WorkerEvent::Transcript { text, .. } => {
                let (_, turn) = self.orphans.remove(pos);
                self.save_user(turn, &text);
            }
            WorkerEvent::Failed { .. } | WorkerEvent::Finished { .. } => {
                self.orphans.remove(pos);
            }
            _ => return,
        }
        if self.orphans.is_empty() && matches!(self.floor, Floor::Closing { .. }) {
            self.finish_close();
        }
    }

    /// Sends what may be sent, and finishes the reply once it has been heard in full.
    fn settle(&mut self, now: Instant) {
        let mut out = Vec::new();
        let done = match &mut self.floor {
            Floor::Replying(r) | Floor::Ending(r) => {
                r.ledger.pump(now, &mut out);
                !r.producing && r.ledger.all_heard()
            }
            _ => false,
        };
        self.actions.extend(out.into_iter().map(Action::Send));
        if !done {
            return;
        }
        match self.take_floor() {
            Floor::Replying(r) => self.finalize(r, false, false, now),
            Floor::Ending(r) => {
                self.finalize(r, false, false, now);
                self.hang_up(now);
            }
            other => self.floor = other,
        }
    }

    /// Stores what the caller heard of a reply and its turn record. The one place both
    /// are written; `cut` means it did not play to its end.
    fn finalize(&mut self, r: Reply, cut: bool, barge_in: bool, now: Instant) {
        let heard = r.ledger.heard(now);
        let interrupted = cut && (heard.partial || r.producing || !r.ledger.all_heard());
        if !heard.text.is_empty() {
            self.history
                .push(ChatMessage::assistant(heard.text.clone()));
            self.store_message(r.turn, Role::Assistant, heard.text.clone(), interrupted);
        }
        let outcome = if interrupted && r.purpose != Purpose::Goodbye {
            Outcome::Interrupted
        } else {
            r.record.played_outcome(r.purpose == Purpose::Answer)
        };
        let timing = r.record.finish(Finish {
            call_sid: &self.call_sid,
            turn: r.turn,
            outcome,
            heard: &heard.text,
            first_audio: r.ledger.first_sent(),
            answer_audio: r.ledger.first_sent_from(r.ack_items),
            barge_in,
            now,
        });
        self.actions.push_back(Action::Store(StoreOp::Turn(timing)));
        self.quiet_since = now;
        self.spoke_until = Some(now);
    }

    fn hang_up(&mut self, now: Instant) {
        self.actions.push_back(Action::Send(Output::HangUp));
        self.close("goodbye", now);
    }

    /// Ends the call in any state: what is playing is stored as heard so far, speculative
    /// words are kept, and the record closes once late transcripts are in.
    fn close(&mut self, reason: &str, now: Instant) {
        let speculating = matches!(self.floor, Floor::Speculating(_));
        // Words the caller was still saying as the call ended ("then bye" and a hang-up)
        // that no speculative job has: transcribe them too before the record closes.
        if let Some((audio, voiced_ms)) = self.detector.flush()
            && !speculating
        {
            let mut r = self.answer_reply(audio, voiced_ms, now);
            r.turn = self.next_turn();
            self.cancel_keeping_words(&r);
        }
        match self.take_floor() {
            Floor::Speculating(r) => self.abandon_speculation(r, now),
            Floor::Replying(r) => self.stop_reply(r, false, false, now),
            Floor::Ending(r) => {
                self.cancel(r.id, false);
                self.finalize(r, true, false, now);
            }
            Floor::Listening | Floor::Closing { .. } | Floor::Closed => {}
        }
        // Late transcripts get the STT timeout, at most half a minute.
        let wait = self.cfg.stt_timeout.min(Duration::from_secs(30));
        self.floor = Floor::Closing {
            reason: reason.to_string(),
            deadline: now.checked_add(wait).unwrap_or(now),
        };
        if self.orphans.is_empty() {
            self.finish_close();
        }
    }

    fn finish_close(&mut self) {
        if let Floor::Closing { reason, .. } = self.take_floor() {
            for (id, _) in std::mem::take(&mut self.orphans) {
                self.cancel(id, false);
            }
            self.actions.push_back(Action::Close {
                reason,
                transcript: self.transcript.join("\n"),
            });
        }
        self.floor = Floor::Closed;
    }

    // --- small helpers ------------------------------------------------------------------

    fn save_user(&mut self, turn: i64, text: &str) {
        if text.is_empty() {
            return;
        }
        self.history.push(ChatMessage::user(text.to_string()));
        self.store_message(turn, Role::User, text.to_string(), false);
        self.raise_alert_if_at_risk(turn, text);
    }

    /// Emergency or despair words raise an alert with the quote, once per kind per call
    /// (the store's dedupe key); the worker has already answered them with the fixed
    /// reply (`Safety::reply`).
    fn raise_alert_if_at_risk(&mut self, turn: i64, text: &str) {
        let Some((kind, phrase)) = self.cfg.safety.detect(text) else {
            return;
        };
        warn!(call_sid = %self.call_sid, turn, kind = kind.as_str(), phrase, "risk words in the call; raising an alert");
        let summary = match kind {
            haru_store::AlertKind::Distress => format!("Words of despair in a call: \"{phrase}\""),
            _ => format!("Health or emergency words in a call: \"{phrase}\""),
        };
        self.actions
            .push_back(Action::Store(StoreOp::Alert(haru_store::NewAlert {
                person_id: None,
                call_sid: Some(self.call_sid.clone()),
                kind,
                dedupe_key: format!("call:{}:{}", self.call_sid, kind.as_str()),
                summary,
                evidence: vec![haru_store::Evidence {
                    quote: text.to_string(),
                    call_sid: Some(self.call_sid.clone()),
                    // The core reads no clock: the store stamps it.
                    at: String::new(),
                }],
            })));
    }

    fn store_message(&mut self, turn: i64, role: Role, content: String, interrupted: bool) {
        self.transcript
            .push(format!("{} {content}", crate::log::speaker(role)));
        self.actions
            .push_back(Action::Store(StoreOp::Message(NewMessage {
                call_sid: self.call_sid.clone(),
                turn_index: turn,
                role,
                content,
                interrupted,
            })));
    }

    fn llm_history(&self) -> Vec<ChatMessage> {
        let skip = self.history.len().saturating_sub(self.cfg.max_history);
        let mut msgs = Vec::with_capacity(self.history.len() - skip + 1);
        msgs.push(ChatMessage::system(self.cfg.system_prompt.clone()));
        msgs.extend(self.history[skip..].iter().cloned());
        msgs
    }

    fn cancel(&mut self, id: ReplyId, keep_transcript: bool) {
        self.actions.push_back(Action::Cancel {
            id,
            keep_transcript,
        });
    }

    fn take_floor(&mut self) -> Floor {
        std::mem::replace(&mut self.floor, Floor::Listening)
    }

    fn next_id(&mut self) -> ReplyId {
        self.next_reply += 1;
        ReplyId(self.next_reply)
    }

    fn next_turn(&mut self) -> i64 {
        self.last_turn += 1;
        self.last_turn
    }

    /// Marks are unique per played item within the call.
    fn mark(&mut self) -> String {
        self.next_mark += 1;
        format!("h{}", self.next_mark)
    }
}

/// When a fully sent reply whose marks have not all come back counts as played anyway.
fn played_fallback(r: &Reply, now: Instant) -> Option<Instant> {
    if r.producing || !r.ledger.all_sent() || r.ledger.all_heard() {
        return None;
    }
    let end = r.ledger.last_end_due().unwrap_or(now);
    Some(end.checked_add(MARK_GRACE).unwrap_or(end))
}

fn ms(v: u32) -> Duration {
    Duration::from_millis(v as u64)
}
