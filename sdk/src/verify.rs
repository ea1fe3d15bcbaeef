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
    #[error("the token is too large")]
    TooLarge,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token has duplicate JSON members")]
    DuplicateMember,
    #[error("the token's key id is unknown")]
    UnknownKid(String),
    #[error("the token's algorithm is not allowed")]
    BadAlgorithm,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token is not an access token (typ)")]
    BadType,
    #[error("the token has critical header parameters")]
    Crit,
    #[error("the token carries its own key references")]
    EmbeddedKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token's issuer is wrong")]
    WrongIssuer,
    #[error("the token's audience is wrong")]
    WrongAudience,
    #[error("the token lacks the {0} claim")]
    MissingClaim(&'static str),
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
