//! Account enumeration through timing: login failures and forgot-password answers for existing
//! and unknown accounts must be indistinguishable. The test compares the two distributions of
//! answer times (a two-sample Kolmogorov-Smirnov test at a strict level), interleaving the
//! samples so machine noise hits both alike; it asserts no absolute time.
//!
//! It drives the same handler as Lambda and `keygate serve`, on the embedded store.

use http::Method;
use keygate_shared::http::Response;
use keygate_shared::services::NewUser;
use keygate_tests::inproc::{App, PW, request};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const SAMPLES: usize = 30;

async fn app(forgot_floor: Duration) -> App {
    App::setup()
        .env("KEYGATE_MAILER", "log")
        .env("KEYGATE_DATA_DIR", ":memory:")
        .forgot_floor(forgot_floor)
        .start()
        .await
}

async fn post(app: &App, path: &str, body: Value) -> (Response, Duration) {
    let req = request(Method::POST, path).json(&body).request_id("timing").build();
    let t = Instant::now();
    let r = app.handle(req).await;
    (r, t.elapsed())
}

/// The two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs.
fn ks_statistic(a: &[Duration], b: &[Duration]) -> f64 {
    let mut all: Vec<Duration> = a.iter().chain(b).copied().collect();
    all.sort();
    let cdf = |s: &[Duration], x: Duration| s.iter().filter(|v| **v <= x).count() as f64 / s.len() as f64;
    all.iter().map(|x| (cdf(a, *x) - cdf(b, *x)).abs()).fold(0.0, f64::max)
}

/// The critical value of the statistic at significance 0.001.
fn ks_critical(n: usize, m: usize) -> f64 {
    1.949 * (((n + m) as f64) / ((n * m) as f64)).sqrt()
}

fn median(s: &[Duration]) -> Duration {
    let mut v = s.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn assert_same_distribution(what: &str, known: &[Duration], unknown: &[Duration]) {
    let d = ks_statistic(known, unknown);
    let crit = ks_critical(known.len(), unknown.len());
    eprintln!(
        "{what}: median known {:?}, unknown {:?}; KS D = {d:.3} (critical {crit:.3})",
        median(known),
        median(unknown)
    );
    assert!(
        d < crit,
        "{what}: answer times for existing and unknown accounts differ (KS D = {d:.3} >= {crit:.3}; medians {:?} vs {:?})",
        median(known),
        median(unknown)
    );
}

#[test]
fn the_statistic_tells_different_distributions_apart() {
    // The check itself must be able to fail: 0 ms against 20 ms is caught, noise is not.
    let fast: Vec<Duration> = (0..SAMPLES).map(|i| Duration::from_micros(50 + i as u64)).collect();
    let slow: Vec<Duration> = (0..SAMPLES).map(|i| Duration::from_millis(20 + i as u64 % 3)).collect();
    assert!(ks_statistic(&fast, &slow) >= ks_critical(SAMPLES, SAMPLES));
    let mixed: Vec<Duration> = (0..SAMPLES).map(|i| Duration::from_micros(52 + i as u64)).collect();
    assert!(ks_statistic(&fast, &mixed) < ks_critical(SAMPLES, SAMPLES));
}

#[tokio::test(flavor = "current_thread")]
async fn login_failures_take_the_same_time_for_existing_and_unknown_accounts() {
    let app = app(Duration::from_millis(250)).await;
    for i in 0..SAMPLES {
        app.create_user(NewUser {
            username: format!("user{i}"),
            password: PW.into(),
            email: None,
            roles: vec![],
        })
        .await
        .unwrap();
    }
    // Warm both paths once (the unknown-user path makes its dummy hash on first use).
    post(
        &app,
        "/auth/token",
        json!({"grant_type": "password", "username": "warm-up", "password": "x"}),
    )
    .await;

    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..SAMPLES {
        // A different account each time, so lockout never kicks in; alternate which goes first.
        let k = json!({"grant_type": "password", "username": format!("user{i}"), "password": "wrong guess 123"});
        let u = json!({"grant_type": "password", "username": format!("nobody{i}"), "password": "wrong guess 123"});
        let order = if i % 2 == 0 {
            [(&k, true), (&u, false)]
        } else {
            [(&u, false), (&k, true)]
        };
        for (body, is_known) in order {
            let (r, t) = post(&app, "/auth/token", body.clone()).await;
            assert_eq!(r.status, 401);
            let body: Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
            assert_eq!(body["error"], "invalid_grant");
            if is_known { known.push(t) } else { unknown.push(t) }
        }
    }
    assert_same_distribution("login failure", &known, &unknown);
}

#[tokio::test(flavor = "current_thread")]
async fn forgot_password_answers_take_the_same_time_for_existing_and_unknown_accounts() {
    let app = app(Duration::from_millis(250)).await;
    for i in 0..SAMPLES {
        app.create_user(NewUser {
            username: format!("user{i}"),
            password: PW.into(),
            email: Some(format!("user{i}@example.com")),
            roles: vec![],
        })
        .await
        .unwrap();
    }
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    let mut answers = Vec::new();
    for i in 0..SAMPLES {
        let k = json!({"username": format!("user{i}")});
        let u = json!({"username": format!("nobody{i}")});
        let order = if i % 2 == 0 {
            [(&k, true), (&u, false)]
        } else {
            [(&u, false), (&k, true)]
        };
        for (body, is_known) in order {
            let (r, t) = post(&app, "/auth/password/forgot", body.clone()).await;
            answers.push((r.status, r.body.clone()));
            if is_known { known.push(t) } else { unknown.push(t) }
        }
    }
    // Same answer, byte for byte.
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(answers[0].0, 202);
    assert_same_distribution("forgot-password", &known, &unknown);
}
