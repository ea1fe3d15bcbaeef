//! Signing keys as private JWKs (RFC 7517): RS256 (RSA 2048, the default, since API Gateway's
//! JWT authorizer verifies RSA only), ES256 (P-256) and EdDSA (Ed25519). Tokens are signed by
//! aws-lc-rs with each key parsed once (see `SigningKey::sign_typed` for why not through
//! jsonwebtoken, which verifies them in `keygate-sdk`); keys are generated and checked by
//! aws-lc-rs, and RSA keys move between the JWK and DER forms through the `pkcs1` and `pkcs8`
//! crates.
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
use pkcs1::der::SecretDocument;
use pkcs1::der::zeroize::Zeroizing;
use pkcs1::{RsaPrivateKey, UintRef};
use pkcs8::PrivateKeyInfo;
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

/// A private key, parsed and checked once (aws-lc-rs zeroizes it when dropped).
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

/// The nine integers of the PKCS#1 RSAPrivateKey inside aws-lc-rs's PKCS#8 document, as
/// base64url private JWK members (RFC 7518 section 6.3.2).
fn rsa_private_jwk(pkcs8_der: &[u8]) -> Option<PrivateJwk> {
    let info = PrivateKeyInfo::try_from(pkcs8_der).ok()?;
    if info.algorithm.oid != pkcs1::ALGORITHM_OID {
        return None;
    }
    let k = RsaPrivateKey::try_from(info.private_key).ok()?;
    let b = |u: UintRef<'_>| Some(b64(u.as_bytes()));
    Some(PrivateJwk {
        kty: "RSA".into(),
        n: b(k.modulus),
        e: b(k.public_exponent),
        d: b(k.private_exponent),
        p: b(k.prime1),
        q: b(k.prime2),
        dp: b(k.exponent1),
        dq: b(k.exponent2),
        qi: b(k.coefficient),
        ..Default::default()
    })
}

fn uint(big_endian: &[u8]) -> Result<UintRef<'_>, KeyMaterialError> {
    UintRef::new(big_endian).map_err(|_| BAD)
}

/// The PKCS#1 RSAPrivateKey DER of a private RSA JWK (what
/// aws-lc-rs's `RsaKeyPair::from_der` reads), zeroized when dropped.
fn rsa_pkcs1_der(p: &PrivateJwk) -> Result<SecretDocument, KeyMaterialError> {
    let field = |member: &Option<String>| unb64(member).map(Zeroizing::new);
    let (n, e, d) = (field(&p.n)?, field(&p.e)?, field(&p.d)?);
    let (p1, p2, d1, d2, c) = (field(&p.p)?, field(&p.q)?, field(&p.dp)?, field(&p.dq)?, field(&p.qi)?);
    let key = RsaPrivateKey {
        modulus: uint(&n)?,
        public_exponent: uint(&e)?,
        private_exponent: uint(&d)?,
        prime1: uint(&p1)?,
        prime2: uint(&p2)?,
        exponent1: uint(&d1)?,
        exponent2: uint(&d2)?,
        coefficient: uint(&c)?,
        other_prime_infos: None,
    };
    SecretDocument::encode_msg(&key).map_err(|_| BAD)
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
                rsa_private_jwk(pkcs8.as_ref()).ok_or(GEN)?
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
        // Each key is parsed and checked by aws-lc-rs once, here.
        let inner = match alg {
            Alg::RS256 => {
                let der = rsa_pkcs1_der(&p)?;
                let kp = RsaKeyPair::from_der(der.as_bytes()).map_err(|_| BAD)?;
                if kp.public_modulus_len() < 256 {
                    return Err(KeyMaterialError("RSA keys must have at least 2048 bits"));
                }
                Inner::Rsa(kp)
            }
            Alg::ES256 => {
                let mut point = vec![0x04];
                point.extend_from_slice(&unb64(&p.x)?);
                point.extend_from_slice(&unb64(&p.y)?);
                let d = Zeroizing::new(unb64(&p.d)?);
                let kp = EcdsaKeyPair::from_private_key_and_public_key(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &d,
                    &point,
                )
                .map_err(|_| BAD)?;
                Inner::Ec(kp)
            }
            Alg::EdDSA => {
                let seed = Zeroizing::new(unb64(&p.d)?);
                Inner::Ed(Ed25519KeyPair::from_seed_and_public_key(&seed, &unb64(&p.x)?).map_err(|_| BAD)?)
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
        self.sign_typed("at+jwt", claims)
    }

    /// Signs `claims` as a compact JWS with header `{"alg","kid","typ"}`: the one signing path
    /// for every token kind, each naming itself by `typ` (RFC 8725 section 3.11).
    ///
    /// Written here rather than through jsonwebtoken: its aws-lc-rs signer takes the key as DER
    /// and parses and checks it again on every signature (`RsaKeyPair::from_der` per call, and
    /// `CryptoProvider::signer_factory` gets only the DER, so no provider can cache it), which
    /// measured 2.0x the cost of an RS256 signature and 1.8–2.2x for ES256 and EdDSA (BENCHMARKS.md).
    /// Every API-key login and refresh signs, so keygate keeps the parsed aws-lc-rs key, the same
    /// primitive jsonwebtoken would call, and writes the three base64url parts itself. The header
    /// is keygate's own three members, which also keeps jsonwebtoken's `Header` (and its
    /// embedded-JWK serializer) out of the Lambda binaries.
    pub fn sign_typed<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, KeyMaterialError> {
        #[derive(Serialize)]
        struct JwsHeader<'a> {
            alg: &'static str,
            kid: &'a str,
            typ: &'a str,
        }
        const ENCODE: KeyMaterialError = KeyMaterialError("the token could not be encoded");
        let header = JwsHeader {
            alg: self.alg.as_str(),
            kid: &self.kid,
            typ,
        };
        let mut jws = b64(&serde_json::to_vec(&header).map_err(|_| ENCODE)?);
        jws.push('.');
        jws.push_str(&b64(&serde_json::to_vec(claims).map_err(|_| ENCODE)?));
        const FAIL: KeyMaterialError = KeyMaterialError("signing failed");
        let signature = match &self.inner {
            Inner::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(
                    &signature::RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    jws.as_bytes(),
                    &mut sig,
                )
                .map_err(|_| FAIL)?;
                sig
            }
            Inner::Ec(kp) => kp
                .sign(&SystemRandom::new(), jws.as_bytes())
                .map_err(|_| FAIL)?
                .as_ref()
                .to_vec(),
            Inner::Ed(kp) => kp.sign(jws.as_bytes()).as_ref().to_vec(),
        };
        jws.push('.');
        jws.push_str(&b64(&signature));
        Ok(jws)
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
    fn signed_tokens_verify_with_the_public_jwk_and_no_other() {
        let options = keygate_sdk::VerifyOptions {
            issuer: "https://issuer".into(),
            audience: "keygate".into(),
            leeway: 30,
            max_lifetime: 1000,
        };
        let now = 1_999_999_100;
        for alg in [Alg::RS256, Alg::ES256, Alg::EdDSA] {
            let k = SigningKey::generate(alg).unwrap();
            let jwks = keygate_sdk::Jwks {
                keys: vec![k.public_jwk()],
            };
            let token = k.sign(&claims()).unwrap();
            let verified = keygate_sdk::Verifier::new(options.clone(), &jwks).verify(&token, now);
            assert_eq!(verified, Ok(claims()), "{alg:?}");
            // Another key of the same kind under the same kid does not verify it.
            let mut other = SigningKey::generate(alg).unwrap().public_jwk();
            other.kid = k.kid().to_owned();
            let verifier = keygate_sdk::Verifier::new(options.clone(), &keygate_sdk::Jwks { keys: vec![other] });
            assert_eq!(
                verifier.verify(&token, now),
                Err(keygate_sdk::VerifyError::BadSignature),
                "{alg:?}"
            );
        }
    }

    #[test]
    fn rsa_jwk_members_and_pkcs1_der_convert_both_ways_exactly() {
        // aws-lc-rs's own PKCS#1 encoding of a key is what the JWK members encode back to.
        let kp = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = kp.as_der().unwrap();
        let info = PrivateKeyInfo::try_from(pkcs8.as_ref()).unwrap();
        let jwk = rsa_private_jwk(pkcs8.as_ref()).unwrap();
        assert_eq!(rsa_pkcs1_der(&jwk).unwrap().as_bytes(), info.private_key);
        assert!(rsa_private_jwk(b"not der").is_none());
        // An EC key's PKCS#8 is not read as RSA.
        let ec = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        assert!(rsa_private_jwk(ec.to_pkcs8v1().unwrap().as_ref()).is_none());
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
        let rsa: serde_json::Value =
            serde_json::from_str(&SigningKey::generate(Alg::RS256).unwrap().to_jwk_json()).unwrap();
        let other: serde_json::Value =
            serde_json::from_str(&SigningKey::generate(Alg::RS256).unwrap().to_jwk_json()).unwrap();
        for member in ["n", "d", "p", "qi"] {
            let mut broken = rsa.clone();
            broken[member] = other[member].clone();
            assert!(
                SigningKey::from_jwk_json(&broken.to_string()).is_err(),
                "{member} swapped"
            );
            broken.as_object_mut().unwrap().remove(member);
            assert!(
                SigningKey::from_jwk_json(&broken.to_string()).is_err(),
                "{member} missing"
            );
        }
        assert!(SigningKey::from_jwk_json(&rsa.to_string()).is_ok());
    }
}
