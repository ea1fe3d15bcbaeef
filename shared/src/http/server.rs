//! The local transport: `keygate serve` answers every route on one port, HTTP/1.1 over hyper.
//!
//! A client that ties up a connection without using it is cut off (contract section 12): a
//! request head not complete within 10 seconds, a body from which no byte came for 10 seconds,
//! a kept-alive connection idle for 60 ([`deadline`]). At most `KEYGATE_MAX_CONNECTIONS` are
//! open at once: the accept loop takes a slot before it accepts, so beyond the cap new
//! connections wait in the kernel's accept queue (or are refused when it is full) while the
//! established ones keep being served.

mod deadline;

use super::{Function, MAX_BODY_BYTES, Request, handle};
use crate::services::Keygate;
use bytes::{Bytes, BytesMut};
use deadline::{Activity, Limits, Watched, watchdog};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Longest wait for the next byte of a request body.
const BODY_STALL: Duration = Duration::from_secs(10);

/// A body that stopped arriving: the connection is closed without an answer (hyper drops a
/// connection whose service fails).
#[derive(Debug, thiserror::Error)]
#[error("no byte of the request body came for {BODY_STALL:?}")]
struct BodyStalled;

/// The body, at most [`MAX_BODY_BYTES`]: `Ok(None)` beyond that or when the client broke off.
async fn read_body(mut body: Incoming) -> Result<Option<Bytes>, BodyStalled> {
    let mut read = BytesMut::new();
    loop {
        let frame = match tokio::time::timeout(BODY_STALL, body.frame()).await {
            Err(_) => return Err(BodyStalled),
            Ok(None) => return Ok(Some(read.freeze())),
            Ok(Some(Err(_))) => return Ok(None),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            if read.len() + data.len() > MAX_BODY_BYTES {
                return Ok(None);
            }
            read.extend_from_slice(&data);
        }
    }
}

async fn answer(
    app: &Keygate,
    req: http::Request<Incoming>,
    peer: SocketAddr,
) -> Result<http::Response<Full<Bytes>>, BodyStalled> {
    let (parts, body) = req.into_parts();
    let body = read_body(body).await?;
    let request = Request {
        method: parts.method,
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
        request_id: format!("local-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed)),
        source_ip: Some(peer.ip()),
    };
    let r = handle(app, Function::Local, request).await;
    let mut out = http::Response::new(r.body.map(Full::from).unwrap_or_default());
    *out.status_mut() = r.status;
    *out.headers_mut() = r.headers;
    Ok(out)
}

/// Serves one connection until the client closes it, a deadline passes or shutdown finishes it.
async fn connection(app: Arc<Keygate>, stream: TcpStream, peer: SocketAddr, shutdown: Watcher) {
    let activity = Activity::new(Limits::CONTRACT);
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let watched = activity.clone();
    let service = hyper::service::service_fn(move |req| {
        let (app, activity) = (app.clone(), watched.clone());
        async move {
            let _answering = activity.request();
            answer(&app, req, peer).await
        }
    });
    // hyper's own head timeout would also cut a kept-alive connection's idle time to 10 s.
    let conn = hyper::server::conn::http1::Builder::new()
        .header_read_timeout(None)
        .serve_connection(io, service);
    let conn = shutdown.watch(conn);
    tokio::select! {
        served = conn => if let Err(e) = served {
            tracing::debug!(error = %e, "connection ended with an error");
        },
        () = watchdog(&activity) => tracing::debug!("connection closed: no request in time"),
    }
}

/// Serves on `listener` until ctrl-c (or SIGTERM), then finishes the requests being answered.
/// Each request learns its peer address (for the audit lines' `source_ip`).
pub async fn serve(app: Arc<Keygate>, listener: TcpListener) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(app.config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown());
    loop {
        let slot: OwnedSemaphorePermit = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            () = &mut stop => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut stop => break,
        };
        let (app, watcher) = (app.clone(), graceful.watcher());
        tokio::spawn(async move {
            connection(app, stream, peer, watcher).await;
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// A connection that failed before it was accepted costs nothing; running out of descriptors
/// (or memory) passes, so the loop waits a moment rather than spinning on the error.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(e.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
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
