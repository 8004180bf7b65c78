//! Shared plumbing: bind a listener, serve a router, shut down promptly.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Listen backlog. The default (1024 in tokio) is too small when a benchmark
/// opens a thousand calls at once, each with several provider connections.
const BACKLOG: u32 = 4096;

/// How long `shutdown` waits for in-flight responses before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running axum server plus the token that stops it.
pub(crate) struct ServerHandle {
    pub(crate) addr: SocketAddr,
    pub(crate) cancel: CancellationToken,
    join: JoinHandle<()>,
}

impl ServerHandle {
    /// Binds `addr` (port 0 picks a free port) and serves `router` on it.
    ///
    /// `cancel` is shared with handlers so that hanging or slowly streaming
    /// responses end as soon as the server is shut down.
    pub(crate) async fn spawn(
        addr: SocketAddr,
        router: Router,
        cancel: CancellationToken,
    ) -> anyhow::Result<Self> {
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        let listener = socket.listen(BACKLOG)?;
        let addr = listener.local_addr()?;
        // Small SSE pieces must leave as separate segments, otherwise Nagle
        // would glue them back together and hide awkward chunking from clients.
        let listener = listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::trace!("set_nodelay failed: {err}");
            }
        });
        let shutdown = cancel.clone();
        let join = tokio::spawn(async move {
            let result = axum::serve(listener, router)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(err) = result {
                tracing::warn!("fake server on {addr} stopped: {err}");
            }
        });
        Ok(Self { addr, cancel, join })
    }

    /// Stops accepting connections and waits (bounded) for open ones to end.
    pub(crate) async fn shutdown(self) {
        self.cancel.cancel();
        let mut join = self.join;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut join)
            .await
            .is_err()
        {
            join.abort();
        }
    }
}
