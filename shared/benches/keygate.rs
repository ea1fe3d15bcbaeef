//! keygate's hot paths next to their floors (criterion). Run with
//! `cargo bench -p keygate-shared --bench keygate --features server,password-list`; figures and
//! reading in BENCHMARKS.md.
//!
//! - sign / verify for RS256, ES256 and EdDSA through keygate (a whole JWT: header, claims,
//!   base64url, JSON, every claim check) next to the bare aws-lc-rs call on the same bytes;
//! - argon2id hash and verify with keygate's parameters;
//! - the in-process handler path (the same `handle` Lambda and `keygate serve` use) for a
//!   password login, an API-key login and a refresh, on the embedded store;
//! - the authorizer's warm path, with the allocations it makes (counted by this binary's
//!   allocator) and the JWKS fetches it makes (none once warm).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method, header};
use keygate_sdk::{AccessClaims, Jwks, Verifier, VerifyOptions};
use keygate_shared::config::{Config, Host};
use keygate_shared::domain::keys::{Alg, SigningKey};
use keygate_shared::domain::password::{LoginPassword, NewPassword, PasswordHasher, PasswordPolicy};
use keygate_shared::http::{Function, Request, handle};
use keygate_shared::runtime::{Mode, build};
use keygate_shared::services::{Keygate, NewUser};
use serde_json::json;
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counts allocations, to report what the authorizer's warm path allocates.
struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ISSUER: &str = "http://127.0.0.1:8080";
const PW: &str = "tangerine kite orbit 42";

fn claims(now: i64) -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        sub: "5f1c2a7e-8d6b-4c3f-9a1e-2b7d4c6e8f90".into(),
        aud: "keygate".into(),
        exp: now + 900,
        iat: now,
        nbf: Some(now),
        jti: "0d6f6c1e-3b0a-4b55-8e0b-7c1f7e9a4d21".into(),
        client_id: "default".into(),
        roles: vec!["reader".into(), "writer".into()],
        scope: "reader writer".into(),
        preferred_username: Some("ann".into()),
    }
}

fn options() -> VerifyOptions {
    VerifyOptions {
        issuer: ISSUER.into(),
        audience: "keygate".into(),
        leeway: 30,
        max_lifetime: 900,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A bare aws-lc-rs signer and verifier of the same kind and size as keygate's key.
enum Bare {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Bare {
    fn new(alg: Alg) -> Bare {
        match alg {
            Alg::RS256 => Bare::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()),
            Alg::ES256 => Bare::Ec(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap()),
            Alg::EdDSA => Bare::Ed(Ed25519KeyPair::generate().unwrap()),
        }
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            Bare::Rsa(k) => {
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
                    .unwrap();
                sig
            }
            Bare::Ec(k) => k.sign(&SystemRandom::new(), msg).unwrap().as_ref().to_vec(),
            Bare::Ed(k) => k.sign(msg).as_ref().to_vec(),
        }
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match self {
            Bare::Rsa(k) => UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, k.public_key().as_ref())
                .verify(msg, sig)
                .is_ok(),
            Bare::Ec(k) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, k.public_key().as_ref())
                .verify(msg, sig)
                .is_ok(),
            Bare::Ed(k) => UnparsedPublicKey::new(&signature::ED25519, k.public_key().as_ref())
                .verify(msg, sig)
                .is_ok(),
        }
    }
}

fn jwt(c: &mut Criterion) {
    for alg in [Alg::RS256, Alg::ES256, Alg::EdDSA] {
        let key = SigningKey::generate(alg).unwrap();
        let verifier = Verifier::new(
            options(),
            &Jwks {
                keys: vec![key.public_jwk()],
            },
        );
        let token = key.sign(&claims(now())).unwrap();
        let (input, _) = token.rsplit_once('.').unwrap();
        let bare = Bare::new(alg);
        let bare_sig = bare.sign(input.as_bytes());
        let mut g = c.benchmark_group(format!("jwt/{}", alg.as_str()));
        g.bench_function("keygate sign", |b| {
            b.iter(|| key.sign(black_box(&claims(now()))).unwrap())
        });
        g.bench_function("bare aws-lc-rs sign", |b| {
            b.iter(|| bare.sign(black_box(input.as_bytes())))
        });
        g.bench_function("keygate verify", |b| {
            b.iter(|| verifier.verify(black_box(&token), now()).unwrap())
        });
        g.bench_function("bare aws-lc-rs verify", |b| {
            b.iter(|| assert!(bare.verify(black_box(input.as_bytes()), &bare_sig)))
        });
        g.finish();
    }
}

fn passwords(c: &mut Criterion) {
    let hasher = PasswordHasher::owasp();
    let new = NewPassword::parse(PW, &PasswordPolicy::default(), &[]).unwrap();
    let hash = hasher.hash(&new).unwrap();
    let login = LoginPassword::new(PW);
    let mut g = c.benchmark_group("argon2id (m=19 MiB, t=2, p=1)");
    g.sample_size(20);
    g.bench_function("hash", |b| b.iter(|| hasher.hash(black_box(&new)).unwrap()));
    g.bench_function("verify", |b| {
        b.iter(|| assert!(hasher.verify(black_box(&login), Some(&hash))))
    });
    g.finish();
}

fn request(path: &str, body: serde_json::Value) -> Request {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Request {
        method: Method::POST,
        path: path.into(),
        query: None,
        headers,
        body: Some(Bytes::from(body.to_string())),
        request_id: "bench".into(),
        source_ip: None,
    }
}

async fn local_app() -> Keygate {
    let config = Config::from_lookup(Host::Local, |k| match k {
        "KEYGATE_ISSUER" => Some(ISSUER.to_owned()),
        "KEYGATE_MAILER" => Some("log".to_owned()),
        _ => None,
    })
    .unwrap();
    build(config, Mode::Local).await.unwrap()
}

fn handlers(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = rt.block_on(async {
        let app = local_app().await;
        app.create_user(NewUser {
            username: "ann".into(),
            password: PW.into(),
            email: None,
            roles: vec!["reader".into()],
        })
        .await
        .unwrap();
        app
    });
    let key = rt
        .block_on(app.create_api_key("bench", &["device".to_owned()], None))
        .unwrap();
    let mut g = c.benchmark_group("handler");
    g.sample_size(20);
    g.bench_function("password login", |b| {
        b.iter(|| {
            let r = rt.block_on(handle(
                &app,
                Function::Local,
                request(
                    "/auth/token",
                    json!({"grant_type": "password", "username": "ann", "password": PW}),
                ),
            ));
            assert_eq!(r.status, 200);
        })
    });
    g.sample_size(100);
    g.bench_function("api key login", |b| {
        b.iter(|| {
            let r = rt.block_on(handle(
                &app,
                Function::Local,
                request("/auth/token", json!({"grant_type": "api_key", "api_key": key.api_key})),
            ));
            assert_eq!(r.status, 200);
        })
    });
    let mut token = rt
        .block_on(app.password_login("ann", PW, None))
        .unwrap()
        .refresh_token
        .unwrap();
    g.bench_function("refresh", |b| {
        b.iter(|| {
            let r = rt.block_on(handle(
                &app,
                Function::Local,
                request("/auth/refresh", json!({"refresh_token": token})),
            ));
            assert_eq!(r.status, 200);
            let body: serde_json::Value = serde_json::from_str(r.body.as_deref().unwrap()).unwrap();
            token = body["refresh_token"].as_str().unwrap().to_owned();
        })
    });
    g.finish();
}

fn authorizer(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let key = SigningKey::generate(Alg::RS256).unwrap();
    let jwks = serde_json::to_string(&Jwks {
        keys: vec![key.public_jwk()],
    })
    .unwrap();
    let fetches = Arc::new(AtomicU64::new(0));
    let url = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let fetches = fetches.clone();
        let app = axum::Router::new().route(
            "/jwks",
            axum::routing::get(move || {
                fetches.fetch_add(1, Ordering::Relaxed);
                let body = jwks.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/jwks")
    });
    let config = Config::from_lookup(Host::Lambda, |k| match k {
        "KEYGATE_ISSUER" => Some(ISSUER.to_owned()),
        "KEYGATE_JWKS_URL" => Some(url.clone()),
        "KEYGATE_ROUTE_ROLES" => Some(r#"{"ANY /admin/{proxy+}": ["admin"], "*": []}"#.to_owned()),
        _ => None,
    })
    .unwrap();
    let authz = keygate_shared::authorizer::Authorizer::from_config(&config).unwrap();
    let token = key.sign(&claims(now())).unwrap();
    let event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../events/authorizer-http-v2.json"
        ))
        .unwrap()
        .replace("REPLACE_WITH_TOKEN", &token),
    )
    .unwrap();
    // Warm: the first call fetches the JWKS.
    rt.block_on(authz.authorize(&event)).unwrap();
    let warm_fetches = fetches.load(Ordering::Relaxed);
    let before = (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    const N: u64 = 1000;
    for _ in 0..N {
        rt.block_on(authz.authorize(black_box(&event))).unwrap();
    }
    let after = (ALLOCS.load(Ordering::Relaxed), BYTES.load(Ordering::Relaxed));
    eprintln!(
        "authorizer warm path: {} allocations, {} bytes per call; JWKS fetches: {} to warm up, {} in {N} warm calls",
        (after.0 - before.0) / N,
        (after.1 - before.1) / N,
        warm_fetches,
        fetches.load(Ordering::Relaxed) - warm_fetches
    );
    c.bench_function("authorizer/http-v2 warm", |b| {
        b.iter(|| rt.block_on(authz.authorize(black_box(&event))).unwrap())
    });
}

criterion_group!(benches, jwt, passwords, handlers, authorizer);
criterion_main!(benches);
