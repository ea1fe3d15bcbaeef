//! A full signing-key rotation against Secrets Manager in moto, driven through the
//! `rotate-signing-key` binary under the Lambda Runtime API emulator: tokens signed before and
//! after both verify, and at every instant the key that signs is already published.

use keygate_sdk::{AccessClaims, Verifier, VerifyOptions};
use keygate_shared::adapters::secrets_manager::{SecretsManagerKeySource, create_signing_secret};
use keygate_shared::domain::keys::Alg;
use keygate_shared::ports::KeySource;
use keygate_tests::bins::binary;
use keygate_tests::emulator::LambdaProcess;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn claims() -> AccessClaims {
    let t = keygate_shared::domain::time::now();
    AccessClaims {
        iss: "https://auth.example.com".into(),
        sub: "s".into(),
        aud: "keygate".into(),
        exp: t + 600,
        iat: t,
        nbf: Some(t),
        jti: "j".into(),
        client_id: "c".into(),
        roles: vec![],
        scope: String::new(),
        preferred_username: None,
    }
}

fn options() -> VerifyOptions {
    VerifyOptions {
        issuer: "https://auth.example.com".into(),
        audience: "keygate".into(),
        leeway: 30,
        max_lifetime: 900,
    }
}

fn step(name: &str, arn: &str, token: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(format!("rotate-signing-key-{name}.json"));
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("REPLACE_WITH_SECRET_ARN", arn)
        .replace("REPLACE_WITH_CLIENT_REQUEST_TOKEN", token);
    serde_json::from_str(&text).unwrap()
}

/// A key source with an empty cache: what a new container would see now.
fn fresh(sdk: &aws_config::SdkConfig, arn: &str) -> SecretsManagerKeySource {
    SecretsManagerKeySource::new(sdk, arn.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn full_rotation_keeps_every_token_verifiable() {
    let sdk = keygate_tests::aws::moto_sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = keygate_tests::aws::unique_name("rotation");
    assert!(create_signing_secret(&sm, &name, Alg::ES256).await.unwrap());
    let arn = sm
        .describe_secret()
        .secret_id(&name)
        .send()
        .await
        .unwrap()
        .arn()
        .unwrap()
        .to_owned();

    let before = fresh(&sdk, &arn);
    let old_key = before.signing_key().await.unwrap();
    let old_token = old_key.sign(&claims()).unwrap();

    // Load: new containers keep signing and verifying while the rotation runs. The signer's
    // key must always be in the published set read just before.
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Arc::new(AtomicUsize::new(0));
    let load = {
        let (sdk, arn, stop, progress) = (sdk.clone(), arn.clone(), stop.clone(), progress.clone());
        tokio::spawn(async move {
            let (mut rounds, mut failures) = (0, 0);
            while !stop.load(Ordering::Relaxed) && rounds < 2000 {
                let jwks = fresh(&sdk, &arn).jwks().await.unwrap();
                let signer = fresh(&sdk, &arn).signing_key().await.unwrap();
                let t = signer.sign(&claims()).unwrap();
                if Verifier::new(options(), &jwks)
                    .verify(&t, keygate_shared::domain::time::now())
                    .is_err()
                {
                    failures += 1;
                }
                rounds += 1;
                progress.store(rounds, Ordering::Relaxed);
            }
            (rounds, failures)
        })
    };

    let token = "a1b2c3d4-e5f6-4789-9abc-def012345678";
    let (_, table) = keygate_tests::aws::fresh_table().await;
    let store = keygate_shared::adapters::dynamodb::DynamoStore::new(&sdk, table.clone());
    let mut f = LambdaProcess::start(&binary("rotate-signing-key"), &[("KEYGATE_TABLE", &table)]).await;
    // Between steps, let the load make progress, so that every stage of the rotation is seen.
    let settle = || async {
        let seen = progress.load(Ordering::Relaxed);
        while progress.load(Ordering::Relaxed) < seen + 5 {
            tokio::task::yield_now().await;
        }
    };
    settle().await;
    for name in ["create", "create", "set", "test"] {
        f.invoke(step(name, &arn, token))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}\n{}", f.logs()));
        settle().await;
    }
    // Pending is published before it signs anything.
    let mid = fresh(&sdk, &arn);
    assert_eq!(mid.signing_key().await.unwrap().kid(), old_key.kid());
    let published = mid.jwks().await.unwrap();
    assert_eq!(published.keys.len(), 2, "current and pending");
    use keygate_shared::ports::JwksStore;
    assert_eq!(
        store.published_jwks().await.unwrap().unwrap(),
        *published,
        "published in the table for the jwks function"
    );
    for name in ["finish", "finish"] {
        f.invoke(step(name, &arn, token))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}\n{}", f.logs()));
        settle().await;
    }
    stop.store(true, Ordering::Relaxed);
    let (rounds, failures) = load.await.unwrap();
    eprintln!("rotation under load: {rounds} sign/verify rounds, {failures} failures");
    assert!(rounds > 0);
    assert_eq!(failures, 0);

    let after = fresh(&sdk, &arn);
    let new_key = after.signing_key().await.unwrap();
    assert_ne!(new_key.kid(), old_key.kid(), "signers switched");
    assert_eq!(new_key.alg(), Alg::ES256, "same algorithm");
    let jwks = after.jwks().await.unwrap();
    assert!(jwks.find(old_key.kid()).is_some(), "the previous key stays published");
    let in_table = store.published_jwks().await.unwrap().unwrap();
    assert!(in_table.find(old_key.kid()).is_some() && in_table.find(new_key.kid()).is_some());
    let verifier = Verifier::new(options(), &jwks);
    let now = keygate_shared::domain::time::now();
    verifier
        .verify(&old_token, now)
        .expect("a token from before the rotation");
    verifier
        .verify(&new_key.sign(&claims()).unwrap(), now)
        .expect("a token from after");

    // A bogus step or token fails cleanly.
    assert!(
        f.invoke(step("test", &arn, "00000000-0000-4000-8000-000000000000"))
            .await
            .is_err()
    );
    assert!(!f.logs().contains("\"d\""), "no private key material in the logs");
}

#[tokio::test]
async fn a_placeholder_secret_gets_a_first_key_from_the_rotation() {
    let sdk = keygate_tests::aws::moto_sdk_config().await;
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let name = keygate_tests::aws::unique_name("placeholder");
    // What CloudFormation's GenerateSecretString leaves: a random string, not a JWK.
    let out = sm
        .create_secret()
        .name(&name)
        .secret_string("q8Zr2mVx4LkP9sTe1WnB7cYh3JdF6gUa")
        .send()
        .await
        .unwrap();
    let arn = out.arn().unwrap().to_owned();
    assert!(
        fresh(&sdk, &arn).signing_key().await.is_err(),
        "a placeholder is not a key"
    );
    let token = "0f1e2d3c-4b5a-4987-8654-3210fedcba98";
    // With the table the template gives it (Globals): publishing must not trip on the placeholder.
    let (_, table) = keygate_tests::aws::fresh_table().await;
    let store = keygate_shared::adapters::dynamodb::DynamoStore::new(&sdk, table.clone());
    let mut f = LambdaProcess::start(&binary("rotate-signing-key"), &[("KEYGATE_TABLE", &table)]).await;
    for name in ["create", "set", "test", "finish"] {
        f.invoke(step(name, &arn, token))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}\n{}", f.logs()));
    }
    let key = fresh(&sdk, &arn).signing_key().await.unwrap();
    assert_eq!(key.alg(), Alg::RS256);
    use keygate_shared::ports::JwksStore;
    let published = store.published_jwks().await.unwrap().unwrap();
    assert_eq!(published.keys.len(), 1, "the first key, and never the placeholder");
    assert_eq!(published.keys[0].kid, key.kid());
}
