//! Signing keys as private JWKs (RFC 7517): RS256 (RSA 2048, the default, since API Gateway's
//! JWT authorizer verifies RSA only), ES256 (P-256) and EdDSA (Ed25519). Crypto by aws-lc-rs.
//! The `kid` is the RFC 7638 thumbprint of the public key. `Debug` never shows private material.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::AsBigEndian;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keygate_sdk::{AccessClaims, Jwk};
use serde::{Deserialize, Serialize};

/// A signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    RS256,
    ES256,
    EdDSA,
}

impl Alg {
    /// The JWA name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::ES256 => "ES256",
            Alg::EdDSA => "EdDSA",
        }
    }
}

impl std::str::FromStr for Alg {
    type Err = KeyMaterialError;
    fn from_str(s: &str) -> Result<Alg, KeyMaterialError> {
        match s {
            "RS256" => Ok(Alg::RS256),
            "ES256" => Ok(Alg::ES256),
            "EdDSA" => Ok(Alg::EdDSA),
            _ => Err(KeyMaterialError("unsupported alg (expected RS256, ES256 or EdDSA)")),
        }
    }
}

/// A key that could not be generated, parsed or used. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyMaterialError(pub &'static str);

enum Inner {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its id.
pub struct SigningKey {
    kid: String,
    alg: Alg,
    inner: Inner,
    /// The private JWK members other than kid/alg/use (base64url), for storage.
    private: PrivateJwk,
    public: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Default, Serialize, Deserialize)]
struct PrivateJwk {
    kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    use_: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    n: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    e: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    d: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    q: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dq: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    qi: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    y: Option<String>,
}

const BAD: KeyMaterialError = KeyMaterialError("the private JWK is invalid");

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn unb64(s: &Option<String>) -> Result<Vec<u8>, KeyMaterialError> {
    s.as_deref().and_then(|s| B64.decode(s).ok()).ok_or(BAD)
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|&x| x != 0).unwrap_or(b.len().saturating_sub(1));
    &b[i..]
}

// --- a minimal DER reader and writer, enough for PKCS#8 / PKCS#1 RSA private keys ---

fn der_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let b = strip_zeros(&bytes);
        out.push(0x80 | b.len() as u8);
        out.extend_from_slice(b);
    }
}

fn der_uint(out: &mut Vec<u8>, value: &[u8]) {
    let v = strip_zeros(value);
    out.push(0x02);
    let pad = v.first().is_some_and(|&b| b & 0x80 != 0);
    der_len(out, v.len() + usize::from(pad));
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
}

/// Reads one TLV; returns (tag, contents, rest).
fn der_read(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The nine integers of a PKCS#1 RSAPrivateKey inside a PKCS#8 PrivateKeyInfo.
fn rsa_components_from_pkcs8(pkcs8: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (0x30, info, _) = der_read(pkcs8)? else { return None };
    let (0x02, _version, rest) = der_read(info)? else {
        return None;
    };
    let (0x30, _alg, rest) = der_read(rest)? else {
        return None;
    };
    let (0x04, rsa_der, _) = der_read(rest)? else {
        return None;
    };
    let (0x30, mut seq, _) = der_read(rsa_der)? else {
        return None;
    };
    let mut ints = Vec::new();
    while !seq.is_empty() {
        let (0x02, v, rest) = der_read(seq)? else { return None };
        ints.push(strip_zeros(v).to_vec());
        seq = rest;
    }
    (ints.len() == 9).then_some(ints)
}

fn thumbprint(public: &Jwk) -> String {
    // RFC 7638: the required members, in lexicographic order, no white space.
    let canonical = match public.kty.as_str() {
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            public.e.as_deref().unwrap_or(""),
            public.n.as_deref().unwrap_or("")
        ),
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            public.crv.as_deref().unwrap_or(""),
            public.x.as_deref().unwrap_or(""),
            public.y.as_deref().unwrap_or("")
        ),
        _ => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            public.crv.as_deref().unwrap_or(""),
            public.x.as_deref().unwrap_or("")
        ),
    };
    b64(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
}

fn public_of(p: &PrivateJwk, alg: Alg) -> Jwk {
    Jwk {
        kty: p.kty.clone(),
        kid: String::new(),
        alg: alg.as_str().to_owned(),
        use_: "sig".to_owned(),
        n: p.n.clone(),
        e: p.e.clone(),
        crv: p.crv.clone(),
        x: p.x.clone(),
        y: p.y.clone(),
    }
}

impl SigningKey {
    /// Generates a key: RSA 2048 for RS256, P-256 for ES256, Ed25519 for EdDSA.
    pub fn generate(alg: Alg) -> Result<SigningKey, KeyMaterialError> {
        const GEN: KeyMaterialError = KeyMaterialError("key generation failed");
        let private = match alg {
            Alg::RS256 => {
                let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| GEN)?;
                let pkcs8 = kp.as_der().map_err(|_| GEN)?;
                let c = rsa_components_from_pkcs8(pkcs8.as_ref()).ok_or(GEN)?;
                PrivateJwk {
                    kty: "RSA".into(),
                    n: Some(b64(&c[1])),
                    e: Some(b64(&c[2])),
                    d: Some(b64(&c[3])),
                    p: Some(b64(&c[4])),
                    q: Some(b64(&c[5])),
                    dp: Some(b64(&c[6])),
                    dq: Some(b64(&c[7])),
                    qi: Some(b64(&c[8])),
                    ..Default::default()
                }
            }
            Alg::ES256 => {
                let kp = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| GEN)?;
                let d = kp.private_key().as_be_bytes().map_err(|_| GEN)?;
                let point = kp.public_key().as_ref();
                if point.len() != 65 {
                    return Err(GEN);
                }
                PrivateJwk {
                    kty: "EC".into(),
                    crv: Some("P-256".into()),
                    x: Some(b64(&point[1..33])),
                    y: Some(b64(&point[33..65])),
                    d: Some(b64(d.as_ref())),
                    ..Default::default()
                }
            }
            Alg::EdDSA => {
                let kp = Ed25519KeyPair::generate().map_err(|_| GEN)?;
                let seed = kp.seed().map_err(|_| GEN)?;
                let seed = seed.as_be_bytes().map_err(|_| GEN)?;
                PrivateJwk {
                    kty: "OKP".into(),
                    crv: Some("Ed25519".into()),
                    x: Some(b64(kp.public_key().as_ref())),
                    d: Some(b64(seed.as_ref())),
                    ..Default::default()
                }
            }
        };
        let kid = thumbprint(&public_of(&private, alg));
        Self::build(private, alg, kid)
    }

    /// Parses a private JWK with `kid` and `alg`.
    pub fn from_jwk_json(s: &str) -> Result<SigningKey, KeyMaterialError> {
        let p: PrivateJwk = serde_json::from_str(s).map_err(|_| BAD)?;
        let alg: Alg = p
            .alg
            .as_deref()
            .ok_or(KeyMaterialError("the private JWK has no alg"))?
            .parse()?;
        let kid = p
            .kid
            .clone()
            .filter(|k| !k.is_empty() && k.len() <= 128)
            .ok_or(KeyMaterialError("the private JWK has no kid"))?;
        let expected = match alg {
            Alg::RS256 => ("RSA", None),
            Alg::ES256 => ("EC", Some("P-256")),
            Alg::EdDSA => ("OKP", Some("Ed25519")),
        };
        if p.kty != expected.0 || p.crv.as_deref() != expected.1 {
            return Err(KeyMaterialError("the private JWK's kty or crv does not match its alg"));
        }
        Self::build(p, alg, kid)
    }

    fn build(mut p: PrivateJwk, alg: Alg, kid: String) -> Result<SigningKey, KeyMaterialError> {
        let inner = match alg {
            Alg::RS256 => {
                let mut body = Vec::new();
                der_uint(&mut body, &[0]);
                for part in [&p.n, &p.e, &p.d, &p.p, &p.q, &p.dp, &p.dq, &p.qi] {
                    der_uint(&mut body, &unb64(part)?);
                }
                let mut der = vec![0x30];
                der_len(&mut der, body.len());
                der.extend_from_slice(&body);
                let kp = RsaKeyPair::from_der(&der).map_err(|_| BAD)?;
                if kp.public_modulus_len() < 256 {
                    return Err(KeyMaterialError("RSA keys must have at least 2048 bits"));
                }
                Inner::Rsa(kp)
            }
            Alg::ES256 => {
                let mut point = vec![0x04];
                point.extend_from_slice(&unb64(&p.x)?);
                point.extend_from_slice(&unb64(&p.y)?);
                let d = unb64(&p.d)?;
                Inner::Ec(
                    EcdsaKeyPair::from_private_key_and_public_key(
                        &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                        &d,
                        &point,
                    )
                    .map_err(|_| BAD)?,
                )
            }
            Alg::EdDSA => {
                Inner::Ed(Ed25519KeyPair::from_seed_and_public_key(&unb64(&p.d)?, &unb64(&p.x)?).map_err(|_| BAD)?)
            }
        };
        p.kid = Some(kid.clone());
        p.alg = Some(alg.as_str().to_owned());
        p.use_ = Some("sig".into());
        let mut public = public_of(&p, alg);
        public.kid = kid.clone();
        Ok(SigningKey {
            kid,
            alg,
            inner,
            private: p,
            public,
        })
    }

    /// The private JWK, for storage in Secrets Manager. A secret: never log it.
    pub fn to_jwk_json(&self) -> String {
        serde_json::to_string(&self.private).unwrap_or_default()
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The public JWK (public members only).
    pub fn public_jwk(&self) -> Jwk {
        self.public.clone()
    }

    /// Signs `claims` as a compact JWS with header `{"alg","kid","typ":"at+jwt"}`.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, KeyMaterialError> {
        let header = serde_json::json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": "at+jwt"});
        let payload = serde_json::to_vec(claims).map_err(|_| KeyMaterialError("claims could not be encoded"))?;
        let mut input = b64(header.to_string().as_bytes());
        input.push('.');
        input.push_str(&b64(&payload));
        const FAIL: KeyMaterialError = KeyMaterialError("signing failed");
        let sig = match &self.inner {
            Inner::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    input.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| FAIL)?;
                sig
            }
            Inner::Ec(kp) => kp
                .sign(&SystemRandom::new(), input.as_bytes())
                .map_err(|_| FAIL)?
                .as_ref()
                .to_vec(),
            Inner::Ed(kp) => kp.sign(input.as_bytes()).as_ref().to_vec(),
        };
        input.push('.');
        input.push_str(&b64(&sig));
        Ok(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: "https://issuer".into(),
            sub: "u1".into(),
            aud: "keygate".into(),
            exp: 2_000_000_000,
            iat: 1_999_999_000,
            nbf: Some(1_999_999_000),
            jti: "j".into(),
            client_id: "c".into(),
            roles: vec!["r".into()],
            scope: "r".into(),
            preferred_username: None,
        }
    }

    #[test]
    fn generate_round_trip_and_sign_for_every_alg() {
        for alg in [Alg::RS256, Alg::ES256, Alg::EdDSA] {
            let k = SigningKey::generate(alg).unwrap();
            let json = k.to_jwk_json();
            let k2 = SigningKey::from_jwk_json(&json).unwrap();
            assert_eq!(k2.kid(), k.kid());
            assert_eq!(k2.public_jwk(), k.public_jwk());
            assert_eq!(k.public_jwk().kid, k.kid());
            let token = k2.sign(&claims()).unwrap();
            assert_eq!(token.split('.').count(), 3);
            let header: serde_json::Value =
                serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap()).unwrap();
            assert_eq!(
                header,
                serde_json::json!({"alg": alg.as_str(), "kid": k.kid(), "typ": "at+jwt"})
            );
            let debug = format!("{k:?}");
            let d: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert!(!debug.contains(d["d"].as_str().unwrap()));
            assert!(serde_json::to_string(&k.public_jwk()).unwrap().find("\"d\"").is_none());
        }
    }

    #[test]
    fn rejects_mismatched_or_broken_jwks() {
        let k = SigningKey::generate(Alg::ES256).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&k.to_jwk_json()).unwrap();
        v["alg"] = "RS256".into();
        assert!(SigningKey::from_jwk_json(&v.to_string()).is_err());
        v["alg"] = "HS256".into();
        assert!(SigningKey::from_jwk_json(&v.to_string()).is_err());
        v["alg"] = "ES256".into();
        v["d"] = "AAAA".into();
        assert!(SigningKey::from_jwk_json(&v.to_string()).is_err());
        assert!(SigningKey::from_jwk_json("not json").is_err());
        let mut no_kid: serde_json::Value = serde_json::from_str(&k.to_jwk_json()).unwrap();
        no_kid.as_object_mut().unwrap().remove("kid");
        assert!(SigningKey::from_jwk_json(&no_kid.to_string()).is_err());
    }
}
