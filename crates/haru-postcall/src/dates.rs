//! Calendar maths for extracted schedules, done here rather than by the LLM.
//!
//! The model only transcribes *what was said* into a structured expression
//! ("내일" → `day_offset: 1`, "다음 주 금요일" → `weekday: friday, week_offset: 1`);
//! this module resolves it against a reference local date. Weeks start on Monday
//! (the Korean and ISO convention), so "this Friday" is the Friday of the reference
//! date's Monday-to-Sunday week.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// When an item happens, as the model read it from the transcript. At most one of the
/// date forms should be set; if several are, the most explicit wins (`date`, then
/// `month`/`day`, then `weekday`, then `day_offset`). None set means the reference day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DateExpr {
    /// Days after the reference date: 0 today, 1 tomorrow ("내일"), 2 "모레".
    pub day_offset: Option<i64>,
    /// English weekday name, lower case.
    pub weekday: Option<String>,
    /// With `weekday`: 0 this week, 1 next week, -1 last week. Without it, the next
    /// such weekday on or after the reference date.
    pub week_offset: Option<i64>,
    /// An explicit `YYYY-MM-DD`, only when the speaker said the year.
    pub date: Option<String>,
    /// Month and day without a year ("12월 3일"): the next such date on or after the
    /// reference date.
    pub month: Option<u32>,
    pub day: Option<u32>,
}

/// A resolved moment: a local date, and a time unless the item is all-day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub date: NaiveDate,
    pub time: Option<NaiveTime>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DateError(pub String);

fn err(msg: impl Into<String>) -> DateError {
    DateError(msg.into())
}

/// Far enough for any real plan; keeps arithmetic on model output from overflowing.
const MAX_DAYS: i64 = 3660;

pub fn parse_weekday(s: &str) -> Option<Weekday> {
    Some(match s.trim().to_ascii_lowercase().as_str() {
        "monday" | "mon" => Weekday::Mon,
        "tuesday" | "tue" => Weekday::Tue,
        "wednesday" | "wed" => Weekday::Wed,
        "thursday" | "thu" => Weekday::Thu,
        "friday" | "fri" => Weekday::Fri,
        "saturday" | "sat" => Weekday::Sat,
        "sunday" | "sun" => Weekday::Sun,
        _ => return None,
    })
}

/// `"19:00"` or `"7:05"`, 24-hour.
pub fn parse_time(s: &str) -> Result<NaiveTime, DateError> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map_err(|_| err(format!("time `{s}` is not HH:MM (24-hour)")))
}

fn add_days(d: NaiveDate, n: i64) -> Result<NaiveDate, DateError> {
    if n.abs() > MAX_DAYS {
        return Err(err(format!("offset of {n} days is out of range")));
    }
    d.checked_add_signed(Duration::days(n))
        .ok_or_else(|| err("date out of range"))
}

/// Resolves `expr` against `reference` (the local date the words were spoken on).
pub fn resolve_date(expr: &DateExpr, reference: NaiveDate) -> Result<NaiveDate, DateError> {
    if let Some(s) = &expr.date {
        return NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| err(format!("date `{s}` is not YYYY-MM-DD")));
    }
    if let (Some(m), Some(d)) = (expr.month, expr.day) {
        let this_year = NaiveDate::from_ymd_opt(reference.year(), m, d);
        let next_year = NaiveDate::from_ymd_opt(reference.year() + 1, m, d);
        return match (this_year, next_year) {
            (Some(x), _) if x >= reference => Ok(x),
            (_, Some(x)) => Ok(x),
            // 29 February with no leap year next: try the one after that is overkill; refuse.
            _ => Err(err(format!("no date {m}/{d} after {reference}"))),
        };
    }
    if let Some(w) = &expr.weekday {
        let wd = parse_weekday(w).ok_or_else(|| err(format!("unknown weekday `{w}`")))?;
        return match expr.week_offset {
            Some(weeks) => {
                let monday = add_days(
                    reference,
                    -i64::from(reference.weekday().num_days_from_monday()),
                )?;
                add_days(
                    monday,
                    weeks.saturating_mul(7) + i64::from(wd.num_days_from_monday()),
                )
            }
            None => {
                let ahead = (i64::from(wd.num_days_from_monday())
                    - i64::from(reference.weekday().num_days_from_monday()))
                .rem_euclid(7);
                add_days(reference, ahead)
            }
        };
    }
    add_days(reference, expr.day_offset.unwrap_or(0))
}

/// Resolves a date expression and an optional `HH:MM`.
pub fn resolve(
    expr: &DateExpr,
    time: Option<&str>,
    reference: NaiveDate,
) -> Result<Resolved, DateError> {
    let date = resolve_date(expr, reference)?;
    let time = match time.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(parse_time(t)?),
        None => None,
    };
    Ok(Resolved { date, time })
}

/// The local date of an instant in `tz`.
pub fn local_date(at: DateTime<Utc>, tz: Tz) -> NaiveDate {
    at.with_timezone(&tz).date_naive()
}

/// Parses the store's RFC 3339 timestamps.
pub fn parse_stored(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// The first instant of a local wall-clock time; a time skipped by a DST jump moves
/// forward to the first valid minute after it.
fn local_instant(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Tz>> {
    let mut t = date.and_time(time);
    for _ in 0..180 {
        if let Some(x) = tz.from_local_datetime(&t).earliest() {
            return Some(x);
        }
        t += Duration::minutes(1);
    }
    None
}

impl Resolved {
    /// `2026-11-25T19:00+09:00`, or `2026-11-25` when all-day.
    pub fn starts_at(&self, tz: Tz) -> String {
        match self.time.and_then(|t| local_instant(tz, self.date, t)) {
            Some(at) => at.format("%Y-%m-%dT%H:%M%:z").to_string(),
            None => self.date.format("%Y-%m-%d").to_string(),
        }
    }

    /// When the item stops being upcoming: its start, or the end of its local day.
    pub fn until_utc(&self, tz: Tz) -> Option<DateTime<Utc>> {
        let at = match self.time {
            Some(t) => local_instant(tz, self.date, t)?,
            None => local_instant(tz, self.date.succ_opt()?, NaiveTime::MIN)?,
        };
        Some(at.with_timezone(&Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("test date")
    }

    fn offset(n: i64) -> DateExpr {
        DateExpr {
            day_offset: Some(n),
            ..Default::default()
        }
    }

    fn weekday(w: &str, weeks: Option<i64>) -> DateExpr {
        DateExpr {
            weekday: Some(w.into()),
            week_offset: weeks,
            ..Default::default()
        }
    }

    #[test]
    fn tomorrow_evening_in_seoul() {
        let r = resolve(&offset(1), Some("19:00"), d("2026-11-24")).expect("resolves");
        assert_eq!(
            r.starts_at(chrono_tz::Asia::Seoul),
            "2026-11-25T19:00+09:00"
        );
    }

    #[test]
    fn offsets_cross_month_and_year_ends() {
        assert_eq!(
            resolve_date(&offset(1), d("2026-11-30")),
            Ok(d("2026-12-01"))
        );
        assert_eq!(
            resolve_date(&offset(2), d("2026-12-31")),
            Ok(d("2027-01-02"))
        );
        assert_eq!(
            resolve_date(&offset(1), d("2028-02-28")),
            Ok(d("2028-02-29"))
        );
    }

    #[test]
    fn weekdays_this_and_next_week() {
        // 2026-12-30 is a Wednesday.
        assert_eq!(
            resolve_date(&weekday("friday", Some(0)), d("2026-12-30")),
            Ok(d("2027-01-01"))
        );
        assert_eq!(
            resolve_date(&weekday("monday", Some(1)), d("2026-12-30")),
            Ok(d("2027-01-04"))
        );
        // Bare weekday: the next one, today included.
        assert_eq!(
            resolve_date(&weekday("wednesday", None), d("2026-12-30")),
            Ok(d("2026-12-30"))
        );
        assert_eq!(
            resolve_date(&weekday("tuesday", None), d("2026-12-30")),
            Ok(d("2027-01-05"))
        );
    }

    #[test]
    fn month_day_without_year_rolls_over() {
        let e = DateExpr {
            month: Some(1),
            day: Some(3),
            ..Default::default()
        };
        assert_eq!(resolve_date(&e, d("2026-12-20")), Ok(d("2027-01-03")));
        let e = DateExpr {
            month: Some(12),
            day: Some(3),
            ..Default::default()
        };
        assert_eq!(resolve_date(&e, d("2026-11-24")), Ok(d("2026-12-03")));
    }

    #[test]
    fn all_day_items_last_until_local_midnight() {
        let r = resolve(&offset(0), None, d("2026-11-24")).expect("resolves");
        assert_eq!(r.starts_at(chrono_tz::Asia::Seoul), "2026-11-24");
        assert_eq!(
            r.until_utc(chrono_tz::Asia::Seoul).map(|t| t.to_rfc3339()),
            Some("2026-11-24T15:00:00+00:00".into())
        );
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert!(resolve(&offset(1), Some("7pm"), d("2026-11-24")).is_err());
        assert!(resolve_date(&offset(i64::MAX), d("2026-11-24")).is_err());
        assert!(resolve_date(&weekday("someday", None), d("2026-11-24")).is_err());
        let e = DateExpr {
            date: Some("2026-13-01".into()),
            ..Default::default()
        };
        assert!(resolve_date(&e, d("2026-11-24")).is_err());
    }

    #[test]
    fn dst_gap_moves_forward() {
        // New York springs forward at 02:00 on 2027-03-14.
        let r = resolve(&offset(0), Some("02:30"), d("2027-03-14")).expect("resolves");
        assert_eq!(
            r.starts_at(chrono_tz::America::New_York),
            "2027-03-14T03:00-04:00"
        );
    }
}
