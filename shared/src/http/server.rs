//! The local transport: `keygate serve` answers every route on one port with axum.

use super::{Function, MAX_BODY_BYTES, Request, handle};
use crate::services::Keygate;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

async fn any(State(app): State<Arc<Keygate>>, req: axum::extract::Request) -> axum::response::Response {
    let (parts, body) = req.into_parts();
    // Read one byte past the cap, so that an oversized body is told apart from a full one.
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES + 1)
        .await
        .ok()
        .filter(|b| b.len() <= MAX_BODY_BYTES);
    let request_id = format!("local-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let source_ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    let request = Request {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        request_id,
        source_ip,
    };
    let r = handle(&app, Function::Local, request).await;
    let mut out = axum::response::Response::new(r.body.map(Body::from).unwrap_or_else(Body::empty));
    *out.status_mut() = r.status;
    *out.headers_mut() = r.headers;
    out
}

/// The axum router serving every keygate route.
pub fn router(app: Arc<Keygate>) -> axum::Router {
    axum::Router::new().fallback(any).with_state(app)
}

/// Serves on `listener` until ctrl-c (or SIGTERM). Each request learns its peer address
/// (for the audit lines' `source_ip`).
pub async fn serve(app: Arc<Keygate>, listener: TcpListener) -> std::io::Result<()> {
    axum::serve(
        listener,
        router(app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown())
    .await
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
