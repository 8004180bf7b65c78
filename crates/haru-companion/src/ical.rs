//! An RFC 5545 calendar feed of a person's appointments, so family members can subscribe from any
//! calendar app. Pure text generation: the caller supplies the events and the stamp.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Utc,
};
use chrono_tz::{OffsetComponents, OffsetName, Tz};

const PRODID: &str = "-//haru//companion calendar//EN";
/// RFC 5545 §3.1: content lines SHOULD NOT be longer than 75 octets, excluding the line break.
const MAX_LINE_OCTETS: usize = 75;

/// One appointment in the feed.
#[derive(Debug, Clone, PartialEq)]
pub struct CalEvent {
    /// Stable across feed refreshes, e.g. "schedule-42@haru", so apps update instead of duplicating.
    pub uid: String,
    pub summary: String,
    /// The caller's own words (quote): arbitrary user text.
    pub description: String,
    pub start: EventStart,
    pub dtstamp: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStart {
    /// A timed event at local wall-clock time in `tz`.
    Local {
        at: NaiveDateTime,
        tz: Tz,
    },
    AllDay(NaiveDate),
}

/// A whole VCALENDAR: VERSION, PRODID, CALSCALE, X-WR-CALNAME (`name`), one VTIMEZONE per zone used
/// (observances computed from chrono-tz for the years the events fall in), then one VEVENT per
/// event. Timed events last one hour (DURATION:PT1H), all-day events one day (DTEND next date).
///
/// Events dated outside years 1..=9999 cannot be written as RFC 5545 dates and are left out.
pub fn calendar(name: &str, events: &[CalEvent]) -> String {
    let events: Vec<&CalEvent> = events.iter().filter(|e| representable(&e.start)).collect();

    let mut out = Writer::default();
    out.line("BEGIN:VCALENDAR");
    out.line("VERSION:2.0");
    out.line(&format!("PRODID:{PRODID}"));
    out.line("CALSCALE:GREGORIAN");
    out.line("METHOD:PUBLISH");
    out.line(&format!("X-WR-CALNAME:{}", escape_text(name)));

    // Keyed by name so the zones come out in a stable order.
    let mut zones: BTreeMap<&'static str, (Tz, BTreeSet<i32>)> = BTreeMap::new();
    for e in &events {
        if let EventStart::Local { at, tz } = e.start {
            zones
                .entry(tz.name())
                .or_insert_with(|| (tz, BTreeSet::new()))
                .1
                .insert(at.year());
        }
    }
    for (tz, years) in zones.values() {
        write_vtimezone(&mut out, *tz, years);
    }

    for e in &events {
        out.line("BEGIN:VEVENT");
        out.line(&format!("UID:{}", escape_text(&e.uid)));
        out.line(&format!("DTSTAMP:{}", e.dtstamp.format("%Y%m%dT%H%M%SZ")));
        match e.start {
            EventStart::Local { at, tz } => {
                out.line(&format!(
                    "DTSTART;TZID={}:{}",
                    param_value(tz.name()),
                    at.format("%Y%m%dT%H%M%S")
                ));
                out.line("DURATION:PT1H");
            }
            EventStart::AllDay(day) => {
                out.line(&format!("DTSTART;VALUE=DATE:{}", day.format("%Y%m%d")));
                // DTEND is exclusive; representable() made sure the next day exists.
                let end = day.succ_opt().unwrap_or(day);
                out.line(&format!("DTEND;VALUE=DATE:{}", end.format("%Y%m%d")));
            }
        }
        out.line(&format!("SUMMARY:{}", escape_text(&e.summary)));
        out.line(&format!("DESCRIPTION:{}", escape_text(&e.description)));
        out.line("END:VEVENT");
    }

    out.line("END:VCALENDAR");
    out.0
}

/// RFC 5545 dates have exactly four year digits; chrono would print "+10000" or "-0001".
fn representable(start: &EventStart) -> bool {
    let year = match start {
        EventStart::Local { at, .. } => at.year(),
        EventStart::AllDay(day) => day.year(),
    };
    (1..=9999).contains(&year)
}

/// Accumulates folded content lines.
#[derive(Default)]
struct Writer(String);

impl Writer {
    fn line(&mut self, content: &str) {
        fold_into(&mut self.0, content);
    }
}

/// Appends `line` folded at 75 octets (RFC 5545 §3.1) with CRLF + one space, breaking only between
/// characters so multi-byte UTF-8 (Korean is 3 octets a syllable) is never split.
fn fold_into(out: &mut String, line: &str) {
    let mut used = 0;
    for ch in line.chars() {
        let len = ch.len_utf8();
        if used + len > MAX_LINE_OCTETS {
            out.push_str("\r\n ");
            used = 1; // the leading space counts towards the 75
        }
        out.push(ch);
        used += len;
    }
    out.push_str("\r\n");
}

/// Escapes a TEXT value (RFC 5545 §3.3.11): backslash, semicolon, comma and newline; a CRLF or a
/// lone CR counts as one newline; other control characters (bar tab, which TEXT allows) are
/// dropped since they are not allowed in content lines.
fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push_str("\\n");
            }
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A parameter value (RFC 5545 §3.2): DQUOTE and controls cannot appear at all, and `;:,` need
/// quoting. IANA zone names never contain these, but the value must not be able to break the line.
fn param_value(s: &str) -> String {
    let clean: String = s.chars().filter(|c| *c != '"' && !c.is_control()).collect();
    if clean.contains([';', ':', ',']) {
        format!("\"{clean}\"")
    } else {
        clean
    }
}

/// The state a zone is in at an instant; a change in any part is a new observance.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ZoneState {
    offset_secs: i32,
    daylight: bool,
    abbreviation: Option<String>,
}

fn state_at(tz: Tz, utc_secs: i64) -> Option<ZoneState> {
    let utc = DateTime::from_timestamp(utc_secs, 0)?.naive_utc();
    let off = tz.offset_from_utc_datetime(&utc);
    Some(ZoneState {
        offset_secs: off.fix().local_minus_utc(),
        daylight: !off.dst_offset().is_zero(),
        abbreviation: off.abbreviation().map(str::to_string),
    })
}

/// One STANDARD or DAYLIGHT sub-component: from `onset_utc` on, `to` is in force.
struct Observance {
    onset_utc: i64,
    from_secs: i32,
    to: ZoneState,
}

/// The observances that cover every instant of the given local years: for each year, the state at
/// local New Year (unless it just carries on from the previous observance), then every change
/// chrono-tz knows of up to a day past the year's end. No RRULEs: the exact list stays correct
/// even for zones whose rules changed between the years.
fn observances(tz: Tz, years: &BTreeSet<i32>) -> Vec<Observance> {
    let mut out: Vec<Observance> = Vec::new();
    let mut scanned_until = i64::MIN;
    for &year in years {
        let (Some(jan1), Some(next_jan1)) = (
            NaiveDate::from_ymd_opt(year, 1, 1),
            NaiveDate::from_ymd_opt(year.saturating_add(1), 1, 1),
        ) else {
            continue;
        };
        let jan1 = jan1.and_time(NaiveTime::MIN);
        // Local midnight may itself be skipped in a zone that changes at 00:00; then a day earlier
        // in UTC is still safely before the year begins.
        let start = tz
            .from_local_datetime(&jan1)
            .earliest()
            .map(|d| d.timestamp())
            .unwrap_or_else(|| (jan1 - TimeDelta::days(1)).and_utc().timestamp());
        let end = (next_jan1.and_time(NaiveTime::MIN) + TimeDelta::days(1))
            .and_utc()
            .timestamp();

        let mut t = start.max(scanned_until);
        let Some(mut state) = state_at(tz, t) else {
            continue;
        };
        // A synthetic onset at local New Year, not a real change: FROM equals TO so its DTSTART
        // reads on the clock actually in force then.
        if start > scanned_until && out.last().map(|o| &o.to) != Some(&state) {
            out.push(Observance {
                onset_utc: start,
                from_secs: state.offset_secs,
                to: state.clone(),
            });
        }
        // Step through the year; where the state differs at the end of a step, bisect to the
        // second. Six-hour steps are far shorter than any real gap between two changes.
        const STEP: i64 = 6 * 3600;
        while t < end {
            let next = (t + STEP).min(end);
            let Some(next_state) = state_at(tz, next) else {
                break;
            };
            if next_state != state {
                let (mut lo, mut hi) = (t, next);
                while hi - lo > 1 {
                    let mid = lo + (hi - lo) / 2;
                    if state_at(tz, mid).as_ref() == Some(&state) {
                        lo = mid;
                    } else {
                        hi = mid;
                    }
                }
                let Some(changed) = state_at(tz, hi) else {
                    break;
                };
                out.push(Observance {
                    onset_utc: hi,
                    from_secs: state.offset_secs,
                    to: changed.clone(),
                });
                state = changed;
                t = hi;
            } else {
                t = next;
            }
        }
        scanned_until = end;
    }
    out
}

fn write_vtimezone(out: &mut Writer, tz: Tz, years: &BTreeSet<i32>) {
    out.line("BEGIN:VTIMEZONE");
    out.line(&format!("TZID:{}", escape_text(tz.name())));
    for obs in observances(tz, years) {
        // An observance's DTSTART is local time on the clock that was in force before it.
        let Some(onset) = DateTime::from_timestamp(obs.onset_utc + i64::from(obs.from_secs), 0)
        else {
            continue;
        };
        let kind = if obs.to.daylight {
            "DAYLIGHT"
        } else {
            "STANDARD"
        };
        out.line(&format!("BEGIN:{kind}"));
        out.line(&format!("DTSTART:{}", onset.format("%Y%m%dT%H%M%S")));
        out.line(&format!("TZOFFSETFROM:{}", utc_offset(obs.from_secs)));
        out.line(&format!("TZOFFSETTO:{}", utc_offset(obs.to.offset_secs)));
        if let Some(abbr) = &obs.to.abbreviation {
            out.line(&format!("TZNAME:{}", escape_text(abbr)));
        }
        out.line(&format!("END:{kind}"));
    }
    out.line("END:VTIMEZONE");
}

/// RFC 5545 UTC-OFFSET: ±HHMM, with seconds only when there are any; zero is "+0000".
fn utc_offset(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let abs = secs.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    if s == 0 {
        format!("{sign}{h:02}{m:02}")
    } else {
        format!("{sign}{h:02}{m:02}{s:02}")
    }
}

/// The feed's event for a schedule item extracted from a call: its title, the caller's own
/// words as the description, a UID stable across refreshes. `None` for an unreadable date.
pub fn event_for_schedule(
    s: &haru_store::companion::ScheduleItem,
    dtstamp: DateTime<Utc>,
) -> Option<CalEvent> {
    let date = NaiveDate::parse_from_str(&s.local_date, "%Y-%m-%d").ok()?;
    let tz: Tz = s.timezone.parse().unwrap_or(chrono_tz::Asia::Seoul);
    let start = match (s.all_day, s.local_time.as_deref()) {
        (false, Some(t)) => {
            let time = chrono::NaiveTime::parse_from_str(t, "%H:%M").ok()?;
            EventStart::Local {
                at: date.and_time(time),
                tz,
            }
        }
        _ => EventStart::AllDay(date),
    };
    Some(CalEvent {
        uid: format!("schedule-{}-{}@haru", s.id, s.call_sid),
        summary: s.title.clone(),
        description: s.quote.clone(),
        start,
        dtstamp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use icalendar::parser::{Component, read_calendar, unfold};

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .and_then(|date| date.and_hms_opt(h, mi, 0))
            .expect("valid test datetime")
    }

    fn stamp() -> DateTime<Utc> {
        local(2026, 6, 1, 12, 0).and_utc()
    }

    fn event(uid: &str, summary: &str, description: &str, start: EventStart) -> CalEvent {
        CalEvent {
            uid: uid.into(),
            summary: summary.into(),
            description: description.into(),
            start,
            dtstamp: stamp(),
        }
    }

    fn prop<'a>(c: &'a Component<'a>, name: &str) -> &'a str {
        c.find_prop(name)
            .map(|p| p.val.as_str())
            .unwrap_or_else(|| panic!("{} has no {name}", c.name.as_str()))
    }

    fn param<'a>(c: &'a Component<'a>, prop: &str, key: &str) -> Option<&'a str> {
        c.find_prop(prop)?
            .params
            .iter()
            .find(|p| p.key.as_str() == key)
            .and_then(|p| p.val.as_ref())
            .map(|v| v.as_str())
    }

    const QUOTE: &str = "내일 오후 3시에 병원, 정형외과; 무릎 검사\\ 받아요.\n딸이 데려다 준대요!";

    #[test]
    fn escape_text_escapes_specials_and_strips_controls() {
        assert_eq!(escape_text(r"a\b;c,d"), r"a\\b\;c\,d");
        assert_eq!(
            escape_text("one\ntwo\r\nthree\rfour"),
            r"one\ntwo\nthree\nfour"
        );
        assert_eq!(
            escape_text("bell\u{7}\u{0}\u{1b}[0m\u{7f}\u{85}"),
            "bell[0m"
        );
        assert_eq!(escape_text("tab\tstays"), "tab\tstays");
        assert_eq!(escape_text("콜론: 괜찮아요"), "콜론: 괜찮아요");
        assert_eq!(
            escape_text(r"\n"),
            r"\\n",
            "a literal backslash-n is not a newline"
        );
    }

    #[test]
    fn long_korean_line_folds_at_75_octets_and_unfolds_exactly() {
        let text = "오늘은 손녀가 놀러 와서 정말 기뻤어요. 같이 김치전을 부쳐 먹고 공원에서 산책도 했답니다. ".repeat(6);
        let line = format!("DESCRIPTION:{}", escape_text(&text));
        let mut folded = String::new();
        fold_into(&mut folded, &line);

        assert!(folded.ends_with("\r\n"));
        let physical: Vec<&str> = folded.trim_end_matches("\r\n").split("\r\n").collect();
        assert!(physical.len() > 5, "a long line really folds");
        for (i, l) in physical.iter().enumerate() {
            assert!(
                l.len() <= MAX_LINE_OCTETS,
                "line {i} has {} octets",
                l.len()
            );
            assert_eq!(
                i > 0,
                l.starts_with(' '),
                "continuations, and only they, start with a space"
            );
            assert!(!l.contains('\n') && !l.contains('\r'));
        }
        // Greedy: each non-final line is full up to the next character that would not fit.
        for w in physical.windows(2) {
            let next_char = w[1].chars().nth(1).map_or(0, char::len_utf8);
            assert!(w[0].len() + next_char > MAX_LINE_OCTETS);
        }
        assert_eq!(folded.replace("\r\n ", "").trim_end_matches("\r\n"), line);
    }

    #[test]
    fn folding_boundary_is_exactly_75_octets() {
        let mut out = String::new();
        fold_into(&mut out, &"a".repeat(75));
        assert_eq!(out, format!("{}\r\n", "a".repeat(75)));
        out.clear();
        fold_into(&mut out, &"a".repeat(76));
        assert_eq!(out, format!("{}\r\n a\r\n", "a".repeat(75)));
        out.clear();
        // 74 ASCII + a 3-octet syllable would be 77: the syllable moves whole to the next line.
        fold_into(&mut out, &format!("{}가", "a".repeat(74)));
        assert_eq!(out, format!("{}\r\n 가\r\n", "a".repeat(74)));
    }

    #[test]
    fn output_is_crlf_only() {
        let cal = calendar(
            "할머니 일정",
            &[event(
                "a@haru",
                "병원",
                QUOTE,
                EventStart::Local {
                    at: local(2026, 7, 1, 15, 0),
                    tz: chrono_tz::Asia::Seoul,
                },
            )],
        );
        assert!(cal.starts_with("BEGIN:VCALENDAR\r\n"));
        assert!(cal.ends_with("END:VCALENDAR\r\n"));
        let bytes = cal.as_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                assert_eq!(bytes.get(i.wrapping_sub(1)), Some(&b'\r'), "bare LF at {i}");
            }
            if *b == b'\r' {
                assert_eq!(bytes.get(i + 1), Some(&b'\n'), "bare CR at {i}");
            }
        }
        for l in cal.split("\r\n") {
            assert!(l.len() <= MAX_LINE_OCTETS, "{l:?}");
        }
    }

    #[test]
    fn real_parser_reads_events_back() {
        let seoul = chrono_tz::Asia::Seoul;
        let ny = chrono_tz::America::New_York;
        let events = vec![
            event(
                "schedule-1@haru",
                "병원 (정형외과)",
                QUOTE,
                EventStart::Local {
                    at: local(2026, 7, 15, 15, 0),
                    tz: seoul,
                },
            ),
            event(
                "schedule-2@haru",
                "김장, 시장",
                "배추 20포기; 고춧가루\\소금",
                EventStart::Local {
                    at: local(2026, 1, 20, 10, 30),
                    tz: seoul,
                },
            ),
            event(
                "schedule-3@haru",
                "Doctor, Dr. Kim",
                QUOTE,
                EventStart::Local {
                    at: local(2026, 7, 4, 9, 0),
                    tz: ny,
                },
            ),
            event(
                "schedule-4@haru",
                "Christmas dinner",
                "at Jenny's; bring pie,\nand the \\ good plates",
                EventStart::Local {
                    at: local(2026, 12, 24, 18, 0),
                    tz: ny,
                },
            ),
            event(
                "schedule-5@haru",
                "어린이날",
                "손주들 온대요, 정말; 기대돼\\요\n",
                EventStart::AllDay(NaiveDate::from_ymd_opt(2026, 5, 5).expect("date")),
            ),
        ];
        let text = calendar("할머니의 일정, 가족용", &events);
        let unfolded = unfold(&text);
        let cal = read_calendar(&unfolded).expect("parses");

        let top = |name: &str| {
            cal.properties
                .iter()
                .find(|p| p.name.as_str() == name)
                .map(|p| p.val.as_str())
        };
        assert_eq!(top("VERSION"), Some("2.0"));
        assert_eq!(top("PRODID"), Some(PRODID));
        assert_eq!(top("CALSCALE"), Some("GREGORIAN"));
        assert_eq!(top("X-WR-CALNAME"), Some("할머니의 일정, 가족용"));

        let vevents: Vec<&Component> = cal
            .components
            .iter()
            .filter(|c| c.name.as_str() == "VEVENT")
            .collect();
        assert_eq!(vevents.len(), events.len());
        let expected_start = [
            "20260715T150000",
            "20260120T103000",
            "20260704T090000",
            "20261224T180000",
        ];
        for (i, (got, want)) in vevents.iter().zip(&events).enumerate() {
            assert_eq!(prop(got, "UID"), want.uid);
            assert_eq!(prop(got, "SUMMARY"), want.summary);
            assert_eq!(
                prop(got, "DESCRIPTION"),
                want.description,
                "description round-trips"
            );
            assert_eq!(prop(got, "DTSTAMP"), "20260601T120000Z");
            match want.start {
                EventStart::Local { tz, .. } => {
                    assert_eq!(param(got, "DTSTART", "TZID"), Some(tz.name()));
                    assert_eq!(prop(got, "DTSTART"), expected_start[i]);
                    assert_eq!(prop(got, "DURATION"), "PT1H");
                }
                EventStart::AllDay(_) => {
                    assert_eq!(param(got, "DTSTART", "VALUE"), Some("DATE"));
                    assert_eq!(param(got, "DTSTART", "TZID"), None);
                    assert_eq!(prop(got, "DTSTART"), "20260505");
                    assert_eq!(prop(got, "DTEND"), "20260506");
                }
            }
        }

        // One VTIMEZONE per zone used, whose TZID matches the events'.
        let zones: Vec<&str> = cal
            .components
            .iter()
            .filter(|c| c.name.as_str() == "VTIMEZONE")
            .map(|c| prop(c, "TZID"))
            .collect();
        assert_eq!(zones, vec!["America/New_York", "Asia/Seoul"]);
    }

    fn vtimezone<'a>(cal: &'a icalendar::parser::Calendar<'a>, tzid: &str) -> &'a Component<'a> {
        cal.components
            .iter()
            .find(|c| c.name.as_str() == "VTIMEZONE" && prop(c, "TZID") == tzid)
            .unwrap_or_else(|| panic!("no VTIMEZONE {tzid}"))
    }

    #[test]
    fn new_york_and_seoul_vtimezones() {
        let text = calendar(
            "t",
            &[
                event(
                    "ny-s",
                    "s",
                    "",
                    EventStart::Local {
                        at: local(2026, 7, 4, 9, 0),
                        tz: chrono_tz::America::New_York,
                    },
                ),
                event(
                    "ny-w",
                    "w",
                    "",
                    EventStart::Local {
                        at: local(2026, 12, 24, 18, 0),
                        tz: chrono_tz::America::New_York,
                    },
                ),
                event(
                    "kr",
                    "k",
                    "",
                    EventStart::Local {
                        at: local(2026, 1, 20, 10, 30),
                        tz: chrono_tz::Asia::Seoul,
                    },
                ),
            ],
        );
        let unfolded = unfold(&text);
        let cal = read_calendar(&unfolded).expect("parses");

        let ny = vtimezone(&cal, "America/New_York");
        let obs: Vec<(&str, &str, &str, &str, &str)> = ny
            .components
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    prop(c, "DTSTART"),
                    prop(c, "TZOFFSETFROM"),
                    prop(c, "TZOFFSETTO"),
                    prop(c, "TZNAME"),
                )
            })
            .collect();
        assert_eq!(
            obs,
            vec![
                ("STANDARD", "20260101T000000", "-0500", "-0500", "EST"),
                ("DAYLIGHT", "20260308T020000", "-0500", "-0400", "EDT"),
                ("STANDARD", "20261101T020000", "-0400", "-0500", "EST"),
            ]
        );

        let kr = vtimezone(&cal, "Asia/Seoul");
        assert_eq!(kr.components.len(), 1, "no DST: a single observance");
        let only = &kr.components[0];
        assert_eq!(only.name.as_str(), "STANDARD");
        assert_eq!(prop(only, "TZOFFSETFROM"), "+0900");
        assert_eq!(prop(only, "TZOFFSETTO"), "+0900");
        assert_eq!(prop(only, "TZNAME"), "KST");
    }

    fn parse_offset(s: &str) -> i64 {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        let digits = &s[1..];
        let n = |r: std::ops::Range<usize>| {
            digits
                .get(r)
                .map_or(0, |d| d.parse::<i64>().expect("digits"))
        };
        sign * (n(0..2) * 3600 + n(2..4) * 60 + n(4..6))
    }

    #[test]
    fn vtimezone_observances_agree_with_chrono_tz_every_hour() {
        use chrono_tz::{America, Asia, Australia, Europe, Pacific};
        // Northern and southern DST, half-hour DST, a 45-minute zone, none, and non-adjacent years.
        let zones = [
            America::New_York,
            Europe::London,
            Australia::Sydney,
            Australia::Lord_Howe,
            Pacific::Chatham,
            Asia::Kolkata,
            Asia::Seoul,
            America::Santiago,
        ];
        let years = [2025, 2026, 2029];
        let mut events = Vec::new();
        for tz in zones {
            for y in years {
                events.push(event(
                    &format!("{}-{y}", tz.name()),
                    "s",
                    "",
                    EventStart::Local {
                        at: local(y, 6, 1, 12, 0),
                        tz,
                    },
                ));
            }
        }
        let text = calendar("t", &events);
        let unfolded = unfold(&text);
        let cal = read_calendar(&unfolded).expect("parses");

        for tz in zones {
            let vtz = vtimezone(&cal, tz.name());
            let mut onsets: Vec<(i64, i64)> = vtz
                .components
                .iter()
                .map(|c| {
                    let from = parse_offset(prop(c, "TZOFFSETFROM"));
                    let to = parse_offset(prop(c, "TZOFFSETTO"));
                    let start = NaiveDateTime::parse_from_str(prop(c, "DTSTART"), "%Y%m%dT%H%M%S")
                        .expect("DTSTART");
                    (start.and_utc().timestamp() - from, to)
                })
                .collect();
            assert!(
                onsets.windows(2).all(|w| w[0].0 < w[1].0),
                "{tz}: observances in order"
            );
            onsets.sort();
            for y in years {
                // Every hour of the local year, plus each instant just around a real change.
                let begin = local(y, 1, 1, 0, 0).and_utc().timestamp() - 14 * 3600;
                let end = local(y + 1, 1, 1, 0, 0).and_utc().timestamp() + 14 * 3600;
                let mut probes: Vec<i64> = (begin..end).step_by(3600).collect();
                probes.extend(
                    onsets
                        .iter()
                        .flat_map(|(t, _)| [t - 1, *t, t + 1])
                        .filter(|t| (begin..end).contains(t)),
                );
                for t in probes {
                    let local_year = DateTime::from_timestamp(t, 0)
                        .expect("t")
                        .with_timezone(&tz)
                        .year();
                    if local_year != y {
                        continue;
                    }
                    let ours = onsets
                        .iter()
                        .rev()
                        .find(|(onset, _)| *onset <= t)
                        .map(|(_, to)| *to);
                    let truth = tz.offset_from_utc_datetime(
                        &DateTime::from_timestamp(t, 0).expect("t").naive_utc(),
                    );
                    assert_eq!(
                        ours,
                        Some(i64::from(truth.fix().local_minus_utc())),
                        "{tz} at {t}"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_calendar_and_unrepresentable_years() {
        let text = calendar("비어 있음", &[]);
        let unfolded = unfold(&text);
        let cal = read_calendar(&unfolded).expect("parses");
        assert!(cal.components.is_empty());

        let far = NaiveDate::from_ymd_opt(10_000, 1, 1).expect("date");
        let text = calendar(
            "t",
            &[
                event("x", "x", "", EventStart::AllDay(far)),
                event("y", "y", "", EventStart::AllDay(NaiveDate::MAX)),
            ],
        );
        assert!(!text.contains("BEGIN:VEVENT"));
    }

    #[test]
    fn offsets_and_params_format() {
        assert_eq!(utc_offset(0), "+0000");
        assert_eq!(utc_offset(9 * 3600), "+0900");
        assert_eq!(utc_offset(-(4 * 3600)), "-0400");
        assert_eq!(utc_offset(5 * 3600 + 45 * 60), "+0545");
        assert_eq!(utc_offset(-(4 * 3600 + 56 * 60 + 2)), "-045602");
        assert_eq!(param_value("America/New_York"), "America/New_York");
        assert_eq!(param_value("a;b\"c\r\n"), "\"a;bc\"");
    }
}
