//! The caller's loudspeaker: bot audio plays out at real time, marks fire when reached.
//!
//! Pure bookkeeping with no clock of its own: the call loop calls [`Playout::tick`] once per
//! 20 ms frame, which is how Twilio's media edge paces outbound audio too. Positions are
//! counted in µ-law bytes (= 8 kHz samples) since the start of the call.

use std::collections::VecDeque;

use haru_audio::mulaw;

/// What one tick played.
#[derive(Debug, Default, PartialEq)]
pub struct Tick {
    /// Bytes of bot audio played in this tick.
    pub played: usize,
    /// Marks whose position was reached: echo them now, in order.
    pub marks: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Playout {
    queue: VecDeque<u8>,
    /// Bytes ever played; a mark fires once this reaches its position.
    played_total: u64,
    pending_marks: VecDeque<(u64, String)>,
    /// Everything played, decoded, with mid-reply underruns as silence.
    recorded: Vec<i16>,
    /// Between the first audio of a reply and the end of that reply.
    in_reply: bool,
    /// Dry time since the queue last ran out inside a reply. It only becomes an underrun if
    /// more audio for the same reply follows; otherwise the reply simply ended.
    dry_pending: u64,
    underrun_total: u64,
}

impl Playout {
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues bot audio (µ-law bytes).
    pub fn push_audio(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.in_reply && self.dry_pending > 0 {
            // The queue ran dry and the same reply continued: that silence was audible.
            self.underrun_total += self.dry_pending;
            self.recorded
                .extend(std::iter::repeat_n(0, self.dry_pending as usize));
        }
        self.dry_pending = 0;
        self.in_reply = true;
        self.queue.extend(bytes);
    }

    /// Queues a mark. Returns the name when it must be echoed right away (nothing queued).
    pub fn push_mark(&mut self, name: String) -> Option<String> {
        if self.queue.is_empty() && self.pending_marks.is_empty() {
            return Some(name);
        }
        let position = self.played_total + self.queue.len() as u64;
        self.pending_marks.push_back((position, name));
        None
    }

    /// Drops everything queued; pending marks are returned to be echoed at once, as Twilio does.
    pub fn clear(&mut self) -> Vec<String> {
        self.queue.clear();
        self.end_reply();
        self.pending_marks.drain(..).map(|(_, n)| n).collect()
    }

    /// Closes the current reply: dry time after this point is a pause, not an underrun.
    pub fn end_reply(&mut self) {
        self.in_reply = false;
        self.dry_pending = 0;
    }

    /// Plays up to `bytes` of queued audio (one frame is 160).
    pub fn tick(&mut self, bytes: usize) -> Tick {
        let n = bytes.min(self.queue.len());
        self.recorded
            .extend(self.queue.drain(..n).map(mulaw::decode_sample));
        self.played_total += n as u64;
        if self.in_reply && n < bytes {
            self.dry_pending += (bytes - n) as u64;
        }
        let mut marks = Vec::new();
        while let Some((pos, _)) = self.pending_marks.front() {
            if *pos > self.played_total {
                break;
            }
            if let Some((_, name)) = self.pending_marks.pop_front() {
                marks.push(name);
            }
        }
        Tick { played: n, marks }
    }

    /// Nothing left to play and no mark waiting.
    pub fn is_idle(&self) -> bool {
        self.queue.is_empty() && self.pending_marks.is_empty()
    }

    /// Queued, not yet played bytes.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Total underrun so far in samples (8 kHz).
    pub fn underrun_samples(&self) -> u64 {
        self.underrun_total
    }

    /// The bot audio as played, 8 kHz PCM.
    pub fn into_recording(self) -> Vec<i16> {
        self.recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_fires_only_when_its_audio_has_played() {
        let mut p = Playout::new();
        p.push_audio(&[0x80; 400]);
        assert_eq!(p.push_mark("m1".into()), None);
        assert!(p.tick(160).marks.is_empty());
        assert!(p.tick(160).marks.is_empty());
        let t = p.tick(160);
        assert_eq!(t.played, 80);
        assert_eq!(t.marks, vec!["m1".to_string()]);
        assert!(p.is_idle());
        assert_eq!(p.into_recording().len(), 400);
    }

    #[test]
    fn mark_on_empty_queue_is_echoed_immediately() {
        let mut p = Playout::new();
        assert_eq!(p.push_mark("now".into()), Some("now".into()));
    }

    #[test]
    fn marks_keep_order_behind_an_earlier_mark() {
        let mut p = Playout::new();
        p.push_audio(&[0x80; 160]);
        assert_eq!(p.push_mark("a".into()), None);
        p.tick(160);
        // "a" already fired with this tick, queue is empty: "b" goes straight back.
        assert_eq!(p.push_mark("b".into()), Some("b".into()));
    }

    #[test]
    fn clear_drops_audio_and_releases_marks() {
        let mut p = Playout::new();
        p.push_audio(&[0x80; 1600]);
        p.push_mark("a".into());
        p.push_audio(&[0x80; 1600]);
        p.push_mark("b".into());
        p.tick(160);
        assert_eq!(p.clear(), vec!["a".to_string(), "b".to_string()]);
        assert!(p.is_idle());
        assert_eq!(p.tick(160).played, 0);
        assert_eq!(p.underrun_samples(), 0);
        assert_eq!(p.into_recording().len(), 160);
    }

    #[test]
    fn underrun_counts_only_gaps_inside_a_reply() {
        let mut p = Playout::new();
        // Before any audio: waiting, not an underrun.
        p.tick(160);
        p.push_audio(&[0x80; 160]);
        p.tick(160);
        // Two dry frames, then the reply continues.
        p.tick(160);
        p.tick(160);
        p.push_audio(&[0x80; 160]);
        p.tick(160);
        assert_eq!(p.underrun_samples(), 320);
        // Reply ends; the pause before the next reply is not an underrun.
        p.tick(160);
        p.end_reply();
        p.tick(160);
        p.push_audio(&[0x80; 160]);
        p.tick(160);
        assert_eq!(p.underrun_samples(), 320);
        // Recording: 3 frames of audio plus the 2 frames of audible gap.
        assert_eq!(p.into_recording().len(), 160 * 5);
    }
}
