//! Faults in the AWS dependencies, injected by a proxy in front of moto
//! (`keygate_tests::aws_proxy`), while the function binaries run under the emulator:
//! throttling, server errors and hangs give 503 `temporarily_unavailable` within the function's
//! timeout, service resumes by itself, a refresh whose answer was lost never leaves two live
//! tokens, and the AWS calls per request stay within their budget.

use keygate_shared::domain::secret::RefreshToken;
use keygate_tests::aws_proxy::{AwsProxy, Fault};
use keygate_tests::emulator::LambdaProcess;
use keygate_tests::fixtures::{Answer, Env, PW, answer, event, invoke};
use std::time::Duration;

/// The template's `Timeout` for the HTTP functions.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

async fn start(env: &Env, proxy: &AwsProxy, function: &str) -> LambdaProcess {
    let url = proxy.url();
    let f = env.start_with(function, &[("AWS_ENDPOINT_URL", &url)]).await;
    f.set_timeout(FUNCTION_TIMEOUT);
    f
}

async fn login(env: &Env) -> String {
    env.app
        .password_login("ann", PW, None)
        .await
        .unwrap()
        .refresh_token
        .unwrap()
}

fn assert_unavailable(a: &Answer, what: &str) {
    assert_eq!(
        (a.status, a.body["error"].as_str()),
        (503, Some("temporarily_unavailable")),
        "{what}: {}",
        a.body
    );
}

/// Every HTTP function, each fault: 503 within the timeout; then, with the fault gone, the same
/// process answers normally (no restart, no stale broken client).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_fault_gives_503_then_service_resumes() {
    let env = Env::new().await;
    let admin = env.admin_for_events().await;
    let reset = keygate_shared::domain::secret::ResetToken::generate().expose();
    for fault in [Fault::Throttle, Fault::ServerError, Fault::Hang] {
        let proxy = AwsProxy::start().await;
        let r = login(&env).await;
        let (auth, refresh, revoke, jwks, forgot, confirm, adm) = tokio::join!(
            start(&env, &proxy, "authenticate"),
            start(&env, &proxy, "refresh"),
            start(&env, &proxy, "revoke"),
            start(&env, &proxy, "jwks"),
            start(&env, &proxy, "forgot-password-request"),
            start(&env, &proxy, "forgot-password-confirm"),
            start(&env, &proxy, "admin"),
        );
        let mut fns = [auth, refresh, revoke, jwks, forgot, confirm, adm];
        let events = [
            event("authenticate-password.json", &[]),
            event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &r)]),
            event("revoke.json", &[("REPLACE_WITH_REFRESH_TOKEN", &r)]),
            event("jwks.json", &[]),
            event("forgot-password-request.json", &[]),
            event("forgot-password-confirm.json", &[("REPLACE_WITH_RESET_TOKEN", &reset)]),
            event("admin-update-user.json", &[("REPLACE_WITH_ADMIN_TOKEN", &admin)]),
        ];
        proxy.set_fault(fault, None);
        // All at once: a hang costs each function its SDK operation timeout, not the sum.
        let answers = futures::future::join_all(
            fns.iter_mut()
                .zip(events.iter().cloned())
                .map(|(f, ev)| async move { f.invoke(ev).await }),
        )
        .await;
        for (i, a) in answers.into_iter().enumerate() {
            let a = match a {
                Ok(v) => answer(v),
                Err(e) => panic!(
                    "{fault:?}, function {i}: no answer within the timeout: {e:?}\n{}",
                    fns[i].logs()
                ),
            };
            assert_unavailable(&a, &format!("{fault:?}, function {i}"));
        }
        assert!(!proxy.take_calls().is_empty());

        // The dependency is back: the same processes answer.
        proxy.set_fault(Fault::None, None);
        let a = invoke(&mut fns[0], event("authenticate-password.json", &[])).await;
        assert_eq!(a.status, 200, "{fault:?}: {}", a.body);
        let a = invoke(&mut fns[1], events[1].clone()).await;
        assert_eq!(a.status, 200, "{fault:?}: refresh after recovery: {}", a.body);
        let a = invoke(&mut fns[3], event("jwks.json", &[])).await;
        assert_eq!(a.status, 200, "{fault:?}");
        let a = invoke(&mut fns[6], events[6].clone()).await;
        assert_eq!(a.status, 200, "{fault:?}: admin after recovery: {}", a.body);
        for f in &fns {
            assert!(!f.logs().contains("panicked"), "{}", f.logs());
        }
    }
}

/// The rotation's write reaches DynamoDB but its answer is lost. Whatever the function answered,
/// the family afterwards has one live token the client holds, or it is revoked: never a live
/// token nobody holds beside one somebody does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_whose_answer_was_lost_never_leaves_two_live_tokens() {
    let env = Env::new().await;
    let proxy = AwsProxy::start().await;
    let mut refresh = start(&env, &proxy, "refresh").await;
    let old = login(&env).await;
    proxy.set_fault(Fault::LoseResponse, Some("UpdateItem"));
    let a = invoke(
        &mut refresh,
        event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &old)]),
    )
    .await;
    proxy.set_fault(Fault::None, None);
    assert_unavailable(&a, "lost answer");
    assert!(proxy.take_calls().iter().any(|c| c.ends_with("UpdateItem")));

    // The client retries with the token it holds.
    let retry = invoke(
        &mut refresh,
        event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &old)]),
    )
    .await;
    let family_id = RefreshToken::parse(&old).unwrap().family().clone();
    let family = env.app.store.family(&family_id).await.unwrap().unwrap();
    match retry.status {
        200 => {
            let new = RefreshToken::parse(retry.body["refresh_token"].as_str().unwrap()).unwrap();
            assert!(!family.revoked);
            assert!(
                family.current_hash.ct_eq(&new.hash()),
                "the live token is the one the client holds"
            );
        }
        401 => {
            assert_eq!(retry.body["error"], "invalid_grant");
            assert!(family.revoked, "a refused retry means the family is revoked");
        }
        other => panic!("unexpected {other}: {}", retry.body),
    }
}

/// AWS calls per request, counted at the proxy, once warm: a password login makes four DynamoDB
/// calls (read account and counter, reserve the attempt, clear the counter, store the session)
/// and never reads Secrets Manager, a wrong password two; refresh at most three (the family and
/// the account are read before the one conditional write, so that no failure follows it); the
/// authorizer makes none (it has no
/// AWS client at all). Secrets Manager is read once per container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_calls_per_request_stay_within_budget() {
    let env = Env::new().await;
    let proxy = AwsProxy::start().await;
    let mut auth = start(&env, &proxy, "authenticate").await;
    let mut refresh = start(&env, &proxy, "refresh").await;
    assert!(proxy.take_calls().is_empty(), "no AWS call at init");

    let first = invoke(&mut auth, event("authenticate-password.json", &[])).await;
    assert_eq!(first.status, 200);
    let cold = proxy.take_calls();
    assert_eq!(
        cold.iter().filter(|c| c.starts_with("secretsmanager.")).count(),
        1,
        "{cold:?}"
    );
    let mut token = first.body["refresh_token"].as_str().unwrap().to_owned();
    let mut report = Vec::new();
    for round in 0..3 {
        let a = invoke(&mut auth, event("authenticate-password.json", &[])).await;
        assert_eq!(a.status, 200);
        let login = proxy.take_calls();
        assert_eq!(
            login,
            [
                "DynamoDB_20120810.BatchGetItem",
                "DynamoDB_20120810.UpdateItem",
                "DynamoDB_20120810.DeleteItem",
                "DynamoDB_20120810.PutItem"
            ],
            "password login"
        );

        let a = invoke(
            &mut refresh,
            event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &token)]),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        token = a.body["refresh_token"].as_str().unwrap().to_owned();
        let r = proxy.take_calls();
        // The refresh function's first request also reads the key (once per container).
        let dynamo: Vec<_> = r.iter().filter(|c| c.starts_with("DynamoDB")).collect();
        assert!(dynamo.len() <= 3, "refresh: {r:?}");
        assert_eq!(
            r.last().map(String::as_str),
            Some("DynamoDB_20120810.UpdateItem"),
            "the conditional write is the refresh's last AWS call: {r:?}"
        );
        if round > 0 {
            assert!(!r.iter().any(|c| c.starts_with("secretsmanager.")), "{r:?}");
        }
        report.push(format!("login {login:?} | refresh {r:?}"));
    }
    let a = invoke(
        &mut auth,
        event("authenticate-password.json", &[(PW, "not the password at all")]),
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);
    let wrong = proxy.take_calls();
    assert_eq!(
        wrong,
        ["DynamoDB_20120810.BatchGetItem", "DynamoDB_20120810.UpdateItem"],
        "wrong password"
    );
    report.push(format!("wrong password {wrong:?}"));
    let key = env
        .app
        .create_api_key("sensor", &["device".to_owned()], None)
        .await
        .unwrap();
    let a = invoke(
        &mut auth,
        event("authenticate-api-key.json", &[("REPLACE_WITH_API_KEY", &key.api_key)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let api_key_login = proxy.take_calls();
    assert_eq!(api_key_login, ["DynamoDB_20120810.GetItem"], "API-key login");
    report.push(format!("api-key login {api_key_login:?}"));
    eprintln!("AWS calls per warm request:\n{}", report.join("\n"));
}

/// A dependency fails after the point where the old code had already retired the presented
/// token: a cold Secrets Manager read (the signing key) or a DynamoDB read. The refresh answers
/// 503 and changes nothing, so the client's retry with the same token succeeds and the session
/// lives on (it used to be treated as reuse and revoke the whole family).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_refresh_leaves_the_presented_token_live() {
    let env = Env::new().await;
    for failing in ["secretsmanager.GetSecretValue", "DynamoDB_20120810.GetItem"] {
        let proxy = AwsProxy::start().await;
        // A fresh process: its signing key is not cached yet.
        let mut refresh = start(&env, &proxy, "refresh").await;
        let old = login(&env).await;
        proxy.set_fault(Fault::ServerError, Some(failing));
        let a = invoke(
            &mut refresh,
            event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &old)]),
        )
        .await;
        proxy.set_fault(Fault::None, None);
        assert_unavailable(&a, failing);
        assert!(proxy.take_calls().iter().any(|c| c == failing), "{failing} was called");

        // The client retries with the token it holds: the session lives.
        let retry = invoke(
            &mut refresh,
            event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &old)]),
        )
        .await;
        assert_eq!(retry.status, 200, "{failing}: retry: {}", retry.body);
        let new = retry.body["refresh_token"].as_str().unwrap().to_owned();
        let family_id = RefreshToken::parse(&old).unwrap().family().clone();
        let family = env.app.store.family(&family_id).await.unwrap().unwrap();
        assert!(!family.revoked, "{failing}");
        assert!(family.current_hash.ct_eq(&RefreshToken::parse(&new).unwrap().hash()));
        // And the new token refreshes in turn.
        let next = invoke(
            &mut refresh,
            event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &new)]),
        )
        .await;
        assert_eq!(next.status, 200, "{failing}: {}", next.body);
    }
}

/// Two tabs refresh at once with one token under `KEYGATE_REFRESH_GRACE`: both succeed and get
/// the same refresh token (the grace re-issue used to mint another one, retiring the first
/// tab's token so that its next refresh revoked the session). That token then rotates once,
/// and the original token, no longer the just-retired one, is a reuse that ends the family.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_refreshing_with_one_token_under_grace_get_the_same_token() {
    let env = Env::new().await;
    let grace = [("KEYGATE_REFRESH_GRACE", "60")];
    let (mut tab1, mut tab2) = tokio::join!(env.start_with("refresh", &grace), env.start_with("refresh", &grace));
    let old = login(&env).await;
    let ev = event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &old)]);
    let (a, b) = tokio::join!(invoke(&mut tab1, ev.clone()), invoke(&mut tab2, ev.clone()));
    assert_eq!((a.status, b.status), (200, 200), "{} {}", a.body, b.body);
    let shared = a.body["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(
        b.body["refresh_token"].as_str(),
        Some(shared.as_str()),
        "one token for both tabs"
    );

    let family_id = RefreshToken::parse(&old).unwrap().family().clone();
    let family = env.app.store.family(&family_id).await.unwrap().unwrap();
    assert!(!family.revoked);
    assert!(family.current_hash.ct_eq(&RefreshToken::parse(&shared).unwrap().hash()));

    let next = invoke(
        &mut tab1,
        event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &shared)]),
    )
    .await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert_ne!(next.body["refresh_token"].as_str(), Some(shared.as_str()));
    let reuse = invoke(&mut tab2, ev).await;
    assert_eq!(
        (reuse.status, reuse.body["error"].as_str()),
        (401, Some("invalid_grant"))
    );
    assert!(env.app.store.family(&family_id).await.unwrap().unwrap().revoked);
}
