//! A call in virtual time: the real [`CallCore`] between a Twilio-like playout model and a
//! scripted caller. Nothing here sleeps or opens a socket; a 20 ms tick is a loop step.
//!
//! Audio bytes identify what is played: every sentence or phrase gets its own byte value
//! (its *tag*), so the playout model knows exactly which words the caller really heard.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use haru_session::core::CallCore;
use haru_session::{
    Action, Input, Job, Output, PhraseCache, ReplyId, SessionConfig, StoreOp, WorkerEvent,
};
use haru_store::{NewMessage, Role, TurnTiming};

pub const TICK: Duration = Duration::from_millis(20);
const FRAME: usize = 160;

pub fn fixture(name: &str) -> Vec<i16> {
    let path = format!("{}/../../fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let pcm = haru_audio::decode_wav_mono(&bytes).unwrap();
    haru_audio::resample(&pcm.samples, pcm.rate, 8000).unwrap()
}

/// Real speech (a person's voice, as the VAD must hear it).
pub fn speech() -> Vec<i16> {
    // Through µ-law and back, as a phone delivers it.
    haru_audio::mulaw::decode(&haru_audio::mulaw::encode(&fixture("en-walk.wav")))
}

/// The tag of a frame of tagged audio (all bytes equal); None for other sound (the chime).
pub fn tag_of(frame: &[u8]) -> Option<u8> {
    let first = *frame.first()?;
    frame.iter().all(|b| *b == first).then_some(first)
}

pub fn silence(ms: u64) -> Vec<i16> {
    vec![0; ms as usize * 8]
}

/// Twilio's side of the stream: plays what it receives in real time, returns each mark
/// when playback reaches it, and on `clear` drops unplayed audio and returns pending marks
/// at once (as Twilio does).
#[derive(Default)]
pub struct Playout {
    queue: VecDeque<Queued>,
    /// Every byte of tagged audio actually played, in order.
    pub played: Vec<u8>,
    /// Marks to hand back to haru.
    pub echoes: VecDeque<String>,
    pub return_marks: bool,
    pub clears: usize,
}

enum Queued {
    Audio(VecDeque<u8>),
    Mark(String),
}

impl Playout {
    fn receive(&mut self, o: &Output) {
        match o {
            Output::Audio(a) => {
                assert_eq!(a.len() % FRAME, 0, "audio must be whole 20 ms frames");
                self.queue
                    .push_back(Queued::Audio(a.iter().copied().collect()));
            }
            Output::Mark(m) => self.queue.push_back(Queued::Mark(m.clone())),
            Output::Clear => {
                self.clears += 1;
                for q in self.queue.drain(..) {
                    if let Queued::Mark(m) = q
                        && self.return_marks
                    {
                        self.echoes.push_back(m);
                    }
                }
            }
            Output::HangUp => {}
        }
    }

    /// Plays 20 ms (one frame; every queued audio item is whole frames).
    fn tick(&mut self) {
        while let Some(front) = self.queue.front_mut() {
            match front {
                Queued::Mark(m) => {
                    if self.return_marks {
                        self.echoes.push_back(m.clone());
                    }
                    self.queue.pop_front();
                }
                Queued::Audio(a) => {
                    let frame: Vec<u8> = a.drain(..FRAME.min(a.len())).collect();
                    if a.is_empty() {
                        self.queue.pop_front();
                    }
                    if let Some(tag) = tag_of(&frame) {
                        self.played.extend(std::iter::repeat_n(tag, frame.len()));
                    }
                    return;
                }
            }
        }
    }

    pub fn is_idle(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn played_of(&self, tag: u8) -> usize {
        self.played.iter().filter(|&&b| b == tag).count()
    }
}

pub struct Call {
    pub core: CallCore,
    pub t0: Instant,
    pub now: Instant,
    caller: VecDeque<i16>,
    pub twilio: Playout,
    /// Every action, with the time it was emitted.
    pub actions: Vec<(Duration, Action)>,
    /// Text of each tag.
    pub tags: HashMap<u8, String>,
    /// Audio length (bytes) of each tag.
    pub tag_len: HashMap<u8, usize>,
    next_tag: u8,
    pub phrases: PhraseCache,
    pub cfg: Arc<SessionConfig>,
}

/// The call rules are tested with the silence-only end of turn (its timing is exact);
/// the adaptive decision has its own tests.
pub fn config() -> SessionConfig {
    SessionConfig {
        eot: haru_session::EotConfig {
            policy: haru_session::EotPolicy::Silence,
            ..haru_session::EotConfig::default()
        },
        greeting: "Hello! How was your day?".into(),
        goodbye: "Goodbye, take care.".into(),
        apology: "Sorry, something went wrong.".into(),
        idle_prompt: "Are you still there?".into(),
        // The acknowledgement has its own tests (acks.rs).
        acks: Vec::new(),
        ..SessionConfig::default()
    }
}

pub const GREETING_TAG: u8 = 250;
pub const GOODBYE_TAG: u8 = 251;
pub const APOLOGY_TAG: u8 = 252;
pub const IDLE_TAG: u8 = 253;
/// Every acknowledgement plays as this tag.
pub const ACK_TAG: u8 = 254;

impl Call {
    /// A call whose fixed phrases are all cached (`cached`), greeting included.
    pub fn new(cfg: SessionConfig, cached: bool) -> Self {
        let phrases = PhraseCache::default();
        let mut tags = HashMap::new();
        let mut tag_len = HashMap::new();
        if cached {
            for (tag, text, frames) in [
                (GREETING_TAG, &cfg.greeting, 50),
                (GOODBYE_TAG, &cfg.goodbye, 60),
                (APOLOGY_TAG, &cfg.apology, 40),
                (IDLE_TAG, &cfg.idle_prompt, 30),
            ] {
                phrases.insert(text, Arc::from(vec![tag; frames * FRAME]));
                tags.insert(tag, text.clone());
                tag_len.insert(tag, frames * FRAME);
            }
            for text in &cfg.acks {
                phrases.insert(text, Arc::from(vec![ACK_TAG; 10 * FRAME]));
                tags.insert(ACK_TAG, text.clone());
                tag_len.insert(ACK_TAG, 10 * FRAME);
            }
        }
        let cfg = Arc::new(cfg);
        let t0 = Instant::now();
        let core = CallCore::new("CAtest", cfg.clone(), phrases.clone(), t0);
        let mut call = Self {
            core,
            t0,
            now: t0,
            caller: VecDeque::new(),
            twilio: Playout {
                return_marks: true,
                ..Playout::default()
            },
            actions: Vec::new(),
            tags,
            tag_len,
            next_tag: 1,
            phrases,
            cfg,
        };
        call.core.start(t0);
        call.drain();
        call
    }

    pub fn at(&self) -> Duration {
        self.now - self.t0
    }

    fn drain(&mut self) {
        while let Some(a) = self.core.poll_action() {
            if let Action::Send(o) = &a {
                self.twilio.receive(o);
            }
            self.actions.push((self.at(), a));
        }
    }

    /// Queues caller audio (played out in 20 ms frames by `run`).
    pub fn say(&mut self, pcm: &[i16]) {
        self.caller.extend(pcm.iter().copied());
    }

    pub fn pause(&mut self, ms: u64) {
        self.say(&silence(ms));
    }

    /// Runs `ms` of call time: caller frames in, playout, marks back, timers.
    pub fn run(&mut self, ms: u64) {
        for _ in 0..ms.div_ceil(20) {
            self.now += TICK;
            let frame: Vec<i16> = (0..FRAME)
                .map(|_| self.caller.pop_front().unwrap_or(0))
                .collect();
            self.core.handle_input(Input::Audio(frame), self.now);
            self.drain();
            self.twilio.tick();
            while let Some(m) = self.twilio.echoes.pop_front() {
                self.core.handle_input(Input::Mark(m), self.now);
                self.drain();
            }
            if self
                .core
                .poll_timeout(self.now)
                .is_some_and(|t| t <= self.now)
            {
                self.core.handle_timeout(self.now);
                self.drain();
            }
        }
    }

    /// Runs until the caller's queued audio has been sent.
    pub fn run_caller(&mut self) {
        let ms = self.caller.len() as u64 / 8;
        self.run(ms);
    }

    /// Jumps the clock without audio (a transport that sends nothing), firing timers.
    pub fn jump(&mut self, d: Duration) {
        self.now += d;
        self.core.handle_timeout(self.now);
        self.drain();
    }

    pub fn input(&mut self, i: Input) {
        self.core.handle_input(i, self.now);
        self.drain();
    }

    pub fn worker(&mut self, id: ReplyId, ev: WorkerEvent) {
        self.core.handle_worker(id, ev, self.now);
        self.drain();
    }

    pub fn next_tag(&mut self) -> u8 {
        let tag = self.next_tag;
        assert!(tag < 249, "out of sentence tags");
        self.next_tag += 1;
        tag
    }

    /// Caller audio still queued, in ms.
    pub fn queued_ms(&self) -> u64 {
        self.caller.len() as u64 / 8
    }

    /// Delivers a sentence: `frames` of audio with a fresh tag. Returns the tag.
    pub fn sentence(&mut self, id: ReplyId, text: &str, frames: usize) -> u8 {
        let tag = self.next_tag();
        self.sentence_tagged(id, tag, text, frames)
    }

    /// Delivers a sentence with a given tag, its audio in two pieces.
    pub fn sentence_tagged(&mut self, id: ReplyId, tag: u8, text: &str, frames: usize) -> u8 {
        self.tags.insert(tag, text.to_string());
        self.tag_len.insert(tag, frames * FRAME);
        self.worker(id, WorkerEvent::SentenceBegin { text: text.into() });
        let half = frames / 2;
        self.worker(id, WorkerEvent::Audio(vec![tag; half * FRAME]));
        self.worker(id, WorkerEvent::Audio(vec![tag; (frames - half) * FRAME]));
        self.worker(id, WorkerEvent::SentenceEnd);
        tag
    }

    /// A whole answer: transcript, first token, sentences, finished.
    pub fn answer(
        &mut self,
        id: ReplyId,
        transcript: &str,
        sentences: &[(&str, usize)],
    ) -> Vec<u8> {
        self.worker(
            id,
            WorkerEvent::Transcript {
                text: transcript.into(),
                stt_ms: 100,
            },
        );
        self.worker(id, WorkerEvent::LlmFirstToken { ms: 120 });
        let tags = sentences
            .iter()
            .map(|(t, n)| self.sentence(id, t, *n))
            .collect();
        self.worker(
            id,
            WorkerEvent::Finished {
                llm_total_ms: Some(300),
            },
        );
        tags
    }

    // --- what happened ------------------------------------------------------------------

    pub fn sent(&self) -> impl Iterator<Item = &Output> {
        self.actions.iter().filter_map(|(_, a)| match a {
            Action::Send(o) => Some(o),
            _ => None,
        })
    }

    pub fn jobs(&self) -> Vec<(ReplyId, Job)> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Start { id, job } => Some((*id, job.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn answers(&self) -> Vec<ReplyId> {
        self.jobs()
            .into_iter()
            .filter(|(_, j)| matches!(j, Job::Answer { .. }))
            .map(|(id, _)| id)
            .collect()
    }

    pub fn last_answer(&self) -> ReplyId {
        *self.answers().last().expect("an answer job was started")
    }

    pub fn cancelled(&self) -> Vec<(ReplyId, bool)> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Cancel {
                    id,
                    keep_transcript,
                } => Some((*id, *keep_transcript)),
                _ => None,
            })
            .collect()
    }

    pub fn messages(&self) -> Vec<NewMessage> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Store(StoreOp::Message(m)) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn said_by(&self, role: Role) -> Vec<String> {
        self.messages()
            .into_iter()
            .filter(|m| m.role == role)
            .map(|m| m.content)
            .collect()
    }

    pub fn turns(&self) -> Vec<TurnTiming> {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::Store(StoreOp::Turn(t)) => Some(t.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn closed(&self) -> Option<(String, String)> {
        self.actions.iter().find_map(|(_, a)| match a {
            Action::Close { reason, transcript } => Some((reason.clone(), transcript.clone())),
            _ => None,
        })
    }

    pub fn count(&self, what: fn(&Output) -> bool) -> usize {
        self.sent().filter(|o| what(o)).count()
    }

    pub fn hung_up(&self) -> bool {
        self.sent().any(|o| *o == Output::HangUp)
    }

    pub fn marks(&self) -> Vec<String> {
        self.sent()
            .filter_map(|o| match o {
                Output::Mark(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    /// Tags of all audio sent, in order (one entry per frame).
    pub fn sent_tags(&self) -> Vec<u8> {
        self.sent()
            .filter_map(|o| match o {
                Output::Audio(a) => Some(a.chunks(FRAME).filter_map(tag_of).collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// Plays the greeting to its end (with the caller silent).
    pub fn through_greeting(&mut self) {
        self.run(1500);
        assert!(self.twilio.is_idle(), "greeting still playing");
    }

    /// Caller says the fixture sentence and stops; runs through the end-of-turn silence.
    pub fn caller_turn(&mut self) {
        self.say(&speech());
        self.pause(self.cfg.turn.end_silence_ms as u64 + 100);
        self.run_caller();
    }
}
