//! Password reset through `keygate serve` (the real binary): a finished reset spends every
//! other outstanding reset token of the account (`openapi.yaml`, POST /auth/password/reset).

use keygate_tests::bins::{login, post_json};
use keygate_tests::serve::{ADMIN, Server};
use keygate_tests::tempdir::TempDir;
use serde_json::{Value, json};

#[test]
fn a_reset_spends_every_other_reset_token_of_the_account() {
    let dir = TempDir::new("serve-reset");
    let outbox = dir.path().join("outbox.jsonl");
    let s = Server::start(&[
        ("KEYGATE_MAILER", "outbox"),
        ("KEYGATE_OUTBOX", &outbox.display().to_string()),
    ]);
    let admin = login(s.addr, ADMIN.0, ADMIN.1);
    let admin = admin.json()["access_token"].as_str().unwrap().to_owned();
    let created = post_json(
        s.addr,
        "/admin/users",
        &json!({"username": "rhea", "password": "tangerine kite orbit 42", "email": "rhea@example.com", "roles": []}),
        Some(&admin),
    );
    assert_eq!(created.status, 201, "{}", created.body);

    // Two forgot-password mails: two outstanding tokens.
    for _ in 0..2 {
        let f = post_json(s.addr, "/auth/password/forgot", &json!({"username": "rhea"}), None);
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

    let reset = post_json(
        s.addr,
        "/auth/password/reset",
        &json!({"token": first, "new_password": "violet harbor lantern 7"}),
        None,
    );
    assert_eq!(reset.status, 204, "{}", reset.body);
    let late = post_json(
        s.addr,
        "/auth/password/reset",
        &json!({"token": second, "new_password": "someone else's passphrase"}),
        None,
    );
    assert_eq!(late.status, 400, "{}", late.body);
    assert_eq!(late.json()["error"], "invalid_token");
    let again = login(s.addr, "rhea", "violet harbor lantern 7");
    assert_eq!(again.status, 200, "the first reset's password stays: {}", again.body);
}
