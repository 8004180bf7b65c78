//! A latency histogram with its CDF, as a self-contained SVG (no plotting dependency).

use std::fmt::Write as _;

const W: f64 = 720.0;
const H: f64 = 360.0;
const L: f64 = 60.0;
const R: f64 = 60.0;
const T: f64 = 40.0;
const B: f64 = 50.0;

/// Histogram bars (left axis: calls) and the cumulative distribution (right axis: %),
/// with p50/p95/p99 marked.
pub fn latency_svg(title: &str, latencies_ms: &[u64]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    if latencies_ms.is_empty() {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">no replies measured</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return s;
    }
    let mut v = latencies_ms.to_vec();
    v.sort_unstable();
    let max = v[v.len() - 1].max(1);
    // Round the axis up to a readable step.
    let step = [10u64, 20, 50, 100, 200, 250, 500, 1000, 2000, 5000]
        .into_iter()
        .find(|st| max / st <= 10)
        .unwrap_or(10_000);
    let x_max = (max / step + 1) * step;
    let bins = 40usize;
    let width = x_max as f64 / bins as f64;
    let mut counts = vec![0usize; bins];
    for &l in &v {
        let i = ((l as f64 / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    let c_max = counts.iter().copied().max().unwrap_or(1).max(1);
    let pw = W - L - R;
    let ph = H - T - B;
    let x = |ms: f64| L + ms / x_max as f64 * pw;
    let y_count = |c: f64| T + ph - c / c_max as f64 * ph;
    let y_pct = |p: f64| T + ph - p / 100.0 * ph;

    // Axes and grid.
    let _ = writeln!(
        s,
        r##"<g stroke="#999" fill="none"><rect x="{L}" y="{T}" width="{pw}" height="{ph}"/></g>"##
    );
    let mut t = 0;
    while t <= x_max {
        let xx = x(t as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{}" x2="{xx:.1}" y2="{}" stroke="#ddd"/><text x="{xx:.1}" y="{}" text-anchor="middle">{t}</text>"##,
            T,
            T + ph,
            T + ph + 16.0
        );
        t += step;
    }
    for p in [0, 25, 50, 75, 100] {
        let yy = y_pct(p as f64);
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{:.1}" fill="#c33">{p}%</text>"##,
            L + pw + 6.0,
            yy + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">end of speech → first bot audio (ms), n = {}</text>"#,
        L + pw / 2.0,
        H - 10.0,
        v.len()
    );
    let _ = writeln!(
        s,
        r#"<text x="14" y="{}" transform="rotate(-90 14 {})" text-anchor="middle">replies</text>"#,
        T + ph / 2.0,
        T + ph / 2.0
    );
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}">{c_max}</text>"#,
        L - 30.0,
        T + 4.0
    );

    // Histogram.
    let _ = writeln!(s, r##"<g fill="#4a7ebb">"##);
    for (i, &c) in counts.iter().enumerate() {
        if c == 0 {
            continue;
        }
        let x0 = x(i as f64 * width);
        let y0 = y_count(c as f64);
        let _ = writeln!(
            s,
            r#"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}"/>"#,
            (pw / bins as f64 - 1.0).max(1.0),
            T + ph - y0
        );
    }
    let _ = writeln!(s, "</g>");

    // CDF as a step line.
    let mut path = format!("M{:.1},{:.1}", x(v[0] as f64), y_pct(0.0));
    for (i, &l) in v.iter().enumerate() {
        let p = (i + 1) as f64 / v.len() as f64 * 100.0;
        let _ = write!(path, " L{:.1},{:.1}", x(l as f64), y_pct(p));
    }
    let _ = writeln!(
        s,
        r##"<path d="{path}" fill="none" stroke="#c33" stroke-width="2"/>"##
    );

    // Percentile markers.
    for (k, (name, p)) in [("p50", 0.50), ("p95", 0.95), ("p99", 0.99)]
        .into_iter()
        .enumerate()
    {
        let i = ((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        let xx = x(v[i] as f64);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{T}" x2="{xx:.1}" y2="{}" stroke="#333" stroke-dasharray="4 3"/><text x="{:.1}" y="{}" font-size="11">{name} {} ms</text>"##,
            T + ph,
            xx + 3.0,
            T + 12.0 + 13.0 * k as f64,
            v[i]
        );
    }
    s.push_str("</svg>\n");
    s
}

fn escape(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_bars_cdf_and_markers() {
        let v: Vec<u64> = (0..200).map(|i| 600 + (i * 7) % 300).collect();
        let svg = latency_svg("t <x>", &v);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("p95") && svg.contains("<path") && svg.contains("t &lt;x&gt;"));
        assert!(latency_svg("empty", &[]).contains("no replies"));
    }
}
