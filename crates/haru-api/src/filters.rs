//! Query parameters shared by the API and the CLI: date bounds and paging.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

fn stored(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn local_midnight(d: NaiveDate, tz: Tz) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A `from`/`until` bound as the store's timestamp. A date (`2026-11-24`) is a local day
/// in `tz`, and `until` includes it; an RFC 3339 instant is taken as is (`until`
/// exclusive).
pub fn bound(name: &str, value: &str, tz: Tz, until: bool) -> Result<String, String> {
    let v = value.trim();
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        let day = if until { d.succ_opt() } else { Some(d) };
        return day
            .and_then(|d| local_midnight(d, tz))
            .map(stored)
            .ok_or_else(|| format!("`{name}` date {v} is out of range"));
    }
    DateTime::parse_from_rfc3339(v)
        .map(|t| stored(t.with_timezone(&Utc)))
        .map_err(|_| format!("`{name}` must be YYYY-MM-DD or an RFC 3339 time, got `{v}`"))
}

/// Checks a page size: 1..=500, default 50.
pub fn limit(v: Option<i64>) -> Result<i64, String> {
    match v {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "`limit` must be between 1 and {MAX_LIMIT}, got {n}"
        )),
    }
}

/// Far beyond any real table; keeps `offset + limit` and SQLite's OFFSET in range.
const MAX_OFFSET: i64 = 1_000_000_000;

pub fn offset(v: Option<i64>) -> Result<i64, String> {
    match v {
        None => Ok(0),
        Some(n) if (0..=MAX_OFFSET).contains(&n) => Ok(n),
        Some(n) => Err(format!(
            "`offset` must be between 0 and {MAX_OFFSET}, got {n}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_bounded_so_page_arithmetic_cannot_overflow() {
        assert_eq!(offset(Some(i64::MAX)).map_err(|_| ()), Err(()));
        assert_eq!(offset(Some(-1)).map_err(|_| ()), Err(()));
        assert_eq!(offset(Some(MAX_OFFSET)), Ok(MAX_OFFSET));
        assert!(MAX_OFFSET.checked_add(MAX_LIMIT + 1).is_some());
    }

    #[test]
    fn dates_are_local_days() {
        let tz = chrono_tz::Asia::Seoul;
        assert_eq!(
            bound("from", "2026-11-24", tz, false),
            Ok("2026-11-23T15:00:00.000Z".into())
        );
        assert_eq!(
            bound("until", "2026-11-24", tz, true),
            Ok("2026-11-24T15:00:00.000Z".into())
        );
        assert_eq!(
            bound("from", "2026-11-24T12:00:00+09:00", tz, false),
            Ok("2026-11-24T03:00:00.000Z".into())
        );
        assert!(bound("from", "yesterday", tz, false).is_err());
        assert!(limit(Some(0)).is_err());
        assert!(offset(Some(-1)).is_err());
    }
}
