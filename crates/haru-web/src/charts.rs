//! Small SVG charts drawn on the server: no script, nothing to load.

use haru_companion::trends::Day;
use maud::{Markup, html};

/// A mood score (-1..1) as a y coordinate in a box `h` high (1 at the top).
fn y_of(score: f64, h: f64, pad: f64) -> f64 {
    let s = score.clamp(-1.0, 1.0);
    pad + (1.0 - (s + 1.0) / 2.0) * (h - 2.0 * pad)
}

/// Runs of consecutive days with a score, as polyline point lists (a day without a call
/// breaks the line rather than inventing a value).
fn runs(values: &[Option<f64>], w: f64, h: f64, pad: f64) -> Vec<String> {
    let n = values.len().max(2) as f64;
    let step = (w - 2.0 * pad) / (n - 1.0);
    let mut out = vec![];
    let mut cur = String::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(s) => {
                let x = pad + i as f64 * step;
                cur.push_str(&format!("{x:.1},{:.1} ", y_of(*s, h, pad)));
            }
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A one-line mood trend for the people list: one point per day.
pub fn sparkline(days: &[Day], label: &str) -> Markup {
    let (w, h, pad) = (120.0, 28.0, 3.0);
    let values: Vec<Option<f64>> = days.iter().map(|d| d.mood).collect();
    let n = values.len().max(2) as f64;
    let step = (w - 2.0 * pad) / (n - 1.0);
    html! {
        svg.spark width=(w) height=(h) viewBox={"0 0 " (w) " " (h)} role="img" aria-label=(label) {
            line.zero x1=(pad) x2=(w - pad) y1=(y_of(0.0, h, pad)) y2=(y_of(0.0, h, pad)) {}
            @for pts in runs(&values, w, h, pad) {
                polyline points=(pts) {}
            }
            @for (i, v) in values.iter().enumerate() {
                @if let Some(s) = v {
                    circle cx=(format!("{:.1}", pad + i as f64 * step)) cy=(format!("{:.1}", y_of(*s, h, pad))) r="1.8" {}
                }
            }
        }
    }
}

/// Mood per day over the range, with the first and last date under it.
pub fn mood_chart(days: &[Day], label: &str) -> Markup {
    let (w, h, pad) = (600.0, 160.0, 10.0);
    let values: Vec<Option<f64>> = days.iter().map(|d| d.mood).collect();
    let n = values.len().max(2) as f64;
    let step = (w - 2.0 * pad) / (n - 1.0);
    html! {
        figure.chart {
            svg width="100%" viewBox={"0 0 " (w) " " (h)} preserveAspectRatio="none" role="img" aria-label=(label) {
                line.zero x1=(pad) x2=(w - pad) y1=(y_of(0.0, h, pad)) y2=(y_of(0.0, h, pad)) {}
                line.grid x1=(pad) x2=(w - pad) y1=(y_of(1.0, h, pad)) y2=(y_of(1.0, h, pad)) {}
                line.grid x1=(pad) x2=(w - pad) y1=(y_of(-1.0, h, pad)) y2=(y_of(-1.0, h, pad)) {}
                @for pts in runs(&values, w, h, pad) {
                    polyline points=(pts) {}
                }
                @for (i, d) in days.iter().enumerate() {
                    @if let Some(s) = d.mood {
                        circle cx=(format!("{:.1}", pad + i as f64 * step)) cy=(format!("{:.1}", y_of(s, h, pad))) r="3" {
                            title { (d.date) ": " (format!("{s:+.2}")) }
                        }
                    }
                }
            }
            (axis(days))
        }
    }
}

/// Answered (up) and missed (down) calls per day.
pub fn answered_chart(days: &[Day], label: &str, answered: &str, missed: &str) -> Markup {
    let (w, h) = (600.0, 100.0);
    let mid = h / 2.0;
    let n = days.len().max(1) as f64;
    let slot = w / n;
    let bar = (slot * 0.7).max(1.0);
    let unit = (mid - 4.0)
        / days
            .iter()
            .map(|d| d.answered.max(d.missed))
            .max()
            .unwrap_or(1)
            .max(1) as f64;
    html! {
        figure.chart {
            svg width="100%" viewBox={"0 0 " (w) " " (h)} preserveAspectRatio="none" role="img" aria-label=(label) {
                line.zero x1="0" x2=(w) y1=(mid) y2=(mid) {}
                @for (i, d) in days.iter().enumerate() {
                    @let x = format!("{:.1}", i as f64 * slot + (slot - bar) / 2.0);
                    @if d.answered > 0 {
                        rect.answered x=(x) y=(format!("{:.1}", mid - d.answered as f64 * unit)) width=(format!("{bar:.1}")) height=(format!("{:.1}", d.answered as f64 * unit)) {
                            title { (d.date) ": " (d.answered) " " (answered) }
                        }
                    }
                    @if d.missed > 0 {
                        rect.missed x=(x) y=(mid) width=(format!("{bar:.1}")) height=(format!("{:.1}", d.missed as f64 * unit)) {
                            title { (d.date) ": " (d.missed) " " (missed) }
                        }
                    }
                }
            }
            (axis(days))
        }
    }
}

fn axis(days: &[Day]) -> Markup {
    html! {
        figcaption.axis {
            span { (days.first().map(|d| d.date.as_str()).unwrap_or("")) }
            span { (days.last().map(|d| d.date.as_str()).unwrap_or("")) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, mood: Option<f64>) -> Day {
        Day {
            date: date.into(),
            mood,
            answered: u32::from(mood.is_some()),
            missed: u32::from(mood.is_none()),
            calls: 1,
        }
    }

    #[test]
    fn a_day_without_a_score_breaks_the_line() {
        let v = [Some(1.0), Some(0.0), None, Some(-1.0)];
        let r = runs(&v, 100.0, 22.0, 1.0);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].split_whitespace().count(), 2);
        // 1 is drawn at the top, -1 at the bottom.
        assert!(r[0].starts_with("1.0,1.0"));
        assert!(r[1].trim().ends_with(",21.0"));
    }

    #[test]
    fn charts_carry_every_scored_day() {
        let days = vec![
            day("2026-12-01", Some(0.5)),
            day("2026-12-02", None),
            day("2026-12-03", Some(-0.25)),
        ];
        let svg = mood_chart(&days, "mood").into_string();
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("2026-12-01") && svg.contains("2026-12-03"));
        let bars = answered_chart(&days, "calls", "answered", "missed").into_string();
        assert_eq!(bars.matches("class=\"answered\"").count(), 2);
        assert_eq!(bars.matches("class=\"missed\"").count(), 1);
    }
}
