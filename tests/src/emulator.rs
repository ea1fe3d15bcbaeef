//! A small AWS Lambda Runtime API emulator: it runs a function binary as Lambda would (the
//! binary polls `/2018-06-01/runtime/invocation/next` and posts each answer back) and feeds it
//! events, which is what `sam local invoke` does, without Docker.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::path::Path as FsPath;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::sync::{Notify, oneshot};

/// Why an invocation gave no answer.
#[derive(Debug)]
pub enum InvokeError {
    /// The function reported an error (`/error`): its payload.
    Function(Value),
    /// The function failed to start (`/init/error`), or exited.
    Init(String),
    /// No answer in time.
    Timeout,
}

type Answer = Result<Value, InvokeError>;

#[derive(Default)]
struct Shared {
    queue: Mutex<VecDeque<(String, Value)>>,
    notify: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_poll: Mutex<Option<Instant>>,
    /// The function's CPU time (user + system, every thread) at its first request for work.
    first_poll_cpu: Mutex<Option<Duration>>,
    /// The function's process id, once spawned (0 before).
    pid: AtomicU32,
    init_error: Mutex<Option<String>>,
    polls: AtomicU64,
    /// The function's timeout (30 s unless [`LambdaProcess::set_timeout`]): the deadline each
    /// invocation is given, after which the emulator stops waiting, as Lambda does.
    timeout_ms: AtomicU64,
}

const DEFAULT_TIMEOUT_MS: u64 = 30_000;

fn timeout(s: &Shared) -> Duration {
    match s.timeout_ms.load(Ordering::Relaxed) {
        0 => Duration::from_millis(DEFAULT_TIMEOUT_MS),
        ms => Duration::from_millis(ms),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    s.polls.fetch_add(1, Ordering::Relaxed);
    let first = {
        let mut at = lock(&s.first_poll);
        let first = at.is_none();
        at.get_or_insert_with(Instant::now);
        first
    };
    if first {
        *lock(&s.first_poll_cpu) = process_cpu_time(s.pid.load(Ordering::Relaxed));
    }
    loop {
        let notified = s.notify.notified();
        if let Some((id, event)) = lock(&s.queue).pop_front() {
            let mut h = HeaderMap::new();
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                + timeout(&s);
            h.insert(
                "lambda-runtime-aws-request-id",
                HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("x")),
            );
            h.insert(
                "lambda-runtime-deadline-ms",
                HeaderValue::from_str(&deadline.as_millis().to_string()).unwrap_or(HeaderValue::from_static("0")),
            );
            h.insert(
                "lambda-runtime-invoked-function-arn",
                HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:keygate-test"),
            );
            h.insert(
                "lambda-runtime-trace-id",
                HeaderValue::from_static("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
            );
            h.insert("content-type", HeaderValue::from_static("application/json"));
            return (StatusCode::OK, h, event.to_string()).into_response();
        }
        notified.await;
    }
}

fn answer(s: &Shared, id: &str, a: Answer) -> StatusCode {
    match lock(&s.waiting).remove(id) {
        Some(tx) => {
            let _ = tx.send(a);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned()));
    answer(&s, &id, Ok(v))
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned()));
    answer(&s, &id, Err(InvokeError::Function(v)))
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    let text = String::from_utf8_lossy(&body).into_owned();
    *lock(&s.init_error) = Some(text.clone());
    for (_, tx) in lock(&s.waiting).drain() {
        let _ = tx.send(Err(InvokeError::Init(text.clone())));
    }
    StatusCode::ACCEPTED
}

/// The CPU time (user + system, all threads, exited ones included) process `pid` has used so
/// far, from its POSIX CPU-time clock: nanosecond resolution, where `/proc/PID/stat`'s `utime`
/// and `stime` count 10 ms clock ticks.
pub fn process_cpu_time(pid: u32) -> Option<Duration> {
    let pid = libc::pid_t::try_from(pid).ok().filter(|p| *p > 0)?;
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `clock` is a valid place for the clock id; the call reads nothing else.
    if unsafe { libc::clock_getcpuclockid(pid, &mut clock) } != 0 {
        return None;
    }
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write to.
    if unsafe { libc::clock_gettime(clock, &mut t) } != 0 {
        return None;
    }
    Some(Duration::new(
        u64::try_from(t.tv_sec).ok()?,
        u32::try_from(t.tv_nsec).ok()?,
    ))
}

/// A function binary running under the emulator. Killed on drop.
pub struct LambdaProcess {
    shared: Arc<Shared>,
    child: tokio::process::Child,
    started: Instant,
    logs: Arc<Mutex<Vec<u8>>>,
    server: tokio::task::JoinHandle<()>,
    drains: Vec<tokio::task::JoinHandle<()>>,
    ids: AtomicU64,
}

impl Drop for LambdaProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        self.server.abort();
    }
}

impl LambdaProcess {
    /// Starts `binary` with the Lambda environment plus `env`.
    pub async fn start(binary: &FsPath, env: &[(&str, &str)]) -> LambdaProcess {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/response", post(response))
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind emulator");
        let addr = listener.local_addr().expect("emulator address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let name = binary
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("function")
            .to_owned();
        let mut cmd = tokio::process::Command::new(binary);
        cmd.env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", format!("keygate-{name}"))
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/11/22/[$LATEST]0123456789abcdef")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/keygate-{name}"))
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "debug")
            // Lambda's environment names no extra roots; a developer machine's (or a CI
            // sandbox's) would make every function read its whole CA directory at init, and the
            // measured cold start with it. A caller that wants them passes them in `env`.
            .env_remove("SSL_CERT_FILE")
            .env_remove("SSL_CERT_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn the function binary");
        shared.pid.store(child.id().unwrap_or(0), Ordering::Relaxed);
        let logs = Arc::new(Mutex::new(Vec::new()));
        let mut drains = Vec::new();
        for mut pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
            child.stderr.take().map(|p| Box::new(p) as _),
        ]
        .into_iter()
        .flatten()
        {
            let logs = logs.clone();
            drains.push(tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    lock(&logs).extend_from_slice(&buf[..n]);
                }
            }));
        }
        LambdaProcess {
            shared,
            child,
            started,
            logs,
            server,
            drains,
            ids: AtomicU64::new(1),
        }
    }

    /// Sends one event and waits for the answer, at most the function's timeout.
    pub async fn invoke(&mut self, event: Value) -> Answer {
        let id = format!(
            "c0ffee00-0000-4000-8000-{:012}",
            self.ids.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        lock(&self.shared.waiting).insert(id.clone(), tx);
        lock(&self.shared.queue).push_back((id, event));
        self.shared.notify.notify_one();
        let deadline = tokio::time::sleep(timeout(&self.shared));
        tokio::pin!(deadline);
        let mut rx = rx;
        loop {
            tokio::select! {
                a = &mut rx => return a.unwrap_or(Err(InvokeError::Init("the emulator dropped the invocation".into()))),
                _ = &mut deadline => return Err(InvokeError::Timeout),
                _ = tokio::time::sleep(Duration::from_millis(50)) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        let init = lock(&self.shared.init_error).clone().unwrap_or_default();
                        return Err(InvokeError::Init(format!("the function exited with {status}: {init}\n{}", self.logs())));
                    }
                }
            }
        }
    }

    /// Sets the function's timeout (the template's `Timeout`): an invocation not answered by
    /// then fails with [`InvokeError::Timeout`].
    pub fn set_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX).max(1);
        self.shared.timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// Time from spawn to the function's first request for work (its init duration).
    pub fn init_duration(&self) -> Option<Duration> {
        lock(&self.shared.first_poll).map(|t| t - self.started)
    }

    /// How many requests for work the function has made (its first is the end of init; each
    /// later one follows an answer).
    pub fn polls(&self) -> u64 {
        self.shared.polls.load(Ordering::Relaxed)
    }

    /// The function's CPU time (user + system) from spawn to its first request for work.
    pub fn init_cpu(&self) -> Option<Duration> {
        *lock(&self.shared.first_poll_cpu)
    }

    /// The CPU time (user + system) the function has used so far.
    pub fn cpu_time(&self) -> Option<Duration> {
        process_cpu_time(self.child.id()?)
    }

    /// The function's peak resident memory so far (`VmHWM`), in KiB (Linux).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Everything the function printed so far.
    pub fn logs(&self) -> String {
        String::from_utf8_lossy(&lock(&self.logs)).into_owned()
    }

    /// Waits for the process to exit (for functions that must fail at start).
    pub async fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .ok()
            .and_then(Result::ok);
        for d in self.drains.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), d).await;
        }
        status
    }
}
