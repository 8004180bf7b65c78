//! A person's trends over a range of days: mood per day, calls answered and missed per day,
//! talk time and words per call.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use haru_store::companion::{CallSlot, CallSummary, SlotState};
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub date: String,
    /// Mean mood score of the day's calls (-1..1), if any was scored.
    pub mood: Option<f64>,
    pub answered: u32,
    pub missed: u32,
    pub calls: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallPoint {
    pub call_sid: String,
    pub date: String,
    pub talk_seconds: Option<i64>,
    pub words: i64,
    pub mood: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trends {
    pub from: String,
    pub to: String,
    pub timezone: String,
    pub days: Vec<Day>,
    pub calls: Vec<CallPoint>,
}

fn local(ts: &str, tz: Tz) -> Option<NaiveDate> {
    DateTime::parse_from_rfc3339(ts)
        .ok()
        .map(|t| t.with_timezone(&tz).date_naive())
}

/// Every day of [from, to] appears, with zeros where nothing happened.
pub fn trends(
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
    calls: &[CallSummary],
    slots: &[CallSlot],
) -> Trends {
    let mut days: BTreeMap<NaiveDate, (Vec<f64>, u32, u32, u32)> = BTreeMap::new();
    let mut d = from;
    while d <= to {
        days.insert(d, (vec![], 0, 0, 0));
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    let mut points = Vec::new();
    for c in calls {
        let Some(date) = local(&c.started_at, tz) else {
            continue;
        };
        if let Some(e) = days.get_mut(&date) {
            e.3 += 1;
            if let Some(m) = c.mood_score {
                e.0.push(m);
            }
        }
        let talk = c.ended_at.as_deref().and_then(|end| {
            let s = DateTime::parse_from_rfc3339(&c.started_at).ok()?;
            let e = DateTime::parse_from_rfc3339(end).ok()?;
            Some((e - s).num_seconds().max(0))
        });
        points.push(CallPoint {
            call_sid: c.call_sid.clone(),
            date: date.to_string(),
            talk_seconds: talk,
            words: c.user_words,
            mood: c.mood_score,
        });
    }
    for s in slots {
        let Ok(date) = NaiveDate::parse_from_str(&s.local_date, "%Y-%m-%d") else {
            continue;
        };
        if let Some(e) = days.get_mut(&date) {
            match s.state {
                SlotState::Answered => e.1 += 1,
                SlotState::Missed | SlotState::Machine => e.2 += 1,
                _ => {}
            }
        }
    }
    Trends {
        from: from.to_string(),
        to: to.to_string(),
        timezone: tz.name().to_string(),
        days: days
            .into_iter()
            .map(|(date, (moods, answered, missed, calls))| Day {
                date: date.to_string(),
                mood: (!moods.is_empty()).then(|| moods.iter().sum::<f64>() / moods.len() as f64),
                answered,
                missed,
                calls,
            })
            .collect(),
        calls: points,
    }
}

/// The UTC instants bounding local days [from, to] in `tz` (for the store's queries).
pub fn utc_bounds(tz: Tz, from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = crate::plan::resolve_local(tz, from, chrono::NaiveTime::MIN);
    let end_date = to.succ_opt().unwrap_or(to);
    let end = crate::plan::resolve_local(tz, end_date, chrono::NaiveTime::MIN);
    (start, end)
}
