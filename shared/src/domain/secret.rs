//! Secrets: random ones and the opaque tokens built from them, and passwords as given. Every
//! token is stored only as its SHA-256 hash; the part before the secret says where to find the
//! record, so that a lookup is one read. `Debug` never shows a secret.

use aws_lc_rs::{digest, hmac};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The operating system's random generator failed: no secret or id can be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RngError;

/// `N` bytes from the operating system's CSPRNG, or the generator's failure (never zeroes).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RngError> {
    filled(aws_lc_rs::rand::fill)
}

fn filled<const N: usize>(
    fill: impl FnOnce(&mut [u8]) -> Result<(), aws_lc_rs::error::Unspecified>,
) -> Result<[u8; N], RngError> {
    let mut buf = [0u8; N];
    fill(&mut buf).map_err(|_| RngError)?;
    Ok(buf)
}

/// For the infallible `generate` constructors, kept for callers that cannot take a `Result`
/// yet (`services/tokens.rs`): stop the process rather than hand out a predictable secret.
/// Use cases that can answer 503 call `try_generate` instead.
#[cold]
pub(crate) fn rng_failed(e: RngError) -> ! {
    eprintln!("keygate: {e}; stopping rather than issue a predictable secret");
    std::process::abort()
}

/// A short keyed fingerprint of `text` for logs, where the text must not appear (a username
/// that may be a password typed into the wrong field): HMAC-SHA256 under a key drawn once per
/// process, 12 hex digits. Equal texts match within one process; someone reading the logs
/// cannot test guesses against it.
pub fn log_fingerprint(text: &str) -> String {
    static KEY: std::sync::OnceLock<Option<hmac::Key>> = std::sync::OnceLock::new();
    let key = KEY.get_or_init(|| random_bytes::<32>().ok().map(|k| hmac::Key::new(hmac::HMAC_SHA256, &k)));
    match key {
        Some(k) => format!("fp:{}", &hex(hmac::sign(k, text.as_bytes()).as_ref())[..12]),
        None => "fp:unavailable".to_owned(),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub(crate) fn is_b64(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// SHA-256 of a token's secret part, hex-encoded: what storage holds instead of the token.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    pub(crate) fn of(secret: &str) -> TokenHash {
        TokenHash(hex(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref()))
    }
    /// Rebuilds a hash read back from storage.
    pub fn from_stored(s: String) -> TokenHash {
        TokenHash(s)
    }
    /// The hex text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Constant-time equality.
    pub fn ct_eq(&self, other: &TokenHash) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenHash({}…)", &self.0[..self.0.len().min(8)])
    }
}

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident, $bytes:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);
        impl $name {
            /// A new random id, or the generator's failure.
            pub fn try_generate() -> Result<Self, $crate::domain::secret::RngError> {
                Ok(Self($crate::domain::secret::hex(&$crate::domain::secret::random_bytes::<$bytes>()?)))
            }
            /// A new random id; stops the process if the generator fails (`rng_failed`).
            pub fn generate() -> Self {
                Self::try_generate().unwrap_or_else(|e| $crate::domain::secret::rng_failed(e))
            }
            /// Parses an id (lowercase hex of the right length).
            pub fn parse(s: &str) -> Option<Self> {
                $crate::domain::secret::is_hex(s, $bytes * 2).then(|| Self(s.to_owned()))
            }
            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Lets `invitation.rs` declare its id the same way.
pub(crate) use id_type;

id_type!(
    /// Id of a refresh-token family (one login session); 128 bits.
    FamilyId, 16
);
id_type!(
    /// Id of an API key; 64 bits, public (it is shown in listings and logs).
    KeyId, 8
);

pub(crate) const SECRET_B64_LEN: usize = 43; // 32 bytes, base64url without padding

pub(crate) fn new_secret() -> Result<String, RngError> {
    Ok(B64.encode(random_bytes::<32>()?))
}

/// A refresh token: `kgr_<family id>_<secret>`. The secret carries 256 bits.
#[derive(Clone)]
pub struct RefreshToken {
    family: FamilyId,
    secret: String,
}

/// A password-reset token: `kgp_<secret>`. The secret carries 256 bits.
#[derive(Clone)]
pub struct ResetToken {
    secret: String,
}

/// An API key: `kgk_<key id>_<secret>`. The secret carries 256 bits.
#[derive(Clone)]
pub struct ApiKey {
    key_id: KeyId,
    secret: String,
}

impl RefreshToken {
    /// A new token in `family`, or the generator's failure.
    pub fn try_generate(family: FamilyId) -> Result<RefreshToken, RngError> {
        Ok(RefreshToken {
            family,
            secret: new_secret()?,
        })
    }
    /// A new token in `family`; stops the process if the generator fails.
    pub fn generate(family: FamilyId) -> RefreshToken {
        Self::try_generate(family).unwrap_or_else(|e| rng_failed(e))
    }
    /// Parses a presented token; `None` for anything malformed.
    pub fn parse(s: &str) -> Option<RefreshToken> {
        let rest = s.strip_prefix("kgr_")?;
        let (fid, secret) = rest.split_at_checked(32)?;
        let secret = secret.strip_prefix('_')?;
        let family = FamilyId::parse(fid)?;
        is_b64(secret, SECRET_B64_LEN).then(|| RefreshToken {
            family,
            secret: secret.to_owned(),
        })
    }
    /// The family this token belongs to.
    pub fn family(&self) -> &FamilyId {
        &self.family
    }
    /// The hash that storage keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.secret)
    }
    /// The token as given to the client. Never log it.
    pub fn expose(&self) -> String {
        format!("kgr_{}_{}", self.family, self.secret)
    }
    /// The token that succeeds this one in its family: HMAC-SHA256 under `server_secret` of a
    /// domain label, the family id and this token's secret. Deterministic, so the same token
    /// presented twice (two tabs, a retry within the grace window) yields the same successor
    /// while the store keeps only hashes; keyed, so that a holder of a retired token cannot
    /// compute the tokens that followed it (which would defeat reuse detection).
    pub fn successor(&self, server_secret: &[u8]) -> RefreshToken {
        let key = hmac::Key::new(hmac::HMAC_SHA256, server_secret);
        let mut ctx = hmac::Context::with_key(&key);
        ctx.update(b"keygate refresh-token successor v1\0");
        ctx.update(self.family.as_str().as_bytes());
        ctx.update(b"\0");
        ctx.update(self.secret.as_bytes());
        RefreshToken {
            family: self.family.clone(),
            secret: B64.encode(ctx.sign().as_ref()),
        }
    }
}

impl ResetToken {
    /// A new reset token, or the generator's failure.
    pub fn try_generate() -> Result<ResetToken, RngError> {
        Ok(ResetToken { secret: new_secret()? })
    }
    /// A new reset token; stops the process if the generator fails.
    pub fn generate() -> ResetToken {
        Self::try_generate().unwrap_or_else(|e| rng_failed(e))
    }
    /// Parses a presented token; `None` for anything malformed.
    pub fn parse(s: &str) -> Option<ResetToken> {
        let secret = s.strip_prefix("kgp_")?;
        is_b64(secret, SECRET_B64_LEN).then(|| ResetToken {
            secret: secret.to_owned(),
        })
    }
    /// The hash that storage keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.secret)
    }
    /// The token as mailed to the user. Never log it.
    pub fn expose(&self) -> String {
        format!("kgp_{}", self.secret)
    }
}

impl ApiKey {
    /// A new key, or the generator's failure.
    pub fn try_generate() -> Result<ApiKey, RngError> {
        Ok(ApiKey {
            key_id: KeyId::try_generate()?,
            secret: new_secret()?,
        })
    }
    /// A new key; stops the process if the generator fails.
    pub fn generate() -> ApiKey {
        Self::try_generate().unwrap_or_else(|e| rng_failed(e))
    }
    /// Parses a presented key; `None` for anything malformed.
    pub fn parse(s: &str) -> Option<ApiKey> {
        let rest = s.strip_prefix("kgk_")?;
        let (id, secret) = rest.split_at_checked(16)?;
        let secret = secret.strip_prefix('_')?;
        let key_id = KeyId::parse(id)?;
        is_b64(secret, SECRET_B64_LEN).then(|| ApiKey {
            key_id,
            secret: secret.to_owned(),
        })
    }
    /// The key's public id.
    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }
    /// The hash that storage keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.secret)
    }
    /// The key as shown once at creation. Never log it.
    pub fn expose(&self) -> String {
        format!("kgk_{}_{}", self.key_id, self.secret)
    }
}

/// A password as given (to create an account, reset one, finish a registration, log in),
/// before any rule applies to it: no `Display`, and a `Debug` that shows nothing of it, so no
/// derived `Debug` or log line can print it. [`NewPassword`](super::NewPassword) and
/// [`LoginPassword`](super::LoginPassword) are what the rules make of it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// The password as given. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Password {
    fn from(s: String) -> Password {
        Password(s)
    }
}

impl From<&str> for Password {
    fn from(s: &str) -> Password {
        Password(s.to_owned())
    }
}

impl From<&String> for Password {
    fn from(s: &String) -> Password {
        Password(s.clone())
    }
}

macro_rules! redacted_debug {
    ($($t:ty),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}(<redacted>)", stringify!($t))
            }
        }
    )*};
}
redacted_debug!(RefreshToken, ResetToken, ApiKey, Password);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_hash() {
        let rt = RefreshToken::generate(FamilyId::generate());
        let parsed = RefreshToken::parse(&rt.expose()).unwrap();
        assert_eq!(parsed.family(), rt.family());
        assert!(parsed.hash().ct_eq(&rt.hash()));
        let other = RefreshToken::generate(rt.family().clone());
        assert!(!other.hash().ct_eq(&rt.hash()));

        let k = ApiKey::generate();
        let pk = ApiKey::parse(&k.expose()).unwrap();
        assert_eq!(pk.key_id(), k.key_id());
        assert_eq!(pk.hash(), k.hash());

        let r = ResetToken::generate();
        assert_eq!(ResetToken::parse(&r.expose()).unwrap().hash(), r.hash());
        assert!(!format!("{r:?}{k:?}{rt:?}").contains(&r.expose()[4..]));
    }

    #[test]
    fn passwords_never_show_in_debug() {
        let p = Password::from("violet harbor lantern 7");
        assert_eq!(format!("{p:?}"), "Password(<redacted>)");
        assert_eq!(p.expose(), "violet harbor lantern 7");
    }

    #[test]
    fn successors_are_deterministic_keyed_and_well_formed() {
        let rt = RefreshToken::generate(FamilyId::generate());
        let next = rt.successor(b"server secret");
        assert_eq!(next.expose(), rt.successor(b"server secret").expose());
        assert_eq!(next.family(), rt.family());
        assert!(RefreshToken::parse(&next.expose()).is_some_and(|p| p.hash().ct_eq(&next.hash())));
        assert!(!next.hash().ct_eq(&rt.hash()));
        assert_ne!(next.expose(), rt.successor(b"another secret").expose());
        assert_ne!(next.expose(), next.successor(b"server secret").expose());
        let other = RefreshToken::generate(rt.family().clone());
        assert_ne!(next.expose(), other.successor(b"server secret").expose());
    }

    #[test]
    fn a_failing_generator_is_an_error_never_zero_bytes() {
        let failed = filled::<32>(|_| Err(aws_lc_rs::error::Unspecified));
        assert_eq!(failed, Err(RngError));
        let ok = filled::<32>(aws_lc_rs::rand::fill).unwrap();
        assert_ne!(ok, [0u8; 32]);
        assert_ne!(random_bytes::<16>().unwrap(), random_bytes::<16>().unwrap());
    }

    #[test]
    fn log_fingerprints_hide_the_text_but_match_it() {
        let a = log_fingerprint("hunter2 typed as a username");
        assert_eq!(a, log_fingerprint("hunter2 typed as a username"));
        assert_ne!(a, log_fingerprint("hunter3 typed as a username"));
        assert!(a.starts_with("fp:") && a.len() == 15 && !a.contains("hunter"));
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let rt = RefreshToken::generate(FamilyId::generate()).expose();
        for bad in [
            "",
            "kgr_",
            "kgr_zz",
            &rt[..rt.len() - 1],
            &format!("{rt}x"),
            &rt.replace("kgr_", "kgk_"),
            "kgp_",
            "kgk_0123456789abcdef_",
        ] {
            assert!(RefreshToken::parse(bad).is_none() || bad == rt, "{bad}");
            assert!(ApiKey::parse(bad).is_none(), "{bad}");
            assert!(ResetToken::parse(bad).is_none(), "{bad}");
        }
        assert!(RefreshToken::parse(&rt.replacen('_', "-", 1)).is_none());
    }
}
