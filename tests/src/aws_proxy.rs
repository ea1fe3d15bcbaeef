//! A proxy between keygate and moto that counts AWS calls and injects faults: throttling,
//! a server error, a dependency that hangs, or a response lost after the write happened.
//!
//! Point a function's `AWS_ENDPOINT_URL` at [`AwsProxy::url`]. Each request is named by its
//! operation (`DynamoDB_20120810.UpdateItem`, `secretsmanager.GetSecretValue`, or
//! `METHOD /path` for REST APIs such as SES v2).

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to matching requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    None,
    /// Answer `ThrottlingException` (HTTP 400), as DynamoDB and Secrets Manager do when throttled.
    Throttle,
    /// Answer HTTP 500 `InternalServerError`.
    ServerError,
    /// Never answer (until the client gives up).
    Hang,
    /// Forward the request (the write happens), then break the connection instead of answering.
    LoseResponse,
}

struct Inner {
    fault: Fault,
    /// Only requests whose operation contains this are faulted (all when `None`).
    only: Option<String>,
    calls: Vec<String>,
    /// Each request's operation and body, for checks on what was asked of which resource.
    requests: Vec<(String, Bytes)>,
}

#[derive(Clone)]
struct Shared {
    upstream: String,
    inner: Arc<Mutex<Inner>>,
    client: Client<HttpConnector, Body>,
}

/// A running proxy on 127.0.0.1.
pub struct AwsProxy {
    addr: SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for AwsProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AwsProxy {
    /// Starts a proxy to `AWS_ENDPOINT_URL` (moto).
    pub async fn start() -> AwsProxy {
        let upstream = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (run the tests with .ci/test)");
        let shared = Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            inner: Arc::new(Mutex::new(Inner {
                fault: Fault::None,
                only: None,
                calls: Vec::new(),
                requests: Vec::new(),
            })),
            client: Client::builder(TokioExecutor::new()).build_http(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        AwsProxy { addr, shared, task }
    }

    /// The endpoint URL to give keygate.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Faults every request from now on whose operation contains `only` (or every request).
    pub fn set_fault(&self, fault: Fault, only: Option<&str>) {
        let mut i = lock(&self.shared.inner);
        i.fault = fault;
        i.only = only.map(str::to_owned);
    }

    /// Every request seen so far with its body (operation, body); kept until the proxy stops.
    pub fn requests(&self) -> Vec<(String, Bytes)> {
        lock(&self.shared.inner).requests.clone()
    }

    /// The operations seen since the last call (and forgets them).
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut lock(&self.shared.inner).calls)
    }
}

fn operation(req: &axum::extract::Request) -> String {
    match req.headers().get("x-amz-target").and_then(|v| v.to_str().ok()) {
        Some(t) => t.to_owned(),
        None => format!("{} {}", req.method(), req.uri().path()),
    }
}

fn aws_error(status: u16, kind: &str) -> Response {
    let body = format!("{{\"__type\":\"{kind}\",\"message\":\"injected by the test proxy\"}}");
    Response::builder()
        .status(status)
        .header("content-type", "application/x-amz-json-1.0")
        .header("x-amzn-errortype", kind)
        .body(Body::from(body))
        .unwrap_or_default()
}

async fn forward(State(s): State<Shared>, req: axum::extract::Request) -> Response {
    let op = operation(&req);
    let fault = {
        let mut i = lock(&s.inner);
        i.calls.push(op.clone());
        match &i.only {
            Some(only) if !op.contains(only.as_str()) => Fault::None,
            _ => i.fault,
        }
    };
    match fault {
        Fault::Throttle => return aws_error(400, "ThrottlingException"),
        Fault::ServerError => return aws_error(500, "InternalServerError"),
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(600)).await;
            return aws_error(500, "InternalServerError");
        }
        Fault::None | Fault::LoseResponse => {}
    }
    let (mut parts, body) = req.into_parts();
    let body: Bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return aws_error(400, "BadRequestBody"),
    };
    lock(&s.inner).requests.push((op.clone(), body.clone()));
    let body = Body::from(body);
    let path = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").to_owned();
    parts.uri = match format!("{}{path}", s.upstream).parse() {
        Ok(u) => u,
        Err(_) => return aws_error(500, "BadUri"),
    };
    let answer = match s.client.request(http::Request::from_parts(parts, body)).await {
        Ok(a) => a,
        Err(_) => return aws_error(500, "UpstreamUnavailable"),
    };
    let (parts, body) = answer.into_parts();
    let bytes: Bytes = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return aws_error(500, "UpstreamBody"),
    };
    if fault == Fault::LoseResponse {
        // The upstream did the work; the client gets a broken answer: the headers promise a
        // body that never comes.
        let broken = futures::stream::once(async { Err::<Bytes, std::io::Error>(std::io::Error::other("lost")) });
        return Response::builder()
            .status(200)
            .header("content-length", "64")
            .body(Body::from_stream(broken))
            .unwrap_or_default();
    }
    Response::from_parts(parts, Body::from(bytes))
}
