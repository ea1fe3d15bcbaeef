//! Every Lambda front door of the HTTP functions (contract section 2): API Gateway REST APIs,
//! HTTP APIs with payload 1.0 and 2.0, Application Load Balancers and function URLs. Each event
//! in `events/front-doors/` is converted in process first (what the router receives, the shape
//! of the answer), then fed to the function binaries under the Runtime API emulator.

use http::header::SET_COOKIE;
use http::{HeaderValue, StatusCode};
use keygate_shared::http::lambda::FrontDoor;
use keygate_shared::http::{Request, Response};
use keygate_tests::emulator::LambdaProcess;
use keygate_tests::fixtures::{Env, PW};
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service as _};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Every front door, by the prefix of its events' names.
const KINDS: [&str; 5] = ["rest-v1", "http-v1", "http-v2", "alb", "function-url"];
/// The functions each front door's events are written for.
const FUNCTIONS: [&str; 2] = ["authenticate", "jwks"];

const PASSWORD_JSON: &str = r#"{"grant_type": "password", "username": "ann", "password": "tangerine kite orbit 42"}"#;
const PASSWORD_FORM: &str = "grant_type=password&username=ann&password=tangerine+kite+orbit+42";

fn fixture(kind: &str, function: &str) -> Value {
    let name = format!("{kind}-{function}.json");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events/front-doors")
        .join(&name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The same event with a body flagged base64 that is not base64.
fn with_bad_base64(mut event: Value) -> Value {
    event["isBase64Encoded"] = json!(true);
    event["body"] = json!("%%%not-base64%%%");
    event
}

/// What a front door made of an event: the request its handler got (if it was called) and the
/// answer it shaped. The handler answers 200 with two `Set-Cookie` headers.
async fn through(event: Value) -> (Option<Request>, Value) {
    let seen = Arc::new(Mutex::new(None));
    let record = seen.clone();
    let mut door = FrontDoor::new(move |req: Request| {
        let record = record.clone();
        async move {
            *record.lock().unwrap() = Some(req);
            Response::json(StatusCode::OK, &json!({"ok": true}))
                .with_header(SET_COOKIE, HeaderValue::from_static("a=1; Secure"))
                .with_header(SET_COOKIE, HeaderValue::from_static("b=2; Secure"))
        }
    });
    let payload: LambdaRequest = serde_json::from_value(event).expect("lambda_http reads the event");
    let mut context = Context::default();
    context.request_id = "c0ffee00-0000-4000-8000-000000000001".into();
    let answer = door.call(LambdaEvent::new(payload, context)).await.unwrap();
    let seen = seen.lock().unwrap().take();
    (seen, serde_json::to_value(answer).unwrap())
}

/// The values of a header in an answer of any shape (`headers`, `multiValueHeaders`, `cookies`).
fn header_values(answer: &Value, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = answer["multiValueHeaders"][name].as_array() {
        out.extend(v.iter().filter_map(|s| s.as_str().map(str::to_owned)));
    }
    if out.is_empty()
        && let Some(v) = answer["headers"][name].as_str()
    {
        out.push(v.to_owned());
    }
    if name == "set-cookie"
        && let Some(v) = answer["cookies"].as_array()
    {
        out.extend(v.iter().filter_map(|s| s.as_str().map(str::to_owned)));
    }
    out
}

fn is_empty_map(v: &Value) -> bool {
    v.is_null() || v.as_object().is_some_and(|m| m.is_empty())
}

/// The answer is in the shape `kind` reads: multi-value headers for REST APIs, HTTP API payload
/// 1.0 and ALB (with a status line for ALB); `cookies` and single-value headers for payload 2.0
/// and function URLs.
fn assert_shape(kind: &str, answer: &Value) {
    assert_eq!(answer["isBase64Encoded"], false, "{kind}: {answer}");
    assert!(answer["statusCode"].is_i64(), "{kind}: {answer}");
    match kind {
        "rest-v1" | "http-v1" => {
            assert!(
                answer["multiValueHeaders"]["content-type"].is_array(),
                "{kind}: {answer}"
            );
            assert!(
                is_empty_map(&answer["headers"]),
                "{kind}: API Gateway would merge both: {answer}"
            );
            assert!(answer.get("cookies").is_none() && answer.get("statusDescription").is_none());
        }
        "alb" => {
            assert!(
                answer["multiValueHeaders"]["content-type"].is_array(),
                "{kind}: {answer}"
            );
            assert!(answer["headers"]["content-type"].is_string(), "{kind}: {answer}");
            let status = answer["statusCode"].as_i64().unwrap();
            assert!(
                answer["statusDescription"]
                    .as_str()
                    .is_some_and(|d| d.starts_with(&status.to_string())),
                "{kind}: {answer}"
            );
        }
        "http-v2" | "function-url" => {
            assert!(answer["headers"]["content-type"].is_string(), "{kind}: {answer}");
            assert!(answer["headers"].get("set-cookie").is_none(), "{kind}: {answer}");
            assert!(is_empty_map(&answer["multiValueHeaders"]), "{kind}: {answer}");
        }
        other => panic!("unknown front door {other}"),
    }
}

fn body_text(req: &Request) -> &str {
    std::str::from_utf8(req.body.as_deref().expect("body within the cap")).unwrap()
}

#[tokio::test]
async fn lambda_http_reads_each_fixture_as_its_front_door() {
    for kind in KINDS {
        for function in FUNCTIONS {
            let payload: LambdaRequest = serde_json::from_value(fixture(kind, function)).unwrap();
            let expected = match kind {
                "rest-v1" | "http-v1" => matches!(payload, LambdaRequest::ApiGatewayV1(_)),
                "http-v2" | "function-url" => matches!(payload, LambdaRequest::ApiGatewayV2(_)),
                "alb" => matches!(payload, LambdaRequest::Alb(_)),
                _ => false,
            };
            assert!(expected, "{kind}-{function} read as {payload:?}");
        }
    }
}

#[tokio::test]
async fn each_login_event_becomes_the_request_the_router_expects() {
    for kind in KINDS {
        let (req, answer) = through(fixture(kind, "authenticate")).await;
        let req = req.unwrap_or_else(|| panic!("{kind}: the handler was not called: {answer}"));
        assert_eq!(req.method, http::Method::POST, "{kind}");
        // No stage (`/live`), no custom-domain base path (`/identity`).
        assert_eq!(req.path, "/auth/token", "{kind}");
        let body = if matches!(kind, "http-v1" | "function-url") {
            PASSWORD_FORM
        } else {
            PASSWORD_JSON
        };
        assert_eq!(body_text(&req), body, "{kind}: base64 bodies arrive decoded");
        assert!(req.headers.get("content-type").is_some(), "{kind}");
        assert_eq!(req.request_id, "c0ffee00-0000-4000-8000-000000000001", "{kind}");
        assert_eq!(
            req.source_ip.map(|ip| ip.to_string()).as_deref(),
            Some("203.0.113.7"),
            "{kind}: the address the front door saw"
        );
        assert_shape(kind, &answer);
        assert_eq!(answer["statusCode"], 200, "{kind}");
        assert_eq!(
            header_values(&answer, "set-cookie"),
            ["a=1; Secure", "b=2; Secure"],
            "{kind}: {answer}"
        );
    }
}

#[tokio::test]
async fn payload_2_cookies_reach_the_router_as_one_cookie_header() {
    let (req, _) = through(fixture("http-v2", "authenticate")).await;
    assert_eq!(req.unwrap().headers["cookie"], "theme=dark; lang=en");
    let (req, _) = through(fixture("function-url", "authenticate")).await;
    assert_eq!(req.unwrap().headers["cookie"], "theme=dark");
}

#[tokio::test]
async fn each_key_set_event_becomes_a_get_of_the_key_set() {
    for kind in KINDS {
        let (req, answer) = through(fixture(kind, "jwks")).await;
        let req = req.unwrap_or_else(|| panic!("{kind}: the handler was not called: {answer}"));
        assert_eq!(req.method, http::Method::GET, "{kind}");
        assert_eq!(req.path, "/.well-known/jwks.json", "{kind}");
        let query = match kind {
            "http-v2" => Some("cache=no"),
            "alb" => Some("v=1"),
            _ => None,
        };
        assert_eq!(req.query.as_deref(), query, "{kind}");
        assert!(req.body.as_deref().is_some_and(<[u8]>::is_empty), "{kind}");
        assert_shape(kind, &answer);
    }
}

#[tokio::test]
async fn a_body_flagged_base64_that_is_not_gets_400_in_each_shape() {
    for kind in KINDS {
        let (req, answer) = through(with_bad_base64(fixture(kind, "authenticate"))).await;
        assert!(req.is_none(), "{kind}: the handler must not run");
        assert_shape(kind, &answer);
        assert_eq!(answer["statusCode"], 400, "{kind}: {answer}");
        let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["error"], "invalid_request", "{kind}: {answer}");
        assert!(header_values(&answer, "set-cookie").is_empty());
    }
}

#[tokio::test]
async fn an_answer_without_a_body_carries_none_in_each_shape() {
    for kind in KINDS {
        let mut door = FrontDoor::new(|_: Request| async { Response::empty(StatusCode::NO_CONTENT) });
        let payload: LambdaRequest = serde_json::from_value(fixture(kind, "jwks")).unwrap();
        let answer = door.call(LambdaEvent::new(payload, Context::default())).await.unwrap();
        let answer = serde_json::to_value(answer).unwrap();
        assert_eq!(answer["statusCode"], 204, "{kind}: {answer}");
        assert!(answer["body"].is_null(), "{kind}: {answer}");
    }
}

#[test]
fn every_front_door_event_is_a_known_kind_and_function() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events/front-doors");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("events/front-doors/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected: Vec<String> = KINDS
        .iter()
        .flat_map(|k| FUNCTIONS.iter().map(move |f| format!("{k}-{f}.json")))
        .collect();
    expected.sort();
    assert_eq!(names, expected, "each event here is fed to its function by this file");
}

/// An answer from a function binary: status, headers of any shape, JSON body.
struct Answer {
    status: i64,
    raw: Value,
    body: Value,
}

async fn invoke(f: &mut LambdaProcess, kind: &str, event: Value) -> Answer {
    let raw = match f.invoke(event).await {
        Ok(v) => v,
        Err(e) => panic!("{kind}: invocation failed: {e:?}\n{}", f.logs()),
    };
    assert_shape(kind, &raw);
    let body = raw["body"]
        .as_str()
        .map(|b| serde_json::from_str(b).unwrap())
        .unwrap_or(Value::Null);
    Answer {
        status: raw["statusCode"].as_i64().unwrap(),
        raw,
        body,
    }
}

#[tokio::test]
async fn the_authenticate_binary_answers_every_front_door() {
    let env = Env::new().await;
    let mut f = env.start("authenticate").await;
    for kind in KINDS {
        let a = invoke(&mut f, kind, fixture(kind, "authenticate")).await;
        assert_eq!(a.status, 200, "{kind}: {}", a.raw);
        assert!(a.body["access_token"].is_string() && a.body["refresh_token"].is_string());
        assert_eq!(header_values(&a.raw, "cache-control"), ["no-store"], "{kind}");
        let bad = invoke(&mut f, kind, with_bad_base64(fixture(kind, "authenticate"))).await;
        assert_eq!(
            (bad.status, bad.body["error"].as_str()),
            (400, Some("invalid_request")),
            "{kind}"
        );
        // Another function's route is not served here, whatever the front door.
        let other = invoke(&mut f, kind, fixture(kind, "jwks")).await;
        assert_eq!(
            (other.status, other.body["error"].as_str()),
            (404, Some("not_found")),
            "{kind}"
        );
    }
    // Still answering after the refusals.
    let a = invoke(&mut f, "alb", fixture("alb", "authenticate")).await;
    assert_eq!(a.status, 200);
    let logs = f.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    assert!(!logs.contains(PW), "a password reached the log");
}

#[tokio::test]
async fn the_jwks_binary_answers_every_front_door() {
    let env = Env::new().await;
    let mut f = env.start("jwks").await;
    let kid = env.app.keys.signing_key().await.unwrap().kid().to_owned();
    for kind in KINDS {
        let a = invoke(&mut f, kind, fixture(kind, "jwks")).await;
        assert_eq!(a.status, 200, "{kind}: {}", a.raw);
        let keys = a.body["keys"].as_array().unwrap();
        assert!(keys.iter().any(|k| k["kid"] == kid.as_str()), "{kind}");
        assert!(
            header_values(&a.raw, "cache-control")
                .first()
                .is_some_and(|c| c.starts_with("public, max-age=")),
            "{kind}: {}",
            a.raw
        );
        let login = invoke(&mut f, kind, fixture(kind, "authenticate")).await;
        assert_eq!(login.status, 404, "{kind}");
    }
}

/// The event with a header set to `value` wherever the event carries headers.
fn with_header(mut event: Value, name: &str, value: &str) -> Value {
    if let Some(h) = event["headers"].as_object_mut() {
        h.retain(|k, _| !k.eq_ignore_ascii_case(name));
        h.insert(name.into(), json!(value));
    }
    if let Some(h) = event["multiValueHeaders"].as_object_mut() {
        h.retain(|k, _| !k.eq_ignore_ascii_case(name));
        h.insert(name.into(), json!([value]));
    }
    event
}

/// Runs `event` through a front door on its own task, so that a panic fails with its event.
async fn answered(what: &str, event: Value) -> (Option<Request>, Value) {
    tokio::spawn(through(event))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e:?}"))
}

/// `lambda_http` unwraps the URI it builds from `Host`, `X-Forwarded-Proto`, the path and the
/// payload 2.0 query: a client's `Host` passed on by an ALB, or a raw `"` in an HTTP API query,
/// would be a panic (a 502 at the front door) without the check.
#[tokio::test]
async fn hostile_hosts_and_queries_get_an_answer_never_a_panic() {
    for host in ["a{b", "[::1", "h:99999", "a b", "exa\"mple", "@", "a%zz"] {
        for kind in KINDS {
            let what = format!("{kind} with Host {host:?}");
            let (req, answer) = answered(&what, with_header(fixture(kind, "jwks"), "host", host)).await;
            assert!(req.is_none(), "{what}: the handler must not run");
            assert_shape(kind, &answer);
            assert_eq!(answer["statusCode"], 400, "{what}: {answer}");
            assert!(answer["body"].as_str().unwrap().contains("invalid_request"), "{what}");
        }
    }
    for proto in ["ht tp", "", "1x"] {
        let what = format!("alb with X-Forwarded-Proto {proto:?}");
        let (req, answer) = answered(&what, with_header(fixture("alb", "jwks"), "x-forwarded-proto", proto)).await;
        assert!(req.is_none(), "{what}");
        assert_eq!(answer["statusCode"], 400, "{what}: {answer}");
    }
    let queries = [
        ("a=\"x\"", "a=%22x%22"),
        ("a=<b>&c=d e", "a=%3Cb%3E&c=d%20e"),
        ("q=%41{|}", "q=%41%7B%7C%7D"),
        ("a=b&c=~!*'()", "a=b&c=~!*'()"),
    ];
    for (raw, seen) in queries {
        let mut event = fixture("http-v2", "jwks");
        event["rawQueryString"] = json!(raw);
        let (req, answer) = answered(raw, event).await;
        assert_eq!(answer["statusCode"], 200, "{raw}: {answer}");
        assert_eq!(req.unwrap().query.as_deref(), Some(seen), "{raw}");
    }
    for path in ["/a b", "/a\"b", "/a{b}", "//x", "/%zz", "/\u{fc}"] {
        for kind in ["rest-v1", "http-v2", "alb"] {
            let mut event = fixture(kind, "jwks");
            event[if kind == "http-v2" { "rawPath" } else { "path" }] = json!(path);
            let what = format!("{kind} path {path:?}");
            let (req, answer) = answered(&what, event).await;
            assert_eq!(answer["statusCode"], 200, "{what}: {answer}");
            assert!(req.is_some(), "{what}");
        }
    }
}
