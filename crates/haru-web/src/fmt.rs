//! How times and durations read on a page.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A stored RFC 3339 time in `tz`, as `2026-12-08 19:05`; the raw text if unparsable.
pub fn local(ts: &str, tz: Tz) -> String {
    DateTime::parse_from_rfc3339(ts)
        .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|_| ts.to_string())
}

pub fn ms(v: Option<i64>) -> String {
    match v {
        Some(ms) if ms >= 10_000 => format!("{:.0} s", ms as f64 / 1000.0),
        Some(ms) if ms >= 1000 => format!("{:.2} s", ms as f64 / 1000.0),
        Some(ms) => format!("{ms} ms"),
        None => "—".into(),
    }
}

pub fn utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A call's length, from its stored start and end.
pub fn duration(started: &str, ended: Option<&str>) -> Option<String> {
    let a = DateTime::parse_from_rfc3339(started).ok()?;
    let b = DateTime::parse_from_rfc3339(ended?).ok()?;
    let s = (b - a).num_seconds().max(0);
    Some(format!("{}:{:02}", s / 60, s % 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_the_persons_zone() {
        let seoul: Tz = "Asia/Seoul".parse().unwrap();
        assert_eq!(local("2026-12-08T10:05:00.000Z", seoul), "2026-12-08 19:05");
        assert_eq!(local("not a time", seoul), "not a time");
        assert_eq!(ms(Some(850)), "850 ms");
        assert_eq!(ms(Some(1234)), "1.23 s");
        assert_eq!(
            duration("2026-12-08T10:05:00Z", Some("2026-12-08T10:07:05Z")).as_deref(),
            Some("2:05")
        );
        assert_eq!(duration("2026-12-08T10:05:00Z", None), None);
    }
}
