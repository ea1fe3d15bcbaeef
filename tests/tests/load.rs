//! Load: many concurrent logins, refreshes and password resets for a bounded time, against the
//! real `keygate serve` binary and against the DynamoDB store (moto). No 5xx; afterwards every
//! record and every live refresh token is checked against what was issued: nothing lost,
//! nothing duplicated.

use keygate_shared::domain::secret::RefreshToken;
use keygate_shared::ports::RESET_DELIVERY_LIMIT;
use keygate_shared::services::NewUser;
use keygate_tests::bins::{HttpAnswer, login, post_json};
use keygate_tests::fixtures::PW;
use keygate_tests::serve::{ADMIN, Server};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const WORKERS: usize = 8;
const DURATION: Duration = Duration::from_secs(3);

fn refresh(addr: SocketAddr, token: &str) -> HttpAnswer {
    post_json(addr, "/auth/refresh", &json!({"refresh_token": token}), None)
}

/// One worker's record: every refresh chain it built (oldest token first), and its resets.
#[derive(Default)]
struct Record {
    chains: Vec<Vec<String>>,
    resets_asked: usize,
    statuses: HashMap<u16, usize>,
}

fn worker(addr: SocketAddr, user: String, deadline: Instant) -> Record {
    let mut rec = Record::default();
    let mut n = 0;
    while Instant::now() < deadline {
        n += 1;
        let a = login(addr, &user, PW);
        *rec.statuses.entry(a.status).or_default() += 1;
        if a.status != 200 {
            continue;
        }
        let mut chain = vec![a.json()["refresh_token"].as_str().unwrap_or_default().to_owned()];
        for _ in 0..3 {
            let r = refresh(addr, chain.last().map(String::as_str).unwrap_or_default());
            *rec.statuses.entry(r.status).or_default() += 1;
            if r.status == 200 {
                chain.push(r.json()["refresh_token"].as_str().unwrap_or_default().to_owned());
            }
        }
        rec.chains.push(chain);
        if n % 3 == 0 {
            let f = post_json(addr, "/auth/password/forgot", &json!({"username": user}), None);
            *rec.statuses.entry(f.status).or_default() += 1;
            rec.resets_asked += 1;
        }
    }
    rec
}

#[test]
fn keygate_serve_under_concurrent_logins_refreshes_and_resets() {
    let dir = std::env::temp_dir().join(format!("keygate-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let outbox = dir.join("outbox.jsonl");
    let _ = std::fs::remove_file(&outbox);
    let outbox_s = outbox.display().to_string();
    let s = Server::start(&[
        ("KEYGATE_MAILER", "outbox"),
        ("KEYGATE_OUTBOX", &outbox_s),
        ("RUST_LOG", "warn"),
    ]);
    let admin = login(s.addr, ADMIN.0, ADMIN.1).json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let users: Vec<String> = (0..WORKERS).map(|i| format!("load{i}")).collect();
    for u in &users {
        let body = json!({"username": u, "password": PW, "email": format!("{u}@example.com"), "roles": []});
        assert_eq!(post_json(s.addr, "/admin/users", &body, Some(&admin)).status, 201);
    }

    let deadline = Instant::now() + DURATION;
    let handles: Vec<_> = users
        .iter()
        .cloned()
        .map(|u| {
            let addr = s.addr;
            std::thread::spawn(move || worker(addr, u, deadline))
        })
        .collect();
    let records: Vec<(String, Record)> = users
        .iter()
        .cloned()
        .zip(handles.into_iter().map(|h| h.join().unwrap()))
        .collect();

    let mut totals: HashMap<u16, usize> = HashMap::new();
    for (_, r) in &records {
        for (status, n) in &r.statuses {
            *totals.entry(*status).or_default() += n;
        }
    }
    eprintln!("answers by status: {totals:?}");
    assert!(totals.keys().all(|s| [200, 202].contains(s)), "{totals:?}");

    // Every chain: its newest token is the one live token; every older one is refused, and
    // presenting one (reuse) kills the chain's family.
    let mut families = 0;
    for (_, r) in &records {
        for chain in &r.chains {
            families += 1;
            assert_eq!(chain.len(), 4, "every refresh of the chain succeeded");
            let newest = chain.last().unwrap();
            let a = refresh(s.addr, newest);
            assert_eq!(a.status, 200, "the newest token of a chain is live: {}", a.body);
            let live = a.json()["refresh_token"].as_str().unwrap().to_owned();
            assert_eq!(refresh(s.addr, &chain[1]).status, 401, "a retired token is refused");
            assert_eq!(refresh(s.addr, &live).status, 401, "reuse revoked the family");
        }
    }
    assert!(families >= WORKERS, "each worker completed at least one chain");

    // Reset mail: exactly one per accepted request up to the per-account limit, none lost.
    let mail = std::fs::read_to_string(&outbox).unwrap_or_default();
    for (user, r) in &records {
        let sent = mail
            .lines()
            .filter(|l| serde_json::from_str::<Value>(l).unwrap()["username"] == user.as_str())
            .count();
        assert_eq!(sent, r.resets_asked.min(RESET_DELIVERY_LIMIT as usize), "{user}");
    }
    eprintln!("{families} refresh families checked");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The DynamoDB store (moto) under concurrent logins and refreshes through the service: the
/// table ends with exactly one family item per login, each holding the hash of the newest token
/// its chain received.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_under_concurrent_logins_and_refreshes() {
    let env = keygate_tests::fixtures::Env::new().await;
    let app = std::sync::Arc::new(env.app);
    for i in 0..WORKERS {
        app.create_user(NewUser {
            username: format!("load{i}"),
            password: PW.into(),
            email: None,
            roles: vec![],
        })
        .await
        .unwrap();
    }
    let deadline = tokio::time::Instant::now() + DURATION;
    let tasks: Vec<_> = (0..WORKERS)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut chains = Vec::new();
                while tokio::time::Instant::now() < deadline {
                    let pair = app.password_login(&format!("load{i}"), PW, None).await.unwrap();
                    let mut token = pair.refresh_token.unwrap();
                    for _ in 0..2 {
                        token = app.refresh(&token).await.unwrap().refresh_token.unwrap();
                    }
                    chains.push(token);
                }
                chains
            })
        })
        .collect();
    let mut newest = Vec::new();
    for t in tasks {
        newest.extend(t.await.unwrap());
    }
    assert!(newest.len() >= WORKERS);

    for token in &newest {
        let t = RefreshToken::parse(token).unwrap();
        let f = app.store.family(t.family()).await.unwrap().expect("the family exists");
        assert!(!f.revoked);
        assert!(
            f.current_hash.ct_eq(&t.hash()),
            "the stored current token is the newest issued"
        );
    }
    let sdk = keygate_tests::aws::moto_sdk_config().await;
    let db = aws_sdk_dynamodb::Client::new(&sdk);
    let mut items = 0;
    let mut start = None;
    loop {
        let page = db
            .scan()
            .table_name(&env.table)
            .filter_expression("begins_with(pk, :f)")
            .expression_attribute_values(":f", aws_sdk_dynamodb::types::AttributeValue::S("FAMILY#".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        items += page.items().len();
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    assert_eq!(
        items,
        newest.len(),
        "one family item per login, none lost or duplicated"
    );
    eprintln!("{items} families in DynamoDB checked");
}
