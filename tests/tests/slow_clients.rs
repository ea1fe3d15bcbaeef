//! Clients that hold `keygate serve`'s connections without using them (contract section 12),
//! against the real binary on loopback: a request head not complete within 10 seconds (sent in
//! one piece or trickled), a body that stalls, an idle kept-alive connection after 60 seconds,
//! and `KEYGATE_MAX_CONNECTIONS`: beyond it a new connection waits while the established ones
//! keep being answered, and it is answered once a slot frees.

use keygate_tests::serve::Server;
use std::io::{BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const JWKS: &[u8] = b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n";

fn start(env: &[(&str, &str)]) -> Server {
    let mut env = env.to_vec();
    env.push(("KEYGATE_DATA_DIR", ":memory:"));
    Server::start(&env)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15))).expect("read timeout");
    s
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Reads until the server closes the connection (end of stream or reset), discarding what it
/// sends, for at most `limit`: how long after `since` it closed, or `None` if it stayed open.
fn closed_within(s: &mut TcpStream, since: Instant, limit: Duration) -> Option<Duration> {
    let mut buf = [0u8; 4096];
    // Every read waits at most until the limit, and a server sends no more than an answer.
    for _ in 0..1000 {
        let left = limit.checked_sub(since.elapsed()).filter(|d| !d.is_zero())?;
        s.set_read_timeout(Some(left)).expect("read timeout");
        match s.read(&mut buf) {
            Ok(0) => return Some(since.elapsed()),
            Ok(_) => {}
            Err(e) if timed_out(&e) => return None,
            Err(_) => return Some(since.elapsed()),
        }
    }
    None
}

/// Reads one answer from a kept-alive connection: its status.
fn read_answer(s: &TcpStream) -> u16 {
    let mut r = BufReader::new(s);
    let (status, headers) = keygate_tests::bins::read_head(&mut r);
    let length = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .map_or(0, |(_, v)| v.parse().expect("content-length"));
    // The server sends nothing after the body, so this reader holds nothing more when dropped.
    let mut body = vec![0u8; length];
    r.read_exact(&mut body).expect("body");
    status
}

/// One request on a kept-alive connection; its status.
fn jwks(s: &mut TcpStream) -> u16 {
    s.write_all(JWKS).expect("write");
    read_answer(s)
}

fn assert_closed_in_10_to_20_s(closed: Option<Duration>, what: &str) {
    let after = closed.unwrap_or_else(|| panic!("{what}: the connection was still open after 25 s"));
    assert!(
        (Duration::from_secs(9)..=Duration::from_secs(20)).contains(&after),
        "{what}: closed after {after:?}"
    );
}

#[test]
fn a_request_head_not_complete_within_10_seconds_is_closed() {
    let server = start(&[]);
    let since = Instant::now();
    let mut s = connect(server.addr);
    s.write_all(b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
        .expect("write");
    let closed = closed_within(&mut s, since, Duration::from_secs(25));
    assert_closed_in_10_to_20_s(closed, "half a head");
}

#[test]
fn a_head_trickled_a_byte_at_a_time_is_closed_10_seconds_after_it_began() {
    let server = start(&[]);
    let mut s = connect(server.addr);
    assert_eq!(jwks(&mut s), 200);
    // A kept-alive connection: the next head's 10 s run from its first byte.
    let since = Instant::now();
    let mut closed = None;
    for byte in b"GET /.well-known/jwks.json HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        .iter()
        .take(12)
    {
        if s.write_all(&[*byte]).is_err() {
            closed = Some(since.elapsed());
            break;
        }
        if closed_within(&mut s, Instant::now(), Duration::from_secs(2)).is_some() {
            closed = Some(since.elapsed());
            break;
        }
    }
    assert_closed_in_10_to_20_s(closed, "a trickled head");
}

#[test]
fn a_body_that_stalls_for_10_seconds_is_closed() {
    let server = start(&[]);
    let mut s = connect(server.addr);
    s.write_all(
        b"POST /auth/token HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"gr",
    )
    .expect("write");
    let since = Instant::now();
    let closed = closed_within(&mut s, since, Duration::from_secs(25));
    assert_closed_in_10_to_20_s(closed, "4 of 100 body bytes");
}

#[test]
fn an_idle_kept_alive_connection_is_closed_after_60_seconds() {
    let server = start(&[]);
    let mut s = connect(server.addr);
    assert_eq!(jwks(&mut s), 200);
    let answered = Instant::now();
    let closed = closed_within(&mut s, answered, Duration::from_secs(75))
        .expect("an idle kept-alive connection was still open after 75 s");
    assert!(
        closed >= Duration::from_secs(50),
        "closed after {closed:?}, before 60 s"
    );
}

#[test]
fn beyond_max_connections_a_new_one_waits_and_the_established_ones_are_served() {
    let server = start(&[("KEYGATE_MAX_CONNECTIONS", "20")]);
    let mut established = connect(server.addr);
    assert_eq!(jwks(&mut established), 200);
    // 19 more, each answered once, then left idle: all 20 slots taken.
    let mut idle: Vec<TcpStream> = (0..19)
        .map(|_| {
            let mut s = connect(server.addr);
            assert_eq!(jwks(&mut s), 200);
            s
        })
        .collect();

    // The kernel completes the handshake; keygate does not take the connection yet.
    let mut waiting = connect(server.addr);
    waiting.write_all(JWKS).expect("write");
    waiting
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("read timeout");
    let mut byte = [0u8; 1];
    match waiting.read(&mut byte) {
        Err(e) if timed_out(&e) => {}
        other => panic!("a 21st connection was served beyond KEYGATE_MAX_CONNECTIONS=20: {other:?}"),
    }

    for _ in 0..3 {
        assert_eq!(jwks(&mut established), 200, "an established connection is still served");
    }

    drop(idle.pop());
    waiting
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("read timeout");
    assert_eq!(read_answer(&waiting), 200, "answered once a slot freed");
    assert_eq!(jwks(&mut established), 200);
    drop(idle);
}
