//! The accept loop: every byte before a request is routed comes from a stranger, so each
//! connection is bounded in time and in number.
//!
//! - Request headers must arrive within `header_timeout` (hyper's HTTP/1 header timer, which
//!   also covers a connection that sends nothing); bodies within `body_timeout` (the
//!   router's layer); connections carry one request each, so none idles between requests.
//!   WebSocket streams have their own deadline for `start` (`ws.rs`).
//! - At most `max_connections` are open; of those at most `max_pending` have not finished
//!   their first request's headers. When that many are waiting, the oldest is dropped for
//!   the newcomer: slow clients evict each other, while a real request (a webhook,
//!   `healthz`) sends its headers at once and is past that stage before it can be evicted.
//!   Established calls hold their own connections and are never evicted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics::counter;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{info, warn};

use crate::metrics::{self as hm, warn_limited};

#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub max_connections: usize,
    pub max_pending: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_pending: 256,
        }
    }
}

/// Raises the soft open-files limit to the hard one (a call costs a socket, and the
/// default 1,024 is a few hundred calls); returns the limit now in force.
pub fn raise_fd_limit() -> Option<u64> {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => Some(n),
        Err(e) => {
            warn!(error = %e, "could not raise the open-files limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE)
                .ok()
                .map(|l| l.0)
        }
    }
}

/// How long a new connection waits for an evicted one's slot at the cap.
const EVICTION_WAIT: Duration = Duration::from_millis(200);

/// Connections not yet past their first request's headers, oldest first.
#[derive(Default)]
struct Pending {
    next: AtomicU64,
    queue: Mutex<VecDeque<(u64, CancellationToken)>>,
}

impl Pending {
    /// Registers a new connection; evicts the oldest waiting one when `max` are waiting.
    fn admit(&self, max: usize) -> (u64, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        if let Ok(mut q) = self.queue.lock() {
            while q.len() >= max.max(1) {
                Self::evict(q.pop_front());
            }
            q.push_back((id, token.clone()));
        }
        (id, token)
    }

    fn evict_oldest(&self) {
        Self::evict(self.queue.lock().ok().and_then(|mut q| q.pop_front()));
    }

    fn evict(oldest: Option<(u64, CancellationToken)>) {
        if let Some((_, token)) = oldest {
            counter!(hm::SLOW_CLIENTS_TOTAL, "stage" => "evicted").increment(1);
            token.cancel();
        }
    }

    fn done(&self, id: u64) {
        if let Ok(mut q) = self.queue.lock() {
            q.retain(|(i, _)| *i != id);
        }
    }
}

/// Largest body read at the edge, which bounds a connection's memory (webhooks are under
/// 64 KB, API requests smaller still).
const BODY_MAX: usize = 128 * 1024;

/// The whole request body must arrive within `deadline` (a per-chunk timeout would let a
/// client trickle a byte a second forever); 408 otherwise.
async fn whole_body_within(
    axum::extract::State(deadline): axum::extract::State<Duration>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(deadline, axum::body::to_bytes(body, BODY_MAX)).await {
        Ok(Ok(bytes)) => {
            next.run(axum::extract::Request::from_parts(
                parts,
                axum::body::Body::from(bytes),
            ))
            .await
        }
        Ok(Err(_)) => (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
        )
            .into_response(),
        Err(_) => {
            counter!(hm::SLOW_CLIENTS_TOTAL, "stage" => "body").increment(1);
            (
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "request body too slow",
            )
                .into_response()
        }
    }
}

/// Every answer but a WebSocket upgrade closes its connection, so no connection idles
/// between requests holding a socket (webhooks and API calls are few and far between).
async fn one_request_per_connection(mut res: axum::response::Response) -> axum::response::Response {
    if res.status() != axum::http::StatusCode::SWITCHING_PROTOCOLS {
        res.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    res
}

/// Serves `router` until `shutdown`; connections then get a graceful close (at most 5 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = router
        .layer(axum::middleware::from_fn_with_state(
            limits.body_timeout,
            whole_body_within,
        ))
        .layer(axum::middleware::map_response(one_request_per_connection));
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    // Half the connections at most may be strangers still sending headers: the rest are
    // kept for requests that arrive whole and for calls in progress.
    let max_pending = limits.max_pending.min(limits.max_connections / 2).max(1);
    let pending = Arc::new(Pending::default());
    info!(
        max_connections = limits.max_connections,
        max_pending,
        header_timeout_ms = limits.header_timeout.as_millis() as u64,
        body_timeout_ms = limits.body_timeout.as_millis() as u64,
        "connection limits"
    );
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a peer that reset before we accepted:
                    // the listener is fine; back off a moment instead of spinning.
                    counter!(hm::CONNECTIONS_REFUSED_TOTAL, "reason" => "accept error").increment(1);
                    warn_limited!(hm::EDGE_LOG, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let permit = match open.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // At the cap: a stranger still sending headers makes room, if there is one;
                // calls in progress never do.
                pending.evict_oldest();
                match tokio::time::timeout(EVICTION_WAIT, open.clone().acquire_owned()).await {
                    Ok(Ok(p)) => p,
                    _ => {
                        counter!(hm::CONNECTIONS_REFUSED_TOTAL, "reason" => "connection cap")
                            .increment(1);
                        drop(tcp);
                        continue;
                    }
                }
            }
        };
        // Nagle would hold back 20 ms media frames behind delayed ACKs (~40 ms stalls).
        let _ = tcp.set_nodelay(true);
        let (id, evicted) = pending.admit(max_pending);
        let first_request = Arc::new(AtomicBool::new(false));
        let (router, pending, shutdown) = (router.clone(), pending.clone(), shutdown.clone());
        let header_timeout = limits.header_timeout;
        tokio::spawn(async move {
            let _permit = permit;
            let seen = first_request.clone();
            let pending_for_svc = pending.clone();
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                if !seen.swap(true, Ordering::Relaxed) {
                    pending_for_svc.done(id);
                }
                req.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move { router.oneshot(req.map(axum::body::Body::new)).await }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout);
            let conn = builder
                .serve_connection(TokioIo::new(tcp), svc)
                .with_upgrades();
            tokio::pin!(conn);
            let result = tokio::select! {
                r = &mut conn => r,
                _ = evicted.cancelled() => return,
                _ = shutdown.cancelled() => {
                    conn.as_mut().graceful_shutdown();
                    match tokio::time::timeout(Duration::from_secs(5), conn).await {
                        Ok(r) => r,
                        Err(_) => return,
                    }
                }
            };
            pending.done(id);
            if let Err(e) = result {
                if e.is_timeout() {
                    counter!(hm::SLOW_CLIENTS_TOTAL, "stage" => "headers").increment(1);
                } else if !first_request.load(Ordering::Relaxed) {
                    counter!(hm::CONNECTIONS_REFUSED_TOTAL, "reason" => "bad request").increment(1);
                }
            }
        });
    }
}
