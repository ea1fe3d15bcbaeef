//! Access-token verification that trusts no library default: the algorithm comes from the
//! key, never from the token; every claim keygate relies on is required and checked.

use crate::{AccessClaims, Jwk, Jwks};
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::collections::HashMap;

/// Largest token accepted, in bytes, checked before any decoding.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// What a verifier checks besides the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    /// Required `iss`.
    pub issuer: String,
    /// Required `aud` (a string, or an array containing it).
    pub audience: String,
    /// Clock skew accepted for `exp`, `nbf` and `iat`, seconds.
    pub leeway: i64,
    /// Longest accepted `exp - iat`, seconds (the issuer's access-token lifetime).
    pub max_lifetime: i64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is too large.
    #[error("the token is too large")]
    TooLarge,
    /// The token is malformed.
    #[error("the token is malformed")]
    Malformed,
    /// The token has duplicate JSON members.
    #[error("the token has duplicate JSON members")]
    DuplicateMember,
    /// The token's key id is unknown.
    #[error("the token's key id is unknown")]
    UnknownKid(String),
    /// The token's algorithm is not allowed.
    #[error("the token's algorithm is not allowed")]
    BadAlgorithm,
    /// The token's signature is invalid.
    #[error("the token's signature is invalid")]
    BadSignature,
    /// The token is not an access token (typ).
    #[error("the token is not an access token (typ)")]
    BadType,
    /// The token has critical header parameters.
    #[error("the token has critical header parameters")]
    Crit,
    /// The token carries its own key references.
    #[error("the token carries its own key references")]
    EmbeddedKey,
    /// The token has expired.
    #[error("the token has expired")]
    Expired,
    /// The token is not valid yet.
    #[error("the token is not valid yet")]
    NotYetValid,
    /// The token was issued in the future.
    #[error("the token was issued in the future")]
    IssuedInFuture,
    /// The token's issuer is wrong.
    #[error("the token's issuer is wrong")]
    WrongIssuer,
    /// The token's audience is wrong.
    #[error("the token's audience is wrong")]
    WrongAudience,
    /// The token lacks the {0} claim.
    #[error("the token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// The token's lifetime is longer than allowed.
    #[error("the token's lifetime is longer than allowed")]
    LifetimeTooLong,
}

enum Key {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec(Vec<u8>),
    Ed(Vec<u8>),
}

struct KeyEntry {
    alg: &'static str,
    key: Key,
}

fn parse_key(jwk: &Jwk) -> Option<KeyEntry> {
    let dec = |s: &Option<String>| s.as_deref().and_then(|s| B64.decode(s).ok());
    if jwk.use_ != "sig" && !jwk.use_.is_empty() {
        return None;
    }
    match (jwk.kty.as_str(), jwk.alg.as_str(), jwk.crv.as_deref()) {
        ("RSA", "RS256", _) => {
            let n = dec(&jwk.n)?;
            let e = dec(&jwk.e)?;
            (n.len() >= 256).then_some(KeyEntry {
                alg: "RS256",
                key: Key::Rsa { n, e },
            })
        }
        ("EC", "ES256", Some("P-256")) => {
            let (x, y) = (dec(&jwk.x)?, dec(&jwk.y)?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            Some(KeyEntry {
                alg: "ES256",
                key: Key::Ec(point),
            })
        }
        ("OKP", "EdDSA", Some("Ed25519")) => {
            let x = dec(&jwk.x)?;
            (x.len() == 32).then_some(KeyEntry {
                alg: "EdDSA",
                key: Key::Ed(x),
            })
        }
        _ => None,
    }
}

/// Verifies keygate access tokens against a fixed key set.
pub struct Verifier {
    options: VerifyOptions,
    keys: HashMap<String, KeyEntry>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("options", &self.options)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A JSON object read with duplicate members detected.
struct Members(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Members, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn object(part: &str) -> Result<serde_json::Map<String, Value>, VerifyError> {
    if part.is_empty() || part.contains('=') {
        return Err(VerifyError::Malformed);
    }
    let bytes = B64.decode(part).map_err(|_| VerifyError::Malformed)?;
    let members: Members = serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)?;
    let mut map = serde_json::Map::new();
    for (k, v) in members.0 {
        if map.insert(k, v).is_some() {
            return Err(VerifyError::DuplicateMember);
        }
    }
    Ok(map)
}

fn int(claims: &serde_json::Map<String, Value>, name: &'static str) -> Result<Option<i64>, VerifyError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v.as_i64().map(Some).ok_or(VerifyError::Malformed),
    }
}

impl Verifier {
    /// A verifier for the keys of `jwks`. Keys of unsupported types or algorithms are skipped.
    pub fn new(options: VerifyOptions, jwks: &Jwks) -> Verifier {
        let keys = jwks
            .keys
            .iter()
            .filter_map(|k| Some((k.kid.clone(), parse_key(k)?)))
            .collect();
        Verifier { options, keys }
    }

    /// Whether the key set has this key id.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// The `kid` of a token's header, without verifying anything (to decide whether to
    /// refetch a key set). `None` for a malformed token.
    pub fn peek_kid(token: &str) -> Option<String> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let header = object(token.split('.').next()?).ok()?;
        header.get("kid")?.as_str().map(str::to_owned)
    }

    /// Verifies `token` at time `now` (seconds since the Unix epoch).
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::TooLarge);
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, s] = parts.as_slice() else {
            return Err(VerifyError::Malformed);
        };
        let header = object(h)?;
        let alg = header
            .get("alg")
            .and_then(Value::as_str)
            .ok_or(VerifyError::BadAlgorithm)?;
        if !matches!(alg, "RS256" | "ES256" | "EdDSA") {
            return Err(VerifyError::BadAlgorithm);
        }
        if header.contains_key("crit") {
            return Err(VerifyError::Crit);
        }
        if ["jwk", "jku", "x5u", "x5c"].iter().any(|k| header.contains_key(*k)) {
            return Err(VerifyError::EmbeddedKey);
        }
        let typ = header.get("typ").and_then(Value::as_str).ok_or(VerifyError::BadType)?;
        if !(typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")) {
            return Err(VerifyError::BadType);
        }
        let kid = header
            .get("kid")
            .and_then(Value::as_str)
            .ok_or(VerifyError::UnknownKid(String::new()))?;
        let entry = self
            .keys
            .get(kid)
            .ok_or_else(|| VerifyError::UnknownKid(kid.chars().take(64).collect()))?;
        if entry.alg != alg {
            return Err(VerifyError::BadAlgorithm);
        }
        if s.is_empty() || s.contains('=') {
            return Err(VerifyError::Malformed);
        }
        let sig = B64.decode(s).map_err(|_| VerifyError::Malformed)?;
        let signed = &token[..h.len() + 1 + p.len()];
        let ok = match &entry.key {
            Key::Rsa { n, e } => signature::RsaPublicKeyComponents {
                n: n.as_slice(),
                e: e.as_slice(),
            }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &sig)
            .is_ok(),
            Key::Ec(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed.as_bytes(), &sig)
                .is_ok(),
            Key::Ed(x) => UnparsedPublicKey::new(&signature::ED25519, x)
                .verify(signed.as_bytes(), &sig)
                .is_ok(),
        };
        if !ok {
            return Err(VerifyError::BadSignature);
        }
        let claims = object(p)?;
        let o = &self.options;
        for name in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
            if !claims.contains_key(name) {
                return Err(VerifyError::MissingClaim(name));
            }
        }
        if claims.get("iss").and_then(Value::as_str) != Some(o.issuer.as_str()) {
            return Err(VerifyError::WrongIssuer);
        }
        let aud_ok = match claims.get("aud") {
            Some(Value::String(a)) => a == &o.audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(o.audience.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(VerifyError::WrongAudience);
        }
        let exp = int(&claims, "exp")?.ok_or(VerifyError::MissingClaim("exp"))?;
        let iat = int(&claims, "iat")?.ok_or(VerifyError::MissingClaim("iat"))?;
        if now - o.leeway >= exp {
            return Err(VerifyError::Expired);
        }
        if let Some(nbf) = int(&claims, "nbf")?
            && nbf > now + o.leeway
        {
            return Err(VerifyError::NotYetValid);
        }
        if iat > now + o.leeway {
            return Err(VerifyError::IssuedInFuture);
        }
        if exp - iat > o.max_lifetime {
            return Err(VerifyError::LifetimeTooLong);
        }
        let mut claims = claims;
        if let Some(Value::Array(list)) = claims.get("aud") {
            let _ = list;
            claims.insert("aud".into(), Value::String(o.audience.clone()));
        }
        claims.entry("roles").or_insert_with(|| Value::Array(vec![]));
        claims.entry("scope").or_insert_with(|| Value::String(String::new()));
        serde_json::from_value(Value::Object(claims)).map_err(|_| VerifyError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair};

    const NOW: i64 = 1_800_000_000;

    fn options() -> VerifyOptions {
        VerifyOptions {
            issuer: "https://iss".into(),
            audience: "api".into(),
            leeway: 30,
            max_lifetime: 900,
        }
    }

    fn claims() -> Value {
        serde_json::json!({"iss": "https://iss", "sub": "u1", "aud": "api", "exp": NOW + 600, "iat": NOW - 10, "nbf": NOW - 10,
                           "jti": "j1", "client_id": "c", "roles": ["reader"], "scope": "reader"})
    }

    struct Ec(EcdsaKeyPair);

    impl Ec {
        fn new() -> Ec {
            Ec(EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
        }
        fn jwks(&self, kid: &str) -> Jwks {
            let p = self.0.public_key().as_ref();
            Jwks {
                keys: vec![Jwk {
                    kty: "EC".into(),
                    kid: kid.into(),
                    alg: "ES256".into(),
                    use_: "sig".into(),
                    n: None,
                    e: None,
                    crv: Some("P-256".into()),
                    x: Some(B64.encode(&p[1..33])),
                    y: Some(B64.encode(&p[33..65])),
                }],
            }
        }
        fn token_raw(&self, header: &str, payload: &str) -> String {
            let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
            let sig = self.0.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
            format!("{input}.{}", B64.encode(sig.as_ref()))
        }
        fn token(&self, header: Value, payload: Value) -> String {
            self.token_raw(&header.to_string(), &payload.to_string())
        }
    }

    fn header() -> Value {
        serde_json::json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"})
    }

    #[test]
    fn accepts_a_good_token() {
        let k = Ec::new();
        let v = Verifier::new(options(), &k.jwks("k1"));
        let c = v.verify(&k.token(header(), claims()), NOW).unwrap();
        assert_eq!((c.sub.as_str(), c.roles.clone()), ("u1", vec!["reader".to_owned()]));
        assert_eq!(Verifier::peek_kid(&k.token(header(), claims())).as_deref(), Some("k1"));
    }

    #[test]
    fn refuses_forgeries_and_bad_claims() {
        let k = Ec::new();
        let v = Verifier::new(options(), &k.jwks("k1"));
        let good = k.token(header(), claims());
        let parts: Vec<&str> = good.split('.').collect();
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            k.token(header(), c)
        };
        let head = |f: &dyn Fn(&mut Value)| {
            let mut h = header();
            f(&mut h);
            k.token(h, claims())
        };
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","kid":"k1","typ":"at+jwt"}"#),
            parts[1]
        );
        let none_caps = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"NoNe","kid":"k1","typ":"at+jwt"}"#),
            parts[1]
        );
        let hs = format!(
            "{}.{}.{}",
            B64.encode(r#"{"alg":"HS256","kid":"k1","typ":"at+jwt"}"#),
            parts[1],
            parts[2]
        );
        let zero_sig = format!("{}.{}.{}", parts[0], parts[1], B64.encode([0u8; 64]));
        let cases: Vec<(String, VerifyError)> = vec![
            (none, VerifyError::BadAlgorithm),
            (none_caps, VerifyError::BadAlgorithm),
            (hs, VerifyError::BadAlgorithm),
            (zero_sig, VerifyError::BadSignature),
            (format!("{good}.x"), VerifyError::Malformed),
            (format!("{good}.x.y"), VerifyError::Malformed),
            (
                format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
                VerifyError::Malformed,
            ),
            (
                format!("{}.{}!.{}", parts[0], parts[1], parts[2]),
                VerifyError::BadSignature,
            ),
            ("x".repeat(MAX_TOKEN_BYTES + 1), VerifyError::TooLarge),
            (
                head(&|h| h["kid"] = "../../etc/passwd".into()),
                VerifyError::UnknownKid("../../etc/passwd".into()),
            ),
            (head(&|h| h["typ"] = "JWT".into()), VerifyError::BadType),
            (head(&|h| h["crit"] = serde_json::json!(["exp"])), VerifyError::Crit),
            (
                head(&|h| h["jku"] = "https://evil/jwks".into()),
                VerifyError::EmbeddedKey,
            ),
            (head(&|h| h["alg"] = "RS256".into()), VerifyError::BadAlgorithm),
            (with(&|c| c["exp"] = (NOW - 31).into()), VerifyError::Expired),
            (with(&|c| c["nbf"] = (NOW + 31).into()), VerifyError::NotYetValid),
            (with(&|c| c["iat"] = (NOW + 31).into()), VerifyError::IssuedInFuture),
            (with(&|c| c["iss"] = "https://other".into()), VerifyError::WrongIssuer),
            (with(&|c| c["aud"] = "other".into()), VerifyError::WrongAudience),
            (with(&|c| c["exp"] = (NOW + 2000).into()), VerifyError::LifetimeTooLong),
            (
                with(&|c| drop(c.as_object_mut().unwrap().remove("sub"))),
                VerifyError::MissingClaim("sub"),
            ),
            (
                with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))),
                VerifyError::MissingClaim("exp"),
            ),
            (
                k.token_raw(
                    r#"{"alg":"ES256","kid":"k1","typ":"at+jwt","kid":"k1"}"#,
                    &claims().to_string(),
                ),
                VerifyError::DuplicateMember,
            ),
            (
                k.token_raw(&header().to_string(), r#"{"sub":"a","sub":"b"}"#),
                VerifyError::DuplicateMember,
            ),
        ];
        for (i, (token, expected)) in cases.into_iter().enumerate() {
            assert_eq!(v.verify(&token, NOW), Err(expected.clone()), "case {i}");
        }
        // Leeway: 29 s past exp still passes.
        assert!(v.verify(&with(&|c| c["exp"] = (NOW - 29).into()), NOW).is_ok());
        // A key of another type under the same kid is never used for ES256.
        let ed = Ed25519KeyPair::generate().unwrap();
        let mut jwks = k.jwks("k1");
        jwks.keys[0] = Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            alg: "EdDSA".into(),
            x: Some(B64.encode(ed.public_key().as_ref())),
            y: None,
            ..jwks.keys[0].clone()
        };
        assert_eq!(
            Verifier::new(options(), &jwks).verify(&good, NOW),
            Err(VerifyError::BadAlgorithm)
        );
    }
}
