//! Passwords: the policy for new ones (NIST SP 800-63B-4), argon2id hashing (OWASP parameters),
//! and a dummy verification that makes unknown users cost what known ones cost.

use argon2::password_hash::{PasswordHash as Phc, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Longest accepted password, in bytes of the UTF-8 input.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Why a new password was refused. Each maps to `weak_password`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {0} characters")]
    TooShort(usize),
    #[error("password must be at most 1024 bytes")]
    TooLong,
    #[error("password is too common or too predictable")]
    Common,
}

/// The policy for new passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Unicode code points after NFKC).
    pub min_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy { min_chars: 15 }
    }
}

/// A new password that satisfies the policy, NFKC-normalized (never trimmed, case-folded or
/// truncated). Its `Debug` never shows the value.
#[derive(Clone)]
pub struct NewPassword(String);

/// A password presented at login: NFKC-normalized, at most [`MAX_PASSWORD_BYTES`] long.
/// Anything longer can never match and is verified against the dummy hash instead.
#[derive(Clone)]
pub struct LoginPassword(Option<String>);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(<redacted>)")
    }
}
impl std::fmt::Debug for LoginPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginPassword(<redacted>)")
    }
}

impl NewPassword {
    /// Checks `raw` against the policy. `context` holds words a password must not be
    /// (the username, the service name), compared case-insensitively.
    pub fn parse(raw: &str, policy: &PasswordPolicy, context: &[&str]) -> Result<NewPassword, PasswordError> {
        if raw.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::TooLong);
        }
        let normalized: String = raw.nfkc().collect();
        if normalized.chars().count() < policy.min_chars {
            return Err(PasswordError::TooShort(policy.min_chars));
        }
        if is_predictable(&normalized, context) {
            return Err(PasswordError::Common);
        }
        Ok(NewPassword(normalized))
    }

    /// The normalized password.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl LoginPassword {
    /// Normalizes a presented password.
    pub fn new(raw: &str) -> LoginPassword {
        if raw.len() > MAX_PASSWORD_BYTES {
            LoginPassword(None)
        } else {
            LoginPassword(Some(raw.nfkc().collect()))
        }
    }
}

/// Hand-picked well-known passwords of 15 characters or more (phrases and patterns that the
/// breach list below misses), lowercased. Shorter ones fail the length rule first.
static COMMON: &[&str] = &[
    "123456789012345",
    "1234567890123456",
    "12345678901234567890",
    "123456789123456789",
    "111111111111111",
    "000000000000000",
    "qwertyuiopasdfghjkl",
    "qwertyuiopasdfgh",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiop123456",
    "1qaz2wsx3edc4rfv",
    "1qaz2wsx3edc4rfv5tgb",
    "zaq12wsxcde34rfv",
    "1q2w3e4r5t6y7u8i",
    "1q2w3e4r5t6y7u8i9o0p",
    "q1w2e3r4t5y6u7i8",
    "passwordpassword",
    "password12345678",
    "password1234567",
    "password123456789",
    "iloveyouiloveyou",
    "iloveyou12345678",
    "letmeinletmein1",
    "letmein123456789",
    "welcome123456789",
    "welcome12345678",
    "administrator123",
    "administrator1",
    "administrator12",
    "trustno1trustno1",
    "correcthorsebatterystaple",
    "correct horse battery staple",
    "thequickbrownfox",
    "thequickbrownfoxjumpsoverthelazydog",
    "abcdefghijklmnop",
    "abcdefghijklmnopqrstuvwxyz",
    "abcdefghijklmno",
    "abc123abc123abc",
    "asdfghjklasdfghjkl",
    "zxcvbnmzxcvbnm1",
    "monkeymonkeymonkey",
    "dragondragondragon",
    "football12345678",
    "baseball12345678",
    "superman12345678",
    "changemechangeme",
    "changeme12345678",
    "mypasswordismypassword",
    "p@ssw0rdp@ssw0rd",
    "p@ssword12345678",
    "passw0rd12345678",
    "qwerty123456789",
    "qwertyqwertyqwerty",
    "1234qwerasdfzxcv",
    "qwerasdfzxcv1234",
    "secretsecretsecret",
    "iloveyouforever",
    "sunshinesunshine",
    "princessprincess",
    "starwarsstarwars",
    "whateverwhatever",
    "masterkeymasterkey",
    "keygatekeygate",
];

/// The 100,000 most common breached passwords (NFKC-normalized, lowercased, 8 characters or
/// more; `shared/data/README.md` names the source and licence), each as the first 4 bytes of
/// its SHA-256, big-endian, sorted (`shared/data/make_breach_hashes.py` writes the file from
/// `common-passwords.txt`). 150 KB where the text was 355 KB, which kept the `register`
/// function under the 10,000,000-byte budget (BENCHMARKS.md, "Binary sizes"); searched in
/// place, so nothing is built at start. A password that is not on the list but shares a prefix
/// with an entry is refused too: 1 in about 110,000, a new password chosen again.
/// Only the binaries that set passwords carry it (cargo feature `password-list`: the admin and
/// reset functions, `keygate serve`, the CLI); `authenticate` and `refresh` only verify.
#[cfg(feature = "password-list")]
static BREACHED: Option<&[u8]> = Some(include_bytes!("../../data/common-passwords.sha256-32"));
/// Without the list, every new password is refused (fail closed): such a binary has no route
/// that sets one.
#[cfg(not(feature = "password-list"))]
static BREACHED: Option<&[u8]> = None;

/// The list's key for a normalized, lowercased password.
fn breach_prefix(lower: &str) -> [u8; 4] {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, lower.as_bytes());
    let mut prefix = [0u8; 4];
    prefix.copy_from_slice(&hash.as_ref()[..4]);
    prefix
}

/// Whether `prefix` is one of the sorted 4-byte values of `list` (a binary search in place).
fn sorted_prefixes_contain(list: &[u8], prefix: [u8; 4]) -> bool {
    let (mut lo, mut hi) = (0usize, list.len() / 4);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match list[mid * 4..mid * 4 + 4].cmp(&prefix[..]) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
        }
    }
    false
}

fn is_predictable(pw: &str, context: &[&str]) -> bool {
    let lower = pw.to_lowercase();
    let breached = BREACHED.is_none_or(|list| sorted_prefixes_contain(list, breach_prefix(&lower)));
    if COMMON.contains(&lower.as_str()) || breached {
        return true;
    }
    if context.iter().any(|w| !w.is_empty() && lower == w.to_lowercase()) {
        return true;
    }
    let chars: Vec<char> = lower.chars().collect();
    // A short unit repeated: "aaaaaaaaaaaaaaa", "abcabcabcabcabc", "passwordpassword".
    for unit in 1..=8.min(chars.len() / 2) {
        if chars.len().is_multiple_of(unit) && chars.chunks(unit).all(|c| c == &chars[..unit]) {
            return true;
        }
    }
    // One ascending or descending run: "abcdefghijklmno", "987654321098765" (digits wrap).
    let step = |a: char, b: char, d: i32| {
        if a.is_ascii_digit() && b.is_ascii_digit() {
            (b as i32 - a as i32).rem_euclid(10) == d.rem_euclid(10)
        } else {
            b as i32 - a as i32 == d
        }
    };
    chars.windows(2).all(|w| step(w[0], w[1], 1)) || chars.windows(2).all(|w| step(w[0], w[1], -1))
}

/// An argon2id hash in PHC string form.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

impl PasswordHash {
    /// Rebuilds a hash read back from storage.
    pub fn from_stored(phc: String) -> PasswordHash {
        PasswordHash(phc)
    }
    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasher {
    argon: Argon2<'static>,
    /// What an unknown user's password is verified against (see [`dummy_hash`]).
    dummy: PasswordHash,
}

/// A PHC string with `params` and an arbitrary output, for unknown users: verifying a password
/// against it is one argon2 computation with the same parameters as against a real hash, and
/// making it costs nothing. (It used to be a real hash, made on the first verification: a second
/// argon2 run inside every container's first login, 50 ms of CPU on the measuring machine.)
fn dummy_hash(params: &Params) -> PasswordHash {
    // Salt: 16 bytes of 0x5a; output: as many zero bytes as the parameters ask (base64, no padding).
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
    let output = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    PasswordHash(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        b64.encode([0x5a; 16]),
        b64.encode(output)
    ))
}

/// The hasher failed (bad parameters or a corrupt stored hash).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct HashError;

impl PasswordHasher {
    /// argon2id with OWASP's first recommended configuration: m = 19 MiB, t = 2, p = 1.
    pub fn owasp() -> PasswordHasher {
        Self::with_params(19 * 1024, 2, 1)
    }

    /// argon2id with explicit parameters (memory in KiB, iterations, lanes).
    pub fn with_params(m_kib: u32, t: u32, p: u32) -> PasswordHasher {
        let params = Params::new(m_kib, t, p, None).unwrap_or_default();
        let dummy = dummy_hash(&params);
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        PasswordHasher { argon, dummy }
    }

    /// Hashes a new password with a fresh random salt.
    pub fn hash(&self, pw: &NewPassword) -> Result<PasswordHash, HashError> {
        let salt_bytes = super::secret::random_bytes::<16>().map_err(|_| HashError)?;
        let salt = SaltString::encode_b64(&salt_bytes).map_err(|_| HashError)?;
        let h = self
            .argon
            .hash_password(pw.0.as_bytes(), &salt)
            .map_err(|_| HashError)?;
        Ok(PasswordHash(h.to_string()))
    }

    /// Verifies `pw` against `hash`. With `hash: None` (unknown user), verifies against a
    /// dummy hash of the same cost and returns false, so both cases take the same time.
    pub fn verify(&self, pw: &LoginPassword, hash: Option<&PasswordHash>) -> bool {
        let target = hash.unwrap_or(&self.dummy);
        let candidate = pw.0.as_deref().unwrap_or("\u{0}keygate: never matches");
        let ok = Phc::new(&target.0)
            .map(|phc| self.argon.verify_password(candidate.as_bytes(), &phc).is_ok())
            .unwrap_or(false);
        ok && hash.is_some() && pw.0.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> PasswordPolicy {
        PasswordPolicy::default()
    }

    #[test]
    fn policy_rules() {
        assert_eq!(
            NewPassword::parse("short", &policy(), &[]).unwrap_err(),
            PasswordError::TooShort(15)
        );
        assert_eq!(
            NewPassword::parse(&"ab1".repeat(400), &policy(), &[]).unwrap_err(),
            PasswordError::TooLong
        );
        for common in [
            "passwordpassword",
            "PasswordPassword",
            "123456789012345",
            "aaaaaaaaaaaaaaaaaa",
            "abcdefghijklmno",
            "987654321098765",
            "correct horse battery staple",
        ] {
            assert_eq!(
                NewPassword::parse(common, &policy(), &[]).unwrap_err(),
                PasswordError::Common,
                "{common}"
            );
        }
        assert_eq!(
            NewPassword::parse("alice-the-admin", &policy(), &["Alice-The-Admin"]).unwrap_err(),
            PasswordError::Common
        );
        assert!(NewPassword::parse("tangerine kite orbit", &policy(), &[]).is_ok());
        // Length counts characters, not bytes; spaces are kept.
        assert!(NewPassword::parse("ééééé ééééé éééé", &policy(), &[]).is_ok());
        assert_eq!(
            NewPassword::parse(" padded value ", &policy(), &[]).unwrap_err(),
            PasswordError::TooShort(15)
        );
    }

    #[test]
    fn breached_passwords_are_refused_and_unusual_passphrases_accepted() {
        // Ranks 55,890 and 58,055 of the source list: deep in it, and not caught by the
        // repetition or sequence rules.
        for deep in ["passwordstandard", "PasswordStandard", "1qa2ws3ed4rf5tg"] {
            assert_eq!(
                NewPassword::parse(deep, &policy(), &[]).unwrap_err(),
                PasswordError::Common,
                "{deep}"
            );
        }
        // With the lowest minimum length, 8-character entries count too (rank 50,001).
        let eight = PasswordPolicy { min_chars: 8 };
        assert_eq!(
            NewPassword::parse("catering", &eight, &[]).unwrap_err(),
            PasswordError::Common
        );
        for fine in [
            "marmalade orbit quietly 42 lanterns",
            "Quokka-Velvet-Sundial-Harbor",
            "passwordstandard!",
        ] {
            assert!(NewPassword::parse(fine, &policy(), &[]).is_ok(), "{fine}");
        }
    }

    #[test]
    #[cfg(feature = "password-list")]
    fn the_breach_list_holds_every_entry_of_the_text_list_sorted_and_nothing_else() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/common-passwords.txt")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 30_000, "{}", lines.len());
        for l in &lines {
            assert!(
                l.chars().count() >= 8 && l.nfkc().collect::<String>() == *l && l.to_lowercase() == *l,
                "{l}"
            );
        }
        // The embedded file is exactly what make_breach_hashes.py writes from the text.
        let mut want: Vec<[u8; 4]> = lines.iter().map(|l| breach_prefix(l)).collect();
        want.sort();
        want.dedup();
        let list = BREACHED.unwrap_or_default();
        assert_eq!(list, want.concat().as_slice(), "run shared/data/make_breach_hashes.py");
        for l in &lines {
            assert!(sorted_prefixes_contain(list, breach_prefix(l)), "{l}");
        }
        for absent in [
            "",
            "0",
            "zzzzzzzzzzzzzzzzzzzzzz",
            "passwordstandar",
            "passwordstandardx",
        ] {
            assert!(!sorted_prefixes_contain(list, breach_prefix(absent)), "{absent}");
        }
        assert!(!sorted_prefixes_contain(&[], [0; 4]));
        assert!(sorted_prefixes_contain(&[0, 0, 0, 1, 0, 0, 0, 2], [0, 0, 0, 2]));
    }

    #[test]
    fn hash_and_verify_with_normalization() {
        let hasher = PasswordHasher::with_params(64, 1, 1);
        // "ﬁ" (U+FB01) normalizes to "fi" under NFKC.
        let pw = NewPassword::parse("ﬁne tangerine kite", &policy(), &[]).unwrap();
        let h = hasher.hash(&pw).unwrap();
        assert!(h.as_str().starts_with("$argon2id$"));
        assert!(hasher.verify(&LoginPassword::new("fine tangerine kite"), Some(&h)));
        assert!(hasher.verify(&LoginPassword::new("ﬁne tangerine kite"), Some(&h)));
        assert!(!hasher.verify(&LoginPassword::new("Fine tangerine kite"), Some(&h)));
        assert!(!hasher.verify(&LoginPassword::new("ﬁne tangerine kite "), Some(&h)));
        assert!(!hasher.verify(&LoginPassword::new("keygate dummy password"), None));
        assert!(!hasher.verify(&LoginPassword::new(&"x".repeat(2000)), Some(&h)));
    }

    /// An unknown user's password is verified against the dummy with the same argon2 work as a
    /// known user's: the dummy must parse as a PHC string with the hasher's own parameters and
    /// output length (one that did not parse would skip argon2 and answer unknown users faster).
    #[test]
    fn the_dummy_hash_costs_what_a_real_hash_costs() {
        for hasher in [PasswordHasher::owasp(), PasswordHasher::with_params(64, 3, 1)] {
            let real = hasher
                .hash(&NewPassword::parse("tangerine kite orbit", &policy(), &[]).unwrap())
                .unwrap();
            let (dummy, real) = (Phc::new(&hasher.dummy.0).unwrap(), Phc::new(&real.0).unwrap());
            assert_eq!(dummy.algorithm, real.algorithm);
            assert_eq!(dummy.version, real.version);
            assert_eq!(dummy.params, real.params);
            assert_eq!(dummy.salt.map(|s| s.len()), real.salt.map(|s| s.len()));
            assert_eq!(dummy.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
            let candidate = hasher.argon.verify_password(b"anything", &dummy);
            assert_eq!(candidate, Err(argon2::password_hash::Error::Password));
        }
    }
}
