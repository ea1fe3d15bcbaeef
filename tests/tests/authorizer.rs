//! The authorizer binary under the Lambda Runtime API emulator, with realistic events of every
//! shape, against a JWKS served by the test; forged tokens for the attacks of RFC 8725 and
//! known JWT-library CVEs are all refused without crashing the function.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use keygate_sdk::{AccessClaims, Jwks};
use keygate_shared::domain::keys::{Alg, SigningKey};
use keygate_tests::bins::binary;
use keygate_tests::emulator::{InvokeError, LambdaProcess};
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const ISS: &str = "https://auth.example.com";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Default)]
struct Served {
    jwks: Mutex<Jwks>,
    down: AtomicBool,
    hits: AtomicUsize,
    /// The answer's `Cache-Control`, when set.
    cache_control: Mutex<Option<&'static str>>,
    /// The ids `/auth/share/revoked` lists.
    revoked: Mutex<Vec<String>>,
    /// The query strings `/auth/share/revoked` was asked with.
    revoked_queries: Mutex<Vec<String>>,
}

/// As keygate answers: the whole list, or with `?share_id=ID` the list narrowed to that id.
async fn serve_revoked(
    State(s): State<Arc<Served>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::response::Response {
    let query = query.unwrap_or_default();
    s.revoked_queries.lock().unwrap().push(query.clone());
    let all = s.revoked.lock().unwrap().clone();
    let list: Vec<String> = match query.strip_prefix("share_id=") {
        Some(id) => all.into_iter().filter(|r| r == id).collect(),
        None => all,
    };
    let body = json!({ "revoked": list }).to_string();
    (
        [
            ("content-type", "application/json"),
            ("cache-control", "public, max-age=60"),
        ],
        body,
    )
        .into_response()
}

async fn serve_jwks(State(s): State<Arc<Served>>) -> axum::response::Response {
    s.hits.fetch_add(1, Ordering::Relaxed);
    if s.down.load(Ordering::Relaxed) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let body = serde_json::to_string(&*s.jwks.lock().unwrap()).unwrap();
    let mut answer = ([("content-type", "application/json")], body).into_response();
    if let Some(cc) = *s.cache_control.lock().unwrap() {
        answer
            .headers_mut()
            .insert("cache-control", axum::http::HeaderValue::from_static(cc));
    }
    answer
}

async fn jwks_server(keys: &[&SigningKey]) -> (Arc<Served>, String) {
    let served = Arc::new(Served::default());
    *served.jwks.lock().unwrap() = Jwks {
        keys: keys.iter().map(|k| k.public_jwk()).collect(),
    };
    let app = Router::new()
        .route("/.well-known/jwks.json", axum::routing::get(serve_jwks))
        .route("/auth/share/revoked", axum::routing::get(serve_revoked))
        .with_state(served.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (served, url)
}

fn now() -> i64 {
    keygate_shared::domain::time::now()
}

fn claims(roles: &[&str]) -> AccessClaims {
    let t = now();
    AccessClaims {
        iss: ISS.into(),
        sub: "0b9f3c1e-5d2a-4e8f-9a61-2f7d3c4b5a69".into(),
        aud: "keygate".into(),
        exp: t + 600,
        iat: t - 5,
        nbf: Some(t - 5),
        jti: "jti-1".into(),
        client_id: "keygate".into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        scope: roles.join(" "),
        preferred_username: Some("ann".into()),
    }
}

fn event(name: &str, token: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events").join(name);
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("REPLACE_WITH_TOKEN", token);
    serde_json::from_str(&text).unwrap()
}

async fn start(url: &str, route_roles: Option<&str>) -> LambdaProcess {
    let mut env = vec![("KEYGATE_ISSUER", ISS), ("KEYGATE_JWKS_URL", url)];
    if let Some(r) = route_roles {
        env.push(("KEYGATE_ROUTE_ROLES", r));
    }
    LambdaProcess::start(&binary("authorizer"), &env).await
}

fn effect(answer: &Value) -> &str {
    answer["policyDocument"]["Statement"][0]["Effect"]
        .as_str()
        .unwrap_or("")
}

/// A token with an arbitrary header and a bogus signature: each header below must be refused
/// for what it says, before any signature check could matter.
fn raw_token(header: &Value, payload: &Value) -> String {
    format!(
        "{}.{}.{}",
        B64.encode(header.to_string()),
        B64.encode(payload.to_string()),
        B64.encode([1u8; 64])
    )
}

#[tokio::test]
async fn every_event_shape() {
    let key = SigningKey::generate(Alg::RS256).unwrap();
    let (_served, url) = jwks_server(&[&key]).await;
    let mut f = start(
        &url,
        Some(r#"{"GET /admin/{proxy+}": ["admin"], "GET /reports/daily": ["ops"], "*": []}"#),
    )
    .await;
    let admin = key.sign(&claims(&["admin", "ops"])).unwrap();
    let reader = key.sign(&claims(&["reader"])).unwrap();

    // HTTP API, payload 2.0: simple response and IAM policy in one answer.
    let a = f.invoke(event("authorizer-http-v2.json", &admin)).await.unwrap();
    assert_eq!(a["isAuthorized"], true);
    assert_eq!(effect(&a), "Allow");
    assert_eq!(
        a["context"],
        json!({"sub": "0b9f3c1e-5d2a-4e8f-9a61-2f7d3c4b5a69", "roles": "admin,ops", "scope": "admin ops", "client_id": "keygate", "username": "ann"})
    );
    // With route roles, the policy is for this route only.
    assert_eq!(
        a["policyDocument"]["Statement"][0]["Resource"],
        "arn:aws:execute-api:us-east-1:123456789012:abc123def4/$default/GET/admin/users"
    );
    assert_eq!(a["policyDocument"]["Statement"][0]["Action"], "execute-api:Invoke");
    let a = f.invoke(event("authorizer-http-v2.json", &reader)).await.unwrap();
    assert_eq!((a["isAuthorized"].as_bool(), effect(&a)), (Some(false), "Deny"));
    let a = f.invoke(event("authorizer-http-v2.json", "garbage")).await.unwrap();
    assert_eq!(a["isAuthorized"], false);

    // HTTP API payload 1.0, REST REQUEST and REST TOKEN: IAM policies; invalid tokens fail
    // the invocation with "Unauthorized".
    for name in [
        "authorizer-http-v1.json",
        "authorizer-rest-request.json",
        "authorizer-rest-token.json",
    ] {
        let a = f.invoke(event(name, &admin)).await.unwrap();
        assert_eq!(effect(&a), "Allow", "{name}: {a}");
        assert_eq!(a["principalId"], "0b9f3c1e-5d2a-4e8f-9a61-2f7d3c4b5a69");
        assert_eq!(a["context"]["roles"], "admin,ops");
        let a = f.invoke(event(name, &reader)).await.unwrap();
        assert_eq!(effect(&a), "Deny", "{name}");
        match f.invoke(event(name, "not.a.token")).await {
            Err(InvokeError::Function(e)) => assert_eq!(e["errorMessage"], "Unauthorized", "{name}"),
            other => panic!("{name}: expected Unauthorized, got {other:?}"),
        }
    }
    eprintln!("authorizer: init {:?}", f.init_duration());
}

fn resource(answer: &Value) -> &str {
    answer["policyDocument"]["Statement"][0]["Resource"]
        .as_str()
        .unwrap_or("")
}

/// Issue 13: `{"GET /admin/{proxy+}": ["admin"], "*": []}` applies to every event kind, each
/// matched as `docs/authorizer.md` says: HTTP APIs by `routeKey`, REST `REQUEST` by `httpMethod`
/// and the `resource` template, REST `TOKEN` by the `methodArn`'s concrete path.
#[tokio::test]
async fn route_roles_apply_to_every_event_kind() {
    let key = SigningKey::generate(Alg::ES256).unwrap();
    let (_served, url) = jwks_server(&[&key]).await;
    let mut f = start(&url, Some(r#"{"GET /admin/{proxy+}": ["admin"], "*": []}"#)).await;
    let admin = key.sign(&claims(&["admin"])).unwrap();
    let user = key.sign(&claims(&["user"])).unwrap();
    let rest_arn = "arn:aws:execute-api:us-east-1:123456789012:r3st4p1id/prod/GET";
    let with = |name: &str, token: &str, edit: &dyn Fn(&mut Value)| {
        let mut e = event(name, token);
        edit(&mut e);
        e
    };
    let token_for = |token: &str, path: &str| {
        with("authorizer-rest-token.json", token, &|e| {
            e["methodArn"] = json!(format!("{rest_arn}{path}"))
        })
    };

    // HTTP API payload 2.0 (simple response and policy), on `GET /admin/{proxy+}` and on an
    // `ANY /admin/{proxy+}` route the request reaches with GET.
    let any_route = |token: &str| {
        with("authorizer-http-v2.json", token, &|e| {
            e["routeKey"] = json!("ANY /admin/{proxy+}");
            e["requestContext"]["routeKey"] = json!("ANY /admin/{proxy+}");
        })
    };
    for (what, ev) in [
        ("v2", event("authorizer-http-v2.json", &user)),
        ("v2 ANY", any_route(&user)),
    ] {
        let a = f.invoke(ev).await.unwrap();
        assert_eq!(
            (a["isAuthorized"].as_bool(), effect(&a)),
            (Some(false), "Deny"),
            "{what}"
        );
    }
    for (what, ev) in [
        ("v2", event("authorizer-http-v2.json", &admin)),
        ("v2 ANY", any_route(&admin)),
    ] {
        let a = f.invoke(ev).await.unwrap();
        assert_eq!(
            (a["isAuthorized"].as_bool(), effect(&a)),
            (Some(true), "Allow"),
            "{what}"
        );
    }

    // Policies: HTTP API payload 1.0 (by its `resource`, with or without a `routeKey`), REST
    // REQUEST on the resource `/admin/{proxy+}` (path `/admin/users/alice`), REST TOKEN (only
    // the methodArn `GET /admin/users/alice`).
    let policy_events = |token: &str| {
        vec![
            ("v1", event("authorizer-http-v1.json", token)),
            (
                "v1 without routeKey",
                with("authorizer-http-v1.json", token, &|e| {
                    e.as_object_mut().unwrap().remove("routeKey");
                }),
            ),
            ("REST REQUEST", event("authorizer-rest-request-admin.json", token)),
            ("REST TOKEN", token_for(token, "/admin/users/alice")),
            ("REST TOKEN, one segment", token_for(token, "/admin/users")),
        ]
    };
    for (what, ev) in policy_events(&user) {
        let arn = ev["methodArn"].as_str().unwrap().to_owned();
        let a = f.invoke(ev).await.unwrap();
        assert_eq!(effect(&a), "Deny", "{what}: {a}");
        assert_eq!(resource(&a), arn, "{what}");
    }
    for (what, ev) in policy_events(&admin) {
        let arn = ev["methodArn"].as_str().unwrap().to_owned();
        let a = f.invoke(ev).await.unwrap();
        assert_eq!(effect(&a), "Allow", "{what}: {a}");
        // With route roles the policy names this method and path only: API Gateway's cached
        // policy cannot grant another route.
        assert_eq!(resource(&a), arn, "{what}");
        assert!(!resource(&a).contains('*'), "{what}");
    }

    // Routes outside the rule take `"*"` (`[]`): any valid token. `/administrator` is not
    // under `/admin/`, and the rule is for GET only.
    let open = vec![
        (
            "REST REQUEST /reports/daily",
            event("authorizer-rest-request.json", &user),
        ),
        ("REST TOKEN /reports/daily", event("authorizer-rest-token.json", &user)),
        ("REST TOKEN /administrator", token_for(&user, "/administrator/users")),
        ("REST TOKEN /admin", token_for(&user, "/admin")),
        (
            "REST REQUEST POST",
            with("authorizer-rest-request-admin.json", &user, &|e| {
                e["httpMethod"] = json!("POST");
                e["methodArn"] =
                    json!("arn:aws:execute-api:us-east-1:123456789012:r3st4p1id/prod/POST/admin/users/alice");
            }),
        ),
    ];
    for (what, ev) in open {
        let a = f.invoke(ev).await.unwrap();
        assert_eq!(effect(&a), "Allow", "{what}: {a}");
    }
    let a = f
        .invoke(with("authorizer-http-v2.json", &user, &|e| {
            e["routeKey"] = json!("GET /reports/{id}");
            e["routeArn"] = json!("arn:aws:execute-api:us-east-1:123456789012:abc123def4/$default/GET/reports/daily");
        }))
        .await
        .unwrap();
    assert_eq!(a["isAuthorized"], true);
    // An invalid token is still refused on an open route.
    match f.invoke(event("authorizer-rest-request.json", "not.a.token")).await {
        Err(InvokeError::Function(e)) => assert_eq!(e["errorMessage"], "Unauthorized"),
        other => panic!("expected Unauthorized, got {other:?}"),
    }
}

#[tokio::test]
async fn without_route_roles_one_policy_covers_the_whole_api() {
    let key = SigningKey::generate(Alg::ES256).unwrap();
    let (_served, url) = jwks_server(&[&key]).await;
    let mut f = start(&url, None).await;
    let t = key.sign(&claims(&[])).unwrap();
    let a = f.invoke(event("authorizer-rest-token.json", &t)).await.unwrap();
    assert_eq!(effect(&a), "Allow");
    assert_eq!(
        a["policyDocument"]["Statement"][0]["Resource"],
        "arn:aws:execute-api:us-east-1:123456789012:r3st4p1id/prod/*"
    );
}

#[tokio::test]
async fn forged_tokens_are_all_refused_and_the_function_survives() {
    let rsa = SigningKey::generate(Alg::RS256).unwrap();
    let ec = SigningKey::generate(Alg::ES256).unwrap();
    let (_served, url) = jwks_server(&[&rsa, &ec]).await;
    let mut f = start(&url, None).await;
    let good = rsa.sign(&claims(&["admin"])).unwrap();
    let parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let header = |alg: &str, kid: &str| json!({"alg": alg, "kid": kid, "typ": "at+jwt"});
    let payload: Value = serde_json::from_slice(&B64.decode(&parts[1]).unwrap()).unwrap();
    let kid = rsa.kid().to_owned();
    let n = rsa.public_jwk().n.unwrap();

    // HMAC "signed" with the RSA public key (the classic algorithm-confusion attack).
    let hs_input = format!("{}.{}", B64.encode(header("HS256", &kid).to_string()), parts[1]);
    let hmac_key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, n.as_bytes());
    let hs = format!(
        "{hs_input}.{}",
        B64.encode(aws_lc_rs::hmac::sign(&hmac_key, hs_input.as_bytes()).as_ref())
    );
    // ECDSA with r = s = 0 ("psychic signatures", CVE-2022-21449).
    let ec_input = format!("{}.{}", B64.encode(header("ES256", ec.kid()).to_string()), parts[1]);
    let psychic = format!("{ec_input}.{}", B64.encode([0u8; 64]));
    let with_claims = |f: &dyn Fn(&mut Value)| {
        let mut p = payload.clone();
        f(&mut p);
        let c: AccessClaims = serde_json::from_value(p).unwrap();
        rsa.sign(&c).unwrap()
    };
    let mut forged: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!("{}.{}.", B64.encode(header("none", &kid).to_string()), parts[1]),
        ),
        (
            "alg None",
            format!("{}.{}.", B64.encode(header("None", &kid).to_string()), parts[1]),
        ),
        (
            "alg NONE with signature",
            format!(
                "{}.{}.{}",
                B64.encode(header("NONE", &kid).to_string()),
                parts[1],
                parts[2]
            ),
        ),
        ("HS256 with the public key", hs),
        ("ECDSA r=s=0", psychic),
        (
            "kid injection",
            raw_token(&header("RS256", "../../../../dev/null"), &payload),
        ),
        ("kid sql", raw_token(&header("RS256", "x' UNION SELECT 'key"), &payload)),
        (
            "jku",
            raw_token(
                &json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "jku": "https://evil.example/jwks"}),
                &payload,
            ),
        ),
        (
            "x5u",
            raw_token(
                &json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "x5u": "https://evil.example/cert"}),
                &payload,
            ),
        ),
        (
            "embedded jwk",
            raw_token(
                &json!({"alg": "RS256", "typ": "at+jwt", "jwk": rsa.public_jwk()}),
                &payload,
            ),
        ),
        (
            "wrong typ",
            raw_token(&json!({"alg": "RS256", "kid": kid, "typ": "JWT"}), &payload),
        ),
        (
            "crit",
            raw_token(
                &json!({"alg": "RS256", "kid": kid, "typ": "at+jwt", "crit": ["exp"]}),
                &payload,
            ),
        ),
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                parts[0],
                B64.encode(json!({"sub": "root", "roles": ["admin"]}).to_string()),
                parts[2]
            ),
        ),
        ("bad base64", format!("{}.{}!!.{}", parts[0], parts[1], parts[2])),
        ("padded base64", format!("{}==.{}.{}", parts[0], parts[1], parts[2])),
        ("four parts", format!("{good}.x")),
        ("five parts", format!("{good}.x.y")),
        ("two parts", format!("{}.{}", parts[0], parts[1])),
        ("oversized", format!("{}.{}.{}", parts[0], "A".repeat(20_000), parts[2])),
        ("empty", String::new()),
        (
            "duplicate members",
            format!(
                "{}.{}.{}",
                B64.encode(format!(
                    r#"{{"alg":"RS256","kid":"{kid}","typ":"at+jwt","alg":"none"}}"#
                )),
                parts[1],
                parts[2]
            ),
        ),
        (
            "expired",
            with_claims(&|p| {
                p["exp"] = json!(now() - 120);
                p["iat"] = json!(now() - 700);
                p["nbf"] = json!(now() - 700)
            }),
        ),
        ("future nbf", with_claims(&|p| p["nbf"] = json!(now() + 600))),
        (
            "future iat",
            with_claims(&|p| {
                p["iat"] = json!(now() + 600);
                p["exp"] = json!(now() + 1000)
            }),
        ),
        (
            "too long a lifetime",
            with_claims(&|p| p["exp"] = json!(now() + 86_400)),
        ),
        ("wrong iss", with_claims(&|p| p["iss"] = json!("https://evil.example"))),
        ("wrong aud", with_claims(&|p| p["aud"] = json!("someone-else"))),
        (
            "refresh token",
            "kgr_00112233445566778899aabbccddeeff_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
        ),
        ("reset token", "kgp_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into()),
    ];
    for missing in ["sub", "exp", "iss", "aud", "iat", "jti", "client_id"] {
        let mut p = payload.clone();
        p.as_object_mut().unwrap().remove(missing);
        // Sign the incomplete claims with the real key: only the claim check can refuse it.
        let input = format!("{}.{}", parts[0], B64.encode(p.to_string()));
        let signed = resign(&rsa, &input);
        forged.push((missing, signed));
    }
    for (what, token) in &forged {
        match f.invoke(event("authorizer-rest-token.json", token)).await {
            Err(InvokeError::Function(e)) => assert_eq!(e["errorMessage"], "Unauthorized", "{what}"),
            other => panic!("{what}: expected Unauthorized, got {other:?}"),
        }
        let a = f.invoke(event("authorizer-http-v2.json", token)).await.unwrap();
        assert_eq!(a["isAuthorized"], false, "{what}");
    }
    // Still alive and still right.
    assert_eq!(
        effect(&f.invoke(event("authorizer-rest-token.json", &good)).await.unwrap()),
        "Allow"
    );
    let logs = f.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    assert!(!logs.contains(&good), "a token reached the log");
}

/// Signs `input` (header.payload) with the RSA key directly, so that claims `AccessClaims`
/// cannot even represent (a missing `sub`) carry a valid signature.
fn resign(key: &SigningKey, input: &str) -> String {
    let jwk: Value = serde_json::from_str(&key.to_jwk_json()).unwrap();
    let int = |name: &str| B64.decode(jwk[name].as_str().unwrap()).unwrap();
    let kp = aws_lc_rs::rsa::KeyPair::from_der(&rsa_der(&[
        int("n"),
        int("e"),
        int("d"),
        int("p"),
        int("q"),
        int("dp"),
        int("dq"),
        int("qi"),
    ]))
    .unwrap();
    let mut sig = vec![0u8; kp.public_modulus_len()];
    kp.sign(
        &aws_lc_rs::signature::RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", B64.encode(sig))
}

fn rsa_der(parts: &[Vec<u8>]) -> Vec<u8> {
    fn len(out: &mut Vec<u8>, n: usize) {
        if n < 128 {
            out.push(n as u8)
        } else {
            let b = n.to_be_bytes();
            let b: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
            out.push(0x80 | b.len() as u8);
            out.extend(b);
        }
    }
    let mut body = vec![0x02, 0x01, 0x00];
    for p in parts {
        let pad = p[0] & 0x80 != 0;
        body.push(0x02);
        len(&mut body, p.len() + pad as usize);
        if pad {
            body.push(0);
        }
        body.extend(p);
    }
    let mut out = vec![0x30];
    len(&mut out, body.len());
    out.extend(body);
    out
}

#[tokio::test]
async fn jwks_cache_refetch_and_outage() {
    let old = SigningKey::generate(Alg::RS256).unwrap();
    let new = SigningKey::generate(Alg::EdDSA).unwrap();
    let (served, url) = jwks_server(&[&old]).await;
    let mut f = start(&url, None).await;
    let t_old = old.sign(&claims(&[])).unwrap();
    for _ in 0..5 {
        assert_eq!(
            effect(&f.invoke(event("authorizer-rest-token.json", &t_old)).await.unwrap()),
            "Allow"
        );
    }
    assert_eq!(served.hits.load(Ordering::Relaxed), 1, "fetched once, then cached");
    // A new key appears (rotation): a token with an unknown kid triggers one refetch... but
    // not within a minute of the last fetch, so a flood of unknown kids cannot hammer the JWKS.
    served.jwks.lock().unwrap().keys.push(new.public_jwk());
    let t_new = new.sign(&claims(&[])).unwrap();
    assert!(f.invoke(event("authorizer-rest-token.json", &t_new)).await.is_err());
    assert_eq!(served.hits.load(Ordering::Relaxed), 1);
    // An outage with a warm cache keeps verifying.
    served.down.store(true, Ordering::Relaxed);
    assert_eq!(
        effect(&f.invoke(event("authorizer-rest-token.json", &t_old)).await.unwrap()),
        "Allow"
    );
    // A fresh container learns the new key on its first fetch.
    served.down.store(false, Ordering::Relaxed);
    let mut g = start(&url, None).await;
    assert_eq!(
        effect(&g.invoke(event("authorizer-rest-token.json", &t_new)).await.unwrap()),
        "Allow"
    );
    assert_eq!(
        effect(&g.invoke(event("authorizer-rest-token.json", &t_old)).await.unwrap()),
        "Allow"
    );
}

/// Issue 13: a key the JWKS stops publishing (a retired key) is refused by a warm authorizer
/// once the JWKS answer's `max-age` has passed; while the JWKS is down, the last key set serves.
#[tokio::test]
async fn a_key_dropped_from_the_jwks_is_refused_once_max_age_passes() {
    let a = SigningKey::generate(Alg::ES256).unwrap();
    let b = SigningKey::generate(Alg::EdDSA).unwrap();
    let (served, url) = jwks_server(&[&a, &b]).await;
    *served.cache_control.lock().unwrap() = Some("public, max-age=1");
    let mut f = start(&url, None).await;
    let (t_a, t_b) = (a.sign(&claims(&[])).unwrap(), b.sign(&claims(&[])).unwrap());
    let allowed = async |f: &mut LambdaProcess, t: &str| match f.invoke(event("authorizer-rest-token.json", t)).await {
        Ok(a) => effect(&a) == "Allow",
        Err(InvokeError::Function(e)) if e["errorMessage"] == "Unauthorized" => false,
        Err(e) => panic!("{e:?}"),
    };
    assert!(allowed(&mut f, &t_b).await);
    assert!(allowed(&mut f, &t_a).await);

    // B is retired: the JWKS drops it. Past the max-age (waiting for a state change, not
    // timing anything), the same warm process refuses B's token and still accepts A's.
    served.jwks.lock().unwrap().keys.retain(|k| k.kid != b.kid());
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!allowed(&mut f, &t_b).await, "a dropped key still verifies");
    assert!(allowed(&mut f, &t_a).await);

    // The JWKS goes down: past the max-age, the last key set still serves, with a warning.
    served.down.store(true, Ordering::Relaxed);
    let hits = served.hits.load(Ordering::Relaxed);
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(allowed(&mut f, &t_a).await);
    assert!(!allowed(&mut f, &t_b).await);
    assert!(served.hits.load(Ordering::Relaxed) > hits, "a fetch was attempted");
    let logs = f.logs();
    assert!(logs.contains("JWKS unreachable"), "{logs}");
    assert!(!logs.contains(&t_a), "a token reached the log");
}

#[tokio::test]
async fn bad_route_roles_stop_the_function_at_start() {
    let mut f = start("http://127.0.0.1:9/jwks.json", Some(r#"{"FETCH /x": ["admin"]}"#)).await;
    let status = f.wait_exit().await.expect("exits");
    assert!(!status.success());
    assert!(f.logs().contains("KEYGATE_ROUTE_ROLES"), "{}", f.logs());
}

fn unauthorized(what: &str, answer: Result<Value, InvokeError>) {
    match answer {
        Err(InvokeError::Function(e)) => assert_eq!(e["errorMessage"], "Unauthorized", "{what}"),
        other => panic!("{what}: expected Unauthorized, got {other:?}"),
    }
}

const WS_EVENT: &str = "authorizer-websocket-connect.json";

/// The `$connect` event with the token in the `access_token` query parameter instead of
/// `Sec-WebSocket-Protocol` (as a client that cannot set headers but controls the URL sends it).
fn ws_query(token: &str) -> Value {
    let mut e = event(WS_EVENT, "unused");
    for h in ["headers", "multiValueHeaders"] {
        e[h].as_object_mut().unwrap().remove("Sec-WebSocket-Protocol");
    }
    e["queryStringParameters"] = json!({ "access_token": token });
    e["multiValueQueryStringParameters"] = json!({ "access_token": [token] });
    e
}

/// The `$connect` event with `Sec-WebSocket-Protocol` set to `value` (in both header maps).
fn ws_protocol(name: &str, value: &str) -> Value {
    let mut e = event(WS_EVENT, "unused");
    for h in ["headers", "multiValueHeaders"] {
        e[h].as_object_mut().unwrap().remove("Sec-WebSocket-Protocol");
    }
    e["headers"][name] = json!(value);
    e["multiValueHeaders"][name] = json!([value]);
    e
}

/// WebSocket APIs: the `$connect` REQUEST authorizer reads the token from `access_token` or
/// from `Sec-WebSocket-Protocol: bearer, <token>` (then the context's `protocol` is `bearer`, for
/// the `$connect` integration to echo), answers a policy, and fails with `Unauthorized` otherwise.
#[tokio::test]
async fn websocket_connect() {
    let key = SigningKey::generate(Alg::ES256).unwrap();
    let (_served, url) = jwks_server(&[&key]).await;
    let mut f = start(
        &url,
        Some(r#"{"$connect": ["reader", "admin"], "GET /admin/{proxy+}": ["admin"], "*": []}"#),
    )
    .await;
    let reader = key.sign(&claims(&["reader"])).unwrap();
    let writer = key.sign(&claims(&["writer"])).unwrap();
    let arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/production/$connect";
    let ctx = |protocol: &str| json!({"sub": "0b9f3c1e-5d2a-4e8f-9a61-2f7d3c4b5a69", "roles": "reader", "scope": "reader", "client_id": "keygate", "username": "ann", "protocol": protocol});

    // The token in Sec-WebSocket-Protocol (the event as a browser sends it): Allow, for this
    // route only (there are route roles), and `bearer` to echo.
    let a = f.invoke(event(WS_EVENT, &reader)).await.unwrap();
    assert_eq!(effect(&a), "Allow", "{a}");
    assert_eq!(resource(&a), arn);
    assert_eq!(a["principalId"], "0b9f3c1e-5d2a-4e8f-9a61-2f7d3c4b5a69");
    assert_eq!(a["context"], ctx("bearer"));
    assert!(a.get("isAuthorized").is_none(), "{a}");
    // Header names in any case.
    for name in ["sec-websocket-protocol", "SEC-WEBSOCKET-PROTOCOL"] {
        let a = f.invoke(ws_protocol(name, &format!("bearer, {reader}"))).await.unwrap();
        assert_eq!(
            (effect(&a), &a["context"]["protocol"]),
            ("Allow", &json!("bearer")),
            "{name}"
        );
    }
    // The token in the query: Allow, nothing to echo.
    let a = f.invoke(ws_query(&reader)).await.unwrap();
    assert_eq!(effect(&a), "Allow", "{a}");
    assert_eq!(a["context"], ctx(""));
    // Both places with the same token: Allow (and `bearer` is echoed, as the client offered it).
    let mut both = event(WS_EVENT, &reader);
    both["queryStringParameters"] = json!({ "access_token": reader });
    let a = f.invoke(both).await.unwrap();
    assert_eq!((effect(&a), &a["context"]["protocol"]), ("Allow", &json!("bearer")));
    // A header naming only the client's own subprotocol, with the token in the query.
    let mut own = ws_query(&reader);
    own["headers"]["Sec-WebSocket-Protocol"] = json!("graphql-ws");
    let a = f.invoke(own).await.unwrap();
    assert_eq!((effect(&a), &a["context"]["protocol"]), ("Allow", &json!("")));

    // A valid token without a role `$connect` needs: Deny (API Gateway's 403).
    assert_eq!(effect(&f.invoke(event(WS_EVENT, &writer)).await.unwrap()), "Deny");
    assert_eq!(effect(&f.invoke(ws_query(&writer)).await.unwrap()), "Deny");

    // Refused: no token, a malformed protocol header, two tokens that disagree, and tokens
    // that are not valid access tokens (in either place).
    let mut disagree = event(WS_EVENT, &reader);
    disagree["queryStringParameters"] = json!({ "access_token": writer });
    let expired = {
        let mut c = claims(&["reader"]);
        c.exp = now() - 120;
        c.iat = now() - 700;
        c.nbf = Some(now() - 700);
        key.sign(&c).unwrap()
    };
    let parts: Vec<&str> = reader.split('.').collect();
    let alg_none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "kid": key.kid(), "typ": "at+jwt"}).to_string()),
        parts[1]
    );
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(json!({"sub": "root", "roles": ["admin"]}).to_string()),
        parts[2]
    );
    let other_key = SigningKey::generate(Alg::ES256).unwrap();
    let foreign = other_key.sign(&claims(&["reader"])).unwrap();
    let refresh = "kgr_00112233445566778899aabbccddeeff_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let mut refused: Vec<(String, Value)> = vec![
        ("no token".into(), ws_query("")),
        ("no token, no query".into(), {
            let mut e = ws_query("");
            e.as_object_mut().unwrap().remove("queryStringParameters");
            e
        }),
        (
            "bearer without a token".into(),
            ws_protocol("Sec-WebSocket-Protocol", "bearer"),
        ),
        (
            "token without bearer".into(),
            ws_protocol("Sec-WebSocket-Protocol", &reader),
        ),
        (
            "token before bearer".into(),
            ws_protocol("Sec-WebSocket-Protocol", &format!("{reader}, bearer")),
        ),
        (
            "extra subprotocol".into(),
            ws_protocol("Sec-WebSocket-Protocol", &format!("bearer, {reader}, chat")),
        ),
        ("tokens disagree".into(), disagree),
        ("Authorization header only".into(), {
            let mut e = ws_query("");
            e["headers"]["Authorization"] = json!(format!("Bearer {reader}"));
            e
        }),
    ];
    for (what, token) in [
        ("garbage", "not.a.token"),
        ("expired", expired.as_str()),
        ("alg none", alg_none.as_str()),
        ("tampered", tampered.as_str()),
        ("unknown key", foreign.as_str()),
        ("refresh token", refresh),
    ] {
        refused.push((format!("{what} in the header"), event(WS_EVENT, token)));
        refused.push((format!("{what} in the query"), ws_query(token)));
    }
    for (what, e) in refused {
        unauthorized(&what, f.invoke(e).await);
    }
    let logs = f.logs();
    assert!(!logs.contains("panicked"), "{logs}");
    for t in [&reader, &writer] {
        assert!(!logs.contains(t.as_str()), "a token reached the log");
    }

    // Without a `"$connect"` key, `"*"` decides `$connect`.
    let mut g = start(&url, Some(r#"{"GET /admin/{proxy+}": ["admin"], "*": ["member"]}"#)).await;
    let member = key.sign(&claims(&["member"])).unwrap();
    assert_eq!(effect(&g.invoke(ws_query(&member)).await.unwrap()), "Allow");
    assert_eq!(effect(&g.invoke(ws_query(&reader)).await.unwrap()), "Deny");

    // Without route roles, one policy covers every route of the stage.
    let mut h = start(&url, None).await;
    let a = h.invoke(event(WS_EVENT, &writer)).await.unwrap();
    assert_eq!(effect(&a), "Allow");
    assert_eq!(
        resource(&a),
        "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/production/*"
    );
    unauthorized("no route roles, no token", h.invoke(ws_query("")).await);
}

/// A share token for `resource`, signed like keygate's share links.
fn share_token(key: &SigningKey, id: &str, resource: &str, exp_in: i64) -> String {
    share_token_by(key, id, resource, exp_in, Some(&[]))
}

/// A share token made by an account with `roles` (`None`: a token without `shared_by_roles`,
/// as minted before the claim existed).
fn share_token_by(key: &SigningKey, id: &str, resource: &str, exp_in: i64, roles: Option<&[&str]>) -> String {
    let t = now();
    let mut claims = json!({"iss": ISS, "aud": "keygate", "sub": format!("share:{id}"), "jti": id, "resource": resource,
                        "shared_by": "0b9f3c1e-5d2a-4e8f-9a61-2f7d3c4b5a69", "scope": "share:read", "iat": t - 5, "exp": t + exp_in});
    if let Some(roles) = roles {
        claims["shared_by_roles"] = json!(roles);
    }
    key.sign_typed("share+jwt", &claims).unwrap()
}

/// The HTTP API 2.0 event for `method path?share=token`, without an `Authorization` header.
fn v2_share(token: &str, method: &str, path: &str) -> Value {
    let mut e = event("authorizer-http-v2.json", "unused");
    e["headers"].as_object_mut().unwrap().remove("authorization");
    e["identitySource"] = json!([]);
    e["rawPath"] = json!(path);
    e["rawQueryString"] = json!(format!("share={token}"));
    e["queryStringParameters"] = json!({ "share": token });
    e["requestContext"]["http"]["method"] = json!(method);
    e["requestContext"]["http"]["path"] = json!(path);
    e["routeKey"] = json!(format!("{method} /graphs/{{proxy+}}"));
    e
}

/// A REST `REQUEST` event for `GET path?share=token`.
fn rest_share(token: &str, path: &str) -> Value {
    let mut e = event("authorizer-rest-request.json", "unused");
    e["headers"].as_object_mut().unwrap().remove("Authorization");
    e["headers"].as_object_mut().unwrap().remove("authorization");
    e["multiValueHeaders"] = json!({});
    e["path"] = json!(path);
    e["httpMethod"] = json!("GET");
    e["queryStringParameters"] = json!({ "share": token });
    e
}

#[tokio::test]
async fn share_links_admit_reads_under_their_resource_until_revoked() {
    let key = SigningKey::generate(Alg::RS256).unwrap();
    let (served, url) = jwks_server(&[&key]).await;
    let revoked_id = "ffffffffffffffffffffffffffffffff";
    served.revoked.lock().unwrap().push(revoked_id.into());
    let revocations = url.replace("/.well-known/jwks.json", "/auth/share/revoked");
    let mut f = LambdaProcess::start(
        &binary("authorizer"),
        &[
            ("KEYGATE_ISSUER", ISS),
            ("KEYGATE_JWKS_URL", &url),
            ("KEYGATE_SHARE_REVOCATIONS_URL", &revocations),
        ],
    )
    .await;
    let id = "0123456789abcdef0123456789abcdef";
    let share = share_token(&key, id, "/graphs/42", 3600);

    let a = f.invoke(v2_share(&share, "GET", "/graphs/42/nodes")).await.unwrap();
    assert_eq!(a["isAuthorized"], true, "{a}");
    assert_eq!(a["context"]["share_id"], id);
    assert_eq!(a["context"]["sub"], format!("share:{id}"));
    assert_eq!(
        (a["context"]["scope"].as_str(), a["context"]["roles"].as_str()),
        (Some("share:read"), Some(""))
    );
    assert_eq!(a["context"]["resource"], "/graphs/42");
    assert!(
        resource(&a).ends_with("/GET/admin/users") || !resource(&a).ends_with("/*"),
        "only this request: {a}"
    );
    assert_eq!(
        f.invoke(v2_share(&share, "HEAD", "/graphs/42")).await.unwrap()["isAuthorized"],
        true
    );
    for (method, path, why) in [
        ("GET", "/graphs/420", "another resource"),
        ("GET", "/graphs/4", "a prefix that is not a segment"),
        ("GET", "/graphs/42/../43", "a dot segment"),
        ("GET", "/graphs/42%2F..%2F43", "an encoded separator"),
        ("POST", "/graphs/42", "not a read"),
        ("DELETE", "/graphs/42", "not a read"),
    ] {
        let a = f.invoke(v2_share(&share, method, path)).await.unwrap();
        assert_eq!(a["isAuthorized"], false, "{why}: {a}");
    }
    let revoked = share_token(&key, revoked_id, "/graphs/42", 3600);
    assert_eq!(
        f.invoke(v2_share(&revoked, "GET", "/graphs/42")).await.unwrap()["isAuthorized"],
        false,
        "revoked"
    );
    let expired = share_token(&key, "00000000000000000000000000000001", "/graphs/42", -60);
    assert_eq!(
        f.invoke(v2_share(&expired, "GET", "/graphs/42")).await.unwrap()["isAuthorized"],
        false,
        "expired"
    );
    let access = key.sign(&claims(&["admin"])).unwrap();
    assert_eq!(
        f.invoke(v2_share(&access, "GET", "/graphs/42")).await.unwrap()["isAuthorized"],
        false,
        "an access token is no share"
    );
    let other_key = SigningKey::generate(Alg::RS256).unwrap();
    let forged = share_token(&other_key, id, "/graphs/42", 3600);
    assert_eq!(
        f.invoke(v2_share(&forged, "GET", "/graphs/42")).await.unwrap()["isAuthorized"],
        false,
        "forged"
    );
    // And a share token never passes as an access token (the Bearer path).
    let bearer = event("authorizer-http-v2.json", &share);
    assert_eq!(f.invoke(bearer).await.unwrap()["isAuthorized"], false);

    // REST REQUEST: a policy for this request, or Unauthorized.
    let a = f.invoke(rest_share(&share, "/graphs/42")).await.unwrap();
    assert_eq!(effect(&a), "Allow", "{a}");
    assert_eq!(a["context"]["share_id"], id);
    unauthorized("REST, another path", f.invoke(rest_share(&share, "/graphs/43")).await);
    // No share token in the logs.
    assert!(!f.logs().contains(&share), "a share token was logged");
}

/// The HTTP API 2.0 event for `GET path?share=token` that API Gateway matched to `route_key`.
fn v2_share_at(token: &str, route_key: &str, path: &str) -> Value {
    let mut e = v2_share(token, "GET", path);
    e["routeKey"] = json!(route_key);
    e
}

#[tokio::test]
async fn share_links_pass_only_shareable_routes_their_creator_could_use() {
    // Issue 23: a link for /admin/users from any account passed where that account's own
    // Bearer token was denied. Now a route admits links only when marked shareable, and only
    // links whose creator's roles satisfy it.
    let key = SigningKey::generate(Alg::RS256).unwrap();
    let (_served, url) = jwks_server(&[&key]).await;
    let revocations = url.replace("/.well-known/jwks.json", "/auth/share/revoked");
    let policy = r#"{"GET /graphs/{proxy+}": {"roles": ["reader"], "share": true},
                     "GET /admin/{proxy+}": ["admin"], "GET /notes/{id}": {"roles": [], "share": false}, "*": []}"#;
    let mut f = LambdaProcess::start(
        &binary("authorizer"),
        &[
            ("KEYGATE_ISSUER", ISS),
            ("KEYGATE_JWKS_URL", &url),
            ("KEYGATE_SHARE_REVOCATIONS_URL", &revocations),
            ("KEYGATE_ROUTE_ROLES", policy),
        ],
    )
    .await;
    let id = "0123456789abcdef0123456789abcdef";
    let by_reader = share_token_by(&key, id, "/graphs/42", 3600, Some(&["reader"]));
    let a = f
        .invoke(v2_share_at(&by_reader, "GET /graphs/{proxy+}", "/graphs/42"))
        .await
        .unwrap();
    assert_eq!(a["isAuthorized"], true, "{a}");
    assert_eq!(a["context"]["shared_by"], "0b9f3c1e-5d2a-4e8f-9a61-2f7d3c4b5a69");
    assert_eq!(a["context"]["roles"], "", "the holder of a link has no roles");

    let cases = [
        (
            share_token_by(&key, id, "/graphs/42", 3600, Some(&["user"])),
            "GET /graphs/{proxy+}",
            "/graphs/42",
            "the creator lacks the route's role",
        ),
        (
            share_token_by(&key, id, "/graphs/42", 3600, None),
            "GET /graphs/{proxy+}",
            "/graphs/42",
            "no shared_by_roles: no roles",
        ),
        (
            share_token_by(&key, id, "/admin/users", 3600, Some(&["admin"])),
            "GET /admin/{proxy+}",
            "/admin/users",
            "a route not marked shareable",
        ),
        (
            share_token_by(&key, id, "/notes/1", 3600, Some(&["admin"])),
            "GET /notes/{id}",
            "/notes/1",
            "share: false",
        ),
        (
            share_token_by(&key, id, "/other", 3600, Some(&["admin"])),
            "GET /other",
            "/other",
            "the list form of * is not shareable",
        ),
    ];
    for (token, route_key, path, why) in cases {
        let a = f.invoke(v2_share_at(&token, route_key, path)).await.unwrap();
        assert_eq!(a["isAuthorized"], false, "{why}: {a}");
    }
    // REST TOKEN-less REQUEST events match by their resource template the same way.
    let mut rest = rest_share(
        &share_token_by(&key, id, "/admin/users", 3600, Some(&["admin"])),
        "/admin/users",
    );
    rest["resource"] = json!("/admin/{proxy+}");
    unauthorized("REST, not shareable", f.invoke(rest).await);
}

#[tokio::test]
async fn other_accounts_revocations_cannot_switch_a_valid_link_off() {
    // Issue 23: 29,300 revoked links pushed the whole list past 1 MiB, and the authorizer then
    // refused every link. It now asks about the one share it verifies.
    let key = SigningKey::generate(Alg::RS256).unwrap();
    let (served, url) = jwks_server(&[&key]).await;
    {
        let mut revoked = served.revoked.lock().unwrap();
        for i in 0..40_000u32 {
            revoked.push(format!("{i:032x}"));
        }
        assert!(serde_json::to_string(&*revoked).unwrap().len() > 1024 * 1024);
    }
    let revocations = url.replace("/.well-known/jwks.json", "/auth/share/revoked");
    let mut f = LambdaProcess::start(
        &binary("authorizer"),
        &[
            ("KEYGATE_ISSUER", ISS),
            ("KEYGATE_JWKS_URL", &url),
            ("KEYGATE_SHARE_REVOCATIONS_URL", &revocations),
        ],
    )
    .await;
    let live = "abcdefabcdefabcdefabcdefabcdefab";
    let a = f
        .invoke(v2_share(
            &share_token(&key, live, "/graphs/42", 3600),
            "GET",
            "/graphs/42",
        ))
        .await
        .unwrap();
    assert_eq!(a["isAuthorized"], true, "{a}");
    let dead = format!("{:032x}", 7);
    let a = f
        .invoke(v2_share(
            &share_token(&key, &dead, "/graphs/42", 3600),
            "GET",
            "/graphs/42",
        ))
        .await
        .unwrap();
    assert_eq!(a["isAuthorized"], false, "a revoked one is still refused: {a}");
    let queries = served.revoked_queries.lock().unwrap().clone();
    assert_eq!(queries, [format!("share_id={live}"), format!("share_id={dead}")]);
    assert!(
        !f.logs().contains("JWKS unavailable"),
        "the revocation list is not the JWKS"
    );
}
