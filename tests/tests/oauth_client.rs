//! A standard OAuth 2.0 client library (authlib, from the CI virtualenv) against the real
//! `keygate serve`: client_credentials (Basic and body), password, refresh and revocation,
//! with endpoints from discovery and no keygate-specific code (`tests/oauth/client_flows.py`).

use keygate_tests::bins::{login, post_json};
use keygate_tests::rie::venv;
use keygate_tests::serve::{ADMIN, spawn_listening};
use serde_json::json;
use std::process::Command;

const USER: (&str, &str) = ("olga", "violet harbor lantern 7");

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("local addr").port()
}

#[test]
fn authlib_runs_every_standard_grant_without_keygate_specific_code() {
    let python = venv().join("bin/python");
    let has_authlib = Command::new(&python)
        .args(["-c", "import authlib, requests"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_authlib,
        "{} cannot import authlib: .ci/test installs it (pip install authlib requests)",
        python.display()
    );

    // A fixed port, so that the issuer (and every endpoint discovery names) is the real address.
    let addr = format!("127.0.0.1:{}", free_port());
    let issuer = format!("http://{addr}");
    let data = keygate_tests::tempdir::TempDir::new("oauth");
    let mut cmd = Command::new(keygate_tests::bins::binary("keygate"));
    cmd.args(["serve", "--addr", &addr, "--admin", &format!("{}:{}", ADMIN.0, ADMIN.1)])
        .env_remove("KEYGATE_TABLE")
        .env_remove("KEYGATE_SIGNING_SECRET_ID")
        .env("KEYGATE_DATA_DIR", data.join("data"))
        .env("KEYGATE_ISSUER", &issuer)
        .env("RUST_LOG", "warn");
    let (_server, addr) = spawn_listening(cmd);

    let admin = login(addr, ADMIN.0, ADMIN.1);
    assert_eq!(admin.status, 200, "{}", admin.body);
    let admin = admin.json()["access_token"].as_str().unwrap().to_owned();
    let user = post_json(
        addr,
        "/admin/users",
        &json!({"username": USER.0, "password": USER.1, "roles": ["reader"]}),
        Some(&admin),
    );
    assert_eq!(user.status, 201, "{}", user.body);
    let key = post_json(
        addr,
        "/admin/api-keys",
        &json!({"name": "authlib", "roles": ["reader", "writer"]}),
        Some(&admin),
    );
    assert_eq!(key.status, 201, "{}", key.body);
    let key = key.json();

    let out = Command::new(&python)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/oauth/client_flows.py"))
        .args([
            issuer.as_str(),
            key["key_id"].as_str().unwrap(),
            key["api_key"].as_str().unwrap(),
            USER.0,
            USER.1,
        ])
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "authlib flows failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for flow in [
        "client_credentials (client_secret_basic): ok",
        "client_credentials (client_secret_post, scope): ok",
        "invalid_client: ok",
        "password (none): ok",
        "refresh_token: ok",
        "revoke: ok",
        "password and refresh (client_secret_basic): ok",
        "refresh token bound to its client: ok",
    ] {
        assert!(stdout.contains(flow), "missing: {flow}");
    }
}
