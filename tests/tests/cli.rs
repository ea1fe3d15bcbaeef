//! The `keygate` operator commands against DynamoDB and Secrets Manager in moto.

use keygate_tests::bins::{binary, run_with_stdin, succeeded as ok};
use serde_json::Value;
use std::process::{Command, Output};

fn keygate(env: &[(&str, &str)], args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(binary("keygate"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_stdin(cmd, stdin)
}

fn fails_with(o: &Output, needle: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains(needle), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test]
async fn operator_commands() {
    // moto_sdk_config checks that the AWS environment points at moto.
    let _ = keygate_tests::aws::moto_sdk_config().await;
    let table = keygate_tests::aws::unique_name("cli");
    let secret = keygate_tests::aws::unique_name("cli-key");
    let env = [
        ("KEYGATE_TABLE", table.as_str()),
        ("KEYGATE_SIGNING_SECRET_ID", secret.as_str()),
    ];

    // Before bootstrap: a clear error, no panic.
    fails_with(
        &keygate(
            &env,
            &["user", "add", "ann", "--password-stdin"],
            Some("tangerine kite orbit 42\n"),
        ),
        "keygate:",
    );

    let first = ok(&keygate(&env, &["bootstrap"], None));
    assert!(first.contains("created"), "{first}");
    assert!(first.contains("public keys published"), "{first}");
    let again = ok(&keygate(&env, &["bootstrap"], None));
    assert!(
        again.contains(&format!("table {table}: exists")) && again.contains("exists"),
        "{again}"
    );

    let user: Value = serde_json::from_str(&ok(&keygate(
        &env,
        &[
            "user",
            "add",
            "Ann",
            "--email",
            "ann@example.com",
            "--role",
            "admin",
            "--role",
            "reader",
            "--password-stdin",
        ],
        Some("tangerine kite orbit 42\n"),
    )))
    .unwrap();
    assert_eq!(user["username"], "Ann");
    assert_eq!(user["roles"], serde_json::json!(["admin", "reader"]));
    fails_with(
        &keygate(
            &env,
            &["user", "add", "ANN", "--password-stdin"],
            Some("tangerine kite orbit 42\n"),
        ),
        "conflict",
    );
    fails_with(
        &keygate(&env, &["user", "add", "bob", "--password-stdin"], Some("short\n")),
        "password",
    );
    fails_with(&keygate(&env, &["user", "add", "bob"], None), "--password-stdin");

    let key: Value = serde_json::from_str(&ok(&keygate(
        &env,
        &[
            "apikey",
            "create",
            "sensor-7",
            "--role",
            "device",
            "--expires-in",
            "3600",
        ],
        None,
    )))
    .unwrap();
    assert!(key["api_key"].as_str().unwrap().starts_with("kgk_"));
    assert!(key["expires_at"].is_string());
    let id = key["key_id"].as_str().unwrap();
    ok(&keygate(&env, &["apikey", "revoke", id], None));
    fails_with(&keygate(&env, &["apikey", "revoke", id], None), "no such API key");

    // An invitation on DynamoDB: printed with its link, and mailed (here through the outbox)
    // with the same link; an address that has an account, or no address, is refused.
    let outbox = std::env::temp_dir().join(format!("{}.jsonl", keygate_tests::aws::unique_name("cli-outbox")));
    let outbox_s = outbox.display().to_string();
    let mailing = [
        env[0],
        env[1],
        ("KEYGATE_MAILER", "outbox"),
        ("KEYGATE_OUTBOX", outbox_s.as_str()),
        ("KEYGATE_REGISTER_URL", "https://app.example.com/join?t={token}"),
    ];
    let invited: Value = serde_json::from_str(&ok(&keygate(
        &mailing,
        &["invite", "bo@example.com", "--role", "reader", "--role", "ops"],
        None,
    )))
    .unwrap();
    assert_eq!(
        (invited["email"].as_str(), &invited["roles"]),
        (Some("bo@example.com"), &serde_json::json!(["ops", "reader"]))
    );
    assert!(invited["invitation_id"].is_string() && invited["expires_at"].is_string());
    let mail: Value = serde_json::from_str(std::fs::read_to_string(&outbox).unwrap().lines().last().unwrap()).unwrap();
    assert_eq!(mail["kind"], "invitation");
    assert_eq!(invited["url"], mail["url"]);
    assert_eq!(
        invited["url"],
        format!("https://app.example.com/join?t={}", mail["token"].as_str().unwrap())
    );
    fails_with(
        &keygate(&mailing, &["invite", "ann@example.com"], None),
        "already exists",
    );
    fails_with(&keygate(&mailing, &["invite", "not-an-address"], None), "keygate:");
    let _ = std::fs::remove_file(&outbox);

    let token = ok(&keygate(&env, &["token", "issue", "ann"], None));
    assert_eq!(token.trim().split('.').count(), 3);
    ok(&keygate(&env, &["sessions", "revoke", "ann"], None));
    fails_with(&keygate(&env, &["sessions", "revoke", "nobody"], None), "no such user");

    // A username locked by failed logins (its counter in the table), unlocked by the CLI.
    {
        use keygate_shared::domain::UsernameKey;
        use keygate_shared::domain::lockout::{Attempt, THRESHOLD};
        use keygate_shared::ports::LockoutStore as _;
        let store = keygate_shared::adapters::dynamodb::DynamoStore::new(
            &keygate_tests::aws::moto_sdk_config().await,
            table.clone(),
        );
        let (ann, now) = (UsernameKey::of_any("ann"), keygate_shared::domain::time::now());
        for _ in 0..THRESHOLD {
            let seen = store.login_lookup(&ann, now).await.unwrap().1;
            store.reserve_login_attempt(&ann, seen, now).await.unwrap();
        }
        let seen = store.login_lookup(&ann, now).await.unwrap().1;
        assert!(matches!(
            store.reserve_login_attempt(&ann, seen, now).await.unwrap(),
            Attempt::Throttled { .. }
        ));
        assert!(ok(&keygate(&env, &["user", "unlock", "ANN"], None)).contains("unlocked"));
        assert_eq!(store.login_lookup(&ann, now).await.unwrap().1.count, 0);
        fails_with(&keygate(&env, &["user", "unlock", "nobody"], None), "no such user");
    }

    for alg in ["RS256", "ES256", "EdDSA"] {
        let jwk: Value = serde_json::from_str(&ok(&keygate(&[], &["keygen", "--alg", alg], None))).unwrap();
        assert_eq!(jwk["alg"], alg);
        assert!(jwk["d"].is_string() && jwk["kid"].is_string());
    }
    fails_with(&keygate(&[], &["keygen", "--alg", "HS256"], None), "--alg");
    fails_with(
        &keygate(&[("KEYGATE_ACCESS_TOKEN_TTL", "soon")], &["keygen"], None),
        "KEYGATE_ACCESS_TOKEN_TTL",
    );
    // AWS unreachable: one clear line, no panic, within the SDK's timeouts.
    let down = [
        ("KEYGATE_TABLE", table.as_str()),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
    ];
    fails_with(&keygate(&down, &["apikey", "create", "x"], None), "unavailable");
    let help = ok(&keygate(&[], &["--help"], None));
    for cmd in [
        "serve",
        "bootstrap",
        "user",
        "apikey",
        "sessions",
        "token",
        "keygen",
        "invite",
    ] {
        assert!(help.contains(cmd), "{help}");
    }
}

/// `keygate serve` with a signing secret whose value is not a private JWK stops at start with one
/// clear line, rather than failing each login later.
#[tokio::test]
async fn serve_with_an_invalid_signing_secret_fails_at_start() {
    let (sdk, table) = keygate_tests::aws::fresh_table().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = keygate_tests::aws::unique_name("not-a-jwk");
    sm.create_secret()
        .name(&name)
        .secret_string("{\"kty\":\"RSA\",\"n\":\"AQAB\"}")
        .send()
        .await
        .unwrap();
    let o = keygate(
        &[("KEYGATE_TABLE", &table), ("KEYGATE_SIGNING_SECRET_ID", &name)],
        &["serve", "--addr", "127.0.0.1:0"],
        None,
    );
    fails_with(&o, "keygate: the signing key could not be loaded: invalid signing key");
    assert_eq!(String::from_utf8_lossy(&o.stderr).trim().lines().count(), 1, "one line");
}

/// A stack whose secret was left with CloudFormation's placeholder (its first rotation failed):
/// `keygate bootstrap` gives it a first key, publishes it, and leaves a good key alone after.
#[tokio::test]
async fn bootstrap_repairs_a_secret_left_without_a_key() {
    let (sdk, table) = keygate_tests::aws::fresh_table().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = keygate_tests::aws::unique_name("placeholder");
    sm.create_secret()
        .name(&name)
        .secret_string("q8Zr2mVx4LkP9sTe1WnB7cYh3JdF6gUa")
        .send()
        .await
        .unwrap();
    let env = [
        ("KEYGATE_TABLE", table.as_str()),
        ("KEYGATE_SIGNING_SECRET_ID", name.as_str()),
    ];
    let out = ok(&keygate(&env, &["bootstrap"], None));
    assert!(out.contains("held no key: a first key is now current"), "{out}");
    assert!(out.contains("public keys published in"), "{out}");
    let source = keygate_shared::adapters::secrets_manager::SecretsManagerKeySource::new(&sdk, name.clone());
    use keygate_shared::ports::{JwksStore, KeySource};
    let key = source.signing_key().await.expect("a key now");
    let store = keygate_shared::adapters::dynamodb::DynamoStore::new(&sdk, table.clone());
    let published = store.published_jwks().await.unwrap().expect("published");
    assert_eq!(published.keys.len(), 1);
    assert_eq!(published.keys[0].kid, key.kid());
    let again = ok(&keygate(&env, &["bootstrap"], None));
    assert!(again.contains(&format!("secret {name}: exists")), "{again}");
}

fn key_lines(out: &str) -> Vec<Value> {
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Issue 13: `keygate keys` on Secrets Manager. A previous key believed compromised is retired
/// at once: the table's published key set and `keys list` lose it; the current key, the pending
/// key and unknown kids are refused with a clear error.
#[tokio::test]
async fn keys_list_and_retire_a_previous_key() {
    use keygate_shared::domain::keys::{Alg, SigningKey};
    use keygate_shared::ports::JwksStore as _;
    let (sdk, table) = keygate_tests::aws::fresh_table().await;
    let secret = keygate_tests::aws::unique_name("keys");
    let env = [
        ("KEYGATE_TABLE", table.as_str()),
        ("KEYGATE_SIGNING_SECRET_ID", secret.as_str()),
    ];
    fails_with(
        &keygate(
            &[("KEYGATE_TABLE", table.as_str()), ("KEYGATE_DATA_DIR", ":memory:")],
            &["keys", "list"],
            None,
        ),
        "KEYGATE_SIGNING_SECRET_ID",
    );
    ok(&keygate(&env, &["bootstrap", "--alg", "ES256"], None));
    let keys = key_lines(&ok(&keygate(&env, &["keys", "list"], None)));
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(
        (keys[0]["alg"].as_str(), keys[0]["state"].as_str()),
        (Some("ES256"), Some("current"))
    );
    assert!(keys[0]["created_at"].as_str().unwrap().ends_with('Z'));
    let first = keys[0]["kid"].as_str().unwrap().to_owned();

    // A rotation's outcome: a new current key, the first one staged AWSPREVIOUS, both published;
    // and a pending key, as during the next rotation.
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let (current, pending) = (
        SigningKey::generate(Alg::EdDSA).unwrap(),
        SigningKey::generate(Alg::RS256).unwrap(),
    );
    sm.put_secret_value()
        .secret_id(&secret)
        .secret_string(current.to_jwk_json())
        .send()
        .await
        .unwrap();
    sm.put_secret_value()
        .secret_id(&secret)
        .secret_string(pending.to_jwk_json())
        .version_stages("AWSPENDING")
        .send()
        .await
        .unwrap();
    ok(&keygate(&env, &["bootstrap"], None));
    let store = keygate_shared::adapters::dynamodb::DynamoStore::new(&sdk, table.clone());
    let published = store.published_jwks().await.unwrap().unwrap();
    assert!(published.find(&first).is_some());
    let states: Vec<(String, String)> = key_lines(&ok(&keygate(&env, &["keys", "list"], None)))
        .iter()
        .map(|k| (k["kid"].as_str().unwrap().into(), k["state"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        states,
        [
            (current.kid().to_owned(), "current".to_owned()),
            (pending.kid().to_owned(), "pending".to_owned()),
            (first.clone(), "previous".to_owned()),
        ]
    );

    fails_with(
        &keygate(&env, &["keys", "retire", current.kid()], None),
        "current signing key",
    );
    fails_with(&keygate(&env, &["keys", "retire", pending.kid()], None), "pending key");
    fails_with(
        &keygate(&env, &["keys", "retire", "no-such-kid"], None),
        "no published key",
    );
    fails_with(
        &keygate(
            &[("KEYGATE_SIGNING_SECRET_ID", secret.as_str())],
            &["keys", "retire", &first],
            None,
        ),
        "KEYGATE_TABLE",
    );
    assert_eq!(
        store.published_jwks().await.unwrap().unwrap(),
        published,
        "refusals change nothing"
    );

    let out = ok(&keygate(&env, &["keys", "retire", &first], None));
    assert!(out.contains("retired"), "{out}");
    let after = store.published_jwks().await.unwrap().unwrap();
    assert!(after.find(&first).is_none(), "the retired key is still published");
    assert!(after.find(current.kid()).is_some() && after.find(pending.kid()).is_some());
    let kids: Vec<Value> = key_lines(&ok(&keygate(&env, &["keys", "list"], None)))
        .iter()
        .map(|k| k["kid"].clone())
        .collect();
    assert!(!kids.contains(&Value::from(first.as_str())), "{kids:?}");
    assert_eq!(kids.len(), 2);
    fails_with(&keygate(&env, &["keys", "retire", &first], None), "no published key");
}

/// `keygate keys rotate` starts the secret's rotation (moto, with no rotation function, moves
/// the labels itself).
#[tokio::test]
async fn keys_rotate_starts_the_rotation() {
    let _ = keygate_tests::aws::moto_sdk_config().await;
    let secret = keygate_tests::aws::unique_name("keys-rotate");
    let table = keygate_tests::aws::unique_name("keys-rotate");
    let env = [
        ("KEYGATE_TABLE", table.as_str()),
        ("KEYGATE_SIGNING_SECRET_ID", secret.as_str()),
    ];
    fails_with(&keygate(&env, &["keys", "rotate"], None), "keygate:");
    ok(&keygate(&env, &["bootstrap"], None));
    let out = ok(&keygate(&env, &["keys", "rotate"], None));
    assert!(out.contains("rotation of"), "{out}");
}
