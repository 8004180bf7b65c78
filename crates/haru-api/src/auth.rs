//! Bearer-token auth; loopback-only when no token is configured.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::ApiError;

pub async fn require(State(token): State<Option<Arc<str>>>, req: Request, next: Next) -> Response {
    match check(token.as_deref(), &req) {
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

fn check(token: Option<&str>, req: &Request) -> Result<(), ApiError> {
    let Some(expected) = token else {
        // No secret to check, so the network position is the only protection left.
        let peer = peer(req).ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "no HARU_API_TOKEN is configured and the peer address is unknown (serve with \
                 into_make_service_with_connect_info::<SocketAddr>())",
            )
        })?;
        return if peer.ip().is_loopback() {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "no HARU_API_TOKEN is configured: only loopback clients are allowed",
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
