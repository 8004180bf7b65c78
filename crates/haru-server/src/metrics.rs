//! Prometheus exposition. The `metrics` facade has one process-wide recorder, installed
//! once; every server in the process (tests start several) shares it.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Suffix("_seconds".into()),
                    haru_session::metrics::LATENCY_BUCKETS,
                )
                .ok()?;
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .clone()
}

/// Media streams refused before a session started, by `reason`.
pub const STREAMS_REFUSED_TOTAL: &str = "haru_streams_refused_total";
/// Voice webhooks refused (replays of a call already streaming or over, malformed SIDs).
pub const WEBHOOKS_REFUSED_TOTAL: &str = "haru_webhooks_refused_total";
/// Streams closed for abuse after they started, by `reason` (rate, flood).
pub const STREAMS_CLOSED_TOTAL: &str = "haru_streams_closed_total";
/// Per-call floods dropped, by `kind` (dtmf, mark).
pub const FLOOD_DROPPED_TOTAL: &str = "haru_flood_dropped_total";
/// Connections closed for being too slow, by `stage` (headers, body, start).
pub const SLOW_CLIENTS_TOTAL: &str = "haru_slow_clients_total";
/// Connections refused at the connection cap.
pub const CONNECTIONS_REFUSED_TOTAL: &str = "haru_connections_refused_total";
/// Warnings not logged because too many came at once.
pub const LOGS_SUPPRESSED_TOTAL: &str = "haru_logs_suppressed_total";

/// At most `per_second` log lines a second; the rest are counted, not written. Keeps a
/// flood of bad input from becoming a flood of log (154 bytes a frame, unbounded).
pub struct LogLimiter {
    per_second: u32,
    state: std::sync::Mutex<Option<crate::budget::PerSecond>>,
}

impl LogLimiter {
    pub const fn new(per_second: u32) -> Self {
        Self {
            per_second,
            state: std::sync::Mutex::new(None),
        }
    }

    pub fn allow(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return false;
        };
        let now = std::time::Instant::now();
        let ok = s
            .get_or_insert_with(|| crate::budget::PerSecond::new(now))
            .take(now, self.per_second);
        if !ok {
            metrics::counter!(LOGS_SUPPRESSED_TOTAL).increment(1);
        }
        ok
    }
}

/// The process-wide limiter for warnings about input from unauthenticated peers.
pub static EDGE_LOG: LogLimiter = LogLimiter::new(20);

/// `warn!` through a [`LogLimiter`]: `warn_limited!(limiter, fields…, "message")`.
macro_rules! warn_limited {
    ($limiter:expr, $($arg:tt)+) => {
        if $limiter.allow() {
            tracing::warn!($($arg)+);
        }
    };
}
pub(crate) use warn_limited;

#[cfg(test)]
mod tests {
    use super::LogLimiter;

    #[test]
    fn a_flood_of_warnings_is_cut_to_the_limit() {
        let l = LogLimiter::new(5);
        let allowed = (0..1000).filter(|_| l.allow()).count();
        assert_eq!(allowed, 5);
    }
}
