//! Sweep: raise the number of concurrent calls until the pass rule fails.

use anyhow::{Result, bail};
use serde::Serialize;

use crate::procstat;
use crate::report::BenchReport;
use crate::run::{BenchOptions, ServerMode, run_bench};

/// The default ladder of concurrent calls.
pub const STEPS: &[usize] = &[10, 25, 50, 100, 200, 400, 800, 1000, 1200, 1600, 2000, 3000];

/// p95 may grow to this multiple of the single-call p95 before a step fails.
pub const P95_FACTOR: f64 = 1.5;

#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Template for every step (its `calls` is replaced by the step).
    pub base: BenchOptions,
    pub steps: Vec<usize>,
    /// Turns in the single-call baseline (more turns: a steadier p95).
    pub baseline_turns: usize,
    /// Pin the server to core 0 and this process to core 1 (needs ≥ 2 CPUs).
    pub pin: bool,
    /// Run every step even after one failed (the answer is still the last N before the
    /// first failure); shows how far past the limit haru degrades gracefully.
    pub keep_going: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepStep {
    pub calls: usize,
    pub passed: bool,
    /// Why the step failed (empty when it passed).
    pub failures: Vec<String>,
    pub report: BenchReport,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepReport {
    pub single_call: BenchReport,
    pub single_call_p95_ms: f64,
    pub p95_limit_ms: f64,
    pub pinned: bool,
    pub steps: Vec<SweepStep>,
    /// Largest N whose step passed; `None` if even the first failed.
    pub max_passing_calls: Option<usize>,
    pub notes: Vec<String>,
}

/// The pass rule: every call completes, no underruns, p95 ≤ 1.5 × single-call p95.
pub fn judge(r: &BenchReport, p95_limit_ms: f64) -> Vec<String> {
    let mut f = Vec::new();
    if r.calls_completed < r.calls {
        f.push(format!(
            "{} of {} calls did not complete",
            r.calls - r.calls_completed,
            r.calls
        ));
    }
    if r.underrun_ms_total > 0 {
        f.push(format!(
            "{} ms of playout underruns in {} calls",
            r.underrun_ms_total, r.calls_with_underruns
        ));
    }
    match &r.latency_ms {
        Some(p) if p.p95 > p95_limit_ms => f.push(format!(
            "p95 {:.0} ms > limit {:.0} ms",
            p.p95, p95_limit_ms
        )),
        Some(_) => {}
        None => f.push("no reply latency measured".into()),
    }
    f
}

pub async fn run_sweep(opts: &SweepOptions) -> Result<SweepReport> {
    let mut notes = Vec::new();
    let mut base = opts.base.clone();
    let pinned = opts.pin && procstat::cpus() >= 2;
    if opts.pin && !pinned {
        notes.push("fewer than 2 CPUs: server and callers share cores (not pinned)".into());
    }
    if pinned {
        // Callers + fakes on core 1, server on core 0: the server's numbers are per core.
        procstat::pin_this_process(1)?;
        match &mut base.server {
            ServerMode::Child { pin_core, .. } => *pin_core = Some(0),
            _ => notes
                .push("server not started as a child: it cannot be pinned to its own core".into()),
        }
    }
    let single = run_bench(&BenchOptions {
        calls: 1,
        turns: opts.baseline_turns.max(1),
        ramp_ms: Some(0),
        ..base.clone()
    })
    .await?;
    let Some(single_p95) = single.latency_ms.as_ref().map(|p| p.p95) else {
        bail!(
            "the single-call baseline got no reply: {}",
            single
                .errors
                .first()
                .map(|e| e.error.as_str())
                .unwrap_or("unknown error")
        );
    };
    let limit = single_p95 * P95_FACTOR;
    if base.progress {
        eprintln!("single call p95 {single_p95:.0} ms -> step limit {limit:.0} ms");
    }
    let mut steps = Vec::new();
    let mut max_passing = None;
    for &n in &opts.steps {
        let r = run_bench(&BenchOptions {
            calls: n,
            ..base.clone()
        })
        .await?;
        let failures = judge(&r, limit);
        let passed = failures.is_empty();
        if base.progress {
            eprintln!(
                "N={n}: {} (p95 {} ms, completed {}/{n}, underruns {} ms)",
                if passed { "pass" } else { "FAIL" },
                r.latency_ms
                    .as_ref()
                    .map(|p| format!("{:.0}", p.p95))
                    .unwrap_or("-".into()),
                r.calls_completed,
                r.underrun_ms_total
            );
        }
        steps.push(SweepStep {
            calls: n,
            passed,
            failures,
            report: r,
        });
        if !passed {
            if opts.keep_going {
                continue;
            }
            break;
        }
        if steps.iter().all(|s: &SweepStep| s.passed) {
            max_passing = Some(n);
        }
    }
    Ok(SweepReport {
        single_call: single,
        single_call_p95_ms: single_p95,
        p95_limit_ms: limit,
        pinned,
        steps,
        max_passing_calls: max_passing,
        notes,
    })
}

impl SweepReport {
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "sweep: single-call p95 {:.0} ms, pass limit {:.0} ms; server {}",
            self.single_call_p95_ms,
            self.p95_limit_ms,
            if self.pinned {
                "pinned to core 0, callers + fakes to core 1"
            } else {
                "not pinned"
            }
        );
        let _ = writeln!(
            s,
            "{:>6} {:>5} {:>9} {:>6} {:>6} {:>6} {:>6} {:>9} {:>7} {:>8} {:>9} {:>9}  result",
            "N",
            "peak",
            "completed",
            "p50",
            "p95",
            "p99",
            "max",
            "underrun",
            "CPU%avg",
            "CPU%peak",
            "KB/call",
            // The caller side's own load: a saturated bench measures itself.
            "bench%pk"
        );
        for st in &self.steps {
            let r = &st.report;
            let p = |f: fn(&crate::Percentiles) -> f64| {
                r.latency_ms
                    .as_ref()
                    .map(|x| format!("{:.0}", f(x)))
                    .unwrap_or("-".into())
            };
            let (cpu, cpu_peak, kb) = r
                .server
                .as_ref()
                .map(|u| {
                    (
                        format!("{:.1}", u.cpu_percent_avg),
                        format!("{:.1}", u.cpu_percent_peak),
                        format!("{:.0}", u.rss_per_call_kb),
                    )
                })
                .unwrap_or(("-".into(), "-".into(), "-".into()));
            let _ = writeln!(
                s,
                "{:>6} {:>5} {:>9} {:>6} {:>6} {:>6} {:>6} {:>9} {:>7} {:>8} {:>9} {:>9}  {}",
                st.calls,
                r.peak_concurrent_calls,
                format!("{}/{}", r.calls_completed, r.calls),
                p(|x| x.p50),
                p(|x| x.p95),
                p(|x| x.p99),
                p(|x| x.max),
                r.underrun_ms_total,
                cpu,
                cpu_peak,
                kb,
                r.bench
                    .as_ref()
                    .map(|b| format!("{:.0}", b.cpu_percent_peak))
                    .unwrap_or("-".into()),
                if st.passed {
                    "pass".to_string()
                } else {
                    format!("FAIL: {}", st.failures.join("; "))
                }
            );
        }
        let _ = writeln!(
            s,
            "largest passing N: {}",
            self.max_passing_calls
                .map(|n| n.to_string())
                .unwrap_or("none".into())
        );
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }
}
