//! The playback ledger of one reply: every item queued for the caller (a sentence, a fixed
//! phrase, a chime), how much of it was sent, when it plays, and which marks came back.
//!
//! It also paces: [`Ledger::pump`] sends audio only up to [`LEAD_HIGH`] ahead of the
//! caller's playout clock, so Twilio's buffer stays short and `clear` silences the bot at
//! once. What the caller heard — for the LLM's history and the stored message — is read
//! from here and nowhere else ([`Ledger::heard`]).

use std::time::{Duration, Instant};

use haru_audio::FRAME_SAMPLES;

use crate::io::Output;

/// Send audio until it reaches this far ahead of playout...
pub const LEAD_HIGH: Duration = Duration::from_millis(100);
/// ...and top it up again when the lead has fallen to this: one frame at a time, so a late
/// wake-up under load still has ~80 ms of audio buffered at the caller's end.
pub const LEAD_LOW: Duration = Duration::from_millis(80);
const FRAME: Duration = Duration::from_millis(20);

#[derive(Debug)]
struct Item {
    mark: String,
    /// `None` for sound without words (the chime).
    text: Option<String>,
    audio: Vec<u8>,
    /// Bytes of `audio` sent.
    sent: usize,
    /// The producer added all of its audio.
    complete: bool,
    mark_sent: bool,
    heard: bool,
    /// When its first frame plays at the caller (our playout clock).
    first_due: Option<Instant>,
    /// When its first frame was sent.
    first_sent: Option<Instant>,
    /// When its last sent frame has finished playing.
    end_due: Option<Instant>,
}

/// What the caller heard of a reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heard {
    /// The heard sentences; a sentence cut mid-way ends in "…".
    pub text: String,
    /// Some item was playing but not finished.
    pub partial: bool,
}

#[derive(Debug, Default)]
pub struct Ledger {
    items: Vec<Item>,
    /// The item being sent.
    cursor: usize,
    /// Playout time of the next frame to send.
    clock: Option<Instant>,
    first_sent: Option<Instant>,
}

impl Ledger {
    /// Starts a new item; audio follows with [`Ledger::append`], then [`Ledger::end`].
    pub fn begin(&mut self, mark: String, text: Option<String>) {
        self.end();
        self.items.push(Item {
            mark,
            text,
            audio: Vec::new(),
            sent: 0,
            complete: false,
            mark_sent: false,
            heard: false,
            first_due: None,
            first_sent: None,
            end_due: None,
        });
    }

    /// Adds audio to the open item (ignored when no item is open).
    pub fn append(&mut self, audio: &[u8]) {
        if let Some(item) = self.items.last_mut().filter(|i| !i.complete) {
            item.audio.extend_from_slice(audio);
        }
    }

    /// Closes the open item, if any.
    pub fn end(&mut self) {
        if let Some(item) = self.items.last_mut() {
            item.complete = true;
        }
    }

    /// The producer failed mid-item: close it, its text marked as cut ("…") so that only
    /// what was actually spoken counts as heard.
    pub fn end_cut(&mut self) {
        if let Some(item) = self.items.last_mut().filter(|i| !i.complete) {
            item.complete = true;
            if let Some(t) = item.text.as_mut() {
                t.push('…');
            }
        }
    }

    /// A whole clip as one item.
    pub fn push_clip(&mut self, mark: String, text: Option<String>, audio: &[u8]) {
        self.begin(mark, text);
        self.append(audio);
        self.end();
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// When the first audio of this reply was sent.
    pub fn first_sent(&self) -> Option<Instant> {
        self.first_sent
    }

    /// Replaces the words of item `index` (the same sound, spelled as the model wrote it).
    pub fn set_text(&mut self, index: usize, text: String) {
        if let Some(item) = self.items.get_mut(index) {
            item.text = Some(text);
        }
    }

    /// When the first audio of the items from `index` on was sent.
    pub fn first_sent_from(&self, index: usize) -> Option<Instant> {
        self.items.iter().skip(index).find_map(|i| i.first_sent)
    }

    pub fn audio_sent(&self) -> bool {
        self.first_sent.is_some()
    }

    /// Sends what may be sent at `now`: audio up to [`LEAD_HIGH`] ahead of playout, and
    /// each item's mark right after its last frame.
    pub fn pump(&mut self, now: Instant, out: &mut Vec<Output>) {
        let horizon = now + LEAD_HIGH;
        while let Some(item) = self.items.get_mut(self.cursor) {
            if item.sent < item.audio.len() {
                // After a gap (slow TTS) the caller's buffer ran dry: restart the clock.
                let mut clock = self.clock.filter(|c| *c >= now).unwrap_or(now);
                let start = item.sent;
                loop {
                    let left = item.audio.len() - item.sent;
                    let whole = left >= FRAME_SAMPLES || (item.complete && left > 0);
                    if !whole || clock >= horizon {
                        break;
                    }
                    item.first_due.get_or_insert(clock);
                    item.sent += left.min(FRAME_SAMPLES);
                    clock += FRAME;
                }
                self.clock = Some(clock);
                if item.sent > start {
                    self.first_sent.get_or_insert(now);
                    item.first_sent.get_or_insert(now);
                    item.end_due = Some(clock);
                    out.push(Output::Audio(item.audio[start..item.sent].to_vec()));
                }
                if item.sent < item.audio.len() {
                    return;
                }
            }
            if !item.complete {
                return;
            }
            if !item.mark_sent {
                item.mark_sent = true;
                item.end_due.get_or_insert(self.clock.unwrap_or(now));
                out.push(Output::Mark(item.mark.clone()));
            }
            self.cursor += 1;
        }
    }

    /// When [`Ledger::pump`] should run next to keep the lead (None: waiting for audio).
    pub fn next_pump(&self, now: Instant) -> Option<Instant> {
        let item = self.items.get(self.cursor)?;
        let left = item.audio.len() - item.sent;
        let sendable = left >= FRAME_SAMPLES || item.complete;
        if !sendable {
            return None;
        }
        let clock = self.clock.filter(|c| *c >= now).unwrap_or(now);
        Some(clock.checked_sub(LEAD_LOW).unwrap_or(now).max(now))
    }

    /// A mark came back. Only the next expected one counts: Twilio returns marks in order,
    /// so an unknown, repeated or out-of-order name changes nothing. Returns whether it counted.
    pub fn on_mark(&mut self, name: &str) -> bool {
        match self.items.iter_mut().find(|i| i.mark_sent && !i.heard) {
            Some(item) if item.mark == name => {
                item.heard = true;
                true
            }
            _ => false,
        }
    }

    /// Every item is complete, sent and marked (the marks may still be on their way).
    pub fn all_sent(&self) -> bool {
        self.items.iter().all(|i| i.complete && i.mark_sent)
    }

    /// Every item was heard (true for an empty ledger).
    pub fn all_heard(&self) -> bool {
        self.items.iter().all(|i| i.complete && i.heard)
    }

    /// When the last sent audio finishes playing.
    pub fn last_end_due(&self) -> Option<Instant> {
        self.items.iter().filter_map(|i| i.end_due).max()
    }

    /// The client never returns marks (or lost them): once everything has had time to
    /// play, count what was sent as heard.
    pub fn assume_played(&mut self) {
        for item in self.items.iter_mut().filter(|i| i.mark_sent) {
            item.heard = true;
        }
    }

    /// What the caller heard by `now`: every item whose mark came back, then the item that
    /// was playing (if its first frame was due by `now`), cut with "…".
    pub fn heard(&self, now: Instant) -> Heard {
        let mut parts: Vec<String> = Vec::new();
        let mut partial = false;
        for item in &self.items {
            if item.heard {
                parts.extend(item.text.clone());
                continue;
            }
            if item.first_due.is_some_and(|t| t <= now) {
                partial = true;
                if let Some(text) = &item.text {
                    parts.push(format!("{text}…"));
                }
            }
            break;
        }
        Heard {
            text: parts.join(" "),
            partial,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(n: usize) -> Vec<u8> {
        vec![0xFF; n * FRAME_SAMPLES]
    }

    fn audio_ms(out: &[Output]) -> usize {
        out.iter()
            .map(|o| match o {
                Output::Audio(a) => a.len() / 8,
                _ => 0,
            })
            .sum()
    }

    fn marks(out: &[Output]) -> Vec<String> {
        out.iter()
            .filter_map(|o| match o {
                Output::Mark(m) => Some(m.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn paces_to_the_lead_and_marks_after_each_item() {
        let t0 = Instant::now();
        let mut l = Ledger::default();
        l.push_clip("m1".into(), Some("하나.".into()), &frames(10));
        l.push_clip("m2".into(), Some("둘.".into()), &frames(10));
        let mut out = Vec::new();
        l.pump(t0, &mut out);
        assert_eq!(audio_ms(&out), 100, "only the lead goes out at once");
        assert!(marks(&out).is_empty());
        assert_eq!(l.next_pump(t0), Some(t0 + Duration::from_millis(20)));
        let mut t = t0;
        for _ in 0..40 {
            t += Duration::from_millis(20);
            l.pump(t, &mut out);
        }
        assert_eq!(audio_ms(&out), 400);
        assert_eq!(marks(&out), ["m1", "m2"]);
        assert!(l.all_sent());
        assert_eq!(l.last_end_due(), Some(t0 + Duration::from_millis(400)));
        assert_eq!(l.next_pump(t), None);
    }

    #[test]
    fn heard_follows_marks_only() {
        let t0 = Instant::now();
        let mut l = Ledger::default();
        l.push_clip("m1".into(), Some("One.".into()), &frames(2));
        l.push_clip("m2".into(), Some("Two.".into()), &frames(2));
        l.push_clip("m3".into(), Some("Three.".into()), &frames(50));
        let mut out = Vec::new();
        l.pump(t0, &mut out);
        // Nothing heard before any mark; the first item was playing.
        assert_eq!(l.heard(t0).text, "One.…");
        assert!(!l.on_mark("m2"), "out of order");
        assert!(!l.on_mark("bogus"), "unknown");
        assert!(l.on_mark("m1"));
        assert!(!l.on_mark("m1"), "duplicate");
        assert!(l.on_mark("m2"));
        let h = l.heard(t0 + Duration::from_millis(90));
        assert_eq!(h.text, "One. Two. Three.…");
        assert!(h.partial);
        // At exactly the moment m3 starts playing it is not heard yet a moment before.
        assert_eq!(l.heard(t0 + Duration::from_millis(70)).text, "One. Two.");
    }

    #[test]
    fn marks_never_returned_are_assumed_played() {
        let t0 = Instant::now();
        let mut l = Ledger::default();
        l.push_clip("m1".into(), Some("Hi.".into()), &frames(3));
        let mut out = Vec::new();
        l.pump(t0, &mut out);
        assert!(l.all_sent() && !l.all_heard());
        l.assume_played();
        assert!(l.all_heard());
        assert_eq!(l.heard(t0).text, "Hi.");
    }

    #[test]
    fn an_open_item_waits_for_whole_frames_and_a_gap_restarts_the_clock() {
        let t0 = Instant::now();
        let mut l = Ledger::default();
        l.begin("m1".into(), Some("Slow.".into()));
        l.append(&[0xFF; 100]);
        let mut out = Vec::new();
        l.pump(t0, &mut out);
        assert!(out.is_empty(), "a partial frame is not sent");
        assert_eq!(l.next_pump(t0), None);
        l.append(&[0xFF; 220]);
        l.pump(t0, &mut out);
        assert_eq!(audio_ms(&out), 40);
        // TTS stalls for a second: the next frame plays at once, not "in the past".
        let t1 = t0 + Duration::from_secs(1);
        l.append(&frames(1));
        l.end();
        l.pump(t1, &mut out);
        assert_eq!(marks(&out), ["m1"]);
        assert_eq!(l.last_end_due(), Some(t1 + Duration::from_millis(20)));
    }

    #[test]
    fn a_chime_has_no_words() {
        let t0 = Instant::now();
        let mut l = Ledger::default();
        l.push_clip("m1".into(), None, &frames(2));
        let mut out = Vec::new();
        l.pump(t0, &mut out);
        assert!(l.on_mark("m1"));
        assert_eq!(l.heard(t0), Heard::default());
        assert!(l.audio_sent());
    }
}
