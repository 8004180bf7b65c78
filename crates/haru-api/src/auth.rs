//! Bearer-token auth. With no token the API is off, unless explicitly opened to real
//! loopback peers (`HARU_API_LOCAL_ONLY=1`): behind ngrok or a reverse proxy on the same
//! host every request arrives from loopback, so "local" alone proves nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::ApiError;

#[derive(Clone)]
pub struct Access {
    pub token: Option<Arc<str>>,
    pub local_only: bool,
}

pub async fn require(State(access): State<Access>, req: Request, next: Next) -> Response {
    match check(&access, &req) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// The peer address from `into_make_service_with_connect_info`, or from axum's
/// `MockConnectInfo` layer (how tests stand in for a remote peer).
fn peer(req: &Request) -> Option<SocketAddr> {
    let ext = req.extensions();
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .or_else(|| ext.get::<MockConnectInfo<SocketAddr>>().map(|m| m.0))
}

/// Headers a proxy or tunnel adds: their presence means the real client is elsewhere.
const FORWARDING: &[&str] = &[
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-original-forwarded-for",
    "cf-connecting-ip",
    "true-client-ip",
    "ngrok-trace-id",
];

/// The request names this machine, or no host at all: a browser page of another site that
/// re-points its name at 127.0.0.1 (DNS rebinding) sends its own name as `Host`.
pub fn loopback_host(headers: &axum::http::HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST) else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether the request came from this host directly (no proxy in between).
pub fn direct_loopback(peer: Option<SocketAddr>, headers: &axum::http::HeaderMap) -> bool {
    peer.is_some_and(|p| p.ip().is_loopback())
        && !FORWARDING.iter().any(|h| headers.contains_key(*h))
}

fn check(access: &Access, req: &Request) -> Result<(), ApiError> {
    let Some(expected) = access.token.as_deref() else {
        if !access.local_only {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the operator API is disabled: set HARU_API_TOKEN (or HARU_API_LOCAL_ONLY=1 for \
                 loopback-only access without a proxy)",
            ));
        }
        // No secret to check, so the network position is the only protection left.
        let peer = peer(req).ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "no HARU_API_TOKEN is configured and the peer address is unknown (serve with \
                 into_make_service_with_connect_info::<SocketAddr>())",
            )
        })?;
        return if direct_loopback(Some(peer), req.headers()) && loopback_host(req.headers()) {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "no HARU_API_TOKEN is configured: only direct loopback clients are allowed \
                 (not through a proxy or tunnel)",
            ))
        };
    };
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing bearer token (Authorization: Bearer ...)",
            )
        })?;
    // Constant-time, so response timing does not reveal how much of a guess was right.
    if bool::from(given.trim().as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid bearer token",
        ))
    }
}
