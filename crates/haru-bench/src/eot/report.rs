//! The report: per group and policy family, eot-bench's figures and the frontier SVG.

use serde::Serialize;

/// One point of a sweep: a policy with its knobs, scored on one group of turns.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub policy: String,
    pub group: String,
    pub turns: usize,
    pub false_cutoff_rate: f64,
    pub mean_latency_ms: f64,
    pub missed: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub policy: String,
    pub group: String,
    /// Lowest false cut-off rate with mean latency ≤ 300 / 600 ms (None: no such point).
    pub fcr_at_300ms: Option<f64>,
    pub fcr_at_600ms: Option<f64>,
    /// Lowest mean latency with ≤ 5 % / 10 % false cut-offs.
    pub latency_at_5pct: Option<f64>,
    pub latency_at_10pct: Option<f64>,
    /// The default configuration's point.
    pub default_point: Option<Point>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EotReport {
    pub stt_delay_ms: u64,
    /// Mean CPU time of one audio turn model verdict (None: no model installed).
    pub model_ms: Option<f64>,
    /// The model's CPU spread over the set's 20 ms frames of caller audio (ms per frame).
    pub model_ms_per_frame: Option<f64>,
    pub points: Vec<Point>,
    pub summaries: Vec<Summary>,
}

impl EotReport {
    /// Per (family, set): the points no other point beats on both false cut-offs and
    /// latency, by latency.
    pub fn frontiers(&self) -> Vec<Vec<&Point>> {
        let family = |p: &Point| p.policy.split(' ').next().unwrap_or("").to_string();
        let mut keys: Vec<(String, String)> = self
            .points
            .iter()
            .map(|p| (family(p), p.group.clone()))
            .collect();
        keys.dedup();
        keys.iter()
            .map(|(f, g)| {
                let pts: Vec<&Point> = self
                    .points
                    .iter()
                    .filter(|p| &family(p) == f && &p.group == g && p.mean_latency_ms.is_finite())
                    .collect();
                let mut front: Vec<&Point> = pts
                    .iter()
                    .copied()
                    .filter(|p| {
                        !pts.iter().any(|q| {
                            q.false_cutoff_rate <= p.false_cutoff_rate
                                && q.mean_latency_ms <= p.mean_latency_ms
                                && (q.false_cutoff_rate < p.false_cutoff_rate
                                    || q.mean_latency_ms < p.mean_latency_ms)
                        })
                    })
                    .collect();
                front.sort_by(|a, b| a.mean_latency_ms.total_cmp(&b.mean_latency_ms));
                front.dedup_by(|a, b| {
                    a.mean_latency_ms == b.mean_latency_ms
                        && a.false_cutoff_rate == b.false_cutoff_rate
                });
                front
            })
            .collect()
    }

    pub fn table(&self) -> String {
        let pct = |v: Option<f64>| v.map_or("-".into(), |v| format!("{:.1} %", v * 100.0));
        let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0} ms"));
        let model = self
            .model_ms
            .map_or("no audio turn model installed".to_string(), |ms| {
                format!(
                    "Smart Turn v3.2 {ms:.0} ms per verdict = {:.2} ms per 20 ms frame of speech",
                    self.model_ms_per_frame.unwrap_or(0.0)
                )
            });
        let mut s = format!(
            "end of turn, ideal STT after {} ms, {model}\n\
             | set | policy | FCR @300 ms | FCR @600 ms | latency @5 % | latency @10 % | default: FCR / latency |\n\
             |---|---|---:|---:|---:|---:|---:|\n",
            self.stt_delay_ms
        );
        for x in &self.summaries {
            let d = x.default_point.as_ref().map_or("-".to_string(), |p| {
                format!(
                    "{:.1} % / {:.0} ms",
                    p.false_cutoff_rate * 100.0,
                    p.mean_latency_ms
                )
            });
            s += &format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                x.group,
                x.policy,
                pct(x.fcr_at_300ms),
                pct(x.fcr_at_600ms),
                ms(x.latency_at_5pct),
                ms(x.latency_at_10pct),
                d
            );
        }
        s
    }

    /// False cut-off rate against mean latency, every point, one colour per policy and
    /// language.
    pub fn svg(&self) -> String {
        let (w, h, m) = (640.0, 420.0, 50.0);
        let max_lat = 2500.0;
        let x = |lat: f64| m + (lat.min(max_lat) / max_lat) * (w - 2.0 * m);
        let y = |fcr: f64| h - m - fcr.min(1.0) * (h - 2.0 * m);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
             <text x=\"{m}\" y=\"20\" font-size=\"14\">haru end of turn: Pareto frontiers, false cut-offs vs latency</text>\
             <line x1=\"{m}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>\
             <line x1=\"{m}\" y1=\"{m}\" x2=\"{m}\" y2=\"{}\" stroke=\"black\"/>\
             <text x=\"{}\" y=\"{}\">mean latency after the true end (ms)</text>\
             <text x=\"8\" y=\"{m}\">FCR</text>",
            h - m,
            w - m,
            h - m,
            h - m,
            w / 2.0 - 80.0,
            h - 15.0
        );
        for t in [0.0, 500.0, 1000.0, 1500.0, 2000.0, 2500.0] {
            s += &format!(
                "<text x=\"{}\" y=\"{}\">{t}</text>",
                x(t) - 10.0,
                h - m + 14.0
            );
        }
        for f in [0.0, 0.25, 0.5, 0.75, 1.0] {
            s += &format!(
                "<text x=\"20\" y=\"{}\">{:.0}%</text>",
                y(f) + 4.0,
                f * 100.0
            );
        }
        let colour = |p: &Point| {
            let family = p.policy.split(' ').next().unwrap_or("");
            match (family, p.group.as_str()) {
                ("silence", "ko") => "#d62728",
                ("silence", "en") => "#ff9896",
                ("silence", _) => "#8c564b",
                ("words", "ko") => "#1f77b4",
                ("words", "en") => "#aec7e8",
                ("words", _) => "#17becf",
                (_, "ko") => "#2ca02c",
                (_, "en") => "#98df8a",
                _ => "#bcbd22",
            }
        };
        // Each family's Pareto frontier per set, as a line through its points.
        for front in self.frontiers() {
            let Some(first) = front.first() else {
                continue;
            };
            let path: Vec<String> = front
                .iter()
                .map(|p| format!("{:.1},{:.1}", x(p.mean_latency_ms), y(p.false_cutoff_rate)))
                .collect();
            s += &format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\"/>",
                path.join(" "),
                colour(first)
            );
            for p in &front {
                s += &format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{}\"><title>{} {}: {:.1} % at {:.0} ms</title></circle>",
                    x(p.mean_latency_ms),
                    y(p.false_cutoff_rate),
                    colour(p),
                    p.group,
                    p.policy,
                    p.false_cutoff_rate * 100.0,
                    p.mean_latency_ms
                );
            }
        }
        for (i, (label, c)) in [
            ("silence, ko", "#d62728"),
            ("silence, en", "#ff9896"),
            ("silence, en-human", "#8c564b"),
            ("words, ko", "#1f77b4"),
            ("words, en", "#aec7e8"),
            ("words, en-human", "#17becf"),
            ("words+sound, ko", "#2ca02c"),
            ("words+sound, en", "#98df8a"),
            ("words+sound, en-human", "#bcbd22"),
        ]
        .iter()
        .enumerate()
        {
            let yy = m + 10.0 + i as f64 * 16.0;
            s += &format!(
                "<circle cx=\"{}\" cy=\"{yy}\" r=\"4\" fill=\"{c}\"/><text x=\"{}\" y=\"{}\">{label}</text>",
                w - 170.0,
                w - 160.0,
                yy + 4.0
            );
        }
        s + "</svg>"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(policy: &str, fcr: f64, lat: f64) -> Point {
        Point {
            policy: policy.into(),
            group: "ko".into(),
            turns: 20,
            false_cutoff_rate: fcr,
            mean_latency_ms: lat,
            missed: 0,
        }
    }

    #[test]
    fn the_frontier_keeps_only_undominated_points_per_family() {
        let r = EotReport {
            stt_delay_ms: 200,
            model_ms: None,
            model_ms_per_frame: None,
            points: vec![
                pt("silence a", 0.5, 600.0),
                pt("silence b", 0.6, 700.0), // worse on both: dropped
                pt("silence c", 0.1, 1200.0),
                pt("words a", 0.1, 700.0),
            ],
            summaries: vec![],
        };
        let f = r.frontiers();
        assert_eq!(f.len(), 2);
        let names: Vec<&str> = f[0].iter().map(|p| p.policy.as_str()).collect();
        assert_eq!(names, ["silence a", "silence c"]);
        assert_eq!(f[1].len(), 1);
        assert!(r.svg().contains("<polyline"));
    }
}
