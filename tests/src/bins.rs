//! Finding the workspace's binaries (built by `cargo build --workspace` before the tests run),
//! and a tiny HTTP/1.1 client for talking to them on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::Duration;

/// The SAM logical id of each Lambda function binary (see template.yaml).
const FUNCTIONS: &[(&str, &str)] = &[
    ("authenticate", "AuthenticateFunction"),
    ("refresh", "RefreshFunction"),
    ("revoke", "RevokeFunction"),
    ("jwks", "JwksFunction"),
    ("forgot-password-request", "ForgotPasswordRequestFunction"),
    ("register", "RegisterFunction"),
    ("share", "ShareFunction"),
    ("forgot-password-confirm", "ForgotPasswordConfirmFunction"),
    ("admin", "AdminFunction"),
    ("authorizer", "AuthorizerFunction"),
    ("rotate-signing-key", "RotateSigningKeyFunction"),
];

/// The binary of the function that template.yaml names `logical_id`.
pub fn function_for(logical_id: &str) -> Option<&'static str> {
    FUNCTIONS
        .iter()
        .find(|(_, id)| *id == logical_id)
        .map(|(name, _)| *name)
}

/// Every Lambda function binary.
pub fn functions() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|(name, _)| *name)
}

/// The path of a workspace binary in the same target directory as the running test. With
/// `KEYGATE_LAMBDA_BUILD_DIR` set (to `sam build`'s output, `.aws-sam/build`), a Lambda
/// function is the `bootstrap` that `sam build` made for it, as deployed.
pub fn binary(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("KEYGATE_LAMBDA_BUILD_DIR").filter(|d| !d.is_empty())
        && let Some((_, id)) = FUNCTIONS.iter().find(|(n, _)| *n == name)
    {
        let path = PathBuf::from(dir).join(id).join("bootstrap");
        assert!(path.exists(), "{} is missing: run `sam build` first", path.display());
        return path;
    }
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test-binary>
    let dir = exe.parent().and_then(|d| d.parent()).expect("target profile dir");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`, which .ci/test does)",
        path.display()
    );
    path
}

/// An HTTP answer.
#[derive(Debug)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpAnswer {
    /// A header's value (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// An HTTP/1.1 answer's status line and headers, read up to the blank line before the body.
pub fn read_head(r: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).expect("header");
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    (status, headers)
}

/// One HTTP/1.1 request with `Connection: close`.
pub fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> HttpAnswer {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("write");
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r);
    let mut body = String::new();
    r.read_to_string(&mut body).expect("body");
    HttpAnswer { status, headers, body }
}

/// A request with a JSON body (empty when `None`, `content-type` sent all the same) and an
/// optional bearer token.
pub fn json_call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    bearer: Option<&str>,
) -> HttpAnswer {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = auth.as_deref() {
        headers.push(("authorization", a));
    }
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    http(addr, method, path, &headers, &body)
}

/// A JSON POST with an optional bearer token.
pub fn post_json(addr: SocketAddr, path: &str, body: &serde_json::Value, bearer: Option<&str>) -> HttpAnswer {
    json_call(addr, "POST", path, Some(body), bearer)
}

/// A password login at `/auth/token`, by JSON.
pub fn login(addr: SocketAddr, user: &str, pw: &str) -> HttpAnswer {
    post_json(
        addr,
        "/auth/token",
        &serde_json::json!({"grant_type": "password", "username": user, "password": pw}),
        None,
    )
}

/// The access token of a password login that must succeed.
pub fn access_token(addr: SocketAddr, user: &str, pw: &str) -> String {
    let a = login(addr, user, pw);
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()["access_token"].as_str().unwrap().to_owned()
}

/// Runs `cmd` (a `keygate` CLI command) with `stdin` written to it, and waits for its output.
pub fn run_with_stdin(mut cmd: std::process::Command, stdin: Option<&str>) -> std::process::Output {
    use std::process::Stdio;
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run keygate");
    let mut pipe = child.stdin.take().expect("stdin");
    if let Some(input) = stdin {
        pipe.write_all(input.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("wait for keygate")
}

/// The standard output of a command that must succeed (else its output is shown).
pub fn succeeded(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
