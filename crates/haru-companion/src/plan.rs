//! When a person's daily call is due: their chosen local times, days and window, turned into UTC
//! slots that are correct across daylight-saving changes. Pure: no clock, no IO.

use std::str::FromStr;
use std::time::Duration;

use chrono::{
    DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta,
    TimeZone, Utc, Weekday,
};
use chrono_tz::{GapInfo, Tz};

/// Most call times a person may choose per day; more would be nagging, not companionship.
pub const MAX_TIMES: usize = 6;
/// Longest allowed window after a call time, in minutes (12 hours).
pub const MAX_WINDOW_MINUTES: u32 = 720;

/// A person's daily call schedule.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyPlan {
    pub timezone: Tz,
    /// Local wall-clock times, e.g. 09:00 and 18:30 (sorted, deduplicated by the constructor).
    pub times: Vec<NaiveTime>,
    /// Days on which to call; empty means every day.
    pub days: Vec<Weekday>,
    /// How long after the call time haru may still place or retry the call.
    pub window: Duration,
}

/// One due call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub local_date: NaiveDate,
    pub local_time: NaiveTime,
    /// The UTC instant of local_date + local_time in the plan's zone.
    pub due: DateTime<Utc>,
    /// due + window.
    pub window_end: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("unknown time zone {0:?}: expected an IANA name such as \"Asia/Seoul\"")]
    UnknownTimezone(String),
    #[error("invalid call time {0:?}: expected HH:MM between 00:00 and 23:59")]
    InvalidTime(String),
    #[error("invalid day {0:?}: expected mon, tue, wed, thu, fri, sat or sun")]
    InvalidWeekday(String),
    #[error("no call time given: at least one is needed")]
    NoTimes,
    #[error("{count} call times given: at most {max} are allowed")]
    TooManyTimes { count: usize, max: usize },
    #[error("call window of {0} minutes is out of range: expected 1 to 720")]
    InvalidWindow(u32),
}

impl DailyPlan {
    /// Validates a plan as a person (or the admin UI) entered it.
    ///
    /// Times are "HH:MM", days "mon".."sun" (or full English names); both are sorted and
    /// deduplicated. An empty `days` means every day.
    pub fn new<T: AsRef<str>, D: AsRef<str>>(
        timezone: &str,
        times: &[T],
        days: &[D],
        window_minutes: u32,
    ) -> Result<Self, PlanError> {
        let tz = Tz::from_str(timezone.trim())
            .map_err(|_| PlanError::UnknownTimezone(timezone.to_string()))?;

        let mut parsed = times
            .iter()
            .map(|t| parse_time(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        parsed.sort();
        parsed.dedup();
        if parsed.is_empty() {
            return Err(PlanError::NoTimes);
        }
        if parsed.len() > MAX_TIMES {
            return Err(PlanError::TooManyTimes {
                count: parsed.len(),
                max: MAX_TIMES,
            });
        }

        let mut weekdays = days
            .iter()
            .map(|d| parse_weekday(d.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        weekdays.sort_by_key(|d| d.num_days_from_monday());
        weekdays.dedup();

        if !(1..=MAX_WINDOW_MINUTES).contains(&window_minutes) {
            return Err(PlanError::InvalidWindow(window_minutes));
        }

        Ok(Self {
            timezone: tz,
            times: parsed,
            days: weekdays,
            window: Duration::from_secs(u64::from(window_minutes) * 60),
        })
    }

    /// Every slot whose `due` lies in [from, to), in time order.
    ///
    /// Half-open so that consecutive scheduler ticks over [a,b) then [b,c) see each slot exactly
    /// once. Two local times that resolve to the same instant (02:30 and 03:30 on a
    /// spring-forward night) yield one slot, the earlier local time, so nobody is called twice.
    pub fn slots_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<Slot> {
        let mut slots = Vec::new();
        if from >= to {
            return slots;
        }
        // Local dates whose slots could land in the range: a gap shifts a time forward and zone
        // offsets reach ±14h, so widen the local date range by a day or two on each side.
        let first = local_date(self.timezone, from);
        let last = local_date(self.timezone, to);
        let first = first.pred_opt().and_then(|d| d.pred_opt()).unwrap_or(first);
        let last = last.succ_opt().unwrap_or(last);

        let window = TimeDelta::from_std(self.window).unwrap_or(TimeDelta::MAX);
        let mut date = first;
        loop {
            if self.calls_on(date.weekday()) {
                for &time in &self.times {
                    let due = resolve_local(self.timezone, date, time);
                    if due >= from && due < to {
                        slots.push(Slot {
                            local_date: date,
                            local_time: time,
                            due,
                            window_end: due
                                .checked_add_signed(window)
                                .unwrap_or(DateTime::<Utc>::MAX_UTC),
                        });
                    }
                }
            }
            match date.succ_opt() {
                Some(next) if next <= last => date = next,
                _ => break,
            }
        }
        slots.sort_by(|a, b| {
            (a.due, a.local_date, a.local_time).cmp(&(b.due, b.local_date, b.local_time))
        });
        slots.dedup_by(|later, earlier| later.due == earlier.due);
        slots
    }

    /// The first slot due at or after `t`.
    pub fn next_slot(&self, t: DateTime<Utc>) -> Option<Slot> {
        // Any plan with a time and at least one weekday has a slot within 8 days; search in
        // 8-day steps rather than one open-ended range.
        let step = TimeDelta::days(8);
        let mut from = t;
        for _ in 0..3 {
            let to = from
                .checked_add_signed(step)
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            if let Some(slot) = self.slots_between(from, to).into_iter().next() {
                return Some(slot);
            }
            if to == DateTime::<Utc>::MAX_UTC {
                break;
            }
            from = to;
        }
        None
    }

    fn calls_on(&self, day: Weekday) -> bool {
        self.days.is_empty() || self.days.contains(&day)
    }
}

/// The local date at `t`; near the ends of chrono's range, where the local time would not be
/// representable (`DateTime::date_naive` panics there), the UTC date instead.
fn local_date(tz: Tz, t: DateTime<Utc>) -> NaiveDate {
    let utc = t.naive_utc();
    let offset = tz.offset_from_utc_datetime(&utc).fix();
    utc.checked_add_offset(offset)
        .map_or(utc.date(), |local| local.date())
}

/// Parses "HH:MM" (a one-digit hour such as "9:00" is accepted too), 00:00 to 23:59.
pub fn parse_time(s: &str) -> Result<NaiveTime, PlanError> {
    let bad = || PlanError::InvalidTime(s.to_string());
    let (h, m) = s.trim().split_once(':').ok_or_else(bad)?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || h.len() > 2 || !digits(m) || m.len() != 2 {
        return Err(bad());
    }
    let hour: u32 = h.parse().map_err(|_| bad())?;
    let minute: u32 = m.parse().map_err(|_| bad())?;
    NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(bad)
}

/// Parses "mon".."sun" or the full English day name, case-insensitively.
pub fn parse_weekday(s: &str) -> Result<Weekday, PlanError> {
    let day = match s.trim().to_ascii_lowercase().as_str() {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return Err(PlanError::InvalidWeekday(s.to_string())),
    };
    Ok(day)
}

/// The short name that [`parse_weekday`] reads back: "mon".."sun".
pub fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

/// Local date+time → UTC, daylight-saving correct. A time that does not exist (spring-forward gap,
/// e.g. 02:30 on the night clocks jump 02:00→03:00) is moved forward by the gap (→ 03:30 local);
/// an ambiguous one (fall-back, the hour happens twice) takes the earlier instant, so the call happens once.
pub fn resolve_local(tz: Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    let local = date.and_time(time);
    match tz.from_local_datetime(&local) {
        LocalResult::Single(dt) => dt.with_timezone(&Utc),
        LocalResult::Ambiguous(a, b) => a.with_timezone(&Utc).min(b.with_timezone(&Utc)),
        LocalResult::None => resolve_gap(tz, local),
    }
}

/// Reading a skipped wall-clock time with the offset in force before the gap lands exactly
/// "gap length" later on the new clock: 02:30 at -05:00 is 07:30 UTC, which is 03:30 at -04:00.
fn resolve_gap(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    let gap = GapInfo::new(&local, &tz);
    if let Some((_, before)) = gap.as_ref().and_then(|g| g.begin)
        && let Some(utc) = local.checked_sub_offset(before.fix())
    {
        return utc.and_utc();
    }
    // Only at the very ends of the zone's table: fall back to the first instant after the gap.
    if let Some(end) = gap.and_then(|g| g.end) {
        return end.with_timezone(&Utc);
    }
    local.and_utc()
}

/// How often and how soon to try again when nobody answers.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Total tries per slot, the first included (e.g. 3).
    pub max_attempts: u32,
    /// Wait after the first unanswered try (e.g. 10 min); doubled after each further one.
    pub first_backoff: Duration,
    /// Cap on the doubling.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// When to try again after `attempts_made` tries ended unanswered at `now`:
    /// now + first_backoff * 2^(attempts_made-1), capped at `max_backoff`.
    /// None when the limit is reached or the next try would fall after `window_end`.
    /// With `attempts_made == 0` nothing has been tried yet, so the answer is `now`.
    pub fn next_try(
        &self,
        attempts_made: u32,
        now: DateTime<Utc>,
        window_end: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        if attempts_made >= self.max_attempts {
            return None;
        }
        let wait = match attempts_made.checked_sub(1) {
            None => Duration::ZERO,
            Some(doublings) => 2u32
                .checked_pow(doublings)
                .and_then(|factor| self.first_backoff.checked_mul(factor))
                .map_or(self.max_backoff, |w| w.min(self.max_backoff)),
        };
        let at = now.checked_add_signed(TimeDelta::from_std(wait).ok()?)?;
        (at <= window_end).then_some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).expect("valid test time")
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        date(y, m, d).and_time(hm(h, min)).and_utc()
    }

    fn plan(tz: &str, times: &[&str], days: &[&str], window: u32) -> DailyPlan {
        DailyPlan::new(tz, times, days, window).expect("valid test plan")
    }

    #[test]
    fn seoul_nine_am_is_midnight_utc() {
        assert_eq!(
            resolve_local(chrono_tz::Asia::Seoul, date(2026, 5, 4), hm(9, 0)),
            utc(2026, 5, 4, 0, 0)
        );
        let p = plan("Asia/Seoul", &["09:00"], &[], 30);
        let slot = p.next_slot(utc(2026, 5, 3, 12, 0)).expect("a slot");
        assert_eq!(slot.local_date, date(2026, 5, 4));
        assert_eq!(slot.due, utc(2026, 5, 4, 0, 0));
        assert_eq!(slot.window_end, utc(2026, 5, 4, 0, 30));
    }

    #[test]
    fn new_york_around_dst_start_and_end() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08: EST (-5) before, EDT (-4) after.
        assert_eq!(
            resolve_local(ny, date(2026, 3, 7), hm(9, 0)),
            utc(2026, 3, 7, 14, 0)
        );
        assert_eq!(
            resolve_local(ny, date(2026, 3, 9), hm(9, 0)),
            utc(2026, 3, 9, 13, 0)
        );
        // 2026-11-01: EDT before, EST after.
        assert_eq!(
            resolve_local(ny, date(2026, 10, 31), hm(9, 0)),
            utc(2026, 10, 31, 13, 0)
        );
        assert_eq!(
            resolve_local(ny, date(2026, 11, 2), hm(9, 0)),
            utc(2026, 11, 2, 14, 0)
        );
        // On the change days themselves 09:00 is well clear of the 02:00 switch.
        assert_eq!(
            resolve_local(ny, date(2026, 3, 8), hm(9, 0)),
            utc(2026, 3, 8, 13, 0)
        );
        assert_eq!(
            resolve_local(ny, date(2026, 11, 1), hm(9, 0)),
            utc(2026, 11, 1, 14, 0)
        );
    }

    #[test]
    fn nonexistent_time_moves_forward_by_the_gap() {
        let ny = chrono_tz::America::New_York;
        let due = resolve_local(ny, date(2026, 3, 8), hm(2, 30));
        assert_eq!(due, utc(2026, 3, 8, 7, 30));
        let local = due.with_timezone(&ny);
        assert_eq!(local.time(), hm(3, 30));
        assert_eq!(local.offset().fix().local_minus_utc(), -4 * 3600);
        // The first minute of the gap, and the first real minute after it.
        assert_eq!(
            resolve_local(ny, date(2026, 3, 8), hm(2, 0)),
            utc(2026, 3, 8, 7, 0)
        );
        assert_eq!(
            resolve_local(ny, date(2026, 3, 8), hm(3, 0)),
            utc(2026, 3, 8, 7, 0)
        );
        // A half-hour DST zone (Lord Howe jumps 02:00 → 02:30).
        let lh = chrono_tz::Australia::Lord_Howe;
        let due = resolve_local(lh, date(2026, 10, 4), hm(2, 10));
        assert_eq!(due.with_timezone(&lh).time(), hm(2, 40));
    }

    #[test]
    fn ambiguous_time_takes_the_earlier_instant() {
        let ny = chrono_tz::America::New_York;
        // 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
        assert_eq!(
            resolve_local(ny, date(2026, 11, 1), hm(1, 30)),
            utc(2026, 11, 1, 5, 30)
        );
        // And a plan with 01:30 calls once that night.
        let p = plan("America/New_York", &["01:30"], &[], 60);
        let slots = p.slots_between(utc(2026, 11, 1, 0, 0), utc(2026, 11, 2, 0, 0));
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].due, utc(2026, 11, 1, 5, 30));
    }

    #[test]
    fn gap_collision_is_called_once() {
        // 02:30 is pushed to 03:30, which is also a chosen time: one call, not two.
        let p = plan("America/New_York", &["02:30", "03:30"], &[], 60);
        let slots = p.slots_between(utc(2026, 3, 8, 0, 0), utc(2026, 3, 9, 0, 0));
        assert_eq!(slots.len(), 1);
        assert_eq!(slots[0].due, utc(2026, 3, 8, 7, 30));
        assert_eq!(slots[0].local_time, hm(2, 30));
    }

    #[test]
    fn week_with_mon_wed_fri_yields_only_those_days() {
        let p = plan("Asia/Seoul", &["09:00"], &["mon", "Wed", "FRIDAY"], 30);
        assert_eq!(p.days, vec![Weekday::Mon, Weekday::Wed, Weekday::Fri]);
        // 2026-05-04 is a Monday; cover Mon..Sun local.
        let slots = p.slots_between(utc(2026, 5, 3, 15, 0), utc(2026, 5, 10, 15, 0));
        let days: Vec<_> = slots.iter().map(|s| s.local_date.weekday()).collect();
        assert_eq!(days, vec![Weekday::Mon, Weekday::Wed, Weekday::Fri]);
        let dates: Vec<_> = slots.iter().map(|s| s.local_date).collect();
        assert_eq!(
            dates,
            vec![date(2026, 5, 4), date(2026, 5, 6), date(2026, 5, 8)]
        );
    }

    #[test]
    fn three_days_two_times_six_slots_in_order() {
        let p = plan("America/New_York", &["18:30", "09:00", "09:00"], &[], 60);
        assert_eq!(p.times, vec![hm(9, 0), hm(18, 30)]);
        // Local 2026-03-07 00:00 EST .. 2026-03-10 00:00 EDT spans the DST start.
        let from = resolve_local(p.timezone, date(2026, 3, 7), hm(0, 0));
        let to = resolve_local(p.timezone, date(2026, 3, 10), hm(0, 0));
        let slots = p.slots_between(from, to);
        let got: Vec<_> = slots
            .iter()
            .map(|s| (s.local_date, s.local_time, s.due))
            .collect();
        assert_eq!(
            got,
            vec![
                (date(2026, 3, 7), hm(9, 0), utc(2026, 3, 7, 14, 0)),
                (date(2026, 3, 7), hm(18, 30), utc(2026, 3, 7, 23, 30)),
                (date(2026, 3, 8), hm(9, 0), utc(2026, 3, 8, 13, 0)),
                (date(2026, 3, 8), hm(18, 30), utc(2026, 3, 8, 22, 30)),
                (date(2026, 3, 9), hm(9, 0), utc(2026, 3, 9, 13, 0)),
                (date(2026, 3, 9), hm(18, 30), utc(2026, 3, 9, 22, 30)),
            ]
        );
        for s in &slots {
            assert_eq!(s.window_end - s.due, TimeDelta::minutes(60));
        }
    }

    #[test]
    fn adjacent_ranges_never_repeat_or_lose_a_slot() {
        // Both 2026 changes in the northern and southern hemispheres.
        let dst_2026 = vec![
            (utc(2026, 3, 1, 0, 0), utc(2026, 4, 10, 0, 0)),
            (utc(2026, 9, 20, 0, 0), utc(2026, 11, 8, 0, 0)),
        ];
        let cases = [
            (
                plan(
                    "America/New_York",
                    &["01:30", "02:30", "09:00", "23:59"],
                    &[],
                    60,
                ),
                dst_2026.clone(),
            ),
            (
                plan(
                    "Asia/Seoul",
                    &["00:00", "09:00", "18:30"],
                    &["mon", "thu", "sun"],
                    30,
                ),
                dst_2026.clone(),
            ),
            (
                plan("Australia/Lord_Howe", &["02:15", "12:00"], &[], 15),
                dst_2026.clone(),
            ),
            (
                plan("Pacific/Chatham", &["02:45", "03:45"], &["sat", "sun"], 720),
                dst_2026,
            ),
            // Samoa skipped 2011-12-30 entirely: that day's calls land on the 31st.
            (
                plan("Pacific/Apia", &["00:00", "09:00", "23:30"], &[], 60),
                vec![(utc(2011, 12, 26, 0, 0), utc(2012, 1, 4, 0, 0))],
            ),
        ];
        for (p, ranges) in &cases {
            for &(start, end) in ranges {
                let whole = p.slots_between(start, end);
                assert!(!whole.is_empty());
                assert!(
                    whole.windows(2).all(|w| w[0].due < w[1].due),
                    "strictly ordered"
                );
                // Chop the same range at many irregular boundaries (prime-ish steps so they hit
                // slot instants, midnights and DST edges in varying ways).
                for step_minutes in [1i64, 7, 30, 59, 61, 97, 360, 1439, 1440, 2017] {
                    let step = TimeDelta::minutes(step_minutes);
                    let mut pieces = Vec::new();
                    let mut a = start;
                    while a < end {
                        let b = (a + step).min(end);
                        pieces.extend(p.slots_between(a, b));
                        a = b;
                    }
                    assert_eq!(pieces, whole, "{} step {step_minutes} min", p.timezone);
                }
                // Boundaries exactly on each slot's due instant.
                let mut pieces = Vec::new();
                let mut a = start;
                for s in &whole {
                    pieces.extend(p.slots_between(a, s.due));
                    a = s.due;
                }
                pieces.extend(p.slots_between(a, end));
                assert_eq!(pieces, whole);
            }
        }
    }

    #[test]
    fn next_slot_finds_the_first_at_or_after() {
        let p = plan("Asia/Seoul", &["09:00", "18:30"], &["wed"], 30);
        // 2026-05-06 is a Wednesday.
        let at_nine = utc(2026, 5, 6, 0, 0);
        assert_eq!(
            p.next_slot(at_nine).map(|s| s.due),
            Some(at_nine),
            "at counts"
        );
        let after = p.next_slot(at_nine + TimeDelta::seconds(1)).expect("slot");
        assert_eq!(
            (after.local_date, after.local_time),
            (date(2026, 5, 6), hm(18, 30))
        );
        // After Wednesday's last call the next is a week later.
        let next_week = p.next_slot(utc(2026, 5, 6, 9, 31)).expect("slot");
        assert_eq!(next_week.due, utc(2026, 5, 13, 0, 0));
        // Near the ends of representable time there is nothing, and no panic, in any zone.
        assert_eq!(p.next_slot(DateTime::<Utc>::MAX_UTC), None);
        for tz in ["Pacific/Kiritimati", "Etc/GMT+12", "America/New_York"] {
            let p = plan(tz, &["00:00", "23:59"], &[], 720);
            let _ = p.next_slot(DateTime::<Utc>::MAX_UTC - TimeDelta::days(3));
            let early = DateTime::<Utc>::MIN_UTC;
            assert!(p.slots_between(early, early + TimeDelta::days(2)).len() <= 6);
        }
    }

    #[test]
    fn empty_or_reversed_range_is_empty() {
        let p = plan("Asia/Seoul", &["09:00"], &[], 30);
        let t = utc(2026, 5, 6, 0, 0);
        assert!(p.slots_between(t, t).is_empty());
        assert!(p.slots_between(t + TimeDelta::days(3), t).is_empty());
        assert!(
            p.slots_between(
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::MIN_UTC + TimeDelta::days(2)
            )
            .len()
                <= 2
        );
    }

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            first_backoff: Duration::from_secs(10 * 60),
            max_backoff: Duration::from_secs(25 * 60),
        }
    }

    #[test]
    fn retry_doubles_and_caps() {
        let now = utc(2026, 5, 6, 0, 0);
        let far = now + TimeDelta::hours(12);
        let p = policy();
        assert_eq!(p.next_try(0, now, far), Some(now));
        assert_eq!(p.next_try(1, now, far), Some(now + TimeDelta::minutes(10)));
        assert_eq!(p.next_try(2, now, far), Some(now + TimeDelta::minutes(20)));
        assert_eq!(
            p.next_try(3, now, far),
            Some(now + TimeDelta::minutes(25)),
            "capped"
        );
        let many = RetryPolicy {
            max_attempts: u32::MAX,
            ..policy()
        };
        assert_eq!(
            many.next_try(200, now, far),
            Some(now + TimeDelta::minutes(25)),
            "no overflow"
        );
    }

    #[test]
    fn retry_gives_up_at_the_limit_and_the_window_end() {
        let now = utc(2026, 5, 6, 0, 0);
        let p = policy();
        assert_eq!(
            p.next_try(4, now, now + TimeDelta::hours(12)),
            None,
            "limit"
        );
        assert_eq!(
            p.next_try(5, now, now + TimeDelta::hours(12)),
            None,
            "past limit"
        );
        // The next try may land exactly on the window end, not after it.
        assert_eq!(
            p.next_try(1, now, now + TimeDelta::minutes(10)),
            Some(now + TimeDelta::minutes(10))
        );
        assert_eq!(
            p.next_try(1, now, now + TimeDelta::minutes(9)),
            None,
            "window"
        );
        assert_eq!(
            p.next_try(0, now, now - TimeDelta::seconds(1)),
            None,
            "window already over"
        );
        let never = RetryPolicy {
            max_attempts: 0,
            ..policy()
        };
        assert_eq!(never.next_try(0, now, now + TimeDelta::hours(1)), None);
    }

    #[test]
    fn bad_inputs_are_errors_naming_the_value() {
        let none: [&str; 0] = [];
        assert_eq!(
            DailyPlan::new("Mars/Olympus", &["09:00"], &none, 30),
            Err(PlanError::UnknownTimezone("Mars/Olympus".into()))
        );
        let err = DailyPlan::new("Mars/Olympus", &["09:00"], &none, 30).unwrap_err();
        assert!(err.to_string().contains("Mars/Olympus"), "{err}");
        assert_eq!(
            DailyPlan::new("Asia/Seoul", &["9시"], &none, 30),
            Err(PlanError::InvalidTime("9시".into()))
        );
        assert_eq!(
            DailyPlan::new("Asia/Seoul", &none, &none, 30),
            Err(PlanError::NoTimes)
        );
        let seven = [
            "01:00", "02:00", "03:00", "04:00", "05:00", "06:00", "07:00",
        ];
        assert_eq!(
            DailyPlan::new("Asia/Seoul", &seven, &none, 30),
            Err(PlanError::TooManyTimes { count: 7, max: 6 })
        );
        assert!(DailyPlan::new("Asia/Seoul", &seven[..6], &none, 30).is_ok());
        assert_eq!(
            DailyPlan::new("Asia/Seoul", &["09:00"], &["funday"], 30),
            Err(PlanError::InvalidWeekday("funday".into()))
        );
        assert_eq!(
            DailyPlan::new("Asia/Seoul", &["09:00"], &none, 0),
            Err(PlanError::InvalidWindow(0))
        );
        assert_eq!(
            DailyPlan::new("Asia/Seoul", &["09:00"], &none, 721),
            Err(PlanError::InvalidWindow(721))
        );
        let owned = vec!["09:00".to_string()];
        let days = vec!["sun".to_string()];
        let p = DailyPlan::new(" Asia/Seoul ", &owned, &days, 720).expect("String inputs work");
        assert_eq!(p.window, Duration::from_secs(720 * 60));
    }

    #[test]
    fn time_parsing() {
        assert_eq!(parse_time("00:00"), Ok(hm(0, 0)));
        assert_eq!(parse_time("23:59"), Ok(hm(23, 59)));
        assert_eq!(parse_time(" 9:05 "), Ok(hm(9, 5)));
        for bad in [
            "", "24:00", "12:60", "12:5", "123:00", "12:000", "+1:00", "12-30", "12:3a", ":30",
            "12:",
        ] {
            assert_eq!(
                parse_time(bad),
                Err(PlanError::InvalidTime(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn weekday_names_round_trip() {
        for d in [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ] {
            assert_eq!(parse_weekday(weekday_name(d)), Ok(d));
            assert_eq!(parse_weekday(&weekday_name(d).to_uppercase()), Ok(d));
        }
        assert_eq!(parse_weekday("Thursday"), Ok(Weekday::Thu));
        assert_eq!(
            parse_weekday("thurs"),
            Err(PlanError::InvalidWeekday("thurs".into()))
        );
    }
}
