//! The fixture most Lambda tests share: a table and a signing secret in moto with the public keys
//! published and one user, and helpers to start a function binary on them and feed it events.

use crate::bins::binary;
use crate::emulator::LambdaProcess;
use keygate_shared::config::{Config, Host};
use keygate_shared::runtime::{Mode, build};
use keygate_shared::services::{Keygate, NewUser};
use serde_json::Value;
use std::path::PathBuf;

pub const PW: &str = "tangerine kite orbit 42";

pub struct Env {
    pub table: String,
    pub secret: String,
    pub outbox: PathBuf,
    pub app: Keygate,
}

impl Env {
    pub async fn new() -> Env {
        let (sdk, table) = crate::aws::fresh_table().await;
        let secret = crate::aws::unique_name("keygate-signing");
        let sm = aws_sdk_secretsmanager::Client::new(&sdk);
        let created = keygate_shared::adapters::secrets_manager::create_signing_secret(
            &sm,
            &secret,
            keygate_shared::domain::keys::Alg::RS256,
        )
        .await
        .unwrap();
        assert!(created);
        let outbox = std::env::temp_dir().join(format!("{}.jsonl", crate::aws::unique_name("outbox")));
        let vars = [
            ("KEYGATE_TABLE", table.clone()),
            ("KEYGATE_SIGNING_SECRET_ID", secret.clone()),
        ];
        let config = Config::from_lookup(Host::Local, |k| {
            vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())
        })
        .unwrap();
        let app = build(config, Mode::Local).await.unwrap();
        // What `keygate bootstrap` and the rotation function do: publish the public keys.
        let versions = keygate_shared::adapters::secrets_manager::SecretVersions::new(sm.clone(), secret.clone());
        keygate_shared::services::rotation::publish(&versions, app.store.as_ref())
            .await
            .unwrap();
        app.create_user(NewUser {
            username: "ann".into(),
            password: PW.into(),
            email: Some("ann@example.com".into()),
            roles: vec!["reader".into()],
        })
        .await
        .unwrap();
        Env {
            table,
            secret,
            outbox,
            app,
        }
    }

    /// What the admin events need: an admin account (`root`), the user they act on (`bob`),
    /// and an admin access token for `REPLACE_WITH_ADMIN_TOKEN`.
    pub async fn admin_for_events(&self) -> String {
        self.app.ensure_admin("root", PW).await.expect("admin");
        self.app
            .create_user(NewUser {
                username: "bob".into(),
                password: "copper meadow signal 9".into(),
                email: None,
                roles: vec![],
            })
            .await
            .expect("bob");
        self.app
            .password_login("root", PW, None)
            .await
            .expect("admin login")
            .access_token
    }

    pub async fn start(&self, function: &str) -> LambdaProcess {
        self.start_with(function, &[]).await
    }

    /// Starts `function` with more (or overriding) environment variables.
    pub async fn start_with(&self, function: &str, extra: &[(&str, &str)]) -> LambdaProcess {
        let outbox = self.outbox.display().to_string();
        let mut env = vec![
            ("KEYGATE_TABLE", self.table.as_str()),
            ("KEYGATE_SIGNING_SECRET_ID", self.secret.as_str()),
            ("KEYGATE_MAILER", "outbox"),
            ("KEYGATE_OUTBOX", outbox.as_str()),
        ];
        env.extend_from_slice(extra);
        LambdaProcess::start(&binary(function), &env).await
    }
}

pub fn event(name: &str, replace: &[(&str, &str)]) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).unwrap()
}

pub struct Answer {
    pub status: i64,
    pub headers: Value,
    pub body: Value,
}

pub async fn invoke(f: &mut LambdaProcess, ev: Value) -> Answer {
    let out = match f.invoke(ev).await {
        Ok(v) => v,
        Err(e) => panic!("invocation failed: {e:?}\n{}", f.logs()),
    };
    answer(out)
}

/// A function's API Gateway answer, its JSON body parsed.
pub fn answer(out: Value) -> Answer {
    let body = out["body"]
        .as_str()
        .map(|b| serde_json::from_str(b).unwrap())
        .unwrap_or(Value::Null);
    assert_eq!(out["isBase64Encoded"], false);
    Answer {
        status: out["statusCode"].as_i64().unwrap(),
        headers: out["headers"].clone(),
        body,
    }
}
