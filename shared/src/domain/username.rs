//! Usernames: shown as given (NFKC-normalized), compared by a key that is also case-folded.

use super::Invalid;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 128;

/// A valid username: NFKC-normalized, 1 to 128 characters, no control characters, no `:`
/// (HTTP Basic's separator), no leading or trailing white space.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username {
    display: String,
    key: UsernameKey,
}

/// The comparison key of a username: NFKC, case-folded, NFKC again. Two usernames are the same
/// account exactly when their keys are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct UsernameKey(String);

impl UsernameKey {
    /// The key as text (used as a storage key).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of any input, valid username or not. Login failures are counted on this, so
    /// that unknown and malformed usernames are treated like existing ones.
    pub fn of_any(raw: &str) -> UsernameKey {
        let nfkc: String = raw.nfkc().collect();
        UsernameKey(fold(&nfkc))
    }

    /// Rebuilds a key read back from storage.
    pub fn from_stored(s: String) -> UsernameKey {
        UsernameKey(s)
    }

    /// The key of a login failure counter that belongs to no username (a device cookie's,
    /// `domain::device_cookie`): `prefix:id`, which no valid username equals (`:` is refused).
    pub(crate) fn for_counter(prefix: &str, id: &str) -> UsernameKey {
        UsernameKey(format!("{prefix}:{id}"))
    }
}

fn fold(nfkc: &str) -> String {
    nfkc.to_lowercase().nfkc().collect()
}

impl Username {
    /// Parses and normalizes a username.
    pub fn parse(raw: &str) -> Result<Username, Invalid> {
        let display: String = raw.nfkc().collect();
        let chars = display.chars().count();
        if chars == 0 {
            return Err(Invalid("username must not be empty"));
        }
        if chars > MAX_USERNAME_CHARS {
            return Err(Invalid("username is too long"));
        }
        if display.chars().any(|c| c.is_control() || c == ':') {
            return Err(Invalid("username contains a forbidden character"));
        }
        if display.starts_with(char::is_whitespace) || display.ends_with(char::is_whitespace) {
            return Err(Invalid("username must not start or end with white space"));
        }
        let key = UsernameKey(fold(&display));
        Ok(Username { display, key })
    }

    /// The username as shown (NFKC-normalized, case kept).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The comparison key.
    pub fn key(&self) -> &UsernameKey {
        &self.key
    }
}

impl TryFrom<String> for Username {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        Username::parse(&s)
    }
}

impl From<Username> for String {
    fn from(u: Username) -> String {
        u.display
    }
}

impl std::fmt::Display for Username {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_case_and_compatibility_forms() {
        let a = Username::parse("Alice").unwrap();
        let b = Username::parse("ALICE").unwrap();
        let c = Username::parse("ａｌｉｃｅ").unwrap(); // full-width
        assert_eq!(a.key(), b.key());
        assert_eq!(a.key(), c.key());
        assert_eq!(a.as_str(), "Alice");
        assert_eq!(c.as_str(), "alice");
        assert_eq!(
            UsernameKey::of_any("ALİCE"),
            Username::parse("ALİCE").unwrap().key().clone()
        );
    }

    #[test]
    fn rejects_bad_usernames() {
        for bad in ["", " alice", "alice ", "a:b", "a\u{0}b", "a\nb"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse(&"x".repeat(129)).is_err());
        assert!(Username::parse(&"x".repeat(128)).is_ok());
    }
}
