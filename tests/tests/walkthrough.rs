//! The README's walkthrough, step by step, against the real `keygate serve` binary.

use keygate_tests::bins::{http, login, post_json};
use keygate_tests::serve::Server;
use keygate_tests::tempdir::TempDir;
use serde_json::{Value, json};

fn start(outbox: &std::path::Path) -> Server {
    let outbox = outbox.display().to_string();
    Server::start(&[("KEYGATE_MAILER", "outbox"), ("KEYGATE_OUTBOX", &outbox)])
}

#[test]
fn readme_walkthrough() {
    let dir = TempDir::new("walkthrough");
    let outbox = dir.path().join("outbox.jsonl");
    let s = start(&outbox);

    // 1. The admin logs in and creates a user.
    let admin = login(s.addr, "admin", "correct-horse-battery-9");
    assert_eq!(admin.status, 200, "{}", admin.body);
    let admin = admin.json()["access_token"].as_str().unwrap().to_owned();
    let created = post_json(
        s.addr,
        "/admin/users",
        &json!({"username":"ann","password":"tangerine kite orbit 42","email":"ann@example.com","roles":["reader"]}),
        Some(&admin),
    );
    assert_eq!(created.status, 201, "{}", created.body);

    // 2. Ann logs in with HTTP Basic (curl -u).
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ann:tangerine kite orbit 42")
    );
    let ann = http(s.addr, "POST", "/auth/token", &[("authorization", &basic)], "");
    assert_eq!(ann.status, 200, "{}", ann.body);
    assert_eq!(ann.header("cache-control"), Some("no-store"));
    let ann = ann.json();
    for field in [
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
    ] {
        assert!(ann.get(field).is_some(), "{field}");
    }

    // 3. JWKS, discovery, validate.
    let jwks = http(s.addr, "GET", "/.well-known/jwks.json", &[], "");
    assert_eq!(jwks.status, 200);
    assert!(!jwks.json()["keys"].as_array().unwrap().is_empty());
    assert_eq!(
        http(s.addr, "GET", "/.well-known/openid-configuration", &[], "").json()["issuer"],
        "http://127.0.0.1:3000"
    );
    let at = format!("Bearer {}", ann["access_token"].as_str().unwrap());
    let v = http(s.addr, "GET", "/auth/validate", &[("authorization", &at)], "");
    assert_eq!(v.status, 200);
    assert_eq!(v.header("x-auth-roles"), Some("reader"));
    assert!(v.header("x-auth-subject").is_some());

    // 4. Refresh, then the retired token again: 401 invalid_grant.
    let r1 = ann["refresh_token"].as_str().unwrap();
    let ann2 = post_json(s.addr, "/auth/refresh", &json!({"refresh_token": r1}), None);
    assert_eq!(ann2.status, 200, "{}", ann2.body);
    let reuse = post_json(s.addr, "/auth/refresh", &json!({"refresh_token": r1}), None);
    assert_eq!(
        (reuse.status, reuse.json()["error"].as_str()),
        (401, Some("invalid_grant"))
    );

    // 5. Logout.
    let out = post_json(
        s.addr,
        "/auth/revoke",
        &json!({"refresh_token": ann2.json()["refresh_token"]}),
        None,
    );
    assert_eq!((out.status, out.json()), (200, json!({})));

    // 6. Forgot and reset.
    let f = post_json(s.addr, "/auth/password/forgot", &json!({"username":"ann"}), None);
    assert_eq!((f.status, f.json()), (202, json!({"status":"accepted"})));
    let last = std::fs::read_to_string(&outbox).unwrap();
    let mail: Value = serde_json::from_str(last.lines().last().unwrap()).unwrap();
    let reset = post_json(
        s.addr,
        "/auth/password/reset",
        &json!({"token": mail["token"], "new_password":"violet harbor lantern 7"}),
        None,
    );
    assert_eq!(reset.status, 204, "{}", reset.body);
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("ann:violet harbor lantern 7")
    );
    let again = http(s.addr, "POST", "/auth/token", &[("authorization", &basic)], "");
    assert_eq!(again.json()["token_type"], "Bearer");
}
