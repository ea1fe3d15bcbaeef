//! Every flow through the Lambda function binaries with logging at its most verbose
//! (`RUST_LOG=trace`, which includes the AWS SDK's and the Lambda runtime's own logs): no
//! password, API key, refresh token, reset token, access token or private key material appears in
//! any log line, and the DynamoDB table holds none of them in the clear.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keygate_tests::emulator::LambdaProcess;
use keygate_tests::fixtures::{Env, PW, event, invoke};
use serde_json::Value;

const BOB_PW: &str = "copper meadow signal 9";
const NEW_PW: &str = "violet harbor lantern 7";

async fn start(env: &Env, function: &str) -> LambdaProcess {
    // The session events come from https://app.example.com.
    env.start_with(
        function,
        &[
            ("RUST_LOG", "trace"),
            ("KEYGATE_CORS_ORIGINS", "https://app.example.com"),
        ],
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_log_line_or_in_the_table() {
    let env = Env::new().await;
    let mut secrets: Vec<(String, String)> = vec![
        ("password".into(), PW.into()),
        ("password (base64 Basic)".into(), STANDARD.encode(format!("ann:{PW}"))),
        ("admin-set password".into(), BOB_PW.into()),
        ("reset password".into(), NEW_PW.into()),
    ];
    env.app.ensure_admin("root", PW).await.unwrap();
    let admin = env.app.password_login("root", PW, None).await.unwrap().access_token;
    secrets.push(("admin access token".into(), admin.clone()));

    let mut auth = start(&env, "authenticate").await;
    let mut refresh = start(&env, "refresh").await;
    let mut revoke = start(&env, "revoke").await;
    let mut forgot = start(&env, "forgot-password-request").await;
    let mut confirm = start(&env, "forgot-password-confirm").await;
    let mut adm = start(&env, "admin").await;
    let mut jwks = start(&env, "jwks").await;
    let mut register = env
        .start_with("register", &[("RUST_LOG", "trace"), ("KEYGATE_REGISTRATION", "open")])
        .await;

    // Logins: JSON, form, Basic, a wrong password, a malformed body.
    for name in [
        "authenticate-password.json",
        "authenticate-form.json",
        "authenticate-basic.json",
    ] {
        let a = invoke(&mut auth, event(name, &[])).await;
        assert_eq!(a.status, 200, "{name}: {}", a.body);
        secrets.push(("access token".into(), a.body["access_token"].as_str().unwrap().into()));
        secrets.push(("refresh token".into(), a.body["refresh_token"].as_str().unwrap().into()));
    }
    let a = invoke(
        &mut auth,
        event("authenticate-password.json", &[(PW, "not the right one at all")]),
    )
    .await;
    assert_eq!(a.status, 401);
    secrets.push(("wrong password".into(), "not the right one at all".into()));
    invoke(&mut auth, event("authenticate-malformed.json", &[])).await;
    // A password typed into the username field: an unknown account, whose name must not be
    // logged in clear (the username key is its NFKC case-folded form).
    let a = invoke(
        &mut auth,
        event(
            "authenticate-password.json",
            &[(
                r#"\"username\": \"ann\""#,
                r#"\"username\": \"Typed-My-Passw0rd-Here\""#,
            )],
        ),
    )
    .await;
    assert_eq!(a.status, 401);

    // Admin: a user with a password, an API key; then the API key logs in.
    let with = |name: &str| event(name, &[("REPLACE_WITH_ADMIN_TOKEN", &admin)]);
    assert_eq!(invoke(&mut adm, with("admin-create-user.json")).await.status, 201);
    let k = invoke(&mut adm, with("admin-create-api-key.json")).await;
    assert_eq!(k.status, 201, "{}", k.body);
    let api_key = k.body["api_key"].as_str().unwrap().to_owned();
    secrets.push(("API key".into(), api_key.clone()));
    let a = invoke(
        &mut auth,
        event("authenticate-api-key.json", &[("REPLACE_WITH_API_KEY", &api_key)]),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    secrets.push((
        "API-key access token".into(),
        a.body["access_token"].as_str().unwrap().into(),
    ));

    // Refresh, reuse of a retired token (revokes the family), logout.
    let r1 = secrets.iter().find(|(k, _)| k == "refresh token").unwrap().1.clone();
    let a = invoke(
        &mut refresh,
        event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &r1)]),
    )
    .await;
    assert_eq!(a.status, 200);
    secrets.push((
        "rotated refresh token".into(),
        a.body["refresh_token"].as_str().unwrap().into(),
    ));
    secrets.push((
        "refreshed access token".into(),
        a.body["access_token"].as_str().unwrap().into(),
    ));
    let a = invoke(
        &mut refresh,
        event("refresh.json", &[("REPLACE_WITH_REFRESH_TOKEN", &r1)]),
    )
    .await;
    assert_eq!(a.status, 401);
    let r3 = secrets
        .iter()
        .rev()
        .find(|(k, _)| k == "refresh token")
        .unwrap()
        .1
        .clone();
    assert_eq!(
        invoke(
            &mut revoke,
            event("revoke.json", &[("REPLACE_WITH_REFRESH_TOKEN", &r3)])
        )
        .await
        .status,
        200
    );

    // Forgot password, then the reset.
    assert_eq!(
        invoke(&mut forgot, event("forgot-password-request.json", &[]))
            .await
            .status,
        202
    );
    let outbox = std::fs::read_to_string(&env.outbox).unwrap();
    let mail: Value = serde_json::from_str(outbox.lines().last().unwrap()).unwrap();
    let reset = mail["token"].as_str().unwrap().to_owned();
    secrets.push(("reset token".into(), reset.clone()));
    let a = invoke(
        &mut confirm,
        event("forgot-password-confirm.json", &[("REPLACE_WITH_RESET_TOKEN", &reset)]),
    )
    .await;
    assert_eq!(a.status, 204, "{}", a.body);
    assert_eq!(invoke(&mut jwks, event("jwks.json", &[])).await.status, 200);

    // A browser session (ann's password is the reset one now): the refresh token in the
    // cookie, the CSRF token in a header.
    let login = invoke(&mut auth, event("session-login.json", &[(PW, NEW_PW)])).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let csrf = login.body["csrf_token"].as_str().unwrap().to_owned();
    secrets.push((
        "session access token".into(),
        login.body["access_token"].as_str().unwrap().into(),
    ));
    secrets.push(("CSRF token".into(), csrf.clone()));
    let session = env
        .app
        .password_login("ann", NEW_PW, None)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    let session_csrf = keygate_shared::domain::session::CsrfToken::for_family(
        keygate_shared::domain::RefreshToken::parse(&session).unwrap().family(),
    );
    secrets.push(("session cookie".into(), session.clone()));
    let a = invoke(
        &mut refresh,
        event(
            "session-refresh.json",
            &[
                ("REPLACE_WITH_REFRESH_TOKEN", &session),
                ("REPLACE_WITH_CSRF_TOKEN", session_csrf.expose()),
            ],
        ),
    )
    .await;
    assert_eq!(
        a.status,
        200,
        "{}\n{}",
        a.body,
        refresh
            .logs()
            .lines()
            .filter(|l| l.contains("audit"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Self-registration and its completion.
    let registration_pw = "marble comet violin 58";
    secrets.push(("registration password".into(), registration_pw.into()));
    assert_eq!(invoke(&mut register, event("register.json", &[])).await.status, 202);
    let outbox = std::fs::read_to_string(&env.outbox).unwrap();
    let mail: Value = serde_json::from_str(outbox.lines().last().unwrap()).unwrap();
    let registration = mail["token"].as_str().unwrap().to_owned();
    secrets.push(("registration token".into(), registration.clone()));
    let a = invoke(
        &mut register,
        event(
            "register-complete.json",
            &[("REPLACE_WITH_REGISTER_TOKEN", &registration)],
        ),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);

    // The private key's parameters, as stored in Secrets Manager.
    let sdk = keygate_tests::aws::moto_sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let jwk = sm.get_secret_value().secret_id(&env.secret).send().await.unwrap();
    let jwk: Value = serde_json::from_str(jwk.secret_string().unwrap()).unwrap();
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        if let Some(v) = jwk[member].as_str() {
            secrets.push((format!("private key member {member}"), v.to_owned()));
        }
    }
    secrets.push(("private key JWK".into(), jwk.to_string()));

    // The refresh, reset and API-key secrets without their public prefixes, and the parts of a
    // JWT that are secret-equivalent (the whole token; the signature alone).
    let mut parts = Vec::new();
    for (what, s) in &secrets {
        if let Some(tail) = s.rsplit('_').next().filter(|t| t.len() >= 20 && s.starts_with("kg")) {
            parts.push((format!("{what} (secret part)"), tail.to_owned()));
        }
        if s.starts_with("eyJ") {
            parts.push((format!("{what} (signature)"), s.rsplit('.').next().unwrap().to_owned()));
        }
    }
    secrets.extend(parts);

    let mut lines = 0;
    for (name, f) in [
        ("authenticate", &auth),
        ("refresh", &refresh),
        ("revoke", &revoke),
        ("forgot-password-request", &forgot),
        ("forgot-password-confirm", &confirm),
        ("admin", &adm),
        ("jwks", &jwks),
        ("register", &register),
    ] {
        let logs = f.logs();
        lines += logs.lines().count();
        for (what, secret) in &secrets {
            if let Some(line) = logs.lines().find(|l| l.contains(secret.as_str())) {
                panic!("the {what} appears in the {name} function's log:\n{line}");
            }
        }
    }
    // Audit lines carry the client's address and user agent from the event's request context
    // (authenticate-password.json: sourceIp 203.0.113.7, user-agent curl/8.5.0).
    let audit: Vec<Value> = auth
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "keygate::audit" && v["event"] == "login" && v["span"]["path"] == "/auth/token")
        .collect();
    assert!(audit.len() >= 4, "{audit:?}");
    for v in &audit {
        assert_eq!(v["span"]["source_ip"], "203.0.113.7", "{v}");
        assert_eq!(v["span"]["user_agent"], "curl/8.5.0", "{v}");
    }
    assert!(
        audit
            .iter()
            .any(|v| v["outcome"] == "failure" && v["subject"].as_str().is_some_and(|s| s.starts_with("fp:"))),
        "an unknown account's failure is logged with a fingerprint: {audit:?}"
    );
    // keygate's own lines never name it. (At trace level the AWS SDK's wire logs show the
    // DynamoDB key of its failure counter, `USER#<username key>`, as the table does.)
    for line in auth.logs().lines() {
        let ours = serde_json::from_str::<Value>(line)
            .ok()
            .is_some_and(|v| v["target"].as_str().is_some_and(|t| t.starts_with("keygate")));
        let lower = line.to_lowercase();
        assert!(
            !(ours && lower.contains("typed-my-passw0rd-here")),
            "the typed username appears in a keygate log line:\n{line}"
        );
    }

    // The logs were really at trace level (the SDK's own trace lines are there).
    assert!(lines > 100, "only {lines} log lines: was RUST_LOG=trace honoured?");

    // The table: every item, every attribute.
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let items = db.scan().table_name(&env.table).send().await.unwrap();
    let dump = format!("{:?}", items.items());
    assert!(
        dump.contains("ann") && dump.contains("bob"),
        "the scan sees the accounts"
    );
    for (what, secret) in &secrets {
        assert!(!dump.contains(secret.as_str()), "the {what} is stored in the clear");
    }
    eprintln!(
        "checked {} secrets against {lines} log lines and {} items",
        secrets.len(),
        items.items().len()
    );
}
