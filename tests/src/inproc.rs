//! keygate in process: the handler that Lambda and `keygate serve` call, driven with requests the
//! test builds, on the embedded store in a fresh directory. No socket, no binary, no AWS.

use crate::tempdir::TempDir;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use keygate_sdk::{Jwks, Verifier, VerifyOptions};
use keygate_shared::config::{Config, Host};
use keygate_shared::http::{Function, Request, Response, handle};
use keygate_shared::runtime::{Mode, build};
use keygate_shared::services::{Keygate, NewUser};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use crate::fixtures::PW;

/// The `content-type` of a form post.
pub const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");

/// An answer, its body read as JSON (`Null` when it has none).
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl From<Response> for Resp {
    fn from(r: Response) -> Resp {
        let body = r
            .body
            .as_deref()
            .map(|b| serde_json::from_str(b).unwrap())
            .unwrap_or(Value::Null);
        Resp {
            status: r.status,
            headers: r.headers,
            body,
        }
    }
}

impl Resp {
    /// The `Set-Cookie` value that sets cookie `name`, attributes and all; panics without one.
    pub fn set_cookie(&self, name: &str) -> String {
        let prefix = format!("{name}=");
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {name} cookie: {:?}", self.headers))
            .to_owned()
    }
}

/// A request, built up: [`request`]`(Method::POST, "/auth/token?x=1").json(&body)`.
pub struct Req(Request);

/// A request for `path`, which may carry a query string; an empty body, no headers.
pub fn request(method: Method, path: &str) -> Req {
    let (path, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q.to_owned())),
        None => (path, None),
    };
    Req(Request {
        method,
        path: path.into(),
        query,
        headers: HeaderMap::new(),
        body: Some(Bytes::new()),
        request_id: "test".into(),
        source_ip: None,
    })
}

impl Req {
    /// Adds a header (a second one of the same name is sent as well).
    pub fn header(mut self, name: &str, value: &str) -> Req {
        self.0.headers.append(
            header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
        self
    }

    /// Adds each header.
    pub fn headers(self, headers: &[(&str, &str)]) -> Req {
        headers.iter().fold(self, |r, (k, v)| r.header(k, v))
    }

    /// The body, as given.
    pub fn body(mut self, body: &str) -> Req {
        self.0.body = Some(Bytes::from(body.to_owned()));
        self
    }

    /// A JSON body with its `content-type`.
    pub fn json(self, body: &Value) -> Req {
        self.header("content-type", "application/json").body(&body.to_string())
    }

    /// A form body (see [`form`]) with its `content-type`.
    pub fn form(self, body: &str) -> Req {
        self.header(FORM.0, FORM.1).body(body)
    }

    /// `Authorization: Bearer TOKEN`.
    pub fn bearer(self, token: &str) -> Req {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// `Authorization: Basic ...` for `user` and `password`.
    pub fn basic(self, user: &str, password: &str) -> Req {
        self.header("authorization", &basic(user, password))
    }

    /// The request id the audit lines carry (`test` unless set).
    pub fn request_id(mut self, id: &str) -> Req {
        self.0.request_id = id.into();
        self
    }

    /// The request itself.
    pub fn build(self) -> Request {
        self.0
    }
}

impl From<Req> for Request {
    fn from(r: Req) -> Request {
        r.0
    }
}

/// An `Authorization: Basic` value.
pub fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                b' ' => "+".to_owned(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `req` through the handler of `app` (as `keygate serve` calls it).
pub async fn send(app: &Keygate, req: impl Into<Request>) -> Resp {
    handle(app, Function::Local, req.into()).await.into()
}

/// A keygate in process: the embedded SQLite store in its own directory (`dir/data`), mail to the
/// outbox file `dir/outbox.jsonl`, issuer `http://127.0.0.1:3000`. Derefs to the app.
pub struct App {
    pub app: Arc<Keygate>,
    /// Removed when the app is dropped.
    pub dir: TempDir,
    pub outbox: PathBuf,
}

/// What [`App::setup`] starts: more configuration first.
pub struct Setup {
    env: HashMap<String, String>,
    forgot_floor: Option<Duration>,
}

impl Setup {
    /// One more configuration variable (it replaces a default of the same name).
    pub fn env(mut self, name: &str, value: &str) -> Setup {
        self.env.insert(name.into(), value.into());
        self
    }

    /// More configuration variables.
    pub fn envs(self, vars: &[(&str, &str)]) -> Setup {
        vars.iter().fold(self, |s, (k, v)| s.env(k, v))
    }

    /// The least time a forgot-password answer takes (the app's default unless set).
    pub fn forgot_floor(mut self, floor: Duration) -> Setup {
        self.forgot_floor = Some(floor);
        self
    }

    /// Builds the app as `keygate serve` does (`runtime::build`, local mode).
    pub async fn start(self) -> App {
        let dir = TempDir::new("inproc");
        let outbox = dir.path().join("outbox.jsonl");
        let mut env: HashMap<String, String> = HashMap::from([
            ("KEYGATE_MAILER".into(), "outbox".into()),
            ("KEYGATE_OUTBOX".into(), outbox.display().to_string()),
            ("KEYGATE_DATA_DIR".into(), dir.join("data")),
        ]);
        env.extend(self.env);
        let config = Config::from_lookup(Host::Local, |k| env.get(k).cloned()).unwrap();
        let mut app = build(config, Mode::Local).await.unwrap();
        if let Some(floor) = self.forgot_floor {
            app.forgot_floor = floor;
        }
        App {
            app: Arc::new(app),
            dir,
            outbox,
        }
    }
}

impl App {
    /// The defaults, to add to.
    pub fn setup() -> Setup {
        Setup {
            env: HashMap::new(),
            forgot_floor: None,
        }
    }

    /// The defaults plus `extra`, with forgot-password answers held to 20 ms (the tests wait
    /// for them).
    pub async fn start(extra: &[(&str, &str)]) -> App {
        App::setup()
            .envs(extra)
            .forgot_floor(Duration::from_millis(20))
            .start()
            .await
    }

    /// `req` through the handler: the answer as the transport gets it.
    pub async fn handle(&self, req: impl Into<Request>) -> Response {
        handle(&self.app, Function::Local, req.into()).await
    }

    /// `req` through the handler.
    pub async fn send(&self, req: impl Into<Request>) -> Resp {
        send(&self.app, req).await
    }

    /// A request with `headers` and `body`; `path` may carry a query string.
    pub async fn call(&self, method: Method, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        self.send(request(method, path).headers(headers).body(body)).await
    }

    /// A JSON POST.
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(request(Method::POST, path).json(&body)).await
    }

    /// A form POST, with an `Authorization` value or not.
    pub async fn post_form(&self, path: &str, auth: Option<&str>, form: &str) -> Resp {
        let mut req = request(Method::POST, path).form(form);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        self.send(req).await
    }

    /// A password login at `/auth/token`, by JSON.
    pub async fn login(&self, user: &str, pw: &str) -> Resp {
        self.post(
            "/auth/token",
            json!({"grant_type": "password", "username": user, "password": pw}),
        )
        .await
    }

    /// Creates a user with the password [`PW`].
    pub async fn user(&self, name: &str, roles: &[&str], email: Option<&str>) {
        self.app
            .create_user(NewUser {
                username: name.into(),
                password: PW.into(),
                email: email.map(str::to_owned),
                roles: roles.iter().map(|r| r.to_string()).collect(),
            })
            .await
            .unwrap();
    }

    /// A verifier of this app's access tokens, from its published JWKS.
    pub async fn verifier(&self) -> Verifier {
        let r = self.call(Method::GET, "/.well-known/jwks.json", &[], "").await;
        let jwks: Jwks = serde_json::from_value(r.body).unwrap();
        Verifier::new(
            VerifyOptions {
                issuer: "http://127.0.0.1:3000".into(),
                audience: "keygate".into(),
                leeway: 30,
                max_lifetime: 900,
            },
            &jwks,
        )
    }

    /// Every mail in the outbox so far, oldest first.
    pub fn outbox_lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.outbox)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl std::ops::Deref for App {
    type Target = Keygate;
    fn deref(&self) -> &Keygate {
        &self.app
    }
}
