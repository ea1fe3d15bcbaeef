//! Function binaries against TLS endpoints, as on Lambda (issue 18): DynamoDB, Secrets Manager
//! and the authorizer's JWKS behind a TLS front whose test CA the functions trust through
//! `SSL_CERT_FILE`; the same fronts refused without it; and a TLS peer that hangs or is gone
//! answered with 503 within the function's timeout. Behaviour only: timings live in
//! BENCHMARKS.md.

use keygate_sdk::{AccessClaims, Jwks};
use keygate_shared::domain::keys::{Alg, SigningKey};
use keygate_tests::emulator::{InvokeError, LambdaProcess};
use keygate_tests::fixtures::{Env, event, invoke};
use keygate_tests::tls::{TestCa, TlsFront};
use std::time::Duration;

/// template.yaml's Globals `Timeout` for the functions.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

fn moto() -> String {
    std::env::var("AWS_ENDPOINT_URL").expect("AWS_ENDPOINT_URL: run under moto (.ci/test)")
}

/// A plain HTTP JWKS server for `key`: its URL's base.
async fn jwks_server(key: &SigningKey) -> String {
    let body = serde_json::to_string(&Jwks {
        keys: vec![key.public_jwk()],
    })
    .unwrap();
    let app = axum::Router::new().route(
        "/.well-known/jwks.json",
        axum::routing::get(move || {
            let body = body.clone();
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn start(env: &Env, function: &str, aws: &str, ca: Option<&TestCa>) -> LambdaProcess {
    let ssl = ca.map(TestCa::ssl_cert_file);
    let mut vars = vec![("AWS_ENDPOINT_URL", aws)];
    if let Some((k, v)) = &ssl {
        vars.push((k, v));
    }
    let f = env.start_with(function, &vars).await;
    f.set_timeout(FUNCTION_TIMEOUT);
    f
}

#[tokio::test]
async fn a_login_reads_secrets_manager_and_dynamodb_over_tls_with_a_custom_ca() {
    let env = Env::new().await;
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, &moto()).await;
    let mut f = start(&env, "authenticate", &front.url(), Some(&ca)).await;
    let a = invoke(&mut f, event("authenticate-password.json", &[])).await;
    assert_eq!(a.status, 200, "{}\n{}", a.body, f.logs());
    assert!(a.body["access_token"].is_string() && a.body["refresh_token"].is_string());
    // The jwks function reads the published keys from DynamoDB through the same front.
    let mut f = start(&env, "jwks", &front.url(), Some(&ca)).await;
    let a = invoke(&mut f, event("jwks.json", &[])).await;
    assert_eq!(a.status, 200, "{}\n{}", a.body, f.logs());
    assert!(!a.body["keys"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_tls_peer_whose_ca_the_function_does_not_trust_is_refused() {
    let env = Env::new().await;
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, &moto()).await;
    // No SSL_CERT_FILE: the test CA is neither an Amazon root nor a system one.
    let mut f = start(&env, "jwks", &front.url(), None).await;
    let a = invoke(&mut f, event("jwks.json", &[])).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
    // Another CA's file does not help either.
    let other = TestCa::new();
    let mut f = start(&env, "jwks", &front.url(), Some(&other)).await;
    let a = invoke(&mut f, event("jwks.json", &[])).await;
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (503, Some("temporarily_unavailable"))
    );
}

#[tokio::test]
async fn the_authorizer_fetches_its_jwks_over_tls_with_a_custom_ca_and_refuses_it_without() {
    let key = SigningKey::generate(Alg::RS256).unwrap();
    let ca = TestCa::new();
    let front = TlsFront::start(&ca, &jwks_server(&key).await).await;
    let jwks_url = format!("{}/.well-known/jwks.json", front.url());
    let t = keygate_shared::domain::time::now();
    let token = key
        .sign(&AccessClaims {
            iss: "https://auth.example.com".into(),
            sub: "0b9f3c1e-5d2a-4e8f-9a61-2f7d3c4b5a69".into(),
            aud: "keygate".into(),
            exp: t + 600,
            iat: t - 5,
            nbf: None,
            jti: "tls-1".into(),
            client_id: "keygate".into(),
            roles: vec!["reader".into()],
            scope: "reader".into(),
            preferred_username: None,
        })
        .unwrap();
    let authorize = async |ca: Option<&TestCa>| {
        let ssl = ca.map(TestCa::ssl_cert_file);
        let mut vars = vec![
            ("KEYGATE_ISSUER", "https://auth.example.com"),
            ("KEYGATE_JWKS_URL", jwks_url.as_str()),
        ];
        if let Some((k, v)) = &ssl {
            vars.push((k, v));
        }
        let mut f = LambdaProcess::start(&keygate_tests::bins::binary("authorizer"), &vars).await;
        f.set_timeout(FUNCTION_TIMEOUT);
        let ev = event("authorizer-http-v2.json", &[("REPLACE_WITH_TOKEN", &token)]);
        let a = f.invoke(ev).await.unwrap_or_else(|e| panic!("{e:?}\n{}", f.logs()));
        a["isAuthorized"].as_bool()
    };
    assert_eq!(authorize(Some(&ca)).await, Some(true));
    assert_eq!(authorize(None).await, Some(false));
}

/// Invokes `jwks` against `aws` and expects a 503 answer, not a function timeout.
async fn answers_503_in_time(aws: &str, ca: &TestCa) {
    let env = Env::new().await;
    let mut f = start(&env, "jwks", aws, Some(ca)).await;
    match f.invoke(event("jwks.json", &[])).await {
        Ok(out) => {
            let a = keygate_tests::fixtures::answer(out);
            assert_eq!(
                (a.status, a.body["error"].as_str()),
                (503, Some("temporarily_unavailable"))
            );
        }
        Err(InvokeError::Timeout) => panic!("no answer within the function's timeout\n{}", f.logs()),
        Err(e) => panic!("{e:?}\n{}", f.logs()),
    }
    // The function is still serving.
    assert!(f.invoke(event("jwks.json", &[])).await.is_ok());
}

#[tokio::test]
async fn a_function_whose_tls_peer_hangs_answers_503_within_its_timeout() {
    let ca = TestCa::new();
    let stalled = TlsFront::stalled(&ca).await;
    answers_503_in_time(&stalled.url(), &ca).await;
}

#[tokio::test]
async fn a_function_whose_tls_peer_is_gone_answers_503_within_its_timeout() {
    let ca = TestCa::new();
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("https://{}", l.local_addr().unwrap())
    };
    answers_503_in_time(&gone, &ca).await;
}
