use haru_audio::StreamResampler;

/// earshot wants 16 kHz audio in 256-sample (16 ms) frames.
pub const VAD_RATE: u32 = 16_000;
const VAD_FRAME: usize = 256;
const VAD_FRAME_MS: u32 = 16;

/// Thresholds, all in milliseconds of caller audio (not wall time), so accelerated
/// simulations decide exactly as real calls do.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnConfig {
    /// earshot score at or above which a frame is voiced.
    pub vad_threshold: f32,
    /// Voiced audio needed before a turn starts (filters clicks and coughs).
    pub min_speech_ms: u32,
    /// Silence after which the VAD reports a pause (speculative transcription starts).
    pub pause_ms: u32,
    /// Silence that ends the turn.
    pub end_silence_ms: u32,
    /// Utterances shorter than this (voiced time) are dropped. The seed dropped everything
    /// under 0.5 s, which loses one-word answers ("네.", "No."); clicks and coughs are
    /// already stopped by `min_speech_ms`.
    pub min_utterance_ms: u32,
    /// A turn is forced to end at this length.
    pub max_utterance_ms: u32,
    /// Audio kept from before the detected start, so the first syllable is not clipped.
    pub pre_roll_ms: u32,
}

impl Default for TurnConfig {
    fn default() -> Self {
        Self {
            vad_threshold: 0.5,
            min_speech_ms: 160,
            pause_ms: 150,
            end_silence_ms: 600,
            min_utterance_ms: 250,
            max_utterance_ms: 15_000,
            pre_roll_ms: 300,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TurnEvent {
    /// Enough voiced audio to be a real turn.
    SpeechStarted,
    /// Speech stopped for `pause_ms`; `audio` (16 kHz) is the utterance so far, good for a
    /// speculative transcription that stays valid unless [`TurnEvent::Resumed`] follows.
    Paused { audio: Vec<i16>, voiced_ms: u32 },
    /// Speech came back after a pause of `after_ms` (a mid-turn "hold"): speculative work
    /// is stale.
    Resumed { after_ms: u32 },
    /// The caller finished. `audio` is identical to the last `Paused` audio unless `forced`.
    TurnEnded {
        audio: Vec<i16>,
        voiced_ms: u32,
        forced: bool,
    },
    /// Speech started but ended too short to count (e.g. "응" or noise).
    Discarded { voiced_ms: u32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    /// Voiced frames seen but fewer than `min_speech_ms`.
    Candidate,
    Speaking,
}

pub struct TurnDetector {
    cfg: TurnConfig,
    vad: earshot::Detector,
    up: StreamResampler,
    scratch: Vec<i16>,
    pending: Vec<i16>,
    state: State,
    /// Recent audio kept while idle, for the pre-roll.
    ring: Vec<i16>,
    utterance: Vec<i16>,
    /// Length of `utterance` at the last voiced frame (trailing silence is trimmed).
    voiced_end: usize,
    voiced_ms: u32,
    silence_ms: u32,
    paused: bool,
    /// Silence that ends the current pause's turn; `end_silence_ms` unless the session
    /// decided otherwise for this pause ([`TurnDetector::require_silence`]).
    required_ms: u32,
    last_score: f32,
}

impl TurnDetector {
    pub fn new(cfg: TurnConfig) -> Self {
        Self {
            vad: earshot::Detector::default(),
            // 160 input samples = one 20 ms telephony frame; ratio 2 is exact.
            up: StreamResampler::new(8_000, VAD_RATE, 160).expect("8k->16k is a valid ratio"),
            scratch: Vec::with_capacity(640),
            pending: Vec::with_capacity(VAD_FRAME * 2),
            state: State::Idle,
            ring: Vec::with_capacity(ms_to_samples(cfg.pre_roll_ms) + VAD_FRAME),
            utterance: Vec::new(),
            voiced_end: 0,
            voiced_ms: 0,
            silence_ms: 0,
            paused: false,
            required_ms: cfg.end_silence_ms,
            last_score: 0.0,
            cfg,
        }
    }

    pub fn config(&self) -> &TurnConfig {
        &self.cfg
    }

    /// True while the caller is in a turn that has passed `min_speech_ms`.
    pub fn in_speech(&self) -> bool {
        self.state == State::Speaking && !self.paused
    }

    /// Voiced milliseconds of the current turn so far (0 when idle).
    pub fn voiced_ms(&self) -> u32 {
        if self.state == State::Idle {
            0
        } else {
            self.voiced_ms
        }
    }

    /// Silence so far in the current pause (0 while speech goes on).
    pub fn silence_ms(&self) -> u32 {
        if self.paused { self.silence_ms } else { 0 }
    }

    /// Sets the silence that ends the turn at the current pause (the session's end-of-turn
    /// decision, e.g. from the words said). If that much silence has already passed, the
    /// turn ends now. Ignored outside a pause; the next pause starts from `end_silence_ms`.
    pub fn require_silence(&mut self, ms: u32, events: &mut Vec<TurnEvent>) {
        if self.state != State::Speaking || !self.paused {
            return;
        }
        self.required_ms = ms;
        if self.silence_ms >= ms {
            self.finish(false, events);
        }
    }

    /// The call is ending mid-utterance: hands over what the caller has said so far (16 kHz,
    /// voiced ms) if it is long enough to be words, and forgets the turn.
    pub fn flush(&mut self) -> Option<(Vec<i16>, u32)> {
        let said = (self.state == State::Speaking && self.voiced_ms >= self.cfg.min_utterance_ms)
            .then(|| (self.trimmed(), self.voiced_ms));
        self.reset();
        said
    }

    pub fn last_score(&self) -> f32 {
        self.last_score
    }

    /// Forgets the current turn (e.g. after the session decided to ignore it).
    pub fn reset(&mut self) {
        self.state = State::Idle;
        self.utterance.clear();
        self.voiced_end = 0;
        self.voiced_ms = 0;
        self.silence_ms = 0;
        self.paused = false;
        self.required_ms = self.cfg.end_silence_ms;
    }

    /// Feeds one 8 kHz frame (any length) and appends the events it caused to `events`.
    pub fn push_8k(&mut self, pcm: &[i16], events: &mut Vec<TurnEvent>) {
        self.scratch.clear();
        self.up.push(pcm, &mut self.scratch);
        self.pending.extend_from_slice(&self.scratch);
        let mut offset = 0;
        while self.pending.len() - offset >= VAD_FRAME {
            let frame: [i16; VAD_FRAME] = self.pending[offset..offset + VAD_FRAME]
                .try_into()
                .expect("slice has VAD_FRAME samples");
            self.vad_frame(&frame, events);
            offset += VAD_FRAME;
        }
        self.pending.drain(..offset);
    }

    fn vad_frame(&mut self, frame: &[i16; VAD_FRAME], events: &mut Vec<TurnEvent>) {
        let score = self.vad.predict_i16(frame);
        self.last_score = score;
        let voiced = score >= self.cfg.vad_threshold;
        match self.state {
            State::Idle => {
                self.keep_pre_roll(frame);
                if voiced {
                    self.state = State::Candidate;
                    self.utterance.clear();
                    self.utterance.extend_from_slice(&self.ring);
                    self.voiced_end = self.utterance.len();
                    self.voiced_ms = VAD_FRAME_MS;
                    self.silence_ms = 0;
                }
            }
            State::Candidate => {
                self.utterance.extend_from_slice(frame);
                if voiced {
                    self.voiced_ms += VAD_FRAME_MS;
                    self.voiced_end = self.utterance.len();
                    self.silence_ms = 0;
                    if self.voiced_ms >= self.cfg.min_speech_ms {
                        self.state = State::Speaking;
                        events.push(TurnEvent::SpeechStarted);
                    }
                } else {
                    self.silence_ms += VAD_FRAME_MS;
                    // One unvoiced frame inside a syllable is normal; a longer gap ends the candidate.
                    if self.silence_ms > 2 * VAD_FRAME_MS {
                        self.ring.clear();
                        let keep = ms_to_samples(self.cfg.pre_roll_ms).min(self.utterance.len());
                        self.ring
                            .extend_from_slice(&self.utterance[self.utterance.len() - keep..]);
                        self.utterance.clear();
                        self.state = State::Idle;
                        self.voiced_ms = 0;
                    }
                }
            }
            State::Speaking => {
                self.utterance.extend_from_slice(frame);
                if voiced {
                    self.voiced_ms += VAD_FRAME_MS;
                    self.voiced_end = self.utterance.len();
                    if self.paused {
                        self.paused = false;
                        self.required_ms = self.cfg.end_silence_ms;
                        events.push(TurnEvent::Resumed {
                            after_ms: self.silence_ms,
                        });
                    }
                    self.silence_ms = 0;
                } else {
                    self.silence_ms += VAD_FRAME_MS;
                    if !self.paused && self.silence_ms >= self.cfg.pause_ms {
                        self.paused = true;
                        if self.voiced_ms >= self.cfg.min_utterance_ms {
                            events.push(TurnEvent::Paused {
                                audio: self.trimmed(),
                                voiced_ms: self.voiced_ms,
                            });
                        }
                    }
                    if self.silence_ms >= self.required_ms {
                        self.finish(false, events);
                        return;
                    }
                }
                if self.voiced_ms >= self.cfg.max_utterance_ms {
                    self.finish(true, events);
                }
            }
        }
    }

    fn finish(&mut self, forced: bool, events: &mut Vec<TurnEvent>) {
        let voiced_ms = self.voiced_ms;
        if voiced_ms >= self.cfg.min_utterance_ms {
            events.push(TurnEvent::TurnEnded {
                audio: self.trimmed(),
                voiced_ms,
                forced,
            });
        } else {
            events.push(TurnEvent::Discarded { voiced_ms });
        }
        self.ring.clear();
        self.reset();
    }

    /// The utterance up to its last voiced frame plus a short tail, which Whisper likes.
    fn trimmed(&self) -> Vec<i16> {
        let tail = ms_to_samples(100);
        let end = (self.voiced_end + tail).min(self.utterance.len());
        self.utterance[..end].to_vec()
    }

    fn keep_pre_roll(&mut self, frame: &[i16]) {
        self.ring.extend_from_slice(frame);
        let max = ms_to_samples(self.cfg.pre_roll_ms);
        if self.ring.len() > max {
            let cut = self.ring.len() - max;
            self.ring.drain(..cut);
        }
    }
}

fn ms_to_samples(ms: u32) -> usize {
    (VAD_RATE as usize * ms as usize) / 1000
}
