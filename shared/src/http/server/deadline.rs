//! How long `keygate serve` waits for a client between requests (contract section 12): a new
//! connection's first request head within 10 seconds, a kept-alive connection's next request
//! within 60 and its head within 10 of its first byte ([`Limits::CONTRACT`]).
//!
//! hyper's own `header_read_timeout` cannot say this: it starts as soon as hyper waits for a
//! head, so on a kept-alive connection it also cuts the idle time to the head's limit. Here the
//! socket ([`Watched`]) notes when a request's first byte arrives, the service notes when a
//! request starts and ends ([`Activity::request`]), and [`watchdog`] ends the connection when
//! the deadline they give passes. While a request is being answered no deadline runs: the body
//! has its own limit (`BODY_STALL` in the server), and a handler may take its time.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

/// The waits a connection is allowed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest wait for a complete request head: from the connection's start for its first
    /// request, from the first byte for the next ones.
    pub head: Duration,
    /// Longest wait for the next request on a kept-alive connection.
    pub idle: Duration,
}

impl Limits {
    /// Contract section 12.
    pub const CONTRACT: Limits = Limits {
        head: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };
}

/// What one connection is doing, shared by its socket, its service and its watchdog.
pub struct Activity {
    limits: Limits,
    state: Mutex<State>,
    /// Woken when the deadline may have moved earlier or stopped (a request started or ended,
    /// a head's first byte came).
    changed: Notify,
}

#[derive(Default)]
struct State {
    /// Requests started on this connection.
    requests: u64,
    answering: bool,
    /// When the connection started or the last answer was made.
    waiting_since: Option<Instant>,
    /// The first byte of the request head being read.
    first_byte: Option<Instant>,
}

impl Activity {
    /// A new connection's activity, its first wait starting now.
    pub fn new(limits: Limits) -> Arc<Activity> {
        Arc::new(Activity {
            limits,
            state: Mutex::new(State {
                waiting_since: Some(Instant::now()),
                ..State::default()
            }),
            changed: Notify::new(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays consistent whatever a panicking holder did: each field is set whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a request as being answered until the returned guard is dropped.
    pub fn request(self: &Arc<Activity>) -> Answering {
        {
            let mut s = self.state();
            s.requests += 1;
            s.answering = true;
            s.first_byte = None;
        }
        Answering(self.clone())
    }

    /// The moment the connection is ended unless something happens first; `None` while a
    /// request is being answered.
    fn deadline(&self) -> Option<Instant> {
        let s = self.state();
        if s.answering {
            return None;
        }
        match (s.first_byte, s.waiting_since) {
            (Some(first), _) => Some(first + self.limits.head),
            (None, Some(since)) if s.requests == 0 => Some(since + self.limits.head),
            (None, Some(since)) => Some(since + self.limits.idle),
            (None, None) => None,
        }
    }

    fn bytes_read(&self) {
        let mut s = self.state();
        if !s.answering && s.first_byte.is_none() {
            s.first_byte = Some(Instant::now());
            drop(s);
            self.changed.notify_one();
        }
    }
}

/// A request being answered (see [`Activity::request`]).
pub struct Answering(Arc<Activity>);

impl Drop for Answering {
    fn drop(&mut self) {
        {
            let mut s = self.0.state();
            s.answering = false;
            s.waiting_since = Some(Instant::now());
        }
        self.0.changed.notify_one();
    }
}

/// Ends when the connection has waited past its deadline; the caller then drops it.
pub async fn watchdog(activity: &Activity) {
    loop {
        match activity.deadline() {
            None => activity.changed.notified().await,
            Some(at) if at <= Instant::now() => return,
            Some(at) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at) => {}
                    () = activity.changed.notified() => {}
                }
            }
        }
    }
}

/// A connection's socket that tells its [`Activity`] when a request's first byte arrives.
pub struct Watched<S> {
    io: S,
    activity: Arc<Activity>,
}

impl<S> Watched<S> {
    pub fn new(io: S, activity: Arc<Activity>) -> Watched<S> {
        Watched { io, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real time, scaled down: a watchdog that ends too early or never is what these catch.
    const LIMITS: Limits = Limits {
        head: Duration::from_millis(100),
        idle: Duration::from_millis(1000),
    };

    #[tokio::test]
    async fn a_new_connection_gets_the_head_limit_and_a_kept_alive_one_the_idle_limit() {
        let activity = Activity::new(LIMITS);
        let start = Instant::now();
        watchdog(&activity).await;
        let waited = start.elapsed();
        assert!(waited >= LIMITS.head && waited < LIMITS.idle, "{waited:?}");

        let activity = Activity::new(LIMITS);
        drop(activity.request());
        let idle = Instant::now();
        watchdog(&activity).await;
        assert!(idle.elapsed() >= LIMITS.idle, "{:?}", idle.elapsed());
    }

    #[tokio::test]
    async fn a_head_has_its_limit_from_its_first_byte() {
        let activity = Activity::new(LIMITS);
        drop(activity.request());
        let a = activity.clone();
        let dog = tokio::spawn(async move { watchdog(&a).await });
        tokio::time::sleep(LIMITS.head).await;
        activity.bytes_read();
        let first_byte = Instant::now();
        dog.await.unwrap();
        let waited = first_byte.elapsed();
        assert!(waited >= LIMITS.head && waited < LIMITS.idle, "{waited:?}");
    }

    #[tokio::test]
    async fn no_deadline_runs_while_a_request_is_answered() {
        let activity = Activity::new(LIMITS);
        let answering = activity.request();
        let a = activity.clone();
        let dog = tokio::spawn(async move { watchdog(&a).await });
        tokio::time::sleep(LIMITS.idle * 2).await;
        assert!(!dog.is_finished(), "no deadline while answering");
        drop(answering);
        let answered = Instant::now();
        dog.await.unwrap();
        assert!(answered.elapsed() >= LIMITS.idle, "{:?}", answered.elapsed());
    }
}
