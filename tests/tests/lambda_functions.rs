//! Every token function binary under the Lambda Runtime API emulator, fed the events in
//! `events/`, against DynamoDB and Secrets Manager in moto.

use futures::future::join_all;
use keygate_tests::bins::binary;
use keygate_tests::emulator::{InvokeError, LambdaProcess};
use keygate_tests::fixtures::{Env, PW, event, invoke};
use serde_json::{Value, json};

fn report_init(name: &str, f: &LambdaProcess) {
    // Recorded, not asserted: see BENCHMARKS.md for the measurement.
    eprintln!("{name}: init {:?}", f.init_duration());
}

#[tokio::test]
async fn authenticate_function() {
    let env = Env::new().await;
    let mut f = env.start("authenticate").await;
    for name in [
        "authenticate-password.json",
        "authenticate-form.json",
        "authenticate-basic.json",
    ] {
        let a = invoke(&mut f, event(name, &[])).await;
        assert_eq!(a.status, 200, "{name}: {}", a.body);
        assert_eq!(a.headers["cache-control"], "no-store");
        assert_eq!(a.headers["content-type"], "application/json");
        assert!(a.body["refresh_token"].is_string() && a.body["access_token"].is_string());
    }
    report_init("authenticate", &f);
    let key = env
        .app
        .create_api_key("sensor-7", &["device".into()], None)
        .await
        .unwrap();
    let a = invoke(
        &mut f,
        event("authenticate-api-key.json", &[("REPLACE_WITH_API_KEY", &key.api_key)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.get("refresh_token").is_none());
    let a = invoke(
        &mut f,
        event("authenticate-password.json", &[(PW, "not the password at all")]),
    )
    .await;
    assert_eq!((a.status, a.body["error"].as_str()), (401, Some("invalid_grant")));
    let a = invoke(&mut f, event("authenticate-malformed.json", &[])).await;
    assert_eq!((a.status, a.body["error"].as_str()), (400, Some("invalid_request")));
    let a = invoke(&mut f, event("authenticate-bad-base64.json", &[])).await;
    assert_eq!((a.status, a.body["error"].as_str()), (400, Some("invalid_request")));
    // The function still answers after bad input.
    assert_eq!(
        invoke(&mut f, event("authenticate-password.json", &[])).await.status,
        200
    );
    // Another function's route is not served here.
    assert_eq!(invoke(&mut f, event("jwks.json", &[])).await.status, 404);
}

#[tokio::test]
async fn refresh_and_revoke_functions() {
    let env = Env::new().await;
    let mut refresh = env.start("refresh").await;
    let mut revoke = env.start("revoke").await;
    let r1 = env
        .app
        .password_login("ann", PW, None)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    let ev = event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &r1)]);
    let a = invoke(&mut refresh, ev.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let r2 = a.body["refresh_token"].as_str().unwrap().to_owned();
    report_init("refresh", &refresh);
    let again = invoke(&mut refresh, ev).await;
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (401, Some("invalid_grant"))
    );
    // Reuse revoked the family: r2 is dead too.
    let a = invoke(
        &mut refresh,
        event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &r2)]),
    )
    .await;
    assert_eq!(a.status, 401);

    let r = env
        .app
        .password_login("ann", PW, None)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    let a = invoke(&mut revoke, event("revoke.json", &[("REPLACE_WITH_REFRESH_TOKEN", &r)])).await;
    assert_eq!((a.status, &a.body), (200, &json!({})));
    report_init("revoke", &revoke);
    let a = invoke(
        &mut refresh,
        event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &r)]),
    )
    .await;
    assert_eq!(a.status, 401);
    let a = invoke(
        &mut revoke,
        event("revoke.json", &[("REPLACE_WITH_REFRESH_TOKEN", "garbage")]),
    )
    .await;
    assert_eq!((a.status, &a.body), (200, &json!({})));
}

#[tokio::test]
async fn jwks_function() {
    let env = Env::new().await;
    // The jwks function reads only the published public keys: no secret id, no secret access.
    let mut f = LambdaProcess::start(
        &binary("jwks"),
        &[("KEYGATE_TABLE", &env.table), ("KEYGATE_SIGNING_SECRET_ID", "")],
    )
    .await;
    let a = invoke(&mut f, event("jwks.json", &[])).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let kid = env.app.keys.signing_key().await.unwrap().kid().to_owned();
    let keys = a.body["keys"].as_array().unwrap();
    assert!(
        keys.iter()
            .any(|k| k["kid"] == kid.as_str() && k["use"] == "sig" && k["alg"] == "RS256")
    );
    assert!(keys.iter().all(|k| k.get("d").is_none()));
    assert!(
        a.headers["cache-control"]
            .as_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    report_init("jwks", &f);
    let d = invoke(&mut f, event("openid-configuration.json", &[])).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.body["issuer"], "http://127.0.0.1:3000");
}

#[tokio::test]
async fn forgot_password_functions() {
    let env = Env::new().await;
    let mut request = env.start("forgot-password-request").await;
    let mut confirm = env.start("forgot-password-confirm").await;
    let a = invoke(&mut request, event("forgot-password-request.json", &[])).await;
    assert_eq!((a.status, &a.body), (202, &json!({"status": "accepted"})));
    let unknown = invoke(
        &mut request,
        event("forgot-password-request.json", &[("\\\"ann\\\"", "\\\"nobody\\\"")]),
    )
    .await;
    assert_eq!((unknown.status, &unknown.body), (202, &json!({"status": "accepted"})));
    report_init("forgot-password-request", &request);
    let outbox = std::fs::read_to_string(&env.outbox).unwrap();
    assert_eq!(outbox.lines().count(), 1, "one mail, for the existing account only");
    let mail: Value = serde_json::from_str(outbox.lines().next().unwrap()).unwrap();
    let token = mail["token"].as_str().unwrap();
    let a = invoke(
        &mut confirm,
        event("forgot-password-confirm.json", &[("REPLACE_WITH_RESET_TOKEN", token)]),
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    report_init("forgot-password-confirm", &confirm);
    let again = invoke(
        &mut confirm,
        event("forgot-password-confirm.json", &[("REPLACE_WITH_RESET_TOKEN", token)]),
    )
    .await;
    assert_eq!(
        (again.status, again.body["error"].as_str()),
        (400, Some("invalid_token"))
    );
    assert!(
        env.app
            .password_login("ann", "violet harbor lantern 7", None)
            .await
            .is_ok()
    );
    assert!(env.app.password_login("ann", PW, None).await.is_err());
    let _ = std::fs::remove_file(&env.outbox);
}

#[tokio::test]
async fn bad_configuration_fails_at_start_with_one_line() {
    let mut f = LambdaProcess::start(
        &binary("authenticate"),
        &[("KEYGATE_TABLE", ""), ("KEYGATE_SIGNING_SECRET_ID", "x")],
    )
    .await;
    let status = f.wait_exit().await.expect("the function should exit");
    assert!(!status.success());
    let logs = f.logs();
    assert!(logs.contains("KEYGATE_TABLE"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
    let mut g = LambdaProcess::start(
        &binary("refresh"),
        &[("KEYGATE_TABLE", "t"), ("KEYGATE_ACCESS_TOKEN_TTL", "soon")],
    )
    .await;
    assert!(matches!(g.invoke(json!({})).await, Err(InvokeError::Init(_))));
    g.wait_exit().await;
    assert!(g.logs().contains("KEYGATE_ACCESS_TOKEN_TTL"), "{}", g.logs());
}

#[tokio::test]
async fn admin_function() {
    let env = Env::new().await;
    env.app.ensure_admin("root", PW).await.unwrap();
    let admin = env.app.password_login("root", PW, None).await.unwrap().access_token;
    let reader = env.app.password_login("ann", PW, None).await.unwrap().access_token;
    let mut f = env.start("admin").await;
    let with = |name: &str, token: &str| event(name, &[("REPLACE_WITH_ADMIN_TOKEN", token)]);

    // 401 without a valid token, 403 without the role; neither changes anything.
    let a = invoke(&mut f, with("admin-create-user.json", "not-a-token")).await;
    assert_eq!((a.status, a.body["error"].as_str()), (401, Some("invalid_token")));
    assert!(a.headers["www-authenticate"].as_str().unwrap().starts_with("Bearer"));
    let a = invoke(&mut f, with("admin-create-user.json", &reader)).await;
    assert_eq!((a.status, a.body["error"].as_str()), (403, Some("insufficient_scope")));
    let bob = keygate_shared::domain::UsernameKey::of_any("bob");
    assert!(env.app.store.account(&bob).await.unwrap().is_none());
    report_init("admin", &f);

    let a = invoke(&mut f, with("admin-create-user.json", &admin)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        (a.body["username"].as_str(), a.body["roles"].clone()),
        (Some("bob"), json!(["reader"]))
    );
    let before = env.app.store.account(&bob).await.unwrap().unwrap();
    let dup = invoke(&mut f, with("admin-create-user.json", &admin)).await;
    assert_eq!((dup.status, dup.body["error"].as_str()), (409, Some("conflict")));
    assert_eq!(
        env.app.store.account(&bob).await.unwrap().unwrap(),
        before,
        "a refused create changes nothing"
    );

    let a = invoke(&mut f, with("admin-update-user.json", &admin)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["roles"], json!(["reader", "writer"]));
    let session = env
        .app
        .password_login("bob", "copper meadow signal 9", None)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    let a = invoke(&mut f, with("admin-revoke-sessions.json", &admin)).await;
    assert_eq!(a.status, 204);
    assert!(
        env.app.refresh(&session).await.is_err(),
        "revoked sessions are dead for refresh at once"
    );

    // Strangers' wrong passwords lock bob out; the admin function unlocks him.
    for _ in 0..6 {
        assert!(
            env.app
                .password_login("bob", "not bob's password at all", None)
                .await
                .is_err()
        );
    }
    assert!(
        env.app
            .password_login("bob", "copper meadow signal 9", None)
            .await
            .is_err()
    );
    let a = invoke(&mut f, with("admin-unlock-user.json", &admin)).await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert!(
        env.app
            .password_login("bob", "copper meadow signal 9", None)
            .await
            .is_ok(),
        "unlocked at once"
    );

    let a = invoke(&mut f, with("admin-create-api-key.json", &admin)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let key = a.body["api_key"].as_str().unwrap().to_owned();
    let id = a.body["key_id"].as_str().unwrap().to_owned();
    assert!(env.app.api_key_login(&key).await.is_ok());
    let del = event(
        "admin-delete-api-key.json",
        &[("REPLACE_WITH_ADMIN_TOKEN", &admin), ("REPLACE_WITH_KEY_ID", &id)],
    );
    assert_eq!(invoke(&mut f, del.clone()).await.status, 204);
    assert!(
        env.app.api_key_login(&key).await.is_err(),
        "a deleted key stops working at once"
    );
    assert_eq!(invoke(&mut f, del).await.status, 404);

    // The audit trail: structured lines with the actor and the request id, never a secret.
    let logs = f.logs();
    let audit: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "keygate::audit")
        .collect();
    assert!(
        audit
            .iter()
            .any(|v| v["event"] == "admin" && v["action"] == "create_user" && v["outcome"] == "success"),
        "{logs}"
    );
    assert!(
        audit.iter().any(|v| v["event"] == "admin_request"
            && v["span"]["request_id"].is_string()
            && v["timestamp"].is_string()),
        "{logs}"
    );
    for secret in [
        PW,
        "copper meadow signal 9",
        key.as_str(),
        admin.as_str(),
        session.as_str(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }

    // KEYGATE_ADMIN_API=off: the whole surface is 404.
    let outbox = env.outbox.display().to_string();
    let mut off = LambdaProcess::start(
        &binary("admin"),
        &[
            ("KEYGATE_TABLE", &env.table),
            ("KEYGATE_SIGNING_SECRET_ID", &env.secret),
            ("KEYGATE_ADMIN_API", "off"),
            ("KEYGATE_OUTBOX", &outbox),
        ],
    )
    .await;
    let a = invoke(&mut off, with("admin-create-api-key.json", &admin)).await;
    assert_eq!((a.status, a.body["error"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn login_audit_lines_carry_the_request_id_and_no_secret() {
    let env = Env::new().await;
    let mut f = env.start("authenticate").await;
    assert_eq!(
        invoke(
            &mut f,
            event("authenticate-password.json", &[(PW, "wrong wrong wrong wrong")])
        )
        .await
        .status,
        401
    );
    let ok = invoke(&mut f, event("authenticate-password.json", &[])).await;
    assert_eq!(ok.status, 200);
    let logs = f.logs();
    let audit: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "keygate::audit")
        .collect();
    for outcome in ["failure", "success"] {
        assert!(
            audit.iter().any(|v| v["event"] == "login"
                && v["outcome"] == outcome
                && v["span"]["request_id"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("c0ffee00"))),
            "{logs}"
        );
    }
    for secret in [
        PW,
        "wrong wrong wrong wrong",
        ok.body["access_token"].as_str().unwrap(),
        ok.body["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!logs.contains(secret), "a secret reached the log");
    }
}

/// 24 wrong passwords for one username spread over 8 warm `authenticate` instances on one
/// table, all in flight together: at most 5 are verified (401), the rest get 429 with
/// `Retry-After`. Each instance takes one invocation at a time, as on Lambda.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_wrong_passwords_over_many_instances_verify_at_most_five() {
    const INSTANCES: usize = 8;
    const PER_INSTANCE: usize = 3;
    let env = Env::new().await;
    let mut fns = join_all((0..INSTANCES).map(|_| env.start("authenticate"))).await;
    // Warm every instance first (bad input touches no account), so the guesses overlap.
    for f in &mut fns {
        assert_eq!(invoke(f, event("authenticate-malformed.json", &[])).await.status, 400);
    }
    let wrong = event("authenticate-password.json", &[(PW, "not the password at all")]);
    let answers = join_all(fns.iter_mut().map(|f| {
        let wrong = wrong.clone();
        async move {
            let mut out = Vec::new();
            for _ in 0..PER_INSTANCE {
                out.push(invoke(f, wrong.clone()).await);
            }
            out
        }
    }))
    .await;
    let mut verified = 0;
    for a in answers.into_iter().flatten() {
        match a.status {
            401 => {
                assert_eq!(a.body["error"], "invalid_grant", "{}", a.body);
                verified += 1;
            }
            429 => {
                assert_eq!(a.body["error"], "too_many_attempts", "{}", a.body);
                let retry: i64 = a.headers["retry-after"].as_str().unwrap().parse().unwrap();
                assert!((1..=900).contains(&retry), "Retry-After {retry}");
            }
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
    assert!(
        (1..=5).contains(&verified),
        "{verified} of {} guesses were verified",
        INSTANCES * PER_INSTANCE
    );
}

#[tokio::test]
async fn unavailable_dependencies_get_503_and_never_a_panic() {
    let env = Env::new().await;
    // DynamoDB and Secrets Manager unreachable (nothing listens on port 9).
    let mut f = LambdaProcess::start(
        &binary("authenticate"),
        &[
            ("KEYGATE_TABLE", &env.table),
            ("KEYGATE_SIGNING_SECRET_ID", &env.secret),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ],
    )
    .await;
    let a = invoke(&mut f, event("authenticate-password.json", &[])).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    assert!(
        !a.body["error_description"].as_str().unwrap().contains("127.0.0.1"),
        "internal detail leaked"
    );

    // A signing secret whose value is not a private JWK: a clear 503, logged, not a panic.
    let sdk = keygate_tests::aws::moto_sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let bad = keygate_tests::aws::unique_name("bad-key");
    sm.create_secret()
        .name(&bad)
        .secret_string("{\"kty\":\"RSA\",\"n\":\"AQAB\"}")
        .send()
        .await
        .unwrap();
    let mut j = LambdaProcess::start(
        &binary("authenticate"),
        &[("KEYGATE_TABLE", &env.table), ("KEYGATE_SIGNING_SECRET_ID", &bad)],
    )
    .await;
    let a = invoke(&mut j, event("authenticate-password.json", &[])).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    let logs = j.logs();
    assert!(logs.contains("invalid signing key"), "{logs}");
    assert!(!logs.contains("panicked"), "{logs}");
    // Nothing published yet: the jwks function answers 503, not an empty key set.
    let (_, empty_table) = keygate_tests::aws::fresh_table().await;
    let mut k = LambdaProcess::start(&binary("jwks"), &[("KEYGATE_TABLE", &empty_table)]).await;
    assert_eq!(invoke(&mut k, event("jwks.json", &[])).await.status, 503);
    // The same function on the table where the keys are published answers.
    let mut k = env.start("jwks").await;
    assert_eq!(invoke(&mut k, event("jwks.json", &[])).await.status, 200);
}

/// Every event in `events/` is fed to its function by one of these test files (so an event added
/// for users is also proven to work).
#[test]
fn every_event_in_events_is_fed_to_a_function() {
    let sources = [
        include_str!("lambda_functions.rs"),
        include_str!("authorizer.rs"),
        include_str!("rotation.rs"),
    ]
    .concat();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut events = 0;
    for entry in std::fs::read_dir(&dir).expect("events/") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") {
            continue;
        }
        events += 1;
        // rotation.rs names its events by step: step("create", ..) reads rotate-signing-key-create.json.
        let used = match name
            .strip_prefix("rotate-signing-key-")
            .and_then(|s| s.strip_suffix(".json"))
        {
            Some(step) => sources.contains(&format!("\"{step}\"")),
            None => sources.contains(&format!("\"{name}\"")),
        };
        assert!(used, "events/{name} is not used by any test");
    }
    assert!(events >= 20, "found only {events} events");
}

/// Browser sessions through the functions: payload 2.0 carries the session cookie in the
/// request's `cookies` and the answer's `cookies` (API Gateway turns those into `Set-Cookie`).
#[tokio::test]
async fn browser_sessions_through_payload_2_cookies() {
    let env = Env::new().await;
    let cors = [("KEYGATE_CORS_ORIGINS", "https://app.example.com")];
    let mut auth = env.start_with("authenticate", &cors).await;
    let mut refresh = env.start_with("refresh", &cors).await;
    let mut revoke = env.start_with("revoke", &cors).await;
    let login = auth.invoke(event("session-login.json", &[])).await.unwrap();
    assert_eq!(login["statusCode"], 200, "{login}");
    let body: Value = serde_json::from_str(login["body"].as_str().unwrap()).unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "the refresh token stays out of the body"
    );
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let token = session_cookie(&login);
    let device = login["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|c| c.starts_with("__Host-keygate-device=") && c.ends_with("Max-Age=31536000"))
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("the device cookie goes out beside the session cookie: {login}"))
        .to_owned();
    // Strangers lock ann's username; her browser, sending its device cookie in the request's
    // `cookies`, still logs in (the function verifies it with the secret's published keys).
    for _ in 0..6 {
        assert!(
            env.app
                .password_login("ann", "not ann's password at all", None)
                .await
                .is_err()
        );
    }
    let locked = auth.invoke(event("session-login.json", &[])).await.unwrap();
    assert_eq!(locked["statusCode"], 429, "{locked}");
    let mut again = event("session-login.json", &[]);
    again["cookies"] = json!(["theme=dark", device]);
    let again = auth.invoke(again).await.unwrap();
    assert_eq!(again["statusCode"], 200, "{again}");
    assert_eq!(
        login["headers"]["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(login["headers"]["access-control-allow-credentials"], "true");

    let with = |name: &str, token: &str, csrf: &str| {
        event(
            name,
            &[("REPLACE_WITH_REFRESH_TOKEN", token), ("REPLACE_WITH_CSRF_TOKEN", csrf)],
        )
    };
    // The wrong CSRF token: 403, and the cookie's token is still live.
    let refused = refresh
        .invoke(with("session-refresh.json", &token, "wrong"))
        .await
        .unwrap();
    assert_eq!(refused["statusCode"], 403, "{refused}");
    let rotated = refresh
        .invoke(with("session-refresh.json", &token, &csrf))
        .await
        .unwrap();
    assert_eq!(rotated["statusCode"], 200, "{rotated}");
    let next = session_cookie(&rotated);
    assert_ne!(next, token, "the refresh token inside the cookie rotates");
    let body: Value = serde_json::from_str(rotated["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["csrf_token"], csrf.as_str(), "the CSRF token lasts the session");

    let out = revoke.invoke(with("session-logout.json", &next, &csrf)).await.unwrap();
    assert_eq!(out["statusCode"], 204, "{out}");
    let cleared = out["cookies"][0].as_str().unwrap();
    assert!(
        cleared.starts_with("__Host-keygate-session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let dead = refresh
        .invoke(with("session-refresh.json", &next, &csrf))
        .await
        .unwrap();
    assert_eq!(dead["statusCode"], 401, "{dead}");
}

/// The session cookie's value from a payload 2.0 answer's `cookies`, checking its attributes.
fn session_cookie(answer: &Value) -> String {
    let cookies = answer["cookies"]
        .as_array()
        .unwrap_or_else(|| panic!("no cookies: {answer}"));
    assert!(
        answer["headers"].get("set-cookie").is_none(),
        "payload 2.0 answers carry cookies in `cookies`: {answer}"
    );
    let c = cookies
        .iter()
        .filter_map(Value::as_str)
        .find(|c| c.starts_with("__Host-keygate-session="))
        .unwrap_or_else(|| panic!("no session cookie: {answer}"));
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(c.split("; ").any(|a| a == attr), "{attr} in {c}");
    }
    c.split(';').next().unwrap()["__Host-keygate-session=".len()..].to_owned()
}

/// The `register` function: self-registration (open mode), invitations from an admin and their
/// completion, on DynamoDB, mail through the outbox.
#[tokio::test]
async fn register_function() {
    let env = Env::new().await;
    let admin = env.admin_for_events().await;
    let mut closed = env.start("register").await;
    let a = invoke(&mut closed, event("register.json", &[])).await;
    assert_eq!((a.status, a.body["error"].as_str()), (403, Some("registration_closed")));
    let mut f = env.start_with("register", &[("KEYGATE_REGISTRATION", "open")]).await;
    report_init("register", &f);
    let mails = || -> Vec<Value> {
        std::fs::read_to_string(&env.outbox)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };

    let a = invoke(&mut f, event("register.json", &[])).await;
    assert_eq!((a.status, &a.body), (202, &json!({"status": "accepted"})));
    // An address with an account gets the same answer and no mail.
    let a = invoke(
        &mut f,
        event("register.json", &[("new@example.com", "ann@example.com")]),
    )
    .await;
    assert_eq!((a.status, &a.body), (202, &json!({"status": "accepted"})));
    let sent = mails();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        (sent[0]["kind"].as_str(), sent[0]["to"].as_str()),
        (Some("register"), Some("new@example.com"))
    );
    let token = sent[0]["token"].as_str().unwrap().to_owned();
    let complete = event("register-complete.json", &[("REPLACE_WITH_REGISTER_TOKEN", &token)]);
    let a = invoke(&mut f, complete.clone()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(
        (a.body["username"].as_str(), &a.body["roles"]),
        (Some("newbie"), &json!(["user"]))
    );
    let a = invoke(&mut f, complete).await;
    assert_eq!((a.status, a.body["error"].as_str()), (400, Some("invalid_token")));
    assert!(
        env.app
            .password_login("newbie", "marble comet violin 58", None)
            .await
            .is_ok()
    );

    // Invitations: the admin routes that mail live in this function.
    let with = |name: &str, id: &str| {
        event(
            name,
            &[("REPLACE_WITH_ADMIN_TOKEN", &admin), ("REPLACE_WITH_INVITATION_ID", id)],
        )
    };
    let a = invoke(
        &mut f,
        event("admin-create-invitation.json", &[("REPLACE_WITH_ADMIN_TOKEN", "nope")]),
    )
    .await;
    assert_eq!(a.status, 401);
    let a = invoke(&mut f, with("admin-create-invitation.json", "")).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["invitation_id"].as_str().unwrap().to_owned();
    let a = invoke(&mut f, with("admin-list-invitations.json", "")).await;
    assert_eq!(
        (a.status, a.body["invitations"][0]["invitation_id"].as_str()),
        (200, Some(id.as_str()))
    );
    let invitation = mails().pop().unwrap();
    assert_eq!(invitation["kind"], "invitation");
    let a = invoke(&mut f, with("admin-delete-invitation.json", &id)).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = invoke(
        &mut f,
        event(
            "register-complete.json",
            &[
                ("REPLACE_WITH_REGISTER_TOKEN", invitation["token"].as_str().unwrap()),
                ("newbie", "opsy"),
            ],
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (400, Some("invalid_token")),
        "a cancelled invitation's token is dead"
    );
    // The admin function does not serve the invitation routes (it holds no mail rights).
    let mut admin_fn = env.start("admin").await;
    assert_eq!(
        invoke(&mut admin_fn, with("admin-list-invitations.json", ""))
            .await
            .status,
        404
    );
}

/// The `share` function on DynamoDB: mint, list, revoke, the public revocation list.
#[tokio::test]
async fn share_function() {
    let env = Env::new().await;
    let mut f = env.start("share").await;
    report_init("share", &f);
    let ann = env.app.password_login("ann", PW, None).await.unwrap().access_token;
    let with = |name: &str, token: &str, id: &str| {
        event(
            name,
            &[("REPLACE_WITH_ACCESS_TOKEN", token), ("REPLACE_WITH_SHARE_ID", id)],
        )
    };
    let a = invoke(&mut f, with("share-create.json", "nope", "")).await;
    assert_eq!(a.status, 401);
    let a = invoke(&mut f, with("share-create.json", &ann, "")).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let id = a.body["share_id"].as_str().unwrap().to_owned();
    assert!(a.body["token"].as_str().unwrap().starts_with("eyJ"));
    let a = invoke(&mut f, with("share-list.json", &ann, "")).await;
    assert_eq!(
        (a.status, a.body["shares"][0]["share_id"].as_str()),
        (200, Some(id.as_str()))
    );
    let a = invoke(&mut f, with("share-revoked.json", "", "")).await;
    assert_eq!((a.status, &a.body), (200, &json!({"revoked": []})));
    let a = invoke(&mut f, with("share-revoke.json", &ann, &id)).await;
    assert_eq!(a.status, 204, "{}", a.body);
    let a = invoke(&mut f, with("share-revoked.json", "", "")).await;
    assert_eq!(a.body, json!({"revoked": [id]}));
    assert_eq!(a.headers["cache-control"], "public, max-age=60");
}
