//! One turn replayed through haru's real call core, frame by frame, in virtual time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use haru_session::core::CallCore;
use haru_session::{Action, Input, Job, Output, PhraseCache, ReplyId, SessionConfig, WorkerEvent};

use super::set::Turn;

/// What one policy did on one turn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Result1 {
    /// Took the floor during a hold.
    CutOff,
    /// Took the floor this long after the true end.
    Latency(u64),
    /// Never answered within 4 s.
    Missed,
}

/// How long the audio turn model's verdict takes to arrive after the pause (Smart Turn on
/// one core here: ~35 ms).
pub const MODEL_DELAY_MS: u64 = 40;

/// What arrives from the worker, and when.
enum Due {
    Words(String),
    Sound(f32),
}

/// Replays `turn` with an ideal transcriber and no audio turn model.
pub fn replay(turn: &Turn, cfg: &Arc<SessionConfig>, stt_delay_ms: u64) -> Result1 {
    replay_with(turn, cfg, stt_delay_ms, &mut |_, _| None)
}

/// Replays `turn`; at each pause `sound(audio_16k, at_ms)` gives the audio turn model's
/// verdict (None: no model), delivered `MODEL_DELAY_MS` later, and the transcriber returns
/// the words spoken before the pause after `stt_delay_ms`. Returns when haru first played
/// audio.
pub fn replay_with(
    turn: &Turn,
    cfg: &Arc<SessionConfig>,
    stt_delay_ms: u64,
    sound: &mut dyn FnMut(&[i16], u64) -> Option<f32>,
) -> Result1 {
    let t0 = Instant::now();
    let mut core = CallCore::new("CAeot", cfg.clone(), PhraseCache::default(), t0);
    core.start(t0);
    let mut pending: Vec<(u64, ReplyId, Due)> = Vec::new();
    for (i, frame) in turn.pcm.chunks(160).enumerate() {
        let at_ms = (i as u64 + 1) * 20;
        let now = t0 + Duration::from_millis(at_ms);
        core.handle_input(Input::Audio(frame.to_vec()), now);
        let (due, later): (Vec<_>, Vec<_>) = pending.drain(..).partition(|p| p.0 <= at_ms);
        pending = later;
        for (_, id, what) in due {
            match what {
                Due::Sound(p) => core.handle_worker(
                    id,
                    WorkerEvent::TurnScore {
                        finished: p,
                        ms: MODEL_DELAY_MS as i64,
                    },
                    now,
                ),
                Due::Words(words) => answer(&mut core, id, words, stt_delay_ms, now),
            }
        }
        if core.poll_timeout(now).is_some_and(|t| t <= now) {
            core.handle_timeout(now);
        }
        while let Some(a) = core.poll_action() {
            match a {
                Action::Start {
                    id,
                    job: Job::Answer { audio, .. },
                } => {
                    if let Some(p) = sound(&audio, at_ms) {
                        pending.push((at_ms + MODEL_DELAY_MS, id, Due::Sound(p)));
                    }
                    // An ideal transcriber: the words spoken before this moment, with
                    // the full stop Whisper puts on finished and unfinished clauses alike.
                    let mut words = words_before(turn, at_ms);
                    if !words.is_empty() && !words.ends_with(['.', '?', '!']) {
                        words.push('.');
                    }
                    pending.push((at_ms + stt_delay_ms, id, Due::Words(words)));
                }
                Action::Send(Output::Audio(_)) => {
                    return if at_ms < turn.end_ms {
                        Result1::CutOff
                    } else {
                        // The first frame plays when it is sent; the frame clock is 20 ms.
                        Result1::Latency(at_ms - turn.end_ms)
                    };
                }
                _ => {}
            }
        }
    }
    Result1::Missed
}

/// The transcript, then a one-sentence reply as fast as possible.
fn answer(core: &mut CallCore, id: ReplyId, words: String, stt_ms: u64, now: Instant) {
    core.handle_worker(
        id,
        WorkerEvent::Transcript {
            text: words,
            stt_ms: stt_ms as i64,
        },
        now,
    );
    core.handle_worker(
        id,
        WorkerEvent::SentenceBegin {
            text: "네.".into()
        },
        now,
    );
    core.handle_worker(id, WorkerEvent::Audio(vec![0xFF; 1600]), now);
    core.handle_worker(id, WorkerEvent::SentenceEnd, now);
    core.handle_worker(
        id,
        WorkerEvent::Finished {
            llm_total_ms: Some(1),
        },
        now,
    );
}

fn words_before(turn: &Turn, at_ms: u64) -> String {
    if at_ms >= turn.end_ms {
        return turn.text.clone();
    }
    turn.holds
        .iter()
        .rev()
        .find(|(start, _, _)| *start <= at_ms)
        .map(|(_, _, w)| w.clone())
        .unwrap_or_default()
}
