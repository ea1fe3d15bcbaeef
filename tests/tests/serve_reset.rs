//! Password reset through `keygate serve` (the real binary): a finished reset spends every
//! other outstanding reset token of the account (`openapi.yaml`, POST /auth/password/reset).

use keygate_tests::bins::http;
use keygate_tests::serve::{ADMIN, Server};
use serde_json::{Value, json};

fn post(s: &Server, path: &str, body: &Value, auth: Option<&str>) -> keygate_tests::bins::HttpAnswer {
    let bearer = auth.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(b) = bearer.as_deref() {
        headers.push(("authorization", b));
    }
    http(s.addr, "POST", path, &headers, &body.to_string())
}

#[test]
fn a_reset_spends_every_other_reset_token_of_the_account() {
    let dir = std::env::temp_dir().join(format!("keygate-serve-reset-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let outbox = dir.join("outbox.jsonl");
    let s = Server::start(&[
        ("KEYGATE_MAILER", "outbox"),
        ("KEYGATE_OUTBOX", &outbox.display().to_string()),
    ]);
    let admin = post(
        &s,
        "/auth/token",
        &json!({"grant_type": "password", "username": ADMIN.0, "password": ADMIN.1}),
        None,
    );
    let admin = admin.json()["access_token"].as_str().unwrap().to_owned();
    let created = post(
        &s,
        "/admin/users",
        &json!({"username": "rhea", "password": "tangerine kite orbit 42", "email": "rhea@example.com", "roles": []}),
        Some(&admin),
    );
    assert_eq!(created.status, 201, "{}", created.body);

    // Two forgot-password mails: two outstanding tokens.
    for _ in 0..2 {
        let f = post(&s, "/auth/password/forgot", &json!({"username": "rhea"}), None);
        assert_eq!(f.status, 202);
    }
    let mails: Vec<Value> = std::fs::read_to_string(&outbox)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(mails.len(), 2);
    let (first, second) = (mails[0]["token"].clone(), mails[1]["token"].clone());
    assert_ne!(first, second);

    let reset = post(
        &s,
        "/auth/password/reset",
        &json!({"token": first, "new_password": "violet harbor lantern 7"}),
        None,
    );
    assert_eq!(reset.status, 204, "{}", reset.body);
    let late = post(
        &s,
        "/auth/password/reset",
        &json!({"token": second, "new_password": "someone else's passphrase"}),
        None,
    );
    assert_eq!(late.status, 400, "{}", late.body);
    assert_eq!(late.json()["error"], "invalid_token");
    let login = post(
        &s,
        "/auth/token",
        &json!({"grant_type": "password", "username": "rhea", "password": "violet harbor lantern 7"}),
        None,
    );
    assert_eq!(login.status, 200, "the first reset's password stays: {}", login.body);
    let _ = std::fs::remove_dir_all(&dir);
}
