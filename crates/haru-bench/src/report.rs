//! What a benchmark run measured, and the human-readable table.

use std::fmt::Write as _;

use serde::Serialize;

/// Nearest-rank percentiles of a set of millisecond values.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Percentiles {
    pub count: usize,
    pub min: f64,
    pub mean: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    /// `None` for an empty set: "no measurement" must not look like zero latency.
    pub fn of(values: &[f64]) -> Option<Percentiles> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            let i = ((p / 100.0) * v.len() as f64).ceil() as usize;
            v[i.clamp(1, v.len()) - 1]
        };
        Some(Percentiles {
            count: v.len(),
            min: v[0],
            mean: v.iter().sum::<f64>() / v.len() as f64,
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: v[v.len() - 1],
        })
    }
}

/// The server process's resource use during the run.
#[derive(Debug, Clone, Serialize)]
pub struct ServerUsage {
    pub pid: u32,
    /// True when the "server" is this very process (in-process mode): its numbers then
    /// include the simulated callers and the fake providers too.
    pub includes_bench: bool,
    pub baseline_rss_kb: u64,
    pub peak_rss_kb: u64,
    /// (peak − baseline) / peak concurrent calls.
    pub rss_per_call_kb: f64,
    /// CPU time used from the first call's start to the last call's end.
    pub cpu_ms: f64,
    pub cpu_ms_per_call: f64,
    /// Average over the run, 100 = one core fully busy.
    pub cpu_percent_avg: f64,
    /// Highest one-second average seen.
    pub cpu_percent_peak: f64,
}

/// Per-turn timings as the server recorded them in its `turns` table (answered turns).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Breakdown {
    pub turns: usize,
    pub stt_ms: Option<Percentiles>,
    pub llm_first_token_ms: Option<Percentiles>,
    pub tts_first_byte_ms: Option<Percentiles>,
    /// Server's VAD end of speech → first audio frame sent (includes the pause wait).
    pub first_audio_ms: Option<Percentiles>,
    /// first_audio − pause wait (HARU_PAUSE_MS, when speculation starts the pipeline) −
    /// (stt + llm first token + tts first byte): haru's own time, plus the wait for the
    /// first complete sentence (none with the bench's reply, whose first token is one).
    pub residual_ms: Option<Percentiles>,
    /// Caller-measured latency − server first_audio: how much later than the caller's
    /// energy-based end of speech the VAD put it (VAD hangover), plus transport.
    pub vad_lag_ms: Option<Percentiles>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorCount {
    pub error: String,
    pub count: usize,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub server_url: String,
    /// `child`, `in-process` or `url`.
    pub server_mode: String,
    pub calls: usize,
    pub turns_per_call: usize,
    pub ramp_ms: u64,
    pub stt_delay_ms: u64,
    pub llm_first_token_ms: u64,
    pub llm_tokens_per_sec: f64,
    pub tts_first_byte_ms: u64,
    pub caller_wav: String,
    /// Calls whose every turn got a reply that finished in time.
    pub calls_completed: usize,
    pub calls_failed: usize,
    pub peak_concurrent_calls: usize,
    pub turns_answered: usize,
    pub turns_timed_out: usize,
    /// Caller end of speech → first bot audio, over all answered turns.
    pub latency_ms: Option<Percentiles>,
    /// The raw latencies (for the SVG), in completion order.
    pub latencies_ms: Vec<u64>,
    pub underrun_ms_total: u64,
    pub calls_with_underruns: usize,
    pub clears_total: u64,
    pub malformed_messages: u64,
    pub errors: Vec<ErrorCount>,
    pub server: Option<ServerUsage>,
    /// This process (callers + fake providers) when the server is elsewhere: if it is
    /// saturated, late caller ticks show up as underruns and latency that are not haru's.
    pub bench: Option<ServerUsage>,
    pub breakdown: Option<Breakdown>,
    /// Wall time from the first call's start to the last call's end.
    pub wall_ms: u64,
    pub notes: Vec<String>,
}

fn fmt_p(p: &Option<Percentiles>) -> String {
    match p {
        Some(p) => format!(
            "{:>7.0} {:>7.0} {:>7.0} {:>7.0} {:>7.0}",
            p.min, p.p50, p.p95, p.p99, p.max
        ),
        None => format!("{:>7} {:>7} {:>7} {:>7} {:>7}", "-", "-", "-", "-", "-"),
    }
}

impl BenchReport {
    /// The summary table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "haru bench: {} calls x {} turns against {} ({}), ramp {} ms",
            self.calls, self.turns_per_call, self.server_url, self.server_mode, self.ramp_ms
        );
        let _ = writeln!(
            s,
            "fake providers: STT {} ms, LLM first token {} ms @ {} tok/s, TTS first byte {} ms",
            self.stt_delay_ms,
            self.llm_first_token_ms,
            self.llm_tokens_per_sec,
            self.tts_first_byte_ms
        );
        let _ = writeln!(
            s,
            "calls completed  {:>6} / {}   failed {}   peak concurrent {}   wall {:.1} s",
            self.calls_completed,
            self.calls,
            self.calls_failed,
            self.peak_concurrent_calls,
            self.wall_ms as f64 / 1000.0
        );
        let _ = writeln!(
            s,
            "turns answered   {:>6}   timed out {}   underruns {} ms in {} calls   clears {}   malformed {}",
            self.turns_answered,
            self.turns_timed_out,
            self.underrun_ms_total,
            self.calls_with_underruns,
            self.clears_total,
            self.malformed_messages
        );
        let _ = writeln!(
            s,
            "\n{:<34} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "ms", "min", "p50", "p95", "p99", "max"
        );
        let _ = writeln!(
            s,
            "{:<34} {}",
            "end of speech -> first audio",
            fmt_p(&self.latency_ms)
        );
        if let Some(b) = &self.breakdown {
            let pause = Percentiles::of(&[crate::run::pause_ms() as f64]);
            for (name, p) in [
                ("  VAD lag (caller - server)", &b.vad_lag_ms),
                ("  server: VAD end -> first audio", &b.first_audio_ms),
                ("    pause wait (HARU_PAUSE_MS)", &pause),
                ("    STT", &b.stt_ms),
                ("    LLM first token", &b.llm_first_token_ms),
                ("    TTS first byte", &b.tts_first_byte_ms),
                ("    haru residual", &b.residual_ms),
            ] {
                let _ = writeln!(s, "{name:<34} {}", fmt_p(p));
            }
        }
        if let Some(u) = &self.server {
            let _ = writeln!(
                s,
                "\nserver pid {}{}: CPU avg {:.1}% peak {:.1}% ({:.1} ms/call); RSS {:.1} -> {:.1} MB ({:.0} KB/call)",
                u.pid,
                if u.includes_bench {
                    " (this process: includes callers + fakes)"
                } else {
                    ""
                },
                u.cpu_percent_avg,
                u.cpu_percent_peak,
                u.cpu_ms_per_call,
                u.baseline_rss_kb as f64 / 1024.0,
                u.peak_rss_kb as f64 / 1024.0,
                u.rss_per_call_kb
            );
        }
        if let Some(u) = &self.bench {
            let _ = writeln!(
                s,
                "bench process (callers + fakes) pid {}: CPU avg {:.1}% peak {:.1}%",
                u.pid, u.cpu_percent_avg, u.cpu_percent_peak
            );
        }
        if !self.errors.is_empty() {
            let _ = writeln!(s, "\nerrors:");
            for e in &self.errors {
                let _ = writeln!(s, "  {:>5} x {}", e.count, e.error);
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let p = Percentiles::of(&v).unwrap();
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Percentiles::of(&[7.0]).unwrap().p99, 7.0);
        assert!(Percentiles::of(&[]).is_none());
    }
}
