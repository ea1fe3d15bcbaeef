//! Measures every Lambda function binary under the Lambda Runtime API emulator against moto:
//! cold start (process start to its first request for work, with the store and key source
//! configured), the first and warm invocation times, and peak RSS while serving. Prints a
//! Markdown table for BENCHMARKS.md.
//!
//! ```sh
//! sam build        # or: KEYGATE_LAMBDA_BUILD_DIR unset uses target/<profile>/<function>
//! KEYGATE_LAMBDA_BUILD_DIR=$PWD/.aws-sam/build AWS_ENDPOINT_URL=http://127.0.0.1:5055 ... \
//!   cargo run --release -p keygate-tests --bin measure
//! ```
//!
//! Figures are medians over `KEYGATE_MEASURE_RUNS` (default 10) fresh processes, run one at a time.

use keygate_shared::domain::keys::SigningKey;
use keygate_tests::fixtures::{Env, PW, event};
use serde_json::Value;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn jwks_server(key: &SigningKey) -> String {
    let body = serde_json::to_string(&keygate_sdk::Jwks {
        keys: vec![key.public_jwk()],
    })
    .unwrap_or_default();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/jwks", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("KEYGATE_MEASURE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let env = Env::new().await;
    let admin = env.admin_for_events().await;
    let key = SigningKey::generate(keygate_shared::domain::keys::Alg::RS256).expect("key");
    let jwks_url = jwks_server(&key).await;
    let authz_token = key
        .sign(&keygate_sdk::AccessClaims {
            iss: env.app.config.issuer.clone(),
            sub: "5f1c2a7e-8d6b-4c3f-9a1e-2b7d4c6e8f90".into(),
            aud: env.app.config.audience.clone(),
            exp: keygate_shared::domain::time::now() + 600,
            iat: keygate_shared::domain::time::now(),
            nbf: None,
            jti: "measure".into(),
            client_id: "measure".into(),
            roles: vec!["admin".into()],
            scope: "admin".into(),
            preferred_username: None,
        })
        .expect("sign");

    println!("| function | cold start (init) | first invocation | warm invocation | peak RSS |");
    println!("| --- | --- | --- | --- | --- |");
    for function in keygate_tests::bins::functions() {
        let (mut inits, mut firsts, mut warms, mut rss) = (Vec::new(), Vec::new(), Vec::new(), 0u64);
        for _ in 0..runs {
            let ev = || -> Option<Value> {
                match function {
                    "authenticate" => Some(event("authenticate-password.json", &[])),
                    "refresh" => None,
                    "revoke" => Some(event("revoke.json", &[("REPLACE_WITH_REFRESH_TOKEN", "kgr_x")])),
                    "jwks" => Some(event("jwks.json", &[])),
                    "forgot-password-request" => Some(event("forgot-password-request.json", &[])),
                    "forgot-password-confirm" => Some(event(
                        "forgot-password-confirm.json",
                        &[("REPLACE_WITH_RESET_TOKEN", "kgp_unknown")],
                    )),
                    "admin" => Some(event("admin-update-user.json", &[("REPLACE_WITH_ADMIN_TOKEN", &admin)])),
                    "authorizer" => Some(event(
                        "authorizer-http-v2.json",
                        &[("REPLACE_WITH_TOKEN", &authz_token)],
                    )),
                    _ => None,
                }
            };
            let extra: Vec<(&str, &str)> = match function {
                "authorizer" => vec![
                    ("KEYGATE_JWKS_URL", jwks_url.as_str()),
                    ("KEYGATE_ROUTE_ROLES", r#"{"ANY /admin/{proxy+}": ["admin"], "*": []}"#),
                ],
                _ => vec![],
            };
            let mut f = env.start_with(function, &extra).await;
            let mut invoke = async || -> Option<Duration> {
                let e = match function {
                    "refresh" => {
                        let t = env.app.password_login("ann", PW, None).await.ok()?.refresh_token?;
                        event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &t)])
                    }
                    _ => ev()?,
                };
                let t = Instant::now();
                f.invoke(e).await.ok()?;
                Some(t.elapsed())
            };
            if let Some(first) = invoke().await {
                firsts.push(first);
                for _ in 1..4 {
                    if let Some(w) = invoke().await {
                        warms.push(w);
                    }
                }
            } else {
                // Rotation: measured at init only (its steps change the secret); wait for its
                // first request for work.
                for _ in 0..100 {
                    if f.init_duration().is_some() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            if let Some(d) = f.init_duration() {
                inits.push(d);
            }
            rss = rss.max(f.peak_rss_kib().unwrap_or(0));
        }
        let or_dash = |v: Vec<Duration>| if v.is_empty() { "–".to_owned() } else { ms(median(v)) };
        println!(
            "| {function} | {} | {} | {} | {:.1} MiB |",
            or_dash(inits),
            or_dash(firsts),
            or_dash(warms),
            rss as f64 / 1024.0
        );
    }
}
