//! A standard OAuth 2.0 client library (authlib, from the CI virtualenv) against the real
//! `keygate serve`: client_credentials (Basic and body), password, refresh and revocation,
//! with endpoints from discovery and no keygate-specific code (`tests/oauth/client_flows.py`).

use keygate_tests::bins::http;
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

    let json = [("content-type", "application/json")];
    let login = http(
        addr,
        "POST",
        "/auth/token",
        &json,
        &json!({"grant_type": "password", "username": ADMIN.0, "password": ADMIN.1}).to_string(),
    );
    assert_eq!(login.status, 200, "{}", login.body);
    let bearer = format!("Bearer {}", login.json()["access_token"].as_str().unwrap());
    let admin = [("content-type", "application/json"), ("authorization", bearer.as_str())];
    let user = http(
        addr,
        "POST",
        "/admin/users",
        &admin,
        &json!({"username": USER.0, "password": USER.1, "roles": ["reader"]}).to_string(),
    );
    assert_eq!(user.status, 201, "{}", user.body);
    let key = http(
        addr,
        "POST",
        "/admin/api-keys",
        &admin,
        &json!({"name": "authlib", "roles": ["reader", "writer"]}).to_string(),
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
