//! Per-stream budgets: what one accepted media stream may send. Twilio sends 50 media
//! messages a second of real-time audio, the odd mark and DTMF digit; anything far beyond
//! that is abuse, and must not grow the database, the memory or the provider bill.
//! Pure bookkeeping over the caller's clock, so it is tested without a socket.

use std::time::{Duration, Instant};

/// Audio may run ahead of the wall clock by this much (jitter buffers releasing a burst)...
const AUDIO_SLACK: Duration = Duration::from_secs(3);
/// ...and at most this much faster than real time over the whole stream (by default;
/// `HARU_STREAM_MAX_SPEED` raises it for accelerated simulations).
pub const AUDIO_SPEED_MAX: f64 = 1.25;
/// All messages, per second (50 media + marks + DTMF leave plenty of room).
const MESSAGES_PER_SECOND: u32 = 250;
/// DTMF digits: a person presses a few a second.
const DTMF_PER_SECOND: u32 = 10;
const DTMF_PER_CALL: u32 = 500;
/// Marks echo what haru sent; haru sends a few per second at most.
const MARKS_PER_SECOND: u32 = 50;
/// haru's own mark names are short (`h123`).
const MARK_NAME_MAX: usize = 64;

/// Why a stream is closed.
pub type Abuse = &'static str;

/// A counter over one-second windows (also behind the log limiter).
#[derive(Debug)]
pub(crate) struct PerSecond {
    since: Instant,
    n: u32,
}

impl PerSecond {
    pub(crate) fn new(now: Instant) -> Self {
        Self { since: now, n: 0 }
    }

    /// Counts one; whether it is within `limit` for the current second.
    pub(crate) fn take(&mut self, now: Instant, limit: u32) -> bool {
        if now.saturating_duration_since(self.since) >= Duration::from_secs(1) {
            *self = Self::new(now);
        }
        self.n += 1;
        self.n <= limit
    }
}

#[derive(Debug)]
pub struct StreamBudget {
    started: Instant,
    max_speed: f64,
    audio: Duration,
    messages: PerSecond,
    dtmf: PerSecond,
    dtmf_total: u32,
    marks: PerSecond,
}

impl StreamBudget {
    #[cfg(test)]
    pub fn new(now: Instant) -> Self {
        Self::with_max_speed(now, AUDIO_SPEED_MAX)
    }

    pub fn with_max_speed(now: Instant, max_speed: f64) -> Self {
        Self {
            started: now,
            max_speed,
            audio: Duration::ZERO,
            messages: PerSecond::new(now),
            dtmf: PerSecond::new(now),
            dtmf_total: 0,
            marks: PerSecond::new(now),
        }
    }

    /// Every message: a stream far above Twilio's rate is closed.
    pub fn message(&mut self, now: Instant) -> Result<(), Abuse> {
        if self.messages.take(now, MESSAGES_PER_SECOND) {
            Ok(())
        } else {
            Err("message rate far above Twilio's")
        }
    }

    /// `len` of audio arrived: a stream sending audio much faster than real time is
    /// closed (each of its "turns" would cost provider requests).
    pub fn audio(&mut self, now: Instant, len: Duration) -> Result<(), Abuse> {
        self.audio += len;
        let wall = now.saturating_duration_since(self.started);
        if self.audio > wall.mul_f64(self.max_speed) + AUDIO_SLACK {
            Err("audio much faster than real time")
        } else {
            Ok(())
        }
    }

    /// Whether to pass this digit on (a flood is dropped, not stored).
    pub fn dtmf(&mut self, now: Instant, digit: &str) -> bool {
        let valid = digit.len() == 1 && digit.bytes().all(|b| b"0123456789*#ABCDabcd".contains(&b));
        if !valid || self.dtmf_total >= DTMF_PER_CALL {
            return false;
        }
        let ok = self.dtmf.take(now, DTMF_PER_SECOND);
        self.dtmf_total += u32::from(ok);
        ok
    }

    /// Whether to pass this mark on: only names haru could have sent, at a sane rate.
    pub fn mark(&mut self, now: Instant, name: &str) -> bool {
        name.len() <= MARK_NAME_MAX && self.marks.take(now, MARKS_PER_SECOND)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAME: Duration = Duration::from_millis(20);

    #[test]
    fn real_time_audio_with_a_late_burst_passes() {
        let t0 = Instant::now();
        let mut b = StreamBudget::new(t0);
        // 60 s of frames, on time...
        for i in 1..=3000u32 {
            assert!(b.audio(t0 + FRAME * i, FRAME).is_ok());
        }
        // ...then a network hiccup: 2 s of frames arrive at once.
        let late = t0 + FRAME * 3100;
        for _ in 0..100 {
            assert!(b.audio(late, FRAME).is_ok());
        }
    }

    #[test]
    fn audio_at_fifty_times_real_time_is_refused_within_seconds_of_audio() {
        let t0 = Instant::now();
        let mut b = StreamBudget::new(t0);
        let mut refused_at = None;
        for i in 1..=5000u32 {
            // 50 frames (1 s of audio) every 20 ms of wall time.
            let now = t0 + Duration::from_micros(400) * i;
            if b.audio(now, FRAME).is_err() {
                refused_at = Some(i);
                break;
            }
        }
        let i = refused_at.expect("never refused");
        assert!(i < 200, "refused after {i} frames ({} s of audio)", i / 50);
    }

    #[test]
    fn a_dtmf_flood_is_cut_to_a_person_s_rate_and_a_per_call_cap() {
        let t0 = Instant::now();
        let mut b = StreamBudget::new(t0);
        let passed = (0..10_000).filter(|_| b.dtmf(t0, "5")).count();
        assert_eq!(passed, DTMF_PER_SECOND as usize);
        let mut total = passed;
        for s in 1..1000u64 {
            let now = t0 + Duration::from_secs(s);
            total += (0..100).filter(|_| b.dtmf(now, "5")).count();
        }
        assert_eq!(total, DTMF_PER_CALL as usize);
        assert!(!b.dtmf(t0, "55"));
        assert!(!b.dtmf(t0, "x"));
    }

    #[test]
    fn marks_flood_and_oversized_names_are_dropped() {
        let t0 = Instant::now();
        let mut b = StreamBudget::new(t0);
        assert!(!b.mark(t0, &"m".repeat(1000)));
        let passed = (0..100_000).filter(|_| b.mark(t0, "h1")).count();
        assert_eq!(passed, MARKS_PER_SECOND as usize);
    }

    #[test]
    fn message_rate_far_above_twilio_s_closes() {
        let t0 = Instant::now();
        let mut b = StreamBudget::new(t0);
        let ok = (0..1000).take_while(|_| b.message(t0).is_ok()).count();
        assert_eq!(ok, MESSAGES_PER_SECOND as usize);
        // A new second, a new allowance.
        assert!(b.message(t0 + Duration::from_secs(1)).is_ok());
    }
}
