//! keygate's tokens, checked by a third-party JWT library (`jsonwebtoken`) that sees nothing but
//! the published JWKS.

use http::Method;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use keygate_sdk::AccessClaims;
use keygate_shared::adapters::local_key::GeneratedKeySource;
use keygate_shared::adapters::memory::MemoryStore;
use keygate_shared::config::{Config, Host};
use keygate_shared::domain::keys::{Alg, SigningKey};
use keygate_shared::services::{Keygate, NewUser};
use keygate_tests::inproc::{request, send};
use serde_json::Value;
use std::sync::Arc;

async fn call(app: &Keygate, method: Method, path: &str, body: &str) -> Value {
    let req = request(method, path)
        .header("content-type", "application/json")
        .body(body);
    send(app, req).await.body
}

fn third_party_verify(token: &str, jwks_json: &Value, alg: Algorithm) -> jsonwebtoken::TokenData<Value> {
    let set: JwkSet = serde_json::from_value(jwks_json.clone()).unwrap();
    let header = decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"));
    assert_eq!(header.alg, alg);
    let jwk = set
        .find(header.kid.as_deref().unwrap())
        .expect("kid published in the JWKS");
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut v = Validation::new(alg);
    v.set_issuer(&["http://127.0.0.1:3000"]);
    v.set_audience(&["keygate"]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    decode::<Value>(token, &key, &v).unwrap()
}

#[tokio::test]
async fn tokens_of_every_algorithm_verify_with_the_published_jwks_alone() {
    for (alg, jalg) in [
        (Alg::RS256, Algorithm::RS256),
        (Alg::ES256, Algorithm::ES256),
        (Alg::EdDSA, Algorithm::EdDSA),
    ] {
        let config = Config::from_lookup(Host::Local, |_| None).unwrap();
        let keys = Arc::new(GeneratedKeySource::from_key(SigningKey::generate(alg).unwrap()));
        let app = Keygate::new(
            config,
            Arc::new(MemoryStore::new()),
            keys,
            Arc::new(keygate_shared::adapters::mail::LogMailer),
        );
        app.create_user(NewUser {
            username: "ann".into(),
            password: "tangerine kite orbit 42".into(),
            email: None,
            roles: vec!["reader".into(), "ops".into()],
        })
        .await
        .unwrap();
        let tokens = call(
            &app,
            Method::POST,
            "/auth/token",
            r#"{"grant_type":"password","username":"ann","password":"tangerine kite orbit 42"}"#,
        )
        .await;
        let jwks = call(&app, Method::GET, "/.well-known/jwks.json", "").await;
        for k in jwks["keys"].as_array().unwrap() {
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(k.get(private).is_none(), "{alg:?} publishes {private}");
            }
        }
        let data = third_party_verify(tokens["access_token"].as_str().unwrap(), &jwks, jalg);
        let claims: AccessClaims = serde_json::from_value(data.claims.clone()).unwrap();
        assert_eq!(claims.roles, vec!["ops", "reader"]);
        assert_eq!(claims.scope, "ops reader");
        assert_eq!(claims.preferred_username.as_deref(), Some("ann"));
        assert_eq!(claims.exp - claims.iat, 900);
        assert!(data.claims["jti"].is_string() && data.claims["client_id"].is_string());

        // A tampered payload fails the third-party check too.
        let t = tokens["access_token"].as_str().unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: Value = serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        payload["roles"] = serde_json::json!(["admin"]);
        let forged = format!("{}.{}.{}", parts[0], b64.encode(payload.to_string()), parts[2]);
        let set: JwkSet = serde_json::from_value(jwks.clone()).unwrap();
        let key = DecodingKey::from_jwk(&set.keys[0]).unwrap();
        let mut v = Validation::new(jalg);
        v.set_audience(&["keygate"]);
        assert!(decode::<Value>(&forged, &key, &v).is_err());
    }
}
