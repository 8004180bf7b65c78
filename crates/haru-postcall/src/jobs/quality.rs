//! The conversation quality report, computed from stored rows without an LLM.
//!
//! Talk times are estimates: the caller's is the VAD speech length of each turn
//! (`turns.speech_ms`); haru's is derived from the text it spoke, because the store
//! keeps no playback timings. Silences are gaps between consecutive messages'
//! `created_at` minus the speech that filled them.

use serde::{Deserialize, Serialize};

#[cfg(test)]
use crate::transcript::Turn;
use crate::transcript::{CallContext, Line};

/// A gap with nobody speaking longer than this counts as a long silence.
pub const LONG_SILENCE_MS: i64 = 8_000;
/// Rough TTS pace: a Hangul syllable takes longer to say than a Latin letter.
const MS_PER_HANGUL: i64 = 170;
const MS_PER_OTHER_CHAR: i64 = 60;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub call_sid: String,
    pub turns: i64,
    pub caller_messages: i64,
    pub bot_messages: i64,
    pub caller_words: i64,
    pub bot_words: i64,
    pub caller_talk_ms: i64,
    /// Estimated from the text haru spoke.
    pub bot_talk_ms_estimate: i64,
    pub call_duration_ms: Option<i64>,
    /// End of caller speech → first bot audio, over the call's turns.
    pub first_audio_p50_ms: Option<i64>,
    pub first_audio_p95_ms: Option<i64>,
    pub barge_ins: i64,
    pub provider_errors: i64,
    pub empty_transcripts: i64,
    pub long_silences: i64,
    pub longest_silence_ms: i64,
}

/// Speaking time for a bot line.
pub fn speech_estimate_ms(text: &str) -> i64 {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| {
            if ('\u{AC00}'..='\u{D7A3}').contains(&c) {
                MS_PER_HANGUL
            } else {
                MS_PER_OTHER_CHAR
            }
        })
        .sum()
}

/// Nearest-rank percentile of unsorted values.
pub fn percentile(values: &[i64], p: f64) -> Option<i64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v.get(rank.clamp(1, v.len()) - 1).copied()
}

fn words(lines: &[&Line]) -> i64 {
    lines
        .iter()
        .map(|l| l.content.split_whitespace().count() as i64)
        .sum()
}

pub fn compute(ctx: &CallContext) -> Quality {
    let caller: Vec<&Line> = ctx
        .lines
        .iter()
        .filter(|l| l.role == haru_store::Role::User)
        .collect();
    let bot: Vec<&Line> = ctx
        .lines
        .iter()
        .filter(|l| l.role == haru_store::Role::Assistant)
        .collect();
    let latencies: Vec<i64> = ctx.turns.iter().filter_map(|t| t.first_audio_ms).collect();
    let speech_of_turn = |i: i64| {
        ctx.turns
            .iter()
            .find(|t| t.turn_index == i)
            .and_then(|t| t.speech_ms)
            .unwrap_or(0)
    };

    let mut long_silences = 0;
    let mut longest = 0;
    for pair in ctx.lines.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        let (Some(ta), Some(tb)) = (a.created_at, b.created_at) else {
            continue;
        };
        // A bot line is stored when it starts playing; a caller line once speech ended.
        let filled = if a.role == haru_store::Role::Assistant {
            speech_estimate_ms(&a.content)
        } else {
            0
        } + if b.role == haru_store::Role::User {
            speech_of_turn(b.turn_index)
        } else {
            0
        };
        let gap = (tb - ta).num_milliseconds() - filled;
        if gap > LONG_SILENCE_MS {
            long_silences += 1;
        }
        longest = longest.max(gap);
    }

    let interrupted = bot.iter().filter(|l| l.interrupted).count() as i64;
    let barge_turns = ctx.turns.iter().filter(|t| t.barge_in).count() as i64;
    Quality {
        call_sid: ctx.call_sid.clone(),
        turns: ctx.turns.len() as i64,
        caller_messages: caller.len() as i64,
        bot_messages: bot.len() as i64,
        caller_words: words(&caller),
        bot_words: words(&bot),
        caller_talk_ms: ctx.turns.iter().filter_map(|t| t.speech_ms).sum(),
        bot_talk_ms_estimate: bot.iter().map(|l| speech_estimate_ms(&l.content)).sum(),
        call_duration_ms: ctx
            .ended_at
            .map(|e| (e - ctx.started_at).num_milliseconds()),
        first_audio_p50_ms: percentile(&latencies, 50.0),
        first_audio_p95_ms: percentile(&latencies, 95.0),
        // Either record may be the only one written for a barge-in; take the larger.
        barge_ins: barge_turns.max(interrupted),
        provider_errors: ctx.turns.iter().filter(|t| t.outcome == "error").count() as i64,
        empty_transcripts: ctx
            .turns
            .iter()
            .filter(|t| t.outcome == "empty_transcript")
            .count() as i64,
        long_silences,
        longest_silence_ms: longest.max(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let v = [400, 100, 300, 200, 1000];
        assert_eq!(percentile(&v, 50.0), Some(300));
        assert_eq!(percentile(&v, 95.0), Some(1000));
        assert_eq!(percentile(&[], 50.0), None);
    }

    fn line(role: &str, text: &str, turn: i64, at: &str, interrupted: bool) -> Line {
        Line {
            role: haru_store::Role::parse(role).expect("role"),
            content: text.into(),
            interrupted,
            turn_index: turn,
            created_at: crate::dates::parse_stored(at),
        }
    }

    fn turn(i: i64, first_audio: Option<i64>, barge_in: bool, outcome: &str) -> Turn {
        Turn {
            turn_index: i,
            speech_ms: Some(1000),
            first_audio_ms: first_audio,
            barge_in,
            outcome: outcome.into(),
        }
    }

    #[test]
    fn counts_errors_empty_transcripts_barge_ins_and_silences() {
        let ctx = CallContext {
            call_sid: "CA".into(),
            started_at: crate::dates::parse_stored("2026-11-24T10:00:00Z").expect("ts"),
            ended_at: None,
            tz: chrono_tz::Asia::Seoul,
            lines: vec![
                line("user", "hello there", 1, "2026-11-24T10:00:01Z", false),
                line("assistant", "hi", 1, "2026-11-24T10:00:02Z", true),
                // 30 s later, minus 120 ms of "hi" and 1 s of speech: a long silence.
                line("user", "are you there", 2, "2026-11-24T10:00:32Z", false),
            ],
            turns: vec![
                turn(1, Some(500), true, "interrupted"),
                turn(2, None, false, "error"),
                turn(3, None, false, "empty_transcript"),
            ],
        };
        let q = compute(&ctx);
        assert_eq!((q.turns, q.caller_words, q.bot_words), (3, 5, 1));
        assert_eq!(
            (q.provider_errors, q.empty_transcripts, q.barge_ins),
            (1, 1, 1)
        );
        assert_eq!(
            (q.first_audio_p50_ms, q.first_audio_p95_ms),
            (Some(500), Some(500))
        );
        assert_eq!(q.long_silences, 1);
        assert_eq!(q.longest_silence_ms, 30_000 - 120 - 1000);
        assert_eq!(q.call_duration_ms, None);
    }

    #[test]
    fn hangul_takes_longer_than_latin() {
        assert_eq!(speech_estimate_ms("안녕"), 340);
        assert_eq!(speech_estimate_ms("hi there"), 420);
    }
}
