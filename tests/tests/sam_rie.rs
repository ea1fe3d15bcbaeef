//! The function binaries under AWS's own Lambda Runtime Interface Emulator, the one `sam local
//! invoke` runs inside its container, taken from the aws-sam-cli wheel that `.ci/test` installs
//! (no Docker): what SAM users run locally works with keygate's binaries.

use keygate_tests::bins::{binary, http};
use keygate_tests::fixtures::{Env, PW, event};
use keygate_tests::serve::Proc;
use serde_json::Value;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `aws-lambda-rie-x86_64` inside the virtualenv's samcli package.
fn rie() -> PathBuf {
    let venv = PathBuf::from(
        std::env::var("KEYGATE_VENV")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/venv").to_owned()),
    );
    let lib = venv.join("lib");
    let found = std::fs::read_dir(&lib)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .find_map(|py| {
            let p = py.path().join("site-packages/samcli/local/rapid/aws-lambda-rie-x86_64");
            p.exists().then_some(p)
        });
    found.unwrap_or_else(|| {
        panic!(
            "no aws-lambda-rie under {}: .ci/test installs aws-sam-cli",
            lib.display()
        )
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts `function` under the RIE; returns the process and the invoke endpoint's address.
fn start(function: &str, env: &[(&str, &str)]) -> (Proc, SocketAddr) {
    let (api, emu) = (free_port(), free_port());
    let mut cmd = Command::new(rie());
    cmd.arg("--runtime-api-address")
        .arg(format!("127.0.0.1:{api}"))
        .arg("--runtime-interface-emulator-address")
        .arg(format!("127.0.0.1:{emu}"))
        .arg(binary(function))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let proc = Proc(cmd.spawn().expect("spawn aws-lambda-rie"));
    let addr: SocketAddr = format!("127.0.0.1:{emu}").parse().expect("addr");
    for _ in 0..200 {
        if TcpStream::connect(addr).is_ok() {
            return (proc, addr);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("aws-lambda-rie did not listen on {addr}");
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
