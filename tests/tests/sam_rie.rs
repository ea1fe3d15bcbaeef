//! The function binaries under AWS's own Lambda Runtime Interface Emulator, the one `sam local
//! invoke` runs inside its container, taken from the aws-sam-cli wheel that `.ci/test` installs
//! (no Docker): what SAM users run locally works with keygate's binaries.

use keygate_tests::bins::{binary, http};
use keygate_tests::fixtures::{Env, PW, event};
use keygate_tests::rie::Rie;
use serde_json::Value;
use std::net::SocketAddr;

fn start(function: &str, env: &[(&str, &str)]) -> (Rie, SocketAddr) {
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    let rie = Rie::start(&binary(function), &env, None);
    let addr = rie.addr;
    (rie, addr)
}

fn invoke(addr: SocketAddr, ev: &Value) -> Value {
    let a = http(
        addr,
        "POST",
        "/2015-03-31/functions/function/invocations",
        &[],
        &ev.to_string(),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    a.json()
}

#[tokio::test]
async fn functions_answer_under_the_emulator_sam_local_uses() {
    let env = Env::new().await;
    let outbox = env.outbox.display().to_string();
    let vars = [
        ("KEYGATE_TABLE", env.table.as_str()),
        ("KEYGATE_SIGNING_SECRET_ID", env.secret.as_str()),
        ("KEYGATE_MAILER", "outbox"),
        ("KEYGATE_OUTBOX", outbox.as_str()),
    ];
    let (_auth, a) = start("authenticate", &vars);
    let out = invoke(a, &event("authenticate-password.json", &[]));
    assert_eq!(out["statusCode"], 200, "{out}");
    let body: Value = serde_json::from_str(out["body"].as_str().unwrap()).unwrap();
    let refresh_token = body["refresh_token"].as_str().unwrap().to_owned();
    let out = invoke(
        a,
        &event("authenticate-password.json", &[(PW, "not the password at all")]),
    );
    assert_eq!(out["statusCode"], 401, "{out}");

    let (_refresh, r) = start("refresh", &vars);
    let out = invoke(
        r,
        &event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &refresh_token)]),
    );
    assert_eq!(out["statusCode"], 200, "{out}");

    let (_jwks, j) = start("jwks", &vars);
    let out = invoke(j, &event("jwks.json", &[]));
    assert_eq!(out["statusCode"], 200, "{out}");
}
