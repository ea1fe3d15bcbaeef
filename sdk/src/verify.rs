//! Access-token verification that trusts no library default: keygate's checks (size, duplicate
//! members, header parameters, `typ`, the algorithm pinned by the key) run before the signature
//! is checked by jsonwebtoken's aws-lc-rs backend, and every claim keygate relies on is required
//! and checked after it.

use crate::{AccessClaims, Jwk, Jwks};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER as AWS_LC;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize as _;
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

/// A key of the set: the only algorithm it may verify, and the key as jsonwebtoken reads it.
struct KeyEntry {
    alg: Algorithm,
    key: DecodingKey,
}

fn parse_key(jwk: &Jwk) -> Option<KeyEntry> {
    let dec = |s: &Option<String>| s.as_deref().and_then(|s| B64.decode(s).ok());
    if jwk.use_ != "sig" && !jwk.use_.is_empty() {
        return None;
    }
    let (alg, key) = match (jwk.kty.as_str(), jwk.alg.as_str(), jwk.crv.as_deref()) {
        ("RSA", "RS256", _) => {
            let n = dec(&jwk.n)?;
            let e = dec(&jwk.e)?;
            if n.len() < 256 {
                return None;
            }
            (Algorithm::RS256, DecodingKey::from_rsa_raw_components(&n, &e))
        }
        ("EC", "ES256", Some("P-256")) => {
            let (x, y) = (dec(&jwk.x)?, dec(&jwk.y)?);
            if x.len() != 32 || y.len() != 32 {
                return None;
            }
            let mut point = vec![0x04];
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            // The uncompressed SEC1 point, as `DecodingKey::from_ec_components` builds it.
            (Algorithm::ES256, DecodingKey::from_ec_der(&point))
        }
        ("OKP", "EdDSA", Some("Ed25519")) => {
            let x = dec(&jwk.x)?;
            if x.len() != 32 {
                return None;
            }
            (Algorithm::EdDSA, DecodingKey::from_ed_der(&x))
        }
        _ => return None,
    };
    Some(KeyEntry { alg, key })
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

/// A token part's JSON: strict base64url (no padding), a JSON object without duplicate members
/// (checked on the names alone, borrowed from the input).
/// The first claim of `claims` (name, present) that is missing, as the error.
fn require(claims: &[(&'static str, bool)]) -> Result<(), VerifyError> {
    match claims.iter().find(|(_, present)| !present) {
        Some((name, _)) => Err(VerifyError::MissingClaim(name)),
        None => Ok(()),
    }
}

impl VerifyOptions {
    /// The time rules every token kind shares, with the leeway: not expired, not before `nbf`,
    /// not issued in the future, and living no longer than `max_lifetime` (`exp - iat`). The
    /// order is the errors' order.
    fn check_times(
        &self,
        now: i64,
        exp: i64,
        iat: i64,
        nbf: Option<i64>,
        max_lifetime: i64,
    ) -> Result<(), VerifyError> {
        if now - self.leeway >= exp {
            return Err(VerifyError::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > now + self.leeway) {
            return Err(VerifyError::NotYetValid);
        }
        if iat > now + self.leeway {
            return Err(VerifyError::IssuedInFuture);
        }
        if exp - iat > max_lifetime {
            return Err(VerifyError::LifetimeTooLong);
        }
        Ok(())
    }
}

fn decoded(part: &str) -> Result<Vec<u8>, VerifyError> {
    if part.is_empty() || part.contains('=') {
        return Err(VerifyError::Malformed);
    }
    let bytes = B64.decode(part).map_err(|_| VerifyError::Malformed)?;
    let names: MemberNames = serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)?;
    let mut names = names.0;
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(VerifyError::DuplicateMember);
    }
    Ok(bytes)
}

/// `Some(())` for a member that is there, whatever its value (`null` included).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| Some(()))
}

/// The header parameters keygate reads or refuses; every other member is skipped.
#[derive(serde::Deserialize)]
struct RawHeader {
    alg: Option<Value>,
    typ: Option<Value>,
    kid: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    crit: Option<()>,
    #[serde(default, deserialize_with = "present")]
    jwk: Option<()>,
    #[serde(default, deserialize_with = "present")]
    jku: Option<()>,
    #[serde(default, deserialize_with = "present")]
    x5u: Option<()>,
    #[serde(default, deserialize_with = "present")]
    x5c: Option<()>,
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
        let payload = self.signed_payload(token, TokenKind::Access)?;
        self.claims(payload, now)
    }

    /// Verifies a share-link token (`typ` `share+jwt`, contract section 2) at time `now`: the
    /// same header, key and signature rules as access tokens, then its own claims, a lifetime
    /// of at most `max_lifetime` seconds (`KEYGATE_SHARE_MAX_TTL`). It is never an access
    /// token, nor is an access token ever a share token: the `typ` tells them apart before
    /// the signature is checked.
    pub fn verify_share(&self, token: &str, now: i64, max_lifetime: i64) -> Result<ShareClaims, VerifyError> {
        let payload = self.signed_payload(token, TokenKind::Share)?;
        self.share_claims(payload, now, max_lifetime)
    }

    /// Verifies a device cookie (`typ` `device+jwt`, contract section 12) at time `now`: keygate's
    /// own name for one browser of one account, which only keygate reads. The same header, key
    /// and signature rules as access tokens, then its claims (`iss`, `sub`, `device_id`, `iat`,
    /// `exp`; a lifetime of at most `max_lifetime` seconds). It carries no `aud`, so verifiers
    /// that skip `typ` refuse it too; and the `typ` keeps it from ever being an access token.
    pub fn verify_device(&self, token: &str, now: i64, max_lifetime: i64) -> Result<DeviceClaims, VerifyError> {
        let payload = self.signed_payload(token, TokenKind::Device)?;
        let bytes = decoded(payload)?;
        let c: RawDeviceClaims = serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)?;
        let (Some(iss), Some(sub), Some(device_id), Some(iat), Some(exp)) = (c.iss, c.sub, c.device_id, c.iat, c.exp)
        else {
            return Err(VerifyError::MissingClaim("iss, sub, device_id, iat or exp"));
        };
        let o = &self.options;
        if iss != o.issuer {
            return Err(VerifyError::WrongIssuer);
        }
        o.check_times(now, exp, iat, None, max_lifetime)?;
        Ok(DeviceClaims {
            sub,
            device_id,
            iat,
            exp,
        })
    }

    /// The payload (base64url) of a token of `kind` whose header and signature check out.
    fn signed_payload<'t>(&self, token: &'t str, kind: TokenKind) -> Result<&'t str, VerifyError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(VerifyError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(VerifyError::Malformed);
        };
        let header = decoded(h)?;
        let header: RawHeader = serde_json::from_slice(&header).map_err(|_| VerifyError::Malformed)?;
        let alg = match header.alg.as_ref().and_then(Value::as_str) {
            Some("RS256") => Algorithm::RS256,
            Some("ES256") => Algorithm::ES256,
            Some("EdDSA") => Algorithm::EdDSA,
            _ => return Err(VerifyError::BadAlgorithm),
        };
        if header.crit.is_some() {
            return Err(VerifyError::Crit);
        }
        if header.jwk.is_some() || header.jku.is_some() || header.x5u.is_some() || header.x5c.is_some() {
            return Err(VerifyError::EmbeddedKey);
        }
        let typ = header
            .typ
            .as_ref()
            .and_then(Value::as_str)
            .ok_or(VerifyError::BadType)?;
        if !kind.accepts(typ) {
            return Err(VerifyError::BadType);
        }
        let kid = header
            .kid
            .as_ref()
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
        // The aws-lc-rs backend named explicitly rather than jsonwebtoken's process-wide
        // default, which an application embedding this crate may set to something else.
        let ok = (AWS_LC.verifier_factory)(&entry.alg, &entry.key)
            .map_err(|_| VerifyError::BadAlgorithm)?
            .verify(signed.as_bytes(), &sig)
            .is_ok();
        if !ok {
            return Err(VerifyError::BadSignature);
        }
        Ok(p)
    }

    /// A share token's claims, checked: all present and well-typed, issuer, audience, times,
    /// `sub` `share:<jti>`, `scope` `share:read`, a valid resource path.
    fn share_claims(&self, payload: &str, now: i64, max_lifetime: i64) -> Result<ShareClaims, VerifyError> {
        let bytes = decoded(payload)?;
        let c: RawShareClaims = serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)?;
        let o = &self.options;
        require(&[
            ("iss", c.iss.is_some()),
            ("sub", c.sub.is_some()),
            ("aud", c.aud.is_some()),
            ("exp", c.exp.is_some()),
            ("iat", c.iat.is_some()),
            ("jti", c.jti.is_some()),
            ("resource", c.resource.is_some()),
            ("shared_by", c.shared_by.is_some()),
            ("scope", c.scope.is_some()),
        ])?;
        if c.iss.as_deref() != Some(o.issuer.as_str()) {
            return Err(VerifyError::WrongIssuer);
        }
        if c.aud.as_deref() != Some(o.audience.as_str()) {
            return Err(VerifyError::WrongAudience);
        }
        let (exp, iat) = (c.exp.unwrap_or_default(), c.iat.unwrap_or_default());
        o.check_times(now, exp, iat, None, max_lifetime)?;
        let (Some(jti), Some(sub), Some(resource), Some(shared_by), Some(scope)) =
            (c.jti, c.sub, c.resource, c.shared_by, c.scope)
        else {
            return Err(VerifyError::Malformed);
        };
        let id_ok = jti.len() == 32 && jti.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !id_ok || sub != format!("share:{jti}") || scope != "share:read" {
            return Err(VerifyError::Malformed);
        }
        let resource = crate::share::ResourcePath::parse(&resource).map_err(|_| VerifyError::Malformed)?;
        Ok(ShareClaims {
            share_id: jti,
            resource,
            shared_by,
            shared_by_roles: c.shared_by_roles.unwrap_or_default(),
            iat,
            exp,
        })
    }

    /// The payload's claims, checked: every claim keygate relies on present and well-typed,
    /// issuer, audience and times. Two passes over the decoded JSON: one for duplicate members
    /// (keys only, borrowed), one straight into the claims keygate reads. Building a map of
    /// every member first cost about a fifth of a whole RS256 verification in allocations.
    fn claims(&self, payload: &str, now: i64) -> Result<AccessClaims, VerifyError> {
        let bytes = decoded(payload)?;
        let c: RawClaims = serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)?;
        let o = &self.options;
        require(&[
            ("iss", c.iss.is_some()),
            ("sub", c.sub.is_some()),
            ("aud", c.aud.is_some()),
            ("exp", c.exp.is_some()),
            ("iat", c.iat.is_some()),
            ("jti", c.jti.is_some()),
            ("client_id", c.client_id.is_some()),
        ])?;
        if c.iss.as_ref().and_then(Value::as_str) != Some(o.issuer.as_str()) {
            return Err(VerifyError::WrongIssuer);
        }
        let aud_ok = match &c.aud {
            Some(Value::String(a)) => a == &o.audience,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(o.audience.as_str())),
            _ => false,
        };
        if !aud_ok {
            return Err(VerifyError::WrongAudience);
        }
        let int = |v: &Option<Value>| match v {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or(VerifyError::Malformed),
        };
        let exp = int(&c.exp)?.ok_or(VerifyError::MissingClaim("exp"))?;
        let iat = int(&c.iat)?.ok_or(VerifyError::MissingClaim("iat"))?;
        let nbf = int(&c.nbf)?;
        o.check_times(now, exp, iat, nbf, o.max_lifetime)?;
        let string = |v: Option<Value>| match v {
            Some(Value::String(s)) => Ok(s),
            _ => Err(VerifyError::Malformed),
        };
        let roles = match c.roles {
            None => Vec::new(),
            Some(Value::Array(list)) => list.into_iter().map(|r| string(Some(r))).collect::<Result<_, _>>()?,
            Some(_) => return Err(VerifyError::Malformed),
        };
        Ok(AccessClaims {
            iss: o.issuer.clone(),
            sub: string(c.sub)?,
            aud: o.audience.clone(),
            exp,
            iat,
            nbf,
            jti: string(c.jti)?,
            client_id: string(c.client_id)?,
            roles,
            scope: match c.scope {
                None => String::new(),
                v => string(v)?,
            },
            preferred_username: match c.preferred_username {
                None | Some(Value::Null) => None,
                v => Some(string(v)?),
            },
        })
    }
}

/// The member names of a JSON object, borrowed from the input where no escape forces a copy
/// (for the duplicate check).
struct MemberNames<'a>(Vec<std::borrow::Cow<'a, str>>);

impl<'de> serde::Deserialize<'de> for MemberNames<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<MemberNames<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MemberNames<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MemberNames<'de>, A::Error> {
                let mut out = Vec::with_capacity(16);
                while let Some(k) = map.next_key::<BorrowedName<'de>>()? {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    out.push(k.0);
                }
                Ok(MemberNames(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// A member name, borrowed when the JSON has no escape in it.
struct BorrowedName<'a>(std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for BorrowedName<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<BorrowedName<'de>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = BorrowedName<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<BorrowedName<'de>, E> {
                Ok(BorrowedName(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<BorrowedName<'de>, E> {
                Ok(BorrowedName(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<BorrowedName<'de>, E> {
                Ok(BorrowedName(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// Which kind of signed token a verification expects, by its `typ` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    /// `at+jwt` (RFC 9068), also as `application/at+jwt`.
    Access,
    /// `share+jwt`: a share link (contract section 2).
    Share,
    /// `device+jwt`: a device cookie (contract section 12).
    Device,
}

impl TokenKind {
    fn accepts(self, typ: &str) -> bool {
        let typ = typ.strip_prefix("application/").unwrap_or(typ);
        match self {
            TokenKind::Access => typ.eq_ignore_ascii_case("at+jwt"),
            TokenKind::Share => typ.eq_ignore_ascii_case("share+jwt"),
            TokenKind::Device => typ.eq_ignore_ascii_case("device+jwt"),
        }
    }
}

/// A verified share-link token: what it shares, made by whom, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareClaims {
    /// The share's id (`jti`), which revocation lists name.
    pub share_id: String,
    /// The shared resource: requests for it or below it, segment by segment
    /// ([`ResourcePath::covers`]).
    pub resource: crate::share::ResourcePath,
    /// The account that made the share.
    pub shared_by: String,
    /// The creator's roles when the share was made (`shared_by_roles`): a share admits a route
    /// only if these satisfy it, so a link grants nothing its creator lacked. Empty for a token
    /// made before the claim existed.
    pub shared_by_roles: Vec<String>,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

/// A verified device cookie: which account it names (`sub`, the account's id) and the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceClaims {
    /// The account's stable id.
    pub sub: String,
    /// The device's random id.
    pub device_id: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
}

/// A device cookie's claims as found.
#[derive(serde::Deserialize)]
struct RawDeviceClaims {
    iss: Option<String>,
    sub: Option<String>,
    device_id: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
}

/// A share token's claims as found.
#[derive(serde::Deserialize)]
struct RawShareClaims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<String>,
    exp: Option<i64>,
    iat: Option<i64>,
    jti: Option<String>,
    resource: Option<String>,
    shared_by: Option<String>,
    shared_by_roles: Option<Vec<String>>,
    scope: Option<String>,
}

/// The claims keygate reads, as found (types checked after the presence checks, in the order
/// the contract gives them); every other member is skipped.
#[derive(serde::Deserialize)]
struct RawClaims {
    iss: Option<Value>,
    sub: Option<Value>,
    aud: Option<Value>,
    exp: Option<Value>,
    iat: Option<Value>,
    nbf: Option<Value>,
    jti: Option<Value>,
    client_id: Option<Value>,
    roles: Option<Value>,
    scope: Option<Value>,
    preferred_username: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};

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

    /// A token signed by aws-lc-rs directly (not by keygate's signer) for `alg`, and its JWKS.
    fn signed_by_aws_lc(alg: &str) -> (String, Jwks) {
        use aws_lc_rs::rsa::KeySize;
        use aws_lc_rs::signature::RsaKeyPair;
        let header = serde_json::json!({"alg": alg, "kid": "k", "typ": "at+jwt"});
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims().to_string())
        );
        let jwk = |kty: &str, crv: Option<&str>| Jwk {
            kty: kty.into(),
            kid: "k".into(),
            alg: alg.into(),
            use_: "sig".into(),
            n: None,
            e: None,
            crv: crv.map(Into::into),
            x: None,
            y: None,
        };
        let (sig, jwk) = match alg {
            "RS256" => {
                let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
                let mut sig = vec![0; kp.public_modulus_len()];
                kp.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .unwrap();
                let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(kp.public_key());
                let jwk = Jwk {
                    n: Some(B64.encode(&public.n)),
                    e: Some(B64.encode(&public.e)),
                    ..jwk("RSA", None)
                };
                (sig, jwk)
            }
            "EdDSA" => {
                let kp = Ed25519KeyPair::generate().unwrap();
                let sig = kp.sign(input.as_bytes()).as_ref().to_vec();
                let x = Some(B64.encode(kp.public_key().as_ref()));
                (
                    sig,
                    Jwk {
                        x,
                        ..jwk("OKP", Some("Ed25519"))
                    },
                )
            }
            _ => {
                let k = Ec::new();
                let sig =
                    k.0.sign(&SystemRandom::new(), input.as_bytes())
                        .unwrap()
                        .as_ref()
                        .to_vec();
                (sig, k.jwks("k").keys.remove(0))
            }
        };
        (format!("{input}.{}", B64.encode(sig)), Jwks { keys: vec![jwk] })
    }

    #[test]
    fn every_algorithm_verifies_and_a_flipped_bit_does_not() {
        for alg in ["RS256", "ES256", "EdDSA"] {
            let (token, jwks) = signed_by_aws_lc(alg);
            let v = Verifier::new(options(), &jwks);
            assert_eq!(v.verify(&token, NOW).map(|c| c.sub), Ok("u1".to_owned()), "{alg}");
            let (input, sig_b64) = token.rsplit_once('.').unwrap();
            let mut sig = B64.decode(sig_b64).unwrap();
            sig[7] ^= 1;
            let flipped = format!("{input}.{}", B64.encode(&sig));
            assert_eq!(v.verify(&flipped, NOW), Err(VerifyError::BadSignature), "{alg}");
            // A claim changed after signing.
            let h = input.split_once('.').unwrap().0;
            let mut c = claims();
            c["roles"] = serde_json::json!(["admin"]);
            let forged = format!("{h}.{}.{sig_b64}", B64.encode(c.to_string()));
            assert_eq!(v.verify(&forged, NOW), Err(VerifyError::BadSignature), "{alg}");
        }
    }

    #[test]
    fn an_hmac_token_keyed_with_the_public_key_is_refused() {
        // Algorithm confusion (RFC 8725 section 2.1): HS256 with the RSA public key as secret.
        let (token, jwks) = signed_by_aws_lc("RS256");
        let v = Verifier::new(options(), &jwks);
        let (_, payload) = token.split_once('.').unwrap();
        let payload = payload.split_once('.').unwrap().0;
        let input = format!(
            "{}.{payload}",
            B64.encode(r#"{"alg":"HS256","kid":"k","typ":"at+jwt"}"#)
        );
        let secret = jwks.keys[0].n.clone().unwrap();
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes()),
            input.as_bytes(),
        );
        let forged = format!("{input}.{}", B64.encode(tag.as_ref()));
        assert_eq!(v.verify(&forged, NOW), Err(VerifyError::BadAlgorithm));
    }

    fn header() -> Value {
        serde_json::json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"})
    }

    fn share_claims() -> Value {
        let id = "0123456789abcdef0123456789abcdef";
        serde_json::json!({"iss": "https://iss", "aud": "api", "sub": format!("share:{id}"), "jti": id,
                           "resource": "/graphs/42", "shared_by": "u1", "shared_by_roles": ["reader"],
                           "scope": "share:read", "iat": NOW - 10, "exp": NOW + 3600})
    }

    #[test]
    fn share_tokens_and_access_tokens_never_pass_for_each_other() {
        let k = Ec::new();
        let v = Verifier::new(options(), &k.jwks("k1"));
        let share_header = serde_json::json!({"alg": "ES256", "kid": "k1", "typ": "share+jwt"});
        let share = k.token(share_header.clone(), share_claims());
        let c = v.verify_share(&share, NOW, 86_400).unwrap();
        assert_eq!(
            (c.share_id.as_str(), c.resource.as_str(), c.shared_by.as_str()),
            ("0123456789abcdef0123456789abcdef", "/graphs/42", "u1")
        );
        assert_eq!(c.shared_by_roles, ["reader"]);
        let mut without = share_claims();
        without.as_object_mut().unwrap().remove("shared_by_roles");
        let old = v
            .verify_share(&k.token(share_header.clone(), without), NOW, 86_400)
            .unwrap();
        assert!(
            old.shared_by_roles.is_empty(),
            "a token from before the claim has no roles"
        );
        assert!(c.resource.covers("/graphs/42/nodes") && !c.resource.covers("/graphs/420"));
        assert_eq!(
            v.verify(&share, NOW),
            Err(VerifyError::BadType),
            "a share token is no access token"
        );
        let access = k.token(header(), claims());
        assert!(v.verify(&access, NOW).is_ok());
        assert_eq!(
            v.verify_share(&access, NOW, 86_400),
            Err(VerifyError::BadType),
            "an access token is no share token"
        );
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = share_claims();
            f(&mut c);
            k.token(share_header.clone(), c)
        };
        let cases: Vec<(String, VerifyError)> = vec![
            (
                with(&|c| c["sub"] = "share:ffffffffffffffffffffffffffffffff".into()),
                VerifyError::Malformed,
            ),
            (with(&|c| c["scope"] = "admin".into()), VerifyError::Malformed),
            (with(&|c| c["shared_by_roles"] = "admin".into()), VerifyError::Malformed),
            (
                with(&|c| c["resource"] = "/graphs/../admin".into()),
                VerifyError::Malformed,
            ),
            (with(&|c| c["resource"] = "/graphs/42?x".into()), VerifyError::Malformed),
            (with(&|c| c["exp"] = (NOW - 31).into()), VerifyError::Expired),
            (
                with(&|c| c["exp"] = (NOW + 90_000).into()),
                VerifyError::LifetimeTooLong,
            ),
            (with(&|c| c["iss"] = "https://other".into()), VerifyError::WrongIssuer),
            (with(&|c| c["aud"] = "other".into()), VerifyError::WrongAudience),
            (
                with(&|c| drop(c.as_object_mut().unwrap().remove("resource"))),
                VerifyError::MissingClaim("resource"),
            ),
        ];
        for (i, (token, expected)) in cases.into_iter().enumerate() {
            assert_eq!(v.verify_share(&token, NOW, 86_400), Err(expected), "case {i}");
        }
    }

    #[test]
    fn device_cookies_and_access_tokens_never_pass_for_each_other() {
        let k = Ec::new();
        let v = Verifier::new(options(), &k.jwks("k1"));
        let device_header = serde_json::json!({"alg": "ES256", "kid": "k1", "typ": "device+jwt"});
        let device_claims = || {
            serde_json::json!({"iss": "https://iss", "sub": "u1", "device_id": "0123456789abcdef0123456789abcdef",
                               "iat": NOW - 10, "exp": NOW + 3600})
        };
        let device = k.token(device_header.clone(), device_claims());
        let c = v.verify_device(&device, NOW, 86_400).unwrap();
        assert_eq!(
            (c.sub.as_str(), c.device_id.as_str()),
            ("u1", "0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            v.verify(&device, NOW),
            Err(VerifyError::BadType),
            "a device cookie is no access token"
        );
        assert_eq!(v.verify_share(&device, NOW, 86_400), Err(VerifyError::BadType));
        let access = k.token(header(), claims());
        assert_eq!(
            v.verify_device(&access, NOW, 86_400),
            Err(VerifyError::BadType),
            "an access token is no device cookie"
        );
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = device_claims();
            f(&mut c);
            k.token(device_header.clone(), c)
        };
        let cases: Vec<(String, VerifyError)> = vec![
            (with(&|c| c["exp"] = (NOW - 31).into()), VerifyError::Expired),
            (
                with(&|c| c["exp"] = (NOW + 90_000).into()),
                VerifyError::LifetimeTooLong,
            ),
            (with(&|c| c["iss"] = "https://other".into()), VerifyError::WrongIssuer),
            (with(&|c| c["sub"] = 7.into()), VerifyError::Malformed),
            (
                with(&|c| drop(c.as_object_mut().unwrap().remove("device_id"))),
                VerifyError::MissingClaim("iss, sub, device_id, iat or exp"),
            ),
        ];
        for (i, (token, expected)) in cases.into_iter().enumerate() {
            assert_eq!(v.verify_device(&token, NOW, 86_400), Err(expected), "case {i}");
        }
        let other = Ec::new();
        assert_eq!(
            v.verify_device(&other.token(device_header, device_claims()), NOW, 86_400),
            Err(VerifyError::BadSignature),
            "signed by a key of another set under the same kid"
        );
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
            (
                with(&|c| c["iss"] = serde_json::json!(["https://iss"])),
                VerifyError::WrongIssuer,
            ),
            (head(&|h| h["alg"] = "ES384".into()), VerifyError::BadAlgorithm),
            (
                head(&|h| h["x5c"] = serde_json::json!(["MIIB"])),
                VerifyError::EmbeddedKey,
            ),
            (
                head(&|h| drop(h.as_object_mut().unwrap().remove("typ"))),
                VerifyError::BadType,
            ),
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
            // The same name spelled with an escape is the same member.
            (
                k.token_raw(&header().to_string(), r#"{"sub":"a","s\u0075b":"b"}"#),
                VerifyError::DuplicateMember,
            ),
            // A refused header parameter is refused whatever its value, null included.
            (head(&|h| h["crit"] = Value::Null), VerifyError::Crit),
            (head(&|h| h["jwk"] = Value::Null), VerifyError::EmbeddedKey),
            (with(&|c| c["roles"] = serde_json::json!([1])), VerifyError::Malformed),
            (with(&|c| c["sub"] = 7.into()), VerifyError::Malformed),
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
