//! The contract's HTTP rules (section 2 and 4), driven through the same handler that Lambda and
//! `keygate serve` use, on the embedded store and a generated key.

use http::{Method, StatusCode, header};
use keygate_tests::inproc::{App, PW, Resp, basic, form};
use serde_json::{Value, json};
use std::sync::Arc;

/// The app in process ([`App`]), and this file's helpers on it.
struct T(App);

impl std::ops::Deref for T {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

async fn setup(extra: &[(&str, &str)]) -> T {
    T(App::start(extra).await)
}

fn now() -> i64 {
    keygate_shared::domain::time::now()
}

fn assert_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(r.status.as_u16(), status, "body: {}", r.body);
    assert_eq!(r.body["error"], code, "body: {}", r.body);
    assert!(r.body["error_description"].is_string());
}

#[tokio::test]
async fn password_login_issues_a_verifiable_token_pair() {
    let t = setup(&[]).await;
    t.user("Ann", &["reader", "writer"], None).await;
    let r = t.login("ann", PW).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["expires_in"], 900);
    assert_eq!(r.body["refresh_expires_in"], 2_592_000);
    assert!(r.body["refresh_token"].as_str().unwrap().len() >= 22);
    let claims = t
        .verifier()
        .await
        .verify(r.body["access_token"].as_str().unwrap(), now())
        .unwrap();
    assert_eq!(claims.roles, vec!["reader", "writer"]);
    assert_eq!(claims.scope, "reader writer");
    assert_eq!(claims.preferred_username.as_deref(), Some("Ann"));
    assert_ne!(claims.sub, "Ann");
    assert_eq!(claims.sub.len(), 36);
}

#[tokio::test]
async fn form_and_basic_logins() {
    let t = setup(&[]).await;
    t.user("bob", &[], None).await;
    let form = form(&[("grant_type", "password"), ("username", "bob"), ("password", PW)]);
    let r = t
        .call(
            Method::POST,
            "/auth/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            &form,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("bob:{PW}"))
    );
    let r = t
        .call(Method::POST, "/auth/token", &[("authorization", &basic)], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["refresh_token"].is_string());
    let bad = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("bob:nope nope nope nope")
    );
    assert_error(
        &t.call(Method::POST, "/auth/token", &[("authorization", &bad)], "")
            .await,
        401,
        "invalid_grant",
    );
}

#[tokio::test]
async fn failures_look_alike_whoever_fails() {
    let t = setup(&[]).await;
    t.user("carol", &[], None).await;
    t.user("dave", &[], None).await;
    t.app
        .update_user(
            "dave",
            keygate_shared::services::UserChange {
                disabled: Some(true),
                roles: None,
            },
        )
        .await
        .unwrap();
    let wrong = t.login("carol", "wrong password wrong").await;
    let unknown = t.login("nobody-here", PW).await;
    let disabled = t.login("dave", PW).await;
    for r in [&wrong, &unknown, &disabled] {
        assert_error(r, 401, "invalid_grant");
    }
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body, disabled.body);
}

#[tokio::test]
async fn bad_requests_get_contract_errors() {
    let t = setup(&[]).await;
    for grant in [
        "implicit",
        "authorization_code",
        "urn:keygate:params:oauth:grant-type:other",
    ] {
        assert_error(
            &t.post("/auth/token", json!({"grant_type": grant})).await,
            400,
            "unsupported_grant_type",
        );
    }
    assert_error(
        &t.post("/auth/token", json!({"username": "a", "password": "b"})).await,
        400,
        "invalid_request",
    );
    assert_error(
        &t.post("/auth/token", json!({"grant_type": "password", "username": "a"}))
            .await,
        400,
        "invalid_request",
    );
    assert_error(
        &t.post(
            "/auth/token",
            json!({"grant_type": "password", "username": 1, "password": "x"}),
        )
        .await,
        400,
        "invalid_request",
    );
    let r = t
        .call(
            Method::POST,
            "/auth/token",
            &[("content-type", "application/json")],
            "{not json",
        )
        .await;
    assert_error(&r, 400, "invalid_request");
    let r = t
        .call(
            Method::POST,
            "/auth/token",
            &[("content-type", "text/plain")],
            "grant_type=password",
        )
        .await;
    assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.body["error"], "invalid_request");
    let big = json!({"grant_type": "password", "username": "x".repeat(17 * 1024), "password": "p"});
    assert_error(&t.post("/auth/token", big).await, 413, "request_too_large");
    let r = t.call(Method::GET, "/auth/token", &[], "").await;
    assert_error(&r, 405, "method_not_allowed");
    assert_eq!(r.headers[header::ALLOW], "POST");
    assert_error(&t.call(Method::GET, "/nope", &[], "").await, 404, "not_found");
    assert_error(&t.post("/auth/refresh", json!({})).await, 400, "invalid_request");
    assert_error(
        &t.post("/auth/password/forgot", json!({})).await,
        400,
        "invalid_request",
    );
    assert_error(
        &t.post("/auth/password/reset", json!({"token": "x"})).await,
        400,
        "invalid_request",
    );
}

#[tokio::test]
async fn lockout_after_five_failures_for_known_and_unknown_users() {
    let t = setup(&[]).await;
    t.user("erin", &[], None).await;
    for name in ["erin", "ghost-user"] {
        for _ in 0..5 {
            assert_error(&t.login(name, "wrong password wrong").await, 401, "invalid_grant");
        }
        let locked = t.login(name, PW).await;
        assert_error(&locked, 429, "too_many_attempts");
        let retry: i64 = locked.headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
        assert!((1..=900).contains(&retry), "{retry}");
    }
    // Usernames are counted after normalization: "ERIN" is erin.
    assert_error(&t.login("ERIN", PW).await, 429, "too_many_attempts");
}

/// 40 wrong passwords sent at once to the real `keygate serve`, for an existing and for an
/// unknown username: at most 5 are verified (401 `invalid_grant`), every other one gets 429
/// `too_many_attempts` with a `Retry-After`, and both usernames are answered alike.
#[test]
fn simultaneous_wrong_passwords_through_keygate_serve_verify_at_most_five() {
    use keygate_tests::bins::http;
    use keygate_tests::serve::{ADMIN, Server};
    const GUESSES: usize = 40;
    let s = Server::start(&[("RUST_LOG", "warn")]);
    for name in [ADMIN.0, "nobody-by-that-name"] {
        let start = Arc::new(std::sync::Barrier::new(GUESSES));
        let threads: Vec<_> = (0..GUESSES)
            .map(|i| {
                let (start, addr) = (start.clone(), s.addr);
                let body = json!({"grant_type": "password", "username": name, "password": format!("wrong guess {i}")})
                    .to_string();
                std::thread::spawn(move || {
                    start.wait();
                    http(
                        addr,
                        "POST",
                        "/auth/token",
                        &[("content-type", "application/json")],
                        &body,
                    )
                })
            })
            .collect();
        let mut verified = 0;
        for t in threads {
            let a = t.join().unwrap();
            match a.status {
                401 => {
                    assert_eq!(a.json()["error"], "invalid_grant", "{name}: {}", a.body);
                    verified += 1;
                }
                429 => {
                    assert_eq!(a.json()["error"], "too_many_attempts", "{name}: {}", a.body);
                    let retry: i64 = a.header("retry-after").unwrap().parse().unwrap();
                    assert!((1..=900).contains(&retry), "{name}: Retry-After {retry}");
                }
                other => panic!("{name}: unexpected {other}: {}", a.body),
            }
        }
        assert!(
            (1..=5).contains(&verified),
            "{name}: {verified} of {GUESSES} guesses were verified"
        );
    }
}

#[tokio::test]
async fn api_keys_give_access_tokens_only_and_stop_at_once() {
    let t = setup(&[]).await;
    let created = t
        .app
        .create_api_key("sensor-7", &["device".into()], None)
        .await
        .unwrap();
    let r = t
        .post(
            "/auth/token",
            json!({"grant_type": "api_key", "api_key": created.api_key}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.get("refresh_token").is_none());
    let claims = t
        .verifier()
        .await
        .verify(r.body["access_token"].as_str().unwrap(), now())
        .unwrap();
    assert_eq!(claims.roles, vec!["device"]);
    assert_eq!(claims.client_id, created.key_id);
    t.app.delete_api_key(&created.key_id).await.unwrap();
    let r = t
        .post(
            "/auth/token",
            json!({"grant_type": "api_key", "api_key": created.api_key}),
        )
        .await;
    assert_error(&r, 401, "invalid_grant");
    let r = t
        .post(
            "/auth/token",
            json!({"grant_type": "api_key", "api_key": "kgk_not_a_key"}),
        )
        .await;
    assert_error(&r, 401, "invalid_grant");
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let t = setup(&[]).await;
    t.user("fay", &["reader"], None).await;
    let first = t.login("fay", PW).await;
    let r1 = first.body["refresh_token"].as_str().unwrap().to_owned();
    let second = t.post("/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(second.headers[header::CACHE_CONTROL], "no-store");
    let r2 = second.body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    // Roles are re-read at each refresh.
    t.app
        .update_user(
            "fay",
            keygate_shared::services::UserChange {
                roles: Some(vec!["editor".into()]),
                disabled: None,
            },
        )
        .await
        .unwrap();
    let form = format!("grant_type=refresh_token&refresh_token={r2}");
    let third = t
        .call(
            Method::POST,
            "/auth/refresh",
            &[("content-type", "application/x-www-form-urlencoded")],
            &form,
        )
        .await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.body);
    let claims = t
        .verifier()
        .await
        .verify(third.body["access_token"].as_str().unwrap(), now())
        .unwrap();
    assert_eq!(claims.roles, vec!["editor"]);
    let r3 = third.body["refresh_token"].as_str().unwrap().to_owned();
    // r1 again: reuse. The whole family dies, r3 included.
    assert_error(
        &t.post("/auth/refresh", json!({"refresh_token": r1})).await,
        401,
        "invalid_grant",
    );
    assert_error(
        &t.post("/auth/refresh", json!({"refresh_token": r3})).await,
        401,
        "invalid_grant",
    );
    assert_error(
        &t.post("/auth/refresh", json!({"refresh_token": "garbage"})).await,
        401,
        "invalid_grant",
    );
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_give_exactly_one_success() {
    let t = setup(&[]).await;
    t.user("gus", &[], None).await;
    let r = t.login("gus", PW).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = Arc::new(t);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let t = t.clone();
            let r = r.clone();
            tokio::spawn(async move { t.post("/auth/refresh", json!({"refresh_token": r})).await.status })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        if task.await.unwrap() == StatusCode::OK {
            ok += 1;
        }
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn grace_period_reissues_within_the_family() {
    let t = setup(&[("KEYGATE_REFRESH_GRACE", "60")]).await;
    t.user("hal", &[], None).await;
    let r1 = t.login("hal", PW).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": r1})).await.status,
        StatusCode::OK
    );
    let again = t.post("/auth/refresh", json!({"refresh_token": r1})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
    let r3 = again.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        t.post("/auth/refresh", json!({"refresh_token": r3})).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn disabled_or_revoked_accounts_cannot_refresh() {
    let t = setup(&[]).await;
    t.user("ida", &[], None).await;
    t.user("jon", &[], None).await;
    let ri = t.login("ida", PW).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let rj = t.login("jon", PW).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    t.app
        .update_user(
            "ida",
            keygate_shared::services::UserChange {
                disabled: Some(true),
                roles: None,
            },
        )
        .await
        .unwrap();
    t.app.revoke_sessions("jon").await.unwrap();
    assert_error(
        &t.post("/auth/refresh", json!({"refresh_token": ri})).await,
        401,
        "invalid_grant",
    );
    assert_error(
        &t.post("/auth/refresh", json!({"refresh_token": rj})).await,
        401,
        "invalid_grant",
    );
    // A new login after the revocation works.
    assert_eq!(t.login("jon", PW).await.status, StatusCode::OK);
}

#[tokio::test]
async fn revoke_is_rfc7009() {
    let t = setup(&[]).await;
    t.user("kim", &[], None).await;
    let r = t.login("kim", PW).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = t.post("/auth/revoke", json!({"refresh_token": r})).await;
    assert_eq!((out.status, &out.body), (StatusCode::OK, &json!({})));
    assert_error(
        &t.post("/auth/refresh", json!({"refresh_token": r})).await,
        401,
        "invalid_grant",
    );
    let out = t.post("/auth/revoke", json!({"refresh_token": "not-a-token"})).await;
    assert_eq!((out.status, &out.body), (StatusCode::OK, &json!({})));
}

#[tokio::test]
async fn jwks_and_discovery() {
    let t = setup(&[]).await;
    let r = t.call(Method::GET, "/.well-known/jwks.json", &[], "").await;
    assert_eq!(r.status, StatusCode::OK);
    let cc = r.headers[header::CACHE_CONTROL].to_str().unwrap().to_owned();
    let max_age: u32 = cc.split("max-age=").nth(1).unwrap().parse().unwrap();
    assert!(cc.contains("public") && max_age <= 300);
    let key = &r.body["keys"][0];
    assert_eq!(
        (key["alg"].as_str(), key["use"].as_str(), key["kty"].as_str()),
        (Some("RS256"), Some("sig"), Some("RSA"))
    );
    assert!(key["kid"].is_string());
    for private in ["d", "p", "q", "dp", "dq", "qi"] {
        assert!(key.get(private).is_none(), "{private} published");
    }
    let d = t
        .call(Method::GET, "/.well-known/openid-configuration", &[], "")
        .await
        .body;
    assert_eq!(d["issuer"], "http://127.0.0.1:3000");
    assert_eq!(d["jwks_uri"], "http://127.0.0.1:3000/.well-known/jwks.json");
    assert_eq!(d["token_endpoint"], "http://127.0.0.1:3000/auth/token");
    assert_eq!(d["revocation_endpoint"], "http://127.0.0.1:3000/auth/revoke");
    // Only what works (each is exercised below and in oauth_client.rs); the extension grant is
    // an absolute URI (RFC 6749 section 4.5); no response type without an authorization endpoint.
    assert_eq!(
        d["grant_types_supported"],
        json!([
            "password",
            "client_credentials",
            "refresh_token",
            "urn:keygate:params:oauth:grant-type:api-key"
        ])
    );
    assert_eq!(
        d["token_endpoint_auth_methods_supported"],
        json!(["none", "client_secret_basic", "client_secret_post"])
    );
    assert_eq!(d["revocation_endpoint_auth_methods_supported"], json!(["none"]));
    assert_eq!(d["response_types_supported"], json!([]));
    assert!(d.get("authorization_endpoint").is_none());
}

#[tokio::test]
async fn forgot_and_reset_password() {
    let t = setup(&[]).await;
    t.user("lea", &[], Some("lea@example.com")).await;
    let session = t.login("lea", PW).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let unknown = t.post("/auth/password/forgot", json!({"username": "nobody"})).await;
    let known = t.post("/auth/password/forgot", json!({"username": "LEA"})).await;
    assert_eq!(unknown.status, StatusCode::ACCEPTED);
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    assert_eq!(known.body, json!({"status": "accepted"}));
    let mails = t.outbox_lines();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0]["to"], "lea@example.com");
    assert_eq!(mails[0]["username"], "lea");
    let token = mails[0]["token"].as_str().unwrap().to_owned();
    assert_eq!(
        mails[0]["reset_url"],
        format!("http://127.0.0.1:3000/reset?token={token}")
    );

    // A weak password changes nothing: the token stays usable.
    let weak = t
        .post("/auth/password/reset", json!({"token": token, "new_password": "short"}))
        .await;
    assert_error(&weak, 400, "weak_password");
    let common = t
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "passwordpassword"}),
        )
        .await;
    assert_error(&common, 400, "weak_password");
    // Rank 55,890 of the breach list (shared/data/): refused, nothing changes.
    let breached = t
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "passwordstandard"}),
        )
        .await;
    assert_error(&breached, 400, "weak_password");
    let long = t
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "x".repeat(1025)}),
        )
        .await;
    assert_error(&long, 400, "weak_password");

    let new_pw = "violet harbor lantern 7";
    let ok = t
        .post("/auth/password/reset", json!({"token": token, "new_password": new_pw}))
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT);
    assert_eq!(ok.body, Value::Null);
    assert_error(&t.login("lea", PW).await, 401, "invalid_grant");
    assert_eq!(t.login("lea", new_pw).await.status, StatusCode::OK);
    assert_error(
        &t.post("/auth/refresh", json!({"refresh_token": session})).await,
        401,
        "invalid_grant",
    );
    let spent = t
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "another fine passphrase"}),
        )
        .await;
    assert_error(&spent, 400, "invalid_token");
    let bogus = t
        .post(
            "/auth/password/reset",
            json!({"token": "kgp_nope", "new_password": "another fine passphrase"}),
        )
        .await;
    assert_error(&bogus, 400, "invalid_token");

    // By email, and at most 3 deliveries per 15 minutes.
    for _ in 0..4 {
        assert_eq!(
            t.post("/auth/password/forgot", json!({"email": "LEA@example.com"}))
                .await
                .status,
            StatusCode::ACCEPTED
        );
    }
    assert_eq!(t.outbox_lines().len(), 3);
}

#[tokio::test]
async fn validate_endpoint_for_nginx_auth_request() {
    let t = setup(&[]).await;
    t.user("max", &["ops", "reader"], None).await;
    let at = t.login("max", PW).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .call(
            Method::GET,
            "/auth/validate",
            &[("authorization", &format!("Bearer {at}"))],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-auth-roles"], "ops,reader");
    assert_eq!(r.headers["x-auth-subject"].to_str().unwrap().len(), 36);
    assert_eq!(
        t.call(Method::GET, "/auth/validate", &[], "").await.status,
        StatusCode::UNAUTHORIZED
    );
    let refresh = t.login("max", PW).await.body["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = t
        .call(
            Method::GET,
            "/auth/validate",
            &[("authorization", &format!("Bearer {refresh}"))],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer error=\"invalid_token\"");
}

#[tokio::test]
async fn admin_api() {
    let t = setup(&[]).await;
    t.app.ensure_admin("root", PW).await.unwrap();
    t.user("nia", &["reader"], None).await;
    let admin = t.login("root", PW).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = t.login("nia", PW).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"username": "Oscar", "password": PW, "email": "oscar@example.com", "roles": ["ops"]}).to_string();
    let auth = |tok: &str| format!("Bearer {tok}");

    let none = t
        .call(
            Method::POST,
            "/admin/users",
            &[("content-type", "application/json")],
            &body,
        )
        .await;
    assert_error(&none, 401, "invalid_token");
    let a = auth(&reader);
    let forbidden = t
        .call(
            Method::POST,
            "/admin/users",
            &[("content-type", "application/json"), ("authorization", &a)],
            &body,
        )
        .await;
    assert_error(&forbidden, 403, "insufficient_scope");
    let a = auth(&admin);
    let h = [("content-type", "application/json"), ("authorization", a.as_str())];
    let created = t.call(Method::POST, "/admin/users", &h, &body).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["username"], "Oscar");
    assert_eq!(created.body["roles"], json!(["ops"]));
    let dup = json!({"username": "ＯＳＣＡＲ", "password": PW, "roles": []}).to_string();
    assert_error(&t.call(Method::POST, "/admin/users", &h, &dup).await, 409, "conflict");
    let weak = json!({"username": "pat", "password": "short", "roles": []}).to_string();
    assert_error(
        &t.call(Method::POST, "/admin/users", &h, &weak).await,
        400,
        "weak_password",
    );

    let patched = t
        .call(
            Method::PATCH,
            "/admin/users/oscar",
            &h,
            &json!({"roles": ["ops", "admin"]}).to_string(),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["roles"], json!(["admin", "ops"]));
    assert_error(
        &t.call(Method::PATCH, "/admin/users/nobody", &h, "{}").await,
        404,
        "not_found",
    );
    let revoked = t.call(Method::POST, "/admin/users/oscar/revoke-sessions", &h, "").await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);

    let key = t
        .call(
            Method::POST,
            "/admin/api-keys",
            &h,
            &json!({"name": "ci", "roles": ["deploy"], "expires_in": 3600}).to_string(),
        )
        .await;
    assert_eq!(key.status, StatusCode::CREATED, "{}", key.body);
    assert!(key.body["api_key"].as_str().unwrap().starts_with("kgk_"));
    assert!(key.body["expires_at"].is_string());
    let id = key.body["key_id"].as_str().unwrap();
    let deleted = t.call(Method::DELETE, &format!("/admin/api-keys/{id}"), &h, "").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(
        &t.call(Method::DELETE, &format!("/admin/api-keys/{id}"), &h, "").await,
        404,
        "not_found",
    );
}

#[tokio::test]
async fn admin_api_can_be_switched_off() {
    let t = setup(&[("KEYGATE_ADMIN_API", "off")]).await;
    t.app.ensure_admin("root", PW).await.unwrap();
    let admin = t.login("root", PW).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = format!("Bearer {admin}");
    let r = t
        .call(
            Method::POST,
            "/admin/api-keys",
            &[("content-type", "application/json"), ("authorization", &a)],
            r#"{"name":"x"}"#,
        )
        .await;
    assert_error(&r, 404, "not_found");
}

async fn bearer_of(t: &T, name: &str) -> String {
    let r = t.login(name, PW).await;
    format!("Bearer {}", r.body["access_token"].as_str().unwrap())
}

/// An admin call (creating an API key) made with `auth`.
async fn admin_call(t: &T, auth: &str) -> Resp {
    t.call(
        Method::POST,
        "/admin/api-keys",
        &[("content-type", "application/json"), ("authorization", auth)],
        &json!({"name": "probe", "roles": ["admin"]}).to_string(),
    )
    .await
}

#[tokio::test]
async fn admin_tokens_stop_working_when_their_grounds_end() {
    let t = setup(&[]).await;
    t.app.ensure_admin("root", PW).await.unwrap();
    t.user("ivy", &["admin"], None).await;
    t.user("uma", &["admin", "ops"], None).await;
    let root = bearer_of(&t, "root").await;
    let ivy = bearer_of(&t, "ivy").await;
    let uma = bearer_of(&t, "uma").await;
    let root_h = [("content-type", "application/json"), ("authorization", root.as_str())];
    assert_eq!(admin_call(&t, &ivy).await.status, StatusCode::CREATED);
    assert_eq!(admin_call(&t, &uma).await.status, StatusCode::CREATED);

    // Disabled: its still-valid token is refused at once.
    let r = t
        .call(
            Method::PATCH,
            "/admin/users/ivy",
            &root_h,
            &json!({"disabled": true}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_error(&admin_call(&t, &ivy).await, 401, "invalid_token");

    // The admin role removed: refused at once, though the token still says `admin`.
    let r = t
        .call(
            Method::PATCH,
            "/admin/users/uma",
            &root_h,
            &json!({"roles": ["ops"]}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_error(&admin_call(&t, &uma).await, 403, "insufficient_scope");

    // An admin API key's token dies with its key.
    let created = admin_call(&t, &root).await;
    let key = created.body["api_key"].as_str().unwrap().to_owned();
    let key_id = created.body["key_id"].as_str().unwrap().to_owned();
    let kt = t
        .post("/auth/token", json!({"grant_type": "api_key", "api_key": key}))
        .await;
    let kt = format!("Bearer {}", kt.body["access_token"].as_str().unwrap());
    assert_eq!(admin_call(&t, &kt).await.status, StatusCode::CREATED);
    let deleted = t
        .call(Method::DELETE, &format!("/admin/api-keys/{key_id}"), &root_h, "")
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_error(&admin_call(&t, &kt).await, 401, "invalid_token");

    // The admin whose grounds hold still gets in.
    assert_eq!(admin_call(&t, &root).await.status, StatusCode::CREATED);
}

/// Every path of the route table, with the one method it answers.
const PATHS: [(&str, &str); 13] = [
    ("/auth/token", "POST"),
    ("/auth/refresh", "POST"),
    ("/auth/revoke", "POST"),
    ("/.well-known/jwks.json", "GET"),
    ("/.well-known/openid-configuration", "GET"),
    ("/auth/password/forgot", "POST"),
    ("/auth/password/reset", "POST"),
    ("/auth/validate", "GET"),
    ("/admin/users", "POST"),
    ("/admin/users/ann", "PATCH"),
    ("/admin/users/ann/revoke-sessions", "POST"),
    ("/admin/api-keys", "POST"),
    ("/admin/api-keys/0123456789abcdef", "DELETE"),
];

#[tokio::test]
async fn every_path_answers_another_method_with_405_and_allow() {
    let t = setup(&[]).await;
    for (path, allowed) in PATHS {
        for method in [
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::HEAD,
        ] {
            if method.as_str() == allowed {
                continue;
            }
            let r = t.call(method.clone(), path, &[], "").await;
            assert_error(&r, 405, "method_not_allowed");
            assert_eq!(r.headers[header::ALLOW], allowed, "{method} {path}");
        }
        // The method it answers is not refused as a method.
        let r = t.call(allowed.parse().unwrap(), path, &[], "").await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{allowed} {path}");
        assert!(r.headers.get(header::ALLOW).is_none(), "{allowed} {path}");
    }
    // Unknown paths stay 404, also under /admin.
    for path in ["/admin", "/admin/nope", "/admin/users/a/b", "/auth"] {
        assert_error(&t.call(Method::DELETE, path, &[], "").await, 404, "not_found");
    }
}

#[tokio::test]
async fn client_credentials_with_basic_or_post_and_scope_narrowing() {
    let t = setup(&[]).await;
    let key = t
        .app
        .create_api_key("billing", &["reader".into(), "writer".into()], None)
        .await
        .unwrap();
    let (id, secret) = (key.key_id.as_str(), key.api_key.as_str());
    let v = t.verifier().await;
    let claims_of = |r: &Resp| {
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
        assert!(r.body.get("refresh_token").is_none(), "{}", r.body);
        v.verify(r.body["access_token"].as_str().unwrap(), now()).unwrap()
    };

    // client_secret_basic, the form body as OAuth 2.0 clients send it.
    let b = basic(id, secret);
    let r = t
        .post_form("/auth/token", Some(&b), "grant_type=client_credentials")
        .await;
    let c = claims_of(&r);
    assert_eq!(
        (c.client_id.as_str(), c.sub.as_str()),
        (id, format!("apikey:{id}").as_str())
    );
    assert_eq!(c.roles, ["reader", "writer"]);
    // Each Basic part form-urlencoded first (RFC 6749 section 2.3.1).
    let encoded = basic(id, &secret.replace('_', "%5F").replace('-', "%2D"));
    let r = t
        .post_form("/auth/token", Some(&encoded), "grant_type=client_credentials")
        .await;
    claims_of(&r);

    // client_secret_post, with a scope that narrows the roles.
    let body = format!("grant_type=client_credentials&client_id={id}&client_secret={secret}&scope=reader");
    let c = claims_of(&t.post_form("/auth/token", None, &body).await);
    assert_eq!(
        (c.roles.as_slice(), c.scope.as_str()),
        (&["reader".to_owned()][..], "reader")
    );
    let r = t
        .post(
            "/auth/token",
            json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret, "scope": "writer reader"}),
        )
        .await;
    assert_eq!(claims_of(&r).roles, ["reader", "writer"]);

    // A role the key lacks, or a malformed scope: invalid_scope.
    for scope in ["reader admin", "", "reader  writer"] {
        let r = t
            .post(
                "/auth/token",
                json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret, "scope": scope}),
            )
            .await;
        assert_error(&r, 400, "invalid_scope");
    }

    // Bad client credentials: invalid_client; a Basic attempt is challenged, a body one is not.
    let other = t.app.create_api_key("other", &[], None).await.unwrap();
    for (cid, csecret) in [
        (id, "kgk_wrong"),
        (id, other.api_key.as_str()),
        (other.key_id.as_str(), secret),
        ("not-a-key-id", secret),
    ] {
        let r = t
            .post_form(
                "/auth/token",
                Some(&basic(cid, csecret)),
                "grant_type=client_credentials",
            )
            .await;
        assert_error(&r, 401, "invalid_client");
        assert!(
            r.headers[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Basic realm="),
            "{cid}"
        );
        let r = t
            .post(
                "/auth/token",
                json!({"grant_type": "client_credentials", "client_id": cid, "client_secret": csecret}),
            )
            .await;
        assert_error(&r, 401, "invalid_client");
        assert!(r.headers.get(header::WWW_AUTHENTICATE).is_none());
    }
    // No client authentication at all, or an id without a secret.
    for body in [
        json!({"grant_type": "client_credentials"}),
        json!({"grant_type": "client_credentials", "client_id": id}),
    ] {
        let r = t.post("/auth/token", body).await;
        assert_error(&r, 401, "invalid_client");
        assert!(r.headers.get(header::WWW_AUTHENTICATE).is_some());
    }
    // Two methods at once, or a secret without an id: malformed.
    let r = t
        .post_form(
            "/auth/token",
            Some(&b),
            &format!("grant_type=client_credentials&client_id={id}&client_secret={secret}"),
        )
        .await;
    assert_error(&r, 400, "invalid_request");
    let r = t
        .post(
            "/auth/token",
            json!({"grant_type": "client_credentials", "client_secret": secret}),
        )
        .await;
    assert_error(&r, 400, "invalid_request");

    // A deleted key stops authenticating at once.
    t.app.delete_api_key(id).await.unwrap();
    let r = t
        .post_form("/auth/token", Some(&b), "grant_type=client_credentials")
        .await;
    assert_error(&r, 401, "invalid_client");
}

#[tokio::test]
async fn the_api_key_grant_answers_to_its_urn_and_its_alias() {
    let t = setup(&[]).await;
    let key = t
        .app
        .create_api_key("sensor", &["device".into(), "ota".into()], None)
        .await
        .unwrap();
    for grant in ["urn:keygate:params:oauth:grant-type:api-key", "api_key"] {
        let r = t
            .post(
                "/auth/token",
                json!({"grant_type": grant, "api_key": key.api_key, "scope": "ota"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{grant}: {}", r.body);
        let c = t
            .verifier()
            .await
            .verify(r.body["access_token"].as_str().unwrap(), now())
            .unwrap();
        assert_eq!(c.roles, ["ota"]);
    }
    let r = t
        .post(
            "/auth/token",
            json!({"grant_type": "urn:keygate:params:oauth:grant-type:api-key", "api_key": key.api_key, "scope": "root"}),
        )
        .await;
    assert_error(&r, 400, "invalid_scope");
}

#[tokio::test]
async fn password_and_refresh_grants_authenticate_the_client_they_name() {
    let t = setup(&[]).await;
    t.user("lia", &["reader"], None).await;
    let key = t.app.create_api_key("web-backend", &[], None).await.unwrap();
    let user_form = form(&[("grant_type", "password"), ("username", "lia"), ("password", PW)]);

    // A confidential client by Basic, the user's credentials in the body.
    let r = t
        .post_form("/auth/token", Some(&basic(&key.key_id, &key.api_key)), &user_form)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = t
        .verifier()
        .await
        .verify(r.body["access_token"].as_str().unwrap(), now())
        .unwrap();
    assert_eq!(c.client_id, key.key_id);
    let confidential_rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    // A wrong client secret is not ignored.
    let r = t
        .post_form("/auth/token", Some(&basic(&key.key_id, "kgk_nope")), &user_form)
        .await;
    assert_error(&r, 401, "invalid_client");
    assert!(r.headers.get(header::WWW_AUTHENTICATE).is_some());
    let r = t
        .post_form(
            "/auth/token",
            None,
            &format!("{user_form}&client_id={}&client_secret=kgk_nope", key.key_id),
        )
        .await;
    assert_error(&r, 401, "invalid_client");

    // A public client names itself; its refresh token refreshes at the token endpoint for it
    // and for no other client.
    let r = t
        .post_form("/auth/token", None, &format!("{user_form}&client_id=spa"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    let r = t
        .post_form(
            "/auth/token",
            None,
            &format!("grant_type=refresh_token&refresh_token={rt}&client_id=other-app"),
        )
        .await;
    assert_error(&r, 400, "invalid_grant");
    let r = t
        .post_form(
            "/auth/token",
            None,
            &format!("grant_type=refresh_token&refresh_token={rt}&client_id=spa"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body["refresh_token"].is_string());
    // The confidential client's token refreshes with its credentials.
    let r = t
        .post_form(
            "/auth/token",
            Some(&basic(&key.key_id, &key.api_key)),
            &format!("grant_type=refresh_token&refresh_token={confidential_rt}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn a_confidential_clients_refresh_token_refreshes_only_with_that_clients_authentication() {
    let t = setup(&[]).await;
    t.user("lia", &["reader"], None).await;
    let key = t.app.create_api_key("web-backend", &[], None).await.unwrap();
    let other = t.app.create_api_key("another-backend", &[], None).await.unwrap();
    let (own, others) = (basic(&key.key_id, &key.api_key), basic(&other.key_id, &other.api_key));
    let user_form = form(&[("grant_type", "password"), ("username", "lia"), ("password", PW)]);

    // The password grant by the client's Basic credentials: the session is the key's.
    let r = t.post_form("/auth/token", Some(&own), &user_form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let verifier = t.verifier().await;
    let c = verifier
        .verify(r.body["access_token"].as_str().unwrap(), now())
        .unwrap();
    assert_eq!(c.client_id, key.key_id);
    let rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    let refresh = format!("grant_type=refresh_token&refresh_token={rt}");

    // Without the client's authentication: invalid_client, at either endpoint, and naming the
    // client without its secret is no authentication.
    for (path, auth, form) in [
        ("/auth/token", None, refresh.clone()),
        ("/auth/refresh", None, refresh.clone()),
        ("/auth/token", None, format!("{refresh}&client_id={}", key.key_id)),
        ("/auth/refresh", None, format!("{refresh}&client_id={}", key.key_id)),
    ] {
        let r = t.post_form(path, auth, &form).await;
        assert_error(&r, 401, "invalid_client");
        assert!(r.headers.get(header::WWW_AUTHENTICATE).is_some(), "{path}");
    }
    // Another client, authenticated by Basic or in the body: invalid_grant.
    let by_post = format!("{refresh}&client_id={}&client_secret={}", other.key_id, other.api_key);
    for (path, auth, form) in [
        ("/auth/token", Some(others.as_str()), refresh.as_str()),
        ("/auth/refresh", Some(others.as_str()), refresh.as_str()),
        ("/auth/token", None, by_post.as_str()),
    ] {
        assert_error(&t.post_form(path, auth, form).await, 400, "invalid_grant");
    }
    // Nothing rotated on any refusal: the token still refreshes, once, with the right client.
    let r = t.post_form("/auth/token", Some(&own), &refresh).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = verifier
        .verify(r.body["access_token"].as_str().unwrap(), now())
        .unwrap();
    assert_eq!(c.client_id, key.key_id);
    let next = r.body["refresh_token"].as_str().unwrap().to_owned();
    // The retired token from another client is refused like any presentation by it, and the
    // session lives on; by its own client it is reuse, and the session dies for every client.
    assert_error(
        &t.post_form("/auth/token", Some(&others), &refresh).await,
        400,
        "invalid_grant",
    );
    let r = t
        .post_form(
            "/auth/refresh",
            None,
            &format!(
                "refresh_token={next}&client_id={}&client_secret={}",
                key.key_id, key.api_key
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let third = format!(
        "grant_type=refresh_token&refresh_token={}",
        r.body["refresh_token"].as_str().unwrap()
    );
    assert_error(
        &t.post_form("/auth/token", Some(&own), &refresh).await,
        401,
        "invalid_grant",
    );
    for auth in [Some(own.as_str()), Some(others.as_str()), None] {
        assert_error(&t.post_form("/auth/token", auth, &third).await, 401, "invalid_grant");
    }
}

#[tokio::test]
async fn with_a_body_http_basic_authenticates_the_client_never_the_user() {
    let t = setup(&[]).await;
    t.user("lia", &["reader"], None).await;
    let key = t.app.create_api_key("web-backend", &[], None).await.unwrap();
    let user_basic = basic("lia", PW);

    // The user's credentials in Basic next to a body that names the grant: they are taken for
    // a client's, so the grant lacks its username and no token is issued.
    let r = t
        .post_form("/auth/token", Some(&user_basic), "grant_type=password")
        .await;
    assert_error(&r, 400, "invalid_request");
    let r = t
        .call(
            Method::POST,
            "/auth/token",
            &[("content-type", "application/json"), ("authorization", &user_basic)],
            &json!({"grant_type": "password"}).to_string(),
        )
        .await;
    assert_error(&r, 400, "invalid_request");
    let user_form = form(&[("grant_type", "password"), ("username", "lia"), ("password", PW)]);
    let r = t.post_form("/auth/token", Some(&user_basic), &user_form).await;
    assert_error(&r, 401, "invalid_client");
    // Basic alone, no body: the user's login, as before.
    let r = t
        .call(Method::POST, "/auth/token", &[("authorization", &user_basic)], "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // The client's Basic parts are form-decoded before they are compared (RFC 6749 2.3.1).
    let encoded = basic(&key.key_id, &key.api_key.replace('_', "%5F").replace('-', "%2D"));
    let r = t.post_form("/auth/token", Some(&encoded), &user_form).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let c = t
        .verifier()
        .await
        .verify(r.body["access_token"].as_str().unwrap(), now())
        .unwrap();
    assert_eq!(c.client_id, key.key_id);
    let rt = r.body["refresh_token"].as_str().unwrap();
    let r = t
        .post_form(
            "/auth/refresh",
            Some(&encoded),
            &format!("grant_type=refresh_token&refresh_token={rt}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn a_public_clients_refresh_token_refreshes_only_with_its_client_id() {
    let t = setup(&[]).await;
    t.user("lia", &["reader"], None).await;
    let key = t.app.create_api_key("web-backend", &[], None).await.unwrap();
    let user_form = form(&[("grant_type", "password"), ("username", "lia"), ("password", PW)]);
    let r = t
        .post_form("/auth/token", None, &format!("{user_form}&client_id=spa"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    let refresh = format!("grant_type=refresh_token&refresh_token={rt}");

    // No client id, another one, or a confidential client: invalid_grant, and nothing rotates.
    let keys = basic(&key.key_id, &key.api_key);
    for (path, auth, form) in [
        ("/auth/token", None, refresh.clone()),
        ("/auth/refresh", None, refresh.clone()),
        ("/auth/token", None, format!("{refresh}&client_id=other-app")),
        ("/auth/refresh", None, format!("{refresh}&client_id=keygate")),
        ("/auth/token", Some(keys.as_str()), refresh.clone()),
    ] {
        assert_error(&t.post_form(path, auth, &form).await, 400, "invalid_grant");
    }
    let r = t
        .post_form("/auth/refresh", None, &format!("{refresh}&client_id=spa"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let next = r.body["refresh_token"].as_str().unwrap();
    let r = t
        .post("/auth/refresh", json!({"refresh_token": next, "client_id": "spa"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    // A login that names no client is the default client's: it refreshes without a client id
    // (or with the default's), and not for "spa".
    let r = t.login("lia", PW).await;
    let rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    let r = t
        .post("/auth/refresh", json!({"refresh_token": rt, "client_id": "spa"}))
        .await;
    assert_error(&r, 400, "invalid_grant");
    let r = t.post("/auth/refresh", json!({"refresh_token": rt})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn naming_an_api_keys_id_without_its_secret_gets_no_token_for_that_client() {
    let t = setup(&[]).await;
    t.user("lia", &["reader"], None).await;
    let key = t.app.create_api_key("web-backend", &[], None).await.unwrap();
    let user_form = form(&[("grant_type", "password"), ("username", "lia"), ("password", PW)]);
    let verifier = t.verifier().await;
    // Naming a confidential client is no proof of it (contract section 12): the token is the
    // default client's, for an existing key's id and for any id of that form, by form or JSON.
    for id in [key.key_id.as_str(), "0123456789abcdef"] {
        let r = t
            .post_form("/auth/token", None, &format!("{user_form}&client_id={id}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let c = verifier
            .verify(r.body["access_token"].as_str().unwrap(), now())
            .unwrap();
        assert_eq!(c.client_id, "keygate", "not labelled with {id}");
        let r = t
            .post(
                "/auth/token",
                json!({"grant_type": "password", "username": "lia", "password": PW, "client_id": id}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let c = verifier
            .verify(r.body["access_token"].as_str().unwrap(), now())
            .unwrap();
        assert_ne!(c.client_id, id);
        // Its refresh token is the default client's too: naming the key again does not refresh it.
        let refresh = r.body["refresh_token"].as_str().unwrap();
        let again = t
            .post(
                "/auth/token",
                json!({"grant_type": "refresh_token", "refresh_token": refresh, "client_id": id}),
            )
            .await;
        assert_error(&again, 401, "invalid_client");
        let ok = t
            .post(
                "/auth/token",
                json!({"grant_type": "refresh_token", "refresh_token": refresh}),
            )
            .await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    }
}

#[tokio::test]
async fn json_bodies_with_a_duplicate_member_name_are_refused() {
    let t = setup(&[]).await;
    t.user("lia", &["reader"], None).await;
    let json_ct = [("content-type", "application/json")];
    // serde_json alone keeps the last member: these would log lia in.
    for body in [
        format!(r#"{{"grant_type":"password","username":"lia","password":"wrong","password":"{PW}"}}"#),
        format!(r#"{{"grant_type":"password","username":"lia","password":"wrong","p\u0061ssword":"{PW}"}}"#),
        format!(r#"{{"grant_type":"password","username":"lia","password":"{PW}","x":{{"a":1,"a":2}}}}"#),
        format!(r#"{{"grant_type":"password","username":"lia","password":"{PW}","x":[{{"b":{{"\u0063":1,"c":2}}}}]}}"#),
    ] {
        let r = t.call(Method::POST, "/auth/token", &json_ct, &body).await;
        assert_error(&r, 400, "invalid_request");
    }
    let admin = {
        t.user("root", &["admin"], None).await;
        bearer_of(&t, "root").await
    };
    let r = t
        .call(
            Method::POST,
            "/admin/api-keys",
            &[("content-type", "application/json"), ("authorization", &admin)],
            r#"{"name":"a","name":"b","roles":[]}"#,
        )
        .await;
    assert_error(&r, 400, "invalid_request");
    // The same name in sibling objects is no duplicate.
    let body = format!(r#"{{"grant_type":"password","username":"lia","password":"{PW}","x":{{"a":1}},"y":{{"a":1}}}}"#);
    let r = t.call(Method::POST, "/auth/token", &json_ct, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn an_api_key_name_of_128_characters_survives_export_and_import_and_129_is_refused_at_both() {
    use keygate_shared::services::transfer::{ImportReport, Line, export, import_line};
    let (from, to) = (setup(&[]).await, setup(&[]).await);
    let longest = "é".repeat(128);
    let created = from.app.create_api_key(&longest, &[], None).await.unwrap();
    assert_eq!(created.name, longest);
    let too_long = "x".repeat(129);
    assert!(matches!(
        from.app.create_api_key(&too_long, &[], None).await,
        Err(keygate_shared::services::Error::InvalidRequest(_))
    ));

    let lines = export(&*from.app.store).await.unwrap();
    let mut report = ImportReport::default();
    for line in &lines {
        import_line(&*to.app.store, &serde_json::to_string(line).unwrap(), &mut report)
            .await
            .unwrap();
    }
    assert_eq!(report.api_keys_imported, 1, "{report:?}");
    let id = keygate_shared::domain::KeyId::parse(&created.key_id).unwrap();
    assert_eq!(to.app.store.api_key(&id).await.unwrap().unwrap().name, longest);

    // The same line with a 129-character name is refused, like the admin API refuses it.
    let mut line = lines
        .iter()
        .find_map(|l| match l {
            Line::ApiKey { .. } => Some(serde_json::to_value(l).unwrap()),
            _ => None,
        })
        .unwrap();
    line["name"] = json!(too_long);
    line["key_id"] = json!(keygate_shared::domain::ApiKey::generate().key_id().to_string());
    let mut report = ImportReport::default();
    assert!(
        import_line(&*to.app.store, &line.to_string(), &mut report)
            .await
            .is_err()
    );
    assert_eq!((report.api_keys_imported, report.invalid_refused), (0, 1));
}

fn set_session_cookie(r: &Resp) -> String {
    let c = r.set_cookie("__Host-keygate-session");
    for attr in ["Path=/", "Secure", "HttpOnly", "SameSite=Strict"] {
        assert!(c.split("; ").any(|a| a == attr), "{attr} in {c}");
    }
    c.split(';').next().unwrap()["__Host-keygate-session=".len()..].to_owned()
}

const APP: &str = "https://app.example.com";

async fn session_setup() -> T {
    let t = setup(&[("KEYGATE_CORS_ORIGINS", APP)]).await;
    t.user("ann", &["reader"], None).await;
    t
}

impl T {
    async fn session_call(&self, path: &str, cookie: Option<&str>, csrf: Option<&str>, origin: Option<&str>) -> Resp {
        let cookie = cookie.map(|c| format!("theme=dark; __Host-keygate-session={c}"));
        let mut h = vec![];
        if let Some(c) = &cookie {
            h.push(("cookie", c.as_str()));
        }
        if let Some(c) = csrf {
            h.push(("x-csrf-token", c));
        }
        if let Some(o) = origin {
            h.push(("origin", o));
        }
        self.call(Method::POST, path, &h, "").await
    }

    async fn session_login(&self, origin: Option<&str>) -> Resp {
        let body = json!({"grant_type": "password", "username": "ann", "password": PW}).to_string();
        let mut h = vec![("content-type", "application/json")];
        if let Some(o) = origin {
            h.push(("origin", o));
        }
        self.call(Method::POST, "/auth/session", &h, &body).await
    }
}

#[tokio::test]
async fn a_browser_session_lives_in_an_httponly_cookie_with_a_csrf_token() {
    let t = session_setup().await;
    let login = t.session_login(Some(APP)).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert_eq!(login.headers["cache-control"], "no-store");
    assert!(login.body.get("refresh_token").is_none(), "{}", login.body);
    assert_eq!(login.body["token_type"], "Bearer");
    let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();
    let access = login.body["access_token"].as_str().unwrap();
    t.verifier()
        .await
        .verify(access, keygate_shared::domain::time::now())
        .unwrap();
    let c1 = set_session_cookie(&login);
    let max_age: i64 = login.headers["set-cookie"]
        .to_str()
        .unwrap()
        .rsplit("Max-Age=")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((2_591_000..=2_592_000).contains(&max_age), "{max_age}");

    let r = t
        .session_call("/auth/session/refresh", Some(&c1), Some(&csrf), Some(APP))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["csrf_token"], csrf.as_str());
    assert!(r.body.get("refresh_token").is_none());
    let c2 = set_session_cookie(&r);
    assert_ne!(c1, c2);

    // The retired cookie again: reuse, the whole session dies (as for refresh tokens).
    let r = t
        .session_call("/auth/session/refresh", Some(&c1), Some(&csrf), Some(APP))
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_grant"))
    );
    let r = t
        .session_call("/auth/session/refresh", Some(&c2), Some(&csrf), Some(APP))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "reuse revoked the session");
}

#[tokio::test]
async fn csrf_and_origin_refusals_change_nothing() {
    let t = session_setup().await;
    // Without an Origin (not a browser) and from keygate's own origin, the login works.
    assert_eq!(t.session_login(None).await.status, 200);
    assert_eq!(t.session_login(Some("http://127.0.0.1:3000")).await.status, 200);
    let evil = "https://evil.example.net";
    let r = t.session_login(Some(evil)).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::FORBIDDEN, Some("invalid_csrf"))
    );
    assert!(r.headers.get(header::SET_COOKIE).is_none());

    let login = t.session_login(Some(APP)).await;
    let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();
    let cookie = set_session_cookie(&login);
    let other = t.session_login(Some(APP)).await.body["csrf_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(csrf, other, "each session has its own CSRF token");
    for (path, csrf, origin) in [
        ("/auth/session/refresh", None, Some(APP)),
        ("/auth/session/refresh", Some("wrong"), Some(APP)),
        ("/auth/session/refresh", Some(other.as_str()), Some(APP)),
        ("/auth/session/refresh", Some(csrf.as_str()), Some(evil)),
        ("/auth/session/logout", None, Some(APP)),
        ("/auth/session/logout", Some(csrf.as_str()), Some(evil)),
    ] {
        let r = t.session_call(path, Some(&cookie), csrf, origin).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (StatusCode::FORBIDDEN, Some("invalid_csrf")),
            "{path} {csrf:?} {origin:?}"
        );
        assert!(r.headers.get(header::SET_COOKIE).is_none());
    }
    // Nothing changed: the cookie still refreshes (it was neither rotated nor revoked).
    let r = t
        .session_call("/auth/session/refresh", Some(&cookie), Some(&csrf), Some(APP))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = set_session_cookie(&r);

    // Missing or unknown cookies: 401 (logout: 204).
    for c in [None, Some("kgr_garbage")] {
        let r = t.session_call("/auth/session/refresh", c, Some(&csrf), Some(APP)).await;
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_grant"))
        );
        assert_eq!(
            t.session_call("/auth/session/logout", c, Some(&csrf), Some(APP))
                .await
                .status,
            204
        );
    }
    // Logout clears the cookie and ends the session.
    let r = t
        .session_call("/auth/session/logout", Some(&cookie), Some(&csrf), Some(APP))
        .await;
    assert_eq!(r.status, 204);
    let cleared = r.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("__Host-keygate-session=;") && cleared.ends_with("Max-Age=0"),
        "{cleared}"
    );
    let r = t
        .session_call("/auth/session/refresh", Some(&cookie), Some(&csrf), Some(APP))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Wrong password and a wrong grant type answer as /auth/token does.
    let r = t
        .call(
            Method::POST,
            "/auth/session",
            &[("content-type", "application/json")],
            &json!({"username": "ann", "password": "not the password at all"}).to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_grant"))
    );
    let r = t
        .call(
            Method::POST,
            "/auth/session",
            &[("content-type", "application/json")],
            &json!({"grant_type": "api_key", "api_key": "x"}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cors_answers_listed_origins_only_and_never_a_wildcard() {
    let t = session_setup().await;
    let r = t
        .call(Method::GET, "/.well-known/jwks.json", &[("origin", APP)], "")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["access-control-allow-origin"], APP);
    assert_eq!(r.headers["access-control-allow-credentials"], "true");
    assert!(r.headers.get_all(header::VARY).iter().any(|v| v == "Origin"));
    // Errors carry the headers too, so a browser app can read them.
    let r = t.session_login(None).await;
    assert!(r.headers.get("access-control-allow-origin").is_none());
    let r = t
        .call(Method::POST, "/auth/session/refresh", &[("origin", APP)], "")
        .await;
    assert_eq!(
        (
            r.status,
            r.headers
                .get("access-control-allow-origin")
                .map(|v| v.to_str().unwrap())
        ),
        (StatusCode::UNAUTHORIZED, Some(APP))
    );
    for origin in ["https://evil.example.net", "null", "https://app.example.com.evil.net"] {
        let r = t
            .call(Method::GET, "/.well-known/jwks.json", &[("origin", origin)], "")
            .await;
        assert!(r.headers.get("access-control-allow-origin").is_none(), "{origin}");
        assert!(r.headers.get("access-control-allow-credentials").is_none(), "{origin}");
    }
    async fn preflight(t: &T, origin: &str) -> Resp {
        t.call(
            Method::OPTIONS,
            "/auth/session/refresh",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "x-csrf-token"),
            ],
            "",
        )
        .await
    }
    let r = preflight(&t, APP).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(r.headers["access-control-allow-origin"], APP);
    assert_eq!(r.headers["access-control-allow-methods"], "POST");
    let allowed = r.headers["access-control-allow-headers"].to_str().unwrap();
    for h in ["authorization", "content-type", "x-csrf-token"] {
        assert!(allowed.contains(h), "{allowed}");
    }
    let r = preflight(&t, "https://evil.example.net").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers.get("access-control-allow-origin").is_none());
    // Without KEYGATE_CORS_ORIGINS: no CORS headers at all.
    let plain = setup(&[]).await;
    let r = plain
        .call(Method::GET, "/.well-known/jwks.json", &[("origin", APP)], "")
        .await;
    assert!(r.headers.get("access-control-allow-origin").is_none() && r.headers.get(header::VARY).is_none());
}

const NEW_PW: &str = "marble comet violin 58";

#[tokio::test]
async fn self_registration_is_closed_by_default_and_hides_existing_addresses_when_open() {
    let closed = setup(&[]).await;
    let r = closed.post("/auth/register", json!({"email": "new@example.com"})).await;
    assert_error(&r, 403, "registration_closed");
    assert!(closed.outbox_lines().is_empty());

    let t = setup(&[
        ("KEYGATE_REGISTRATION", "open"),
        ("KEYGATE_REGISTER_URL", "https://app.example.com/join?t={token}"),
    ])
    .await;
    t.user("ann", &["reader"], Some("ann@example.com")).await;
    for email in ["new@example.com", "ANN@example.com"] {
        let r = t.post("/auth/register", json!({ "email": email })).await;
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::ACCEPTED, &json!({"status": "accepted"})),
            "{email}"
        );
        assert_eq!(r.headers["cache-control"], "no-store");
    }
    let mails = t.outbox_lines();
    assert_eq!(
        mails.len(),
        1,
        "only the address without an account gets mail: {mails:?}"
    );
    let mail = &mails[0];
    assert_eq!(
        (mail["kind"].as_str(), mail["to"].as_str()),
        (Some("register"), Some("new@example.com"))
    );
    let token = mail["token"].as_str().unwrap().to_owned();
    assert_eq!(mail["url"], format!("https://app.example.com/join?t={token}"));
    assert!(token.len() >= 43, "at least 128 bits: {token}");
    assert_error(
        &t.post("/auth/register", json!({"email": "not an address"})).await,
        400,
        "invalid_request",
    );
    // At most 3 mails per address per 15 minutes; the answer does not change.
    for _ in 0..4 {
        assert_eq!(
            t.post("/auth/register", json!({"email": "new@example.com"}))
                .await
                .status,
            202
        );
    }
    assert_eq!(t.outbox_lines().len(), 3);

    let complete = |username: &str, password: &str, token: &str| json!({"token": token, "username": username, "password": password});
    // Refusals leave the token usable: weak password, taken username, then success.
    let r = t
        .post("/auth/register/complete", complete("newbie", "password", &token))
        .await;
    assert_error(&r, 400, "weak_password");
    let r = t.post("/auth/register/complete", complete("ANN", NEW_PW, &token)).await;
    assert_error(&r, 409, "conflict");
    let r = t
        .post("/auth/register/complete", complete("newbie", NEW_PW, &token))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        (r.body["username"].as_str(), &r.body["roles"]),
        (Some("newbie"), &json!(["user"]))
    );
    let account = t
        .app
        .store
        .account(&keygate_shared::domain::UsernameKey::of_any("newbie"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.email.unwrap().as_str(), "new@example.com");
    assert_eq!(t.login("newbie", NEW_PW).await.status, 200);
    // Spent: a second use, a forged and a malformed token all get invalid_token.
    let forged = format!("{}x", &token[..token.len() - 1]);
    for bad in [token.as_str(), forged.as_str(), "kgi_nope"] {
        let r = t.post("/auth/register/complete", complete("other", NEW_PW, bad)).await;
        assert_error(&r, 400, "invalid_token");
    }
    // The address has an account now: registering it again mails nothing.
    let before = t.outbox_lines().len();
    assert_eq!(
        t.post("/auth/register", json!({"email": "new@example.com"}))
            .await
            .status,
        202
    );
    assert_eq!(t.outbox_lines().len(), before);
}

impl T {
    /// `POST /auth/register` for `email`, checking the one answer it may give.
    async fn register(&self, email: &str) {
        let r = self.post("/auth/register", json!({ "email": email })).await;
        assert_eq!(
            (r.status, &r.body),
            (StatusCode::ACCEPTED, &json!({"status": "accepted"})),
            "{email}"
        );
    }

    /// The recipients of the outbox's registration mails, in order.
    fn registration_mails(&self) -> Vec<String> {
        self.outbox_lines()
            .iter()
            .filter(|m| m["kind"] == "register")
            .map(|m| m["to"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn registration_mail_limits_count_the_mailbox_not_the_spelling() {
    let t = setup(&[("KEYGATE_REGISTRATION", "open")]).await;
    for _ in 0..3 {
        t.register("bob@example.com").await;
    }
    assert_eq!(t.registration_mails().len(), 3);
    // The same mailbox spelt otherwise: the domain's case, a trailing dot, a +tag.
    for spelling in ["bob+1@EXAMPLE.com.", "bob@Example.COM", "bob+x@example.com"] {
        t.register(spelling).await;
    }
    assert_eq!(t.registration_mails().len(), 3, "{:?}", t.registration_mails());
    // The local part compares as written: `Bob` is another mailbox.
    t.register("Bob@example.com").await;
    assert_eq!(
        t.registration_mails().last().map(String::as_str),
        Some("Bob@example.com")
    );
}

#[tokio::test]
async fn registration_mails_stop_after_20_per_domain_in_15_minutes() {
    let t = setup(&[("KEYGATE_REGISTRATION", "open")]).await;
    for i in 0..20 {
        let domain = if i % 2 == 0 { "crowd.example" } else { "Crowd.Example." };
        t.register(&format!("user{i}@{domain}")).await;
    }
    assert_eq!(t.registration_mails().len(), 20);
    // The 21st address at that domain gets the same answer and no mail.
    t.register("user20@crowd.example").await;
    t.register("latecomer+tag@CROWD.example").await;
    assert_eq!(t.registration_mails().len(), 20);
    // Another domain is counted apart.
    t.register("user0@elsewhere.example").await;
    assert_eq!(
        t.registration_mails().last().map(String::as_str),
        Some("user0@elsewhere.example")
    );
}

#[tokio::test]
async fn a_token_refused_five_times_for_taken_usernames_is_dead() {
    let t = setup(&[("KEYGATE_REGISTRATION", "open")]).await;
    for name in ["ann", "ben", "cat", "dan", "eve"] {
        t.user(name, &["reader"], None).await;
    }
    t.register("prober@example.com").await;
    let mails = t.outbox_lines();
    let token = mails[0]["token"].as_str().unwrap();
    let complete = |username: &str| json!({"token": token, "username": username, "password": NEW_PW});
    for name in ["ann", "BEN", "cat", "dan", "eve"] {
        assert_error(
            &t.post("/auth/register/complete", complete(name)).await,
            409,
            "conflict",
        );
    }
    // Dead, even with a free username, and nothing was created.
    let r = t.post("/auth/register/complete", complete("free-name")).await;
    assert_error(&r, 400, "invalid_token");
    assert_error(
        &t.post("/auth/register/complete", complete("ann")).await,
        400,
        "invalid_token",
    );
    assert!(
        t.app
            .store
            .account(&keygate_shared::domain::UsernameKey::of_any("free-name"))
            .await
            .unwrap()
            .is_none()
    );
    // Four refusals leave a token usable.
    t.register("patient@example.com").await;
    let mails = t.outbox_lines();
    let token = mails.last().unwrap()["token"].as_str().unwrap();
    let complete = |username: &str| json!({"token": token, "username": username, "password": NEW_PW});
    for name in ["ann", "ben", "cat", "dan"] {
        assert_error(
            &t.post("/auth/register/complete", complete(name)).await,
            409,
            "conflict",
        );
    }
    let r = t.post("/auth/register/complete", complete("patient")).await;
    assert_eq!(r.status, 201, "{}", r.body);
}

#[cfg(unix)]
#[tokio::test]
async fn the_outbox_file_is_created_with_mode_0600_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let t = setup(&[("KEYGATE_REGISTRATION", "open")]).await;
    assert!(!t.outbox.exists());
    // The most permissive umask (process-wide: only widens what other tests create meanwhile).
    // SAFETY: umask has no failure mode and touches no memory.
    let old = unsafe { libc::umask(0o000) };
    t.register("first@example.com").await;
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let mode = std::fs::metadata(&t.outbox).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");

    // An outbox that already exists keeps working (and keeps its mode).
    let u = setup(&[("KEYGATE_REGISTRATION", "open")]).await;
    std::fs::write(&u.outbox, "{\"kind\":\"earlier\"}\n").unwrap();
    std::fs::set_permissions(&u.outbox, std::fs::Permissions::from_mode(0o640)).unwrap();
    u.register("second@example.com").await;
    let lines = u.outbox_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        (lines[0]["kind"].as_str(), lines[1]["kind"].as_str()),
        (Some("earlier"), Some("register"))
    );
    let mode = std::fs::metadata(&u.outbox).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o640, "{mode:o}");
}

#[tokio::test]
async fn admins_invite_with_roles_list_and_cancel_invitations() {
    let t = &setup(&[]).await;
    t.app.ensure_admin("root", PW).await.unwrap();
    t.user("nia", &["reader"], Some("nia@example.com")).await;
    let admin = format!(
        "Bearer {}",
        t.login("root", PW).await.body["access_token"].as_str().unwrap()
    );
    let reader = format!(
        "Bearer {}",
        t.login("nia", PW).await.body["access_token"].as_str().unwrap()
    );
    let invite = |auth: &str, body: Value| {
        let auth = auth.to_owned();
        async move {
            t.call(
                Method::POST,
                "/admin/invitations",
                &[("content-type", "application/json"), ("authorization", &auth)],
                &body.to_string(),
            )
            .await
        }
    };
    let r = invite(&reader, json!({"email": "ops@example.com", "roles": ["ops"]})).await;
    assert_error(&r, 403, "insufficient_scope");
    let r = invite(&admin, json!({"email": "nia@example.com", "roles": ["ops"]})).await;
    assert_error(&r, 409, "conflict");
    let r = invite(&admin, json!({"email": "bad", "roles": ["ops"]})).await;
    assert_error(&r, 400, "invalid_request");
    assert!(t.outbox_lines().is_empty(), "refusals mail nothing");

    let r = invite(&admin, json!({"email": "ops@example.com", "roles": ["ops", "reader"]})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["invitation_id"].as_str().unwrap().to_owned();
    assert_eq!(
        (r.body["email"].as_str(), &r.body["roles"]),
        (Some("ops@example.com"), &json!(["ops", "reader"]))
    );
    assert!(r.body["expires_at"].is_string() && r.body.get("token").is_none());
    let second = invite(&admin, json!({"email": "temp@example.com", "roles": []})).await;
    let second_id = second.body["invitation_id"].as_str().unwrap().to_owned();
    let mails = t.outbox_lines();
    assert_eq!(mails.len(), 2);
    assert_eq!(
        (mails[0]["kind"].as_str(), mails[0]["to"].as_str()),
        (Some("invitation"), Some("ops@example.com"))
    );
    let (token, second_token) = (mails[0]["token"].as_str().unwrap(), mails[1]["token"].as_str().unwrap());

    let list = t
        .call(Method::GET, "/admin/invitations", &[("authorization", &admin)], "")
        .await;
    assert_eq!(list.status, 200, "{}", list.body);
    let mut ids: Vec<&str> = list.body["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["invitation_id"].as_str().unwrap())
        .collect();
    // Both made in the same second: oldest first cannot tell them apart.
    ids.sort_unstable();
    let mut expected = [id.as_str(), second_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    // Cancelled: its token dies; an unknown id is 404.
    let del = |id: String| {
        let admin = admin.clone();
        async move {
            t.call(
                Method::DELETE,
                &format!("/admin/invitations/{id}"),
                &[("authorization", &admin)],
                "",
            )
            .await
        }
    };
    assert_eq!(del(second_id.clone()).await.status, 204);
    assert_error(&del(second_id.clone()).await, 404, "not_found");
    assert_error(&del("nope".into()).await, 404, "not_found");
    let r = t
        .post(
            "/auth/register/complete",
            json!({"token": second_token, "username": "temp", "password": NEW_PW}),
        )
        .await;
    assert_error(&r, 400, "invalid_token");

    // Accepted in invite mode, with the invitation's roles; then gone from the list.
    let r = t
        .post(
            "/auth/register/complete",
            json!({"token": token, "username": "opsy", "password": NEW_PW}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.body["roles"], json!(["ops", "reader"]));
    let list = t
        .call(Method::GET, "/admin/invitations", &[("authorization", &admin)], "")
        .await;
    assert_eq!(list.body, json!({"invitations": []}));
    // The invitations routes answer 405 with Allow for other methods.
    let r = t
        .call(Method::PUT, "/admin/invitations", &[("authorization", &admin)], "")
        .await;
    assert_eq!(
        (r.status, r.headers["allow"].to_str().unwrap()),
        (StatusCode::METHOD_NOT_ALLOWED, "GET, POST")
    );
}

#[tokio::test]
async fn share_links_are_minted_listed_revoked_and_never_access_tokens() {
    let t = &setup(&[("KEYGATE_SHARE_MAX_TTL", "86400")]).await;
    t.app.ensure_admin("root", PW).await.unwrap();
    t.user("ann", &["reader"], None).await;
    t.user("bob", &["reader"], None).await;
    let bearer = |name: &'static str| async move {
        format!(
            "Bearer {}",
            t.login(name, PW).await.body["access_token"].as_str().unwrap()
        )
    };
    let (ann, bob, root) = (bearer("ann").await, bearer("bob").await, bearer("root").await);
    let mint = |auth: String, body: Value| async move {
        t.call(
            Method::POST,
            "/auth/share",
            &[("content-type", "application/json"), ("authorization", &auth)],
            &body.to_string(),
        )
        .await
    };
    let r = mint(ann.clone(), json!({"resource": "/graphs/42", "expires_in": 3600})).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (id, token) = (
        r.body["share_id"].as_str().unwrap().to_owned(),
        r.body["token"].as_str().unwrap().to_owned(),
    );
    assert_eq!(r.body["resource"], "/graphs/42");
    assert!(r.body["expires_at"].is_string());
    // The token is a share+jwt that the SDK verifies as a share, and nothing takes it as an
    // access token.
    let verifier = t.verifier().await;
    let now = keygate_shared::domain::time::now();
    let claims = verifier.verify_share(&token, now, 86_400).unwrap();
    assert_eq!(
        (claims.share_id.as_str(), claims.resource.as_str()),
        (id.as_str(), "/graphs/42")
    );
    assert!(verifier.verify(&token, now).is_err());
    let as_bearer = format!("Bearer {token}");
    let r = t
        .call(Method::GET, "/auth/validate", &[("authorization", &as_bearer)], "")
        .await;
    assert_eq!(r.status, 401);
    let r = t
        .call(Method::GET, "/auth/share", &[("authorization", &as_bearer)], "")
        .await;
    assert_eq!(r.status, 401, "a share token cannot list shares");
    // Bad input: 400, nothing stored.
    for bad in [
        json!({"resource": "graphs/42"}),
        json!({"resource": "/graphs/../admin"}),
        json!({"resource": "/graphs/42?x=1"}),
        json!({"resource": "/graphs%2F42"}),
        json!({"resource": format!("/{}", "a".repeat(600))}),
        json!({"resource": "/graphs/42", "expires_in": 86_401}),
        json!({"resource": "/graphs/42", "expires_in": 0}),
    ] {
        let r = mint(ann.clone(), bad.clone()).await;
        assert_error(&r, 400, "invalid_request");
    }
    let list = |auth: String| async move {
        t.call(Method::GET, "/auth/share", &[("authorization", &auth)], "")
            .await
    };
    let r = list(ann.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["shares"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(list(bob.clone()).await.body, json!({"shares": []}));
    // Another account gets 404; the creator (or an admin) revokes.
    let del = |auth: String, id: String| async move {
        t.call(
            Method::DELETE,
            &format!("/auth/share/{id}"),
            &[("authorization", &auth)],
            "",
        )
        .await
    };
    assert_error(&del(bob.clone(), id.clone()).await, 404, "not_found");
    let r = t.call(Method::GET, "/auth/share/revoked", &[], "").await;
    assert_eq!((r.status, &r.body), (StatusCode::OK, &json!({"revoked": []})));
    assert_eq!(r.headers["cache-control"], "public, max-age=60");
    assert_eq!(del(ann.clone(), id.clone()).await.status, 204);
    let r = t.call(Method::GET, "/auth/share/revoked", &[], "").await;
    assert_eq!(r.body, json!({"revoked": [id]}));
    assert_eq!(list(ann.clone()).await.body, json!({"shares": []}));
    let other = mint(bob.clone(), json!({"resource": "/graphs/7"})).await.body["share_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        del(root.clone(), other).await.status,
        204,
        "an admin may revoke any share"
    );
    assert_error(&del(ann.clone(), "nope".into()).await, 404, "not_found");
    // API-key tokens make no shares.
    let key = t.app.create_api_key("svc", &["reader".into()], None).await.unwrap();
    let svc = t
        .post("/auth/token", json!({"grant_type": "api_key", "api_key": key.api_key}))
        .await;
    let svc = format!("Bearer {}", svc.body["access_token"].as_str().unwrap());
    assert_error(
        &mint(svc, json!({"resource": "/graphs/42"})).await,
        403,
        "insufficient_scope",
    );
    assert_error(
        &mint(String::new(), json!({"resource": "/graphs/42"})).await,
        401,
        "invalid_token",
    );
}

#[tokio::test]
async fn share_links_respect_the_route_policy_the_limit_and_their_creators_standing() {
    // Issue 23: any account could share /admin/users; one account could grow the revocation
    // list without bound; a disabled creator's links kept working.
    let policy =
        r#"{"GET /graphs/{proxy+}": {"roles": ["reader"], "share": true}, "GET /admin/{proxy+}": ["admin"], "*": []}"#;
    let t = &setup(&[("KEYGATE_ROUTE_ROLES", policy), ("KEYGATE_SHARE_MAX_PER_ACCOUNT", "3")]).await;
    t.app.ensure_admin("root", PW).await.unwrap();
    t.user("ann", &["reader"], None).await;
    t.user("eve", &["user"], None).await;
    let bearer = |name: &'static str| async move {
        format!(
            "Bearer {}",
            t.login(name, PW).await.body["access_token"].as_str().unwrap()
        )
    };
    let (ann, eve, root) = (bearer("ann").await, bearer("eve").await, bearer("root").await);
    let mint = |auth: String, resource: &'static str| async move {
        t.call(
            Method::POST,
            "/auth/share",
            &[("content-type", "application/json"), ("authorization", &auth)],
            &json!({ "resource": resource }).to_string(),
        )
        .await
    };
    let r = mint(ann.clone(), "/graphs/42").await;
    assert_eq!(r.status, 201, "{}", r.body);
    let first = r.body["share_id"].as_str().unwrap().to_owned();
    let claims = t
        .verifier()
        .await
        .verify_share(r.body["token"].as_str().unwrap(), now(), 2_592_000)
        .unwrap();
    assert_eq!(
        claims.shared_by_roles,
        ["reader"],
        "the creator's roles travel in the token"
    );
    // The caller lacks the route's role; a route not marked shareable, even for an admin; the
    // list form of `*` is not shareable.
    for (auth, resource) in [
        (eve.clone(), "/graphs/42"),
        (root.clone(), "/admin/users"),
        (ann.clone(), "/other"),
    ] {
        assert_error(&mint(auth, resource).await, 403, "insufficient_scope");
    }
    // The limit counts unexpired shares, revoked ones included.
    assert_eq!(mint(ann.clone(), "/graphs/43").await.status, 201);
    let third = mint(ann.clone(), "/graphs/44").await;
    assert_eq!(third.status, 201);
    assert_error(&mint(ann.clone(), "/graphs/45").await, 429, "too_many_shares");
    let r = t
        .call(
            Method::DELETE,
            &format!("/auth/share/{first}"),
            &[("authorization", &ann)],
            "",
        )
        .await;
    assert_eq!(r.status, 204);
    assert_error(&mint(ann.clone(), "/graphs/45").await, 429, "too_many_shares");
    // Verifiers ask about one share: the answer names it or nothing.
    let revoked = |q: String| async move { t.call(Method::GET, &format!("/auth/share/revoked?{q}"), &[], "").await };
    let r = revoked(format!("share_id={first}")).await;
    assert_eq!(
        (r.status, &r.body),
        (StatusCode::OK, &json!({ "revoked": [first.clone()] }))
    );
    assert_eq!(r.headers["cache-control"], "public, max-age=60");
    let live = third.body["share_id"].as_str().unwrap().to_owned();
    assert_eq!(revoked(format!("share_id={live}")).await.body, json!({"revoked": []}));
    assert_eq!(revoked("share_id=nonsense".into()).await.body, json!({"revoked": []}));
    assert_error(
        &revoked(format!("share_id={first}&share_id={live}")).await,
        400,
        "invalid_request",
    );
    // Disabling the creator revokes every link they made.
    let r = t
        .call(
            Method::PATCH,
            "/admin/users/ann",
            &[("content-type", "application/json"), ("authorization", &root)],
            r#"{"disabled": true}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        revoked(format!("share_id={live}")).await.body,
        json!({ "revoked": [live.clone()] })
    );
    let all = t.call(Method::GET, "/auth/share/revoked", &[], "").await.body;
    assert_eq!(all["revoked"].as_array().unwrap().len(), 3, "{all}");
}

/// Section 12: new usernames follow RFC 8265's UsernameCaseMapped profile and may not look like
/// a taken one (Unicode TR39 skeletons). Invisible, bidi-control and space characters: 400
/// `invalid_request`, the name not echoed; look-alikes of `admin`: 409 `conflict`; through the
/// admin API and through `/auth/register/complete` (whose token stays usable after a refusal).
#[tokio::test]
async fn invisible_characters_and_look_alike_usernames_are_refused() {
    let t = setup(&[
        ("KEYGATE_REGISTRATION", "open"),
        ("KEYGATE_REGISTER_URL", "https://app.example.com/join?t={token}"),
    ])
    .await;
    t.user("admin", &["admin"], None).await;
    let a = format!(
        "Bearer {}",
        t.login("admin", PW).await.body["access_token"].as_str().unwrap()
    );
    let h = [("content-type", "application/json"), ("authorization", a.as_str())];
    let create = |username: &str| json!({"username": username, "password": PW, "roles": []}).to_string();

    for bad in [
        "admin\u{200b}",
        "ad\u{200b}min",
        "\u{202e}nimda",
        "ad\u{2066}min\u{2069}",
        "ad\u{feff}min",
        "ad min",
    ] {
        let r = t.call(Method::POST, "/admin/users", &h, &create(bad)).await;
        assert_error(&r, 400, "invalid_request");
        let text = r.body["error_description"].as_str().unwrap();
        assert!(!text.contains("min") && !text.contains("nimda"), "{bad:?}: {text}");
    }
    for alike in ["\u{430}dmin", "adm\u{131}n", "\u{410}DMIN"] {
        let r = t.call(Method::POST, "/admin/users", &h, &create(alike)).await;
        assert_error(&r, 409, "conflict");
    }
    let fine = t.call(Method::POST, "/admin/users", &h, &create("admin2")).await;
    assert_eq!(fine.status, StatusCode::CREATED, "{}", fine.body);
    assert_eq!(t.login("admin", PW).await.status, 200);

    assert_eq!(
        t.post("/auth/register", json!({"email": "new@example.com"}))
            .await
            .status,
        202
    );
    let token = t.outbox_lines()[0]["token"].as_str().unwrap().to_owned();
    let complete = |username: &str| json!({"token": token, "username": username, "password": NEW_PW});
    assert_error(
        &t.post("/auth/register/complete", complete("\u{430}dmin")).await,
        409,
        "conflict",
    );
    assert_error(
        &t.post("/auth/register/complete", complete("adm\u{131}n2")).await,
        409,
        "conflict",
    );
    assert_error(
        &t.post("/auth/register/complete", complete("admin\u{200b}")).await,
        400,
        "invalid_request",
    );
    let r = t.post("/auth/register/complete", complete("newbie")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}
