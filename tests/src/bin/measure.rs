//! Measures every Lambda function binary under the Lambda Runtime API emulator against moto:
//! init (process start to its first request for work, with the store and key source
//! configured), the first and warm invocations, each in wall time and in CPU time, and peak RSS
//! while serving. Prints a Markdown table for BENCHMARKS.md.
//!
//! With `--tls`, every connection a function makes is TLS, as on Lambda: moto and the
//! authorizer's JWKS sit behind a local TLS front whose test CA the functions trust through
//! `SSL_CERT_FILE` (made at run time; see `keygate_tests::tls`).
//!
//! ```sh
//! sam build        # or: KEYGATE_LAMBDA_BUILD_DIR unset uses target/<profile>/<function>
//! KEYGATE_LAMBDA_BUILD_DIR=$PWD/.aws-sam/build AWS_ENDPOINT_URL=http://127.0.0.1:5055 ... \
//!   cargo run --release -p keygate-tests --bin measure -- --tls
//! ```
//!
//! `KEYGATE_MEASURE_ROOTS=system` makes the functions read every system root as well (the
//! system bundle and `/etc/ssl/certs` through `SSL_CERT_FILE` / `SSL_CERT_DIR`), as they did
//! before the Amazon roots were built in; `KEYGATE_MEASURE_ONLY=authorizer,jwks` picks functions.
//!
//! CPU time (user + system, every thread, from the process's CPU-time clock) is the figure that
//! carries over to Lambda, which gives a function a share of a vCPU in proportion to its memory:
//! wall time there is about CPU time divided by that share. Figures are medians over
//! `KEYGATE_MEASURE_RUNS` (default 10) fresh processes, run one at a time, four invocations each.

use keygate_shared::domain::keys::SigningKey;
use keygate_tests::emulator::LambdaProcess;
use keygate_tests::fixtures::{Env, PW, event};
use keygate_tests::tls::{TestCa, TlsFront};
use serde_json::Value;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort();
    v.get(v.len() / 2).copied()
}

fn ms(d: Option<Duration>) -> String {
    match d {
        None => "–".to_owned(),
        Some(d) if d < Duration::from_millis(1) => format!("{} µs", d.as_micros()),
        Some(d) => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
    }
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
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    url
}

/// Waits until the function has made `n` requests for work (it is idle, between invocations).
async fn until_polled(f: &LambdaProcess, n: u64) {
    for _ in 0..500 {
        if f.polls() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[derive(Default)]
struct Figures {
    init: Vec<Duration>,
    init_cpu: Vec<Duration>,
    first: Vec<Duration>,
    first_cpu: Vec<Duration>,
    cold_cpu: Vec<Duration>,
    warm_cpu: Vec<Duration>,
    rss_kib: u64,
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::var("KEYGATE_MEASURE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let tls = std::env::args().any(|a| a == "--tls");
    let only: Vec<String> = std::env::var("KEYGATE_MEASURE_ONLY")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let env = Env::new().await;
    let admin = env.admin_for_events().await;
    let key = SigningKey::generate(keygate_shared::domain::keys::Alg::RS256).expect("key");
    let jwks_http = jwks_server(&key).await;
    let moto = std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL (moto)");
    let ca = tls.then(TestCa::new);
    let mut fronts = Vec::new();
    let (aws_url, jwks_url) = match &ca {
        Some(ca) => {
            let (aws, jwks) = (TlsFront::start(ca, &moto).await, TlsFront::start(ca, &jwks_http).await);
            let urls = (aws.url(), format!("{}/jwks", jwks.url()));
            fronts.extend([aws, jwks]);
            urls
        }
        None => (moto.clone(), format!("{jwks_http}/jwks")),
    };
    // `KEYGATE_MEASURE_ROOTS=system`: the functions also read every system root, as they did
    // before keygate built in the Amazon roots (the system bundle plus `/etc/ssl/certs`).
    let system_roots = std::env::var("KEYGATE_MEASURE_ROOTS").is_ok_and(|v| v == "system");
    let ssl_cert_file = ca.as_ref().map(|ca| {
        if !system_roots {
            return ca.ca.display().to_string();
        }
        let bundle = ca.ca.with_file_name("system-and-test-ca.pem");
        let mut pem = std::fs::read("/etc/ssl/certs/ca-certificates.crt").expect("the system's CA bundle");
        pem.extend(std::fs::read(&ca.ca).expect("the test CA"));
        std::fs::write(&bundle, pem).expect("write the bundle");
        bundle.display().to_string()
    });
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

    println!(
        "| function | init wall | init CPU | first invocation wall | first invocation CPU | init + first CPU | warm CPU per invocation | cold-start CPU (init + first - warm) | peak RSS |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for function in keygate_tests::bins::functions() {
        if !only.is_empty() && !only.iter().any(|o| o == function) {
            continue;
        }
        let mut fig = Figures::default();
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
                    "register" => Some(event(
                        "admin-list-invitations.json",
                        &[("REPLACE_WITH_ADMIN_TOKEN", &admin)],
                    )),
                    "authorizer" => Some(event(
                        "authorizer-http-v2.json",
                        &[("REPLACE_WITH_TOKEN", &authz_token)],
                    )),
                    _ => None,
                }
            };
            let mut extra: Vec<(&str, &str)> = vec![("AWS_ENDPOINT_URL", aws_url.as_str())];
            if let Some(file) = &ssl_cert_file {
                extra.push(("SSL_CERT_FILE", file));
            }
            if system_roots {
                extra.push(("SSL_CERT_DIR", "/etc/ssl/certs"));
            }
            if function == "authorizer" {
                extra.push(("KEYGATE_JWKS_URL", jwks_url.as_str()));
                extra.push(("KEYGATE_ROUTE_ROLES", r#"{"ANY /admin/{proxy+}": ["admin"], "*": []}"#));
            }
            let mut f = env.start_with(function, &extra).await;
            // Init ends at the first request for work; only then is the first event sent, so
            // that init and the first invocation are measured apart.
            until_polled(&f, 1).await;
            let (Some(init), Some(init_cpu)) = (f.init_duration(), f.init_cpu()) else {
                eprintln!("{function}: no request for work\n{}", f.logs());
                continue;
            };
            fig.init.push(init);
            fig.init_cpu.push(init_cpu);
            for i in 0..4u64 {
                let e = match function {
                    "refresh" => {
                        let Some(t) = env
                            .app
                            .password_login("ann", PW, None)
                            .await
                            .ok()
                            .and_then(|t| t.refresh_token)
                        else {
                            break;
                        };
                        event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &t)])
                    }
                    // Rotation: init only (its steps change the secret).
                    _ => match ev() {
                        Some(e) => e,
                        None => break,
                    },
                };
                let (cpu_before, t) = (f.cpu_time(), Instant::now());
                if let Err(e) = f.invoke(e).await {
                    eprintln!("{function}: {e:?}\n{}", f.logs());
                    break;
                }
                let wall = t.elapsed();
                until_polled(&f, i + 2).await;
                let Some(cpu) = f.cpu_time().zip(cpu_before).map(|(a, b)| a.saturating_sub(b)) else {
                    break;
                };
                if i == 0 {
                    fig.first.push(wall);
                    fig.first_cpu.push(cpu);
                    fig.cold_cpu.push(init_cpu + cpu);
                } else {
                    fig.warm_cpu.push(cpu);
                }
            }
            fig.rss_kib = fig.rss_kib.max(f.peak_rss_kib().unwrap_or(0));
        }
        // What a cold start costs over a warm call: the request's own work (an argon2 hash in a
        // password login, a signature) is paid warm too, so it is taken out.
        let (cold, warm) = (median(fig.cold_cpu.clone()), median(fig.warm_cpu.clone()));
        let overhead = cold.zip(warm).map(|(c, w)| c.saturating_sub(w));
        println!(
            "| {function} | {} | {} | {} | {} | {} | {} | {} | {:.1} MiB |",
            ms(median(fig.init)),
            ms(median(fig.init_cpu)),
            ms(median(fig.first)),
            ms(median(fig.first_cpu)),
            ms(cold),
            ms(warm),
            ms(overhead),
            fig.rss_kib as f64 / 1024.0
        );
    }
    drop(fronts);
}
