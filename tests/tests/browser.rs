//! A real browser against the real `keygate serve`: headless Chromium, driven by Selenium
//! (`tests/browser/session_flow.py`, from the CI virtualenv), runs `examples/browser-app` with
//! keygate's browser sessions (`/auth/session*`, the HttpOnly `__Host-` cookie, the CSRF token,
//! CORS). The app is served from two loopback origins: one keygate lists in
//! `KEYGATE_CORS_ORIGINS`, and one it does not.
//!
//! Needs `chromium`, `chromedriver` (Debian: `chromium`, `chromium-driver`) and `selenium` in the
//! virtualenv, all of which `.ci/run` installs; `KEYGATE_CHROMIUM` and `KEYGATE_CHROMEDRIVER`
//! name other binaries. Without them the test fails under CI (`CI` set) and is skipped otherwise.
//! Nothing is downloaded and everything listens on 127.0.0.1.

use keygate_tests::bins::{HttpAnswer, http, login, post_json};
use keygate_tests::rie::venv;
use keygate_tests::serve::{ADMIN, Server};
use serde_json::json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const USER: (&str, &str) = ("olga", "violet harbor lantern 7");

/// Every step `session_flow.py` reports when it passes.
const STEPS: &[&str] = &[
    "page loads from the allowed origin",
    "login, then the protected endpoint answers 200",
    "the __Host- Secure cookie is stored over http://127.0.0.1",
    "HttpOnly: document.cookie does not show the session; web storage is empty",
    "silent refresh: new access token, the cookie rotated",
    "a 401 refreshes and retries once",
    "without the right X-CSRF-Token: 403 invalid_csrf, and the session lives on",
    "forbidden origin: login fails, the browser blocks the answer",
    "forbidden origin: nothing is readable, the session is untouched",
    "back on the allowed origin: still logged in",
    "logout clears the cookie",
    "after logout, refresh fails and the session is revoked",
    "scheduled refresh before expiry",
];

/// `name` on `PATH`, as an executable file.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The browser, its driver and the virtualenv's Python with Selenium; or what is missing.
fn tools() -> Result<(PathBuf, PathBuf, PathBuf), Vec<String>> {
    let named = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty()).map(PathBuf::from);
    let chromium = match named("KEYGATE_CHROMIUM") {
        Some(p) => Some(p).filter(|p| p.is_file()),
        None => on_path("chromium").or_else(|| on_path("chromium-browser")),
    };
    let driver = match named("KEYGATE_CHROMEDRIVER") {
        Some(p) => Some(p).filter(|p| p.is_file()),
        None => on_path("chromedriver"),
    };
    let python = venv().join("bin/python");
    let selenium = Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut missing = Vec::new();
    if chromium.is_none() {
        missing.push("chromium (apt-get install chromium, or set KEYGATE_CHROMIUM)".to_owned());
    }
    if driver.is_none() {
        missing.push("chromedriver (apt-get install chromium-driver, or set KEYGATE_CHROMEDRIVER)".to_owned());
    }
    if !selenium {
        missing.push(format!("selenium in {} (pip install selenium)", python.display()));
    }
    match (chromium, driver) {
        (Some(c), Some(d)) if missing.is_empty() => Ok((c, d, python)),
        _ => Err(missing),
    }
}

/// A static file server for one directory on 127.0.0.1 (a free port), for as long as the test
/// runs: GET of a file directly in `dir` (`/` is `index.html`), 404 for anything else.
fn serve_dir(dir: &Path) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the static server");
    let addr = listener.local_addr().expect("local addr");
    let dir = dir.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let dir = dir.clone();
            std::thread::spawn(move || answer_file(stream, &dir));
        }
    });
    addr
}

fn answer_file(mut stream: TcpStream, dir: &Path) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut parts = head.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split(['?', '#']).next().unwrap_or("");
    let name = match path.strip_prefix('/') {
        Some("") => "index.html",
        Some(n) => n,
        None => "",
    };
    let file = (method == "GET" && !name.is_empty() && !name.contains(['/', '\\']) && !name.starts_with('.'))
        .then(|| std::fs::read(dir.join(name)).ok())
        .flatten();
    let (status, kind, body) = match file {
        Some(body) => {
            let kind = match name.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("md") => "text/markdown; charset=utf-8",
                _ => "application/octet-stream",
            };
            ("200 OK", kind, body)
        }
        None => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(&body);
}

/// `keygate serve` with the embedded store in memory, CORS for `allowed` only, and `env`.
fn keygate(allowed: &str, env: &[(&str, &str)]) -> Server {
    let mut all = vec![
        ("KEYGATE_DATA_DIR", ":memory:"),
        ("KEYGATE_CORS_ORIGINS", allowed),
        ("RUST_LOG", "warn"),
    ];
    all.extend_from_slice(env);
    let server = Server::start(&all);

    let admin = login(server.addr, ADMIN.0, ADMIN.1);
    assert_eq!(admin.status, 200, "admin login: {}", admin.body);
    let admin = admin.json()["access_token"].as_str().unwrap().to_owned();
    let user = post_json(
        server.addr,
        "/admin/users",
        &json!({"username": USER.0, "password": USER.1, "roles": ["reader"]}),
        Some(&admin),
    );
    assert_eq!(user.status, 201, "create the user: {}", user.body);
    server
}

/// What keygate answers a preflight from `origin`, sent without a browser (a control for what
/// the browser then does).
fn preflight(server: &Server, origin: &str) -> HttpAnswer {
    http(
        server.addr,
        "OPTIONS",
        "/auth/session",
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "content-type"),
        ],
        "",
    )
}

#[test]
fn a_browser_app_logs_in_refreshes_and_logs_out_with_the_session_cookie() {
    let (chromium, chromedriver, python) = match tools() {
        Ok(t) => t,
        Err(missing) => {
            let missing = missing.join("; ");
            if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                panic!("the browser test needs: {missing}. .ci/run installs them");
            }
            eprintln!("SKIPPED: the browser test needs {missing} (.ci/run installs them; under CI this fails)");
            return;
        }
    };

    let app_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/browser-app");
    assert!(app_dir.join("index.html").is_file() && app_dir.join("app.js").is_file());
    let allowed_addr = serve_dir(&app_dir);
    let allowed = format!("http://{allowed_addr}");
    let forbidden = format!("http://{}", serve_dir(&app_dir));

    let server = keygate(&allowed, &[]);
    // Access tokens for 6 seconds (and no leeway): the app's timer must refresh in time.
    let short = keygate(&allowed, &[("KEYGATE_ACCESS_TOKEN_TTL", "6"), ("KEYGATE_LEEWAY", "0")]);

    // The servers as the browser will meet them: the allowed origin gets its preflight, the
    // other one nothing it could use.
    let ok = preflight(&server, &allowed);
    assert_eq!(ok.status, 204, "{ok:?}");
    assert_eq!(ok.header("access-control-allow-origin"), Some(allowed.as_str()));
    let refused = preflight(&server, &forbidden);
    assert!(refused.header("access-control-allow-origin").is_none(), "{refused:?}");
    let page = http(allowed_addr, "GET", "/index.html?keygate=x", &[], "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<script src=\"app.js\">"));

    let out = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/browser/session_flow.py"))
        .args(["--keygate", &format!("http://{}", server.addr)])
        .args(["--short-ttl-keygate", &format!("http://{}", short.addr)])
        .args(["--allowed", &allowed, "--forbidden", &forbidden])
        .args(["--username", USER.0, "--password", USER.1])
        .arg("--chromium")
        .arg(&chromium)
        .arg("--chromedriver")
        .arg(&chromedriver)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser flow failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for s in STEPS {
        assert!(stdout.contains(&format!("{s}: ok")), "missing step: {s}");
    }
    assert!(stdout.contains("all steps passed"));
}
