//! keygate-sdk against a real `keygate serve`: the guard (tower layer and axum extractor), the
//! refreshing client, and the two runnable examples.

use keygate_sdk::client::Client;
use keygate_tests::bins::{access_token, binary, http};
use keygate_tests::serve::{ADMIN, Server, spawn_listening};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::process::Command;

const ADMIN_PW: &str = ADMIN.1;

fn example(name: &str) -> std::path::PathBuf {
    let bin = binary("keygate");
    let path = bin.parent().unwrap().join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build with `cargo build --workspace --all-targets`",
        path.display()
    );
    path
}

fn keygate_serve(ttl: &str) -> (Server, SocketAddr) {
    let s = Server::start(&[("KEYGATE_ACCESS_TOKEN_TTL", ttl)]);
    let addr = s.addr;
    (s, addr)
}

fn admin_call(k: SocketAddr, path: &str, body: &Value) -> Value {
    let token = format!("Bearer {}", access_token(k, ADMIN.0, ADMIN_PW));
    let r = http(
        k,
        "POST",
        path,
        &[("content-type", "application/json"), ("authorization", &token)],
        &body.to_string(),
    );
    assert!(r.status < 300, "{path}: {} {}", r.status, r.body);
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_client_and_examples_against_keygate_serve() {
    let (_kg, k) = keygate_serve("900");
    let key = admin_call(
        k,
        "/admin/api-keys",
        &json!({"name": "thermometer", "roles": ["device"]}),
    );
    let api_key = key["api_key"].as_str().unwrap().to_owned();

    // The protected service example, verifying with keygate's published JWKS.
    let mut cmd = Command::new(example("protected_service"));
    cmd.env("KEYGATE_JWKS_URL", format!("http://{k}/.well-known/jwks.json"))
        .env("ADDR", "127.0.0.1:0");
    let (_svc, s) = spawn_listening(cmd);

    // The device example: API-key login, then a call with auth.
    let out = Command::new(example("device"))
        .env("KEYGATE_URL", format!("http://{k}"))
        .env("KEYGATE_API_KEY", &api_key)
        .env("SERVICE_URL", format!("http://{s}/readings"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("200 "), "{stdout}");
    assert!(
        stdout.contains(&format!("apikey:{}", key["key_id"].as_str().unwrap())),
        "{stdout}"
    );

    // The guard: 401 with a challenge without a token, 403 without the role, 200 with it.
    let none = http(s, "GET", "/readings", &[], "");
    assert_eq!(none.status, 401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer error=\"invalid_token\""));
    assert_eq!(none.json()["error"], "invalid_token");
    let bad = http(s, "GET", "/readings", &[("authorization", "Bearer not.a.token")], "");
    assert_eq!(bad.status, 401);
    let device = Client::with_api_key(&format!("http://{k}"), &api_key).unwrap();
    let r = device.get(&format!("http://{s}/admin/report")).await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        r.headers.get("www-authenticate").unwrap(),
        "Bearer error=\"insufficient_scope\""
    );
    let admin = Client::with_password(&format!("http://{k}"), "admin", ADMIN_PW).unwrap();
    let r = admin.get(&format!("http://{s}/admin/report")).await.unwrap();
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.json()["report"], "ok");

    // Wrong credentials are an error, not a panic.
    let wrong = Client::with_password(&format!("http://{k}"), "admin", "not the password at all").unwrap();
    match wrong.access_token().await {
        Err(keygate_sdk::client::ClientError::Refused { status: 401, error }) => assert_eq!(error, "invalid_grant"),
        other => panic!("{other:?}"),
    }
}

/// The share-link example: a read-only resource for link holders, verified with keygate's
/// JWKS and revocation list alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_graph_example_serves_link_holders_until_revoked() {
    let (_kg, k) = keygate_serve("900");
    let admin = access_token(k, ADMIN.0, ADMIN_PW);
    let bearer = format!("Bearer {admin}");
    let mint = |resource: &str| {
        let r = http(
            k,
            "POST",
            "/auth/share",
            &[("content-type", "application/json"), ("authorization", &bearer)],
            &json!({ "resource": resource }).to_string(),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        (
            r.json()["share_id"].as_str().unwrap().to_owned(),
            r.json()["token"].as_str().unwrap().to_owned(),
        )
    };
    let (_, live) = mint("/graphs/42");
    let (dead_id, dead) = mint("/graphs/7");
    let (_, not_theirs) = mint("/graphs/43");
    let admin_sub = keygate_sdk::Verifier::new(
        keygate_sdk::VerifyOptions {
            issuer: "http://127.0.0.1:3000".into(),
            audience: "keygate".into(),
            leeway: 30,
            max_lifetime: 900,
        },
        &serde_json::from_str(&http(k, "GET", "/.well-known/jwks.json", &[], "").body).unwrap(),
    )
    .verify(&admin, keygate_shared::domain::time::now())
    .unwrap()
    .sub;
    let del = http(
        k,
        "DELETE",
        &format!("/auth/share/{dead_id}"),
        &[("authorization", &bearer)],
        "",
    );
    assert_eq!(del.status, 204);

    // keygate serve's issuer is its default, http://127.0.0.1:3000, as is the example's.
    let mut cmd = Command::new(example("shared_graph"));
    cmd.env("KEYGATE_JWKS_URL", format!("http://{k}/.well-known/jwks.json"))
        .env(
            "KEYGATE_SHARE_REVOCATIONS_URL",
            format!("http://{k}/auth/share/revoked"),
        )
        .env("ADDR", "127.0.0.1:0")
        // The admin owns 42 and 7; someone else owns 43.
        .env(
            "GRAPH_OWNERS",
            format!("42={admin_sub},7={admin_sub},43=0b9f3c1e-5d2a-4e8f-9a61-2f7d3c4b5a69"),
        );
    let (_svc, s) = spawn_listening(cmd);
    let get = |path: String| http(s, "GET", &path, &[], "");
    let r = get(format!("/graphs/42/nodes?share={live}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"], "/graphs/42/nodes");
    for path in [
        format!("/graphs/420?share={live}"),
        format!("/graphs/43?share={live}"),
        "/graphs/42".to_owned(),
        format!("/graphs/7?share={dead}"),
        format!("/graphs/43?share={not_theirs}"),
        format!("/graphs/42?share={admin}"),
    ] {
        assert_eq!(get(path.clone()).status, 404, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_refreshes_serializes_and_falls_back_to_login() {
    // One-second access tokens: the client renews at expiry (margin 0 for such short lives).
    let (_kg, k) = keygate_serve("1");
    admin_call(
        k,
        "/admin/users",
        &json!({"username": "dev", "password": "tangerine kite orbit 42", "roles": ["reader"]}),
    );
    let client =
        std::sync::Arc::new(Client::with_password(&format!("http://{k}"), "dev", "tangerine kite orbit 42").unwrap());
    let first = client.access_token().await.unwrap();
    assert_eq!(client.access_token().await.unwrap(), first, "cached while fresh");

    // Wait for the access token to expire (a state change, not a timing assertion).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.access_token().await.unwrap() })
        })
        .collect();
    let mut tokens = Vec::new();
    for t in tasks {
        tokens.push(t.await.unwrap());
    }
    assert!(
        tokens.iter().all(|t| t == &tokens[0]),
        "one refresh for all concurrent callers"
    );
    assert_ne!(tokens[0], first);

    // Sessions revoked by an operator: the refresh fails, the client logs in afresh.
    let admin = format!("Bearer {}", access_token(k, ADMIN.0, ADMIN_PW));
    let r = http(
        k,
        "POST",
        "/admin/users/dev/revoke-sessions",
        &[("authorization", &admin)],
        "",
    );
    assert_eq!(r.status, 204);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = client.access_token().await.unwrap();
    assert_ne!(after, tokens[0]);
    let v = http(
        k,
        "GET",
        "/auth/validate",
        &[("authorization", &format!("Bearer {after}"))],
        "",
    );
    assert_eq!(v.status, 200, "the new token is valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_renews_once_after_a_401() {
    use axum::extract::State;
    use axum::http::{HeaderMap, StatusCode};
    use std::sync::{Arc, Mutex};
    let (_kg, k) = keygate_serve("900");
    admin_call(
        k,
        "/admin/users",
        &json!({"username": "eve", "password": "tangerine kite orbit 42", "roles": []}),
    );
    // A service that refuses the first token it sees (as after a key rotation it has not
    // learned yet) and accepts the next.
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let app = axum::Router::new()
        .route(
            "/data",
            axum::routing::get(|State(seen): State<Arc<Mutex<Vec<String>>>>, h: HeaderMap| async move {
                let auth = h
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let mut seen = seen.lock().unwrap();
                seen.push(auth);
                if seen.len() == 1 {
                    StatusCode::UNAUTHORIZED
                } else {
                    StatusCode::OK
                }
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let s = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = Client::with_password(&format!("http://{k}"), "eve", "tangerine kite orbit 42").unwrap();
    let r = client.get(&format!("http://{s}/data")).await.unwrap();
    assert_eq!(r.status, 200);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "exactly one retry");
    assert_ne!(seen[0], seen[1], "the retry carries a renewed token");
    assert!(seen.iter().all(|a| a.starts_with("Bearer ")));
}

/// A stand-in for keygate whose refresh endpoint answers `first_refresh` once, then 200.
/// Records the logins and the refresh tokens presented.
#[derive(Default)]
struct FakeKeygate {
    logins: std::sync::atomic::AtomicUsize,
    refreshes: std::sync::Mutex<Vec<String>>,
}

async fn fake_keygate(first_refresh: (u16, &'static str)) -> (SocketAddr, std::sync::Arc<FakeKeygate>) {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode;
    use std::sync::Arc;
    let fake = Arc::new(FakeKeygate::default());
    let app = axum::Router::new()
        .route(
            "/auth/token",
            axum::routing::post(|State(f): State<Arc<FakeKeygate>>| async move {
                f.logins.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                // Already due for renewal, and expired: the next call must refresh.
                Json(json!({"access_token": "a1", "token_type": "Bearer", "expires_in": 0, "refresh_token": "r1"}))
            }),
        )
        .route(
            "/auth/refresh",
            axum::routing::post(move |State(f): State<Arc<FakeKeygate>>, Json(body): Json<Value>| async move {
                let n = {
                    let mut seen = f.refreshes.lock().unwrap();
                    seen.push(body["refresh_token"].as_str().unwrap_or("").to_owned());
                    seen.len()
                };
                if n == 1 {
                    let (status, error) = first_refresh;
                    return (StatusCode::from_u16(status).unwrap(), Json(json!({"error": error})));
                }
                (
                    StatusCode::OK,
                    Json(json!({"access_token": "a2", "token_type": "Bearer", "expires_in": 900, "refresh_token": "r2"})),
                )
            }),
        )
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, fake)
}

/// A refresh that answers 503 or 429 does not end the session: the call fails, the next one
/// refreshes again with the same refresh token, and the client never logs in afresh (it used to
/// drop the session and log in again at the first refresh failure).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_keeps_its_session_when_refresh_is_unavailable() {
    use keygate_sdk::client::ClientError;
    for (status, error) in [(503, "temporarily_unavailable"), (429, "too_many_attempts")] {
        let (k, fake) = fake_keygate((status, error)).await;
        let client = Client::with_password(&format!("http://{k}"), "dev", "pw").unwrap();
        assert_eq!(client.access_token().await.unwrap(), "a1");
        match client.access_token().await {
            Err(ClientError::Unavailable { status: s, error: e }) => assert_eq!((s, e.as_str()), (status, error)),
            other => panic!("{status}: {other:?}"),
        }
        assert_eq!(
            client.access_token().await.unwrap(),
            "a2",
            "{status}: the next call refreshes"
        );
        assert_eq!(client.access_token().await.unwrap(), "a2", "{status}: and caches");
        assert_eq!(
            fake.logins.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{status}: one login"
        );
        assert_eq!(
            *fake.refreshes.lock().unwrap(),
            ["r1", "r1"],
            "{status}: the same session"
        );
    }
    // invalid_grant does end the session: the client logs in afresh.
    let (k, fake) = fake_keygate((401, "invalid_grant")).await;
    let client = Client::with_password(&format!("http://{k}"), "dev", "pw").unwrap();
    assert_eq!(client.access_token().await.unwrap(), "a1");
    assert_eq!(client.access_token().await.unwrap(), "a1", "logged in afresh");
    assert_eq!(fake.logins.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// A server that accepts connections and never answers: the client gives up after its timeout
/// with `ClientError::Timeout` (it used to wait forever, holding its lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_times_out_on_a_hung_server() {
    use keygate_sdk::client::ClientError;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let client = std::sync::Arc::new(
        Client::with_password(&format!("http://{addr}"), "dev", "pw")
            .unwrap()
            .timeout(std::time::Duration::from_millis(300)),
    );
    // Two callers at once: both get the timeout (one login attempt, shared), none hangs.
    let calls = (0..2).map(|_| {
        let c = client.clone();
        tokio::spawn(async move { c.access_token().await })
    });
    for call in calls {
        let outcome = tokio::time::timeout(std::time::Duration::from_secs(60), call)
            .await
            .expect("the client hung")
            .unwrap();
        assert!(matches!(outcome, Err(ClientError::Timeout(_))), "{outcome:?}");
    }
    let api = client.get(&format!("http://{addr}/data")).await;
    assert!(matches!(api, Err(ClientError::Timeout(_))), "{api:?}");
}
