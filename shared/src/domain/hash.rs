//! Foreign password hashes (contract section 10): the forms other systems export, parsed once
//! into [`ForeignHash`] and verified at login, after which the account holds keygate's own
//! argon2id hash. bcrypt (`$2a$`, `$2b$`, `$2y$`: Supabase, Auth0), PBKDF2-SHA256/SHA512 in
//! PHC form (`$pbkdf2-sha256$i=N,l=L$salt$hash`, which `keygate import --from keycloak` writes
//! for Keycloak's credentials), Django's `pbkdf2_sha256$N$salt$hash`, passlib's
//! `$pbkdf2-sha256$N$salt$hash` (its "adapted base64"), and argon2i/argon2id PHC strings with
//! any parameters.
//!
//! PBKDF2 runs on aws-lc-rs (already keygate's crypto; its `pbkdf2::verify` compares in
//! constant time), bcrypt on the `bcrypt` crate, argon2 on the `argon2` crate. Work factors are
//! bounded at parse, so that an imported hash cannot make one login cost minutes of CPU.

use super::Invalid;
use aws_lc_rs::pbkdf2;
use base64::Engine as _;
use std::num::NonZeroU32;

/// Most PBKDF2 iterations accepted (Keycloak's newest default is 600,000 for SHA-256).
pub const MAX_PBKDF2_ITERATIONS: u32 = 5_000_000;
/// Highest bcrypt cost accepted (cost 15 is about 2 s of CPU).
pub const MAX_BCRYPT_COST: u32 = 15;
/// Most argon2 memory accepted, KiB (256 MiB).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 262_144;
/// Most argon2 passes accepted.
pub const MAX_ARGON2_PASSES: u32 = 16;

const STD_NOPAD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;
const STD: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// PBKDF2's pseudo-random function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prf {
    Sha256,
    Sha512,
}

impl Prf {
    fn algorithm(self) -> pbkdf2::Algorithm {
        match self {
            Prf::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Prf::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }
}

/// A password hash made by another system, parsed.
#[derive(Clone, PartialEq, Eq)]
pub enum ForeignHash {
    /// A bcrypt hash string, as written.
    Bcrypt(String),
    /// PBKDF2 with its parameters and bytes.
    Pbkdf2 {
        prf: Prf,
        iterations: NonZeroU32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    /// An argon2i or argon2id PHC string, as written.
    Argon2(String),
}

impl std::fmt::Debug for ForeignHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self {
            ForeignHash::Bcrypt(_) => "bcrypt",
            ForeignHash::Pbkdf2 { prf: Prf::Sha256, .. } => "pbkdf2-sha256",
            ForeignHash::Pbkdf2 { prf: Prf::Sha512, .. } => "pbkdf2-sha512",
            ForeignHash::Argon2(_) => "argon2",
        };
        write!(f, "ForeignHash({kind}, <redacted>)")
    }
}

const BAD: Invalid = Invalid("not a password hash keygate reads (bcrypt, PBKDF2 or argon2)");

impl ForeignHash {
    /// Parses a foreign hash string.
    pub fn parse(s: &str) -> Result<ForeignHash, Invalid> {
        if s.len() > 1024 {
            return Err(BAD);
        }
        if let Some(rest) = s.strip_prefix("pbkdf2_sha256$") {
            return django(rest, Prf::Sha256);
        }
        if let Some(rest) = s.strip_prefix("pbkdf2_sha512$") {
            return django(rest, Prf::Sha512);
        }
        if let Some(rest) = s.strip_prefix("$pbkdf2-sha256$") {
            return dollar_pbkdf2(rest, Prf::Sha256);
        }
        if let Some(rest) = s.strip_prefix("$pbkdf2-sha512$") {
            return dollar_pbkdf2(rest, Prf::Sha512);
        }
        if ["$2a$", "$2b$", "$2y$"].iter().any(|p| s.starts_with(p)) {
            return bcrypt_hash(s);
        }
        if s.starts_with("$argon2id$") || s.starts_with("$argon2i$") {
            return argon2_hash(s);
        }
        Err(BAD)
    }

    /// Whether `password` is the one this hash was made from. bcrypt reads at most 72 bytes of
    /// it, as the system that made the hash did.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            ForeignHash::Bcrypt(h) => bcrypt::verify(password, h).unwrap_or(false),
            ForeignHash::Pbkdf2 {
                prf,
                iterations,
                salt,
                hash,
            } => pbkdf2::verify(prf.algorithm(), *iterations, salt, password.as_bytes(), hash).is_ok(),
            ForeignHash::Argon2(h) => {
                use argon2::password_hash::{PasswordHash, PasswordVerifier};
                PasswordHash::new(h)
                    .map(|parsed| {
                        argon2::Argon2::default()
                            .verify_password(password.as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            }
        }
    }
}

fn iterations(s: &str) -> Result<NonZeroU32, Invalid> {
    s.parse::<u32>()
        .ok()
        .filter(|n| *n <= MAX_PBKDF2_ITERATIONS)
        .and_then(NonZeroU32::new)
        .ok_or(Invalid("PBKDF2 iterations must be 1 to 5,000,000"))
}

fn pbkdf2(prf: Prf, iterations: NonZeroU32, salt: Vec<u8>, hash: Vec<u8>) -> Result<ForeignHash, Invalid> {
    if salt.is_empty() || !(16..=128).contains(&hash.len()) {
        return Err(BAD);
    }
    Ok(ForeignHash::Pbkdf2 {
        prf,
        iterations,
        salt,
        hash,
    })
}

/// Django: `pbkdf2_sha256$<iterations>$<salt as text>$<standard base64 hash>`.
fn django(rest: &str, prf: Prf) -> Result<ForeignHash, Invalid> {
    let mut parts = rest.split('$');
    let (Some(n), Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(BAD);
    };
    let hash = STD.decode(hash).map_err(|_| BAD)?;
    pbkdf2(prf, iterations(n)?, salt.as_bytes().to_vec(), hash)
}

/// PHC (`i=N,l=L$<b64>$<b64>`, standard base64 without padding) or passlib
/// (`N$<ab64>$<ab64>`: `.` for `+`, no padding).
fn dollar_pbkdf2(rest: &str, prf: Prf) -> Result<ForeignHash, Invalid> {
    let mut parts = rest.split('$');
    let (Some(params), Some(salt), Some(hash), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(BAD);
    };
    if params.bytes().all(|b| b.is_ascii_digit()) {
        let ab64 = |s: &str| STD_NOPAD.decode(s.replace('.', "+")).map_err(|_| BAD);
        return pbkdf2(prf, iterations(params)?, ab64(salt)?, ab64(hash)?);
    }
    let mut n = None;
    let mut len = None;
    for p in params.split(',') {
        match p.split_once('=') {
            Some(("i", v)) if n.is_none() => n = Some(iterations(v)?),
            Some(("l", v)) if len.is_none() => len = Some(v.parse::<usize>().map_err(|_| BAD)?),
            _ => return Err(BAD),
        }
    }
    let n = n.ok_or(BAD)?;
    let salt = STD_NOPAD.decode(salt).map_err(|_| BAD)?;
    let hash = STD_NOPAD.decode(hash).map_err(|_| BAD)?;
    if len.is_some_and(|l| l != hash.len()) {
        return Err(BAD);
    }
    pbkdf2(prf, n, salt, hash)
}

/// `$2a$NN$<53 characters>`: the cost bounded.
fn bcrypt_hash(s: &str) -> Result<ForeignHash, Invalid> {
    let cost = s.get(4..6).and_then(|c| c.parse::<u32>().ok()).ok_or(BAD)?;
    if s.len() != 60 || s.as_bytes().get(6) != Some(&b'$') || !(4..=MAX_BCRYPT_COST).contains(&cost) {
        return Err(BAD);
    }
    Ok(ForeignHash::Bcrypt(s.to_owned()))
}

/// An argon2i/argon2id PHC string whose memory and passes are bounded.
fn argon2_hash(s: &str) -> Result<ForeignHash, Invalid> {
    use argon2::password_hash::PasswordHash;
    let parsed = PasswordHash::new(s).map_err(|_| BAD)?;
    let param = |name: &str| parsed.params.get_decimal(name);
    let (m, t, p) = (param("m").ok_or(BAD)?, param("t").ok_or(BAD)?, param("p").ok_or(BAD)?);
    if m > MAX_ARGON2_MEMORY_KIB || t > MAX_ARGON2_PASSES || p > 16 || parsed.hash.is_none() {
        return Err(Invalid("argon2 parameters too large (m at most 256 MiB, t at most 16)"));
    }
    Ok(ForeignHash::Argon2(s.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PW: &str = "correct horse battery staple";

    fn phc(prf: &str, iterations: u32, salt: &[u8], password: &str, len: usize) -> String {
        let alg = if prf == "sha512" {
            pbkdf2::PBKDF2_HMAC_SHA512
        } else {
            pbkdf2::PBKDF2_HMAC_SHA256
        };
        let mut out = vec![0u8; len];
        pbkdf2::derive(
            alg,
            NonZeroU32::new(iterations).unwrap(),
            salt,
            password.as_bytes(),
            &mut out,
        );
        format!(
            "$pbkdf2-{prf}$i={iterations},l={len}${}${}",
            STD_NOPAD.encode(salt),
            STD_NOPAD.encode(&out)
        )
    }

    #[test]
    fn bcrypt_hashes_of_every_prefix_verify() {
        let made = bcrypt::hash(PW, 4).unwrap();
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let h = ForeignHash::parse(&format!("{prefix}{}", &made[4..])).unwrap();
            assert!(h.verify(PW), "{prefix}");
            assert!(!h.verify("wrong horse battery staple"));
        }
        // A published vector (OpenBSD's test suite): "U*U" at cost 5.
        let v = ForeignHash::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW").unwrap();
        assert!(v.verify("U*U"));
        for bad in [
            "$2a$31$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2a$05$short",
            "$2x$05$abc",
        ] {
            assert!(ForeignHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pbkdf2_in_phc_django_and_passlib_forms_verify() {
        let salt = b"0123456789abcdef";
        for (prf, len) in [("sha256", 32), ("sha512", 64)] {
            let h = ForeignHash::parse(&phc(prf, 1000, salt, PW, len)).unwrap();
            assert!(h.verify(PW) && !h.verify("nope"), "{prf}");
        }
        // Keycloak derives 512 bits whatever the PRF: `l` is the hash's length.
        assert!(
            ForeignHash::parse(&phc("sha256", 27500, salt, PW, 64))
                .unwrap()
                .verify(PW)
        );
        // Django's form of `make_password("lètmein", "seasalt")` at 1,000,000 iterations, the hash
        // computed by Python's hashlib (another PBKDF2 than aws-lc-rs).
        let d =
            ForeignHash::parse("pbkdf2_sha256$1000000$seasalt$r1uLUxoxpP2Ued/qxvmje7UH9PUJBkRrvf9gGPL7Cps=").unwrap();
        assert!(d.verify("lètmein"));
        assert!(!d.verify("letmein"));
        // passlib's pbkdf2_sha256 documentation example (checked with Python's hashlib).
        let p = ForeignHash::parse(
            "$pbkdf2-sha256$6400$.6UI/S.nXIk8jcbdHx3Fhg$98jZicV16ODfEsEZeYPGHU3kbrUrvUEXOPimVSQDD44",
        )
        .unwrap();
        assert!(p.verify("password"));
        assert!(!p.verify("Password"));
        for bad in [
            "$pbkdf2-sha256$i=0,l=32$c2FsdA$aGFzaA",
            "$pbkdf2-sha256$i=9000000,l=32$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$i=1000,l=31$MDEyMzQ1Njc4OWFiY2RlZg$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$pbkdf2-sha256$i=1000,i=2,l=32$c2FsdA$aGFzaA",
            "pbkdf2_sha256$1000$salt",
            "pbkdf2_sha1$1000$salt$aGFzaA==",
            "md5$abc",
        ] {
            assert!(ForeignHash::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn argon2_with_any_bounded_parameters_verifies() {
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(b"saltsaltsaltsalt").unwrap();
        for (alg, m, t) in [
            (argon2::Algorithm::Argon2id, 4096, 3),
            (argon2::Algorithm::Argon2i, 8192, 2),
        ] {
            let a = argon2::Argon2::new(alg, argon2::Version::V0x13, argon2::Params::new(m, t, 1, None).unwrap());
            let h = a.hash_password(PW.as_bytes(), &salt).unwrap().to_string();
            let parsed = ForeignHash::parse(&h).unwrap();
            assert!(parsed.verify(PW) && !parsed.verify("nope"), "{h}");
        }
        let huge =
            "$argon2id$v=19$m=1048576,t=3,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
        assert!(
            ForeignHash::parse(huge).is_err(),
            "1 GiB of memory per login is refused"
        );
        assert!(ForeignHash::parse("$argon2d$v=19$m=4096,t=3,p=1$c2FsdA$aGFzaA").is_err());
    }

    #[test]
    fn debug_shows_the_kind_only() {
        let h = ForeignHash::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW").unwrap();
        assert_eq!(format!("{h:?}"), "ForeignHash(bcrypt, <redacted>)");
    }
}
