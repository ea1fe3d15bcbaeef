//! Usernames: accepted by RFC 8265's UsernameCaseMapped profile (PRECIS), shown as given
//! (NFKC-normalized), compared by a key that is also case-folded, and kept apart from look-alikes
//! by the confusable skeleton (Unicode TR39) of that key.

use super::Invalid;
use precis_profiles::UsernameCaseMapped;
use precis_profiles::precis_core::profile::Profile;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Longest username, in characters.
pub const MAX_USERNAME_CHARS: usize = 128;

/// A valid username: NFKC-normalized, 1 to 128 characters, no `:` (HTTP Basic's separator), and
/// accepted by RFC 8265's UsernameCaseMapped profile: letters, digits and printable ASCII, no
/// spaces, no control, format or invisible characters (zero-width space, bidi controls), the
/// bidi rule of RFC 5893. Accounts stored before that profile applied are read back with the
/// older rules ([`Username::from_stored`]).
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

/// The confusable skeleton (Unicode TR39, section 4) of a username's key. Two usernames whose
/// skeletons are equal look alike (`admin` and `аdmin` with a Cyrillic `а`, `admın` with a
/// dotless `ı`); a new account's skeleton must not be one an existing account has. Taken of the
/// case-folded key, so that case does not hide a look-alike (`АDMIN` in Cyrillic and `admin`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsernameSkeleton(String);

impl UsernameSkeleton {
    /// The skeleton of a username key (also of a stored one, whatever rules it was made under).
    pub fn of(key: &UsernameKey) -> UsernameSkeleton {
        UsernameSkeleton(confusables::skeleton(key.as_str()))
    }

    /// The skeleton as text (used as a storage key).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// TR39's skeleton over the data of `shared/data/confusables.bin`: the `unicode-security`
/// crate's own tables (`make_confusables.py` copies them; a unit test compares every code point
/// with the crate), kept as flat little-endian words. Written here rather than calling the
/// crate because its table is one pointer and one dynamic relocation per entry, about 360 KB in
/// each function binary that can create an account, against 94 KB here (BENCHMARKS.md, "Binary
/// sizes").
mod confusables {
    use unicode_normalization::UnicodeNormalization;

    static DATA: &[u8] = include_bytes!("../../data/confusables.bin");

    fn word(i: usize) -> Option<u32> {
        let b = DATA.get(i * 4..i * 4 + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// (entries, targets, ignorable ranges) from the header, after the `KGCF` magic.
    fn counts() -> Option<(usize, usize, usize)> {
        (DATA.get(..4)? == b"KGCF").then_some(())?;
        Some((word(1)? as usize, word(2)? as usize, word(3)? as usize))
    }

    /// Whether `c` is a default-ignorable code point (dropped from skeletons).
    fn ignorable(c: char, entries: usize, targets: usize, ranges: usize) -> bool {
        let base = 4 + entries * 2 + targets;
        let (mut lo, mut hi) = (0usize, ranges);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (Some(first), Some(last)) = (word(base + mid * 2), word(base + mid * 2 + 1)) else {
                return false;
            };
            if (c as u32) < first {
                hi = mid;
            } else if (c as u32) > last {
                lo = mid + 1;
            } else {
                return true;
            }
        }
        false
    }

    /// `c`'s prototype, pushed onto `out`; `false` when `c` has none (it is its own).
    fn push_prototype(c: char, entries: usize, out: &mut String) -> bool {
        let (mut lo, mut hi) = (0usize, entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (Some(src), Some(packed)) = (word(4 + mid * 2), word(4 + mid * 2 + 1)) else {
                return false;
            };
            match (c as u32).cmp(&src) {
                std::cmp::Ordering::Less => hi = mid,
                std::cmp::Ordering::Greater => lo = mid + 1,
                std::cmp::Ordering::Equal => {
                    let (offset, len) = ((packed >> 8) as usize, (packed & 0xff) as usize);
                    let start = 4 + entries * 2 + offset;
                    for t in (start..start + len).filter_map(word).filter_map(char::from_u32) {
                        out.push(t);
                    }
                    return true;
                }
            }
        }
        false
    }

    /// TR39 section 4: NFD, default-ignorables dropped, each character replaced by its
    /// prototype, NFD again.
    pub(super) fn skeleton(s: &str) -> String {
        let Some((entries, targets, ranges)) = counts() else {
            return s.nfd().collect();
        };
        let mut mapped = String::with_capacity(s.len());
        for c in s.nfd() {
            if ignorable(c, entries, targets, ranges) {
                continue;
            }
            if !push_prototype(c, entries, &mut mapped) {
                mapped.push(c);
            }
        }
        mapped.nfd().collect()
    }
}

impl Username {
    /// Parses and normalizes a new username (the rules of [`Username`]).
    pub fn parse(raw: &str) -> Result<Username, Invalid> {
        let username = Username::from_stored(raw)?;
        if UsernameCaseMapped::new().enforce(username.as_str()).is_err() {
            // `.ci/schemathesis_hooks.py` tells this refusal by its message's start.
            return Err(Invalid(
                "username may hold only letters, digits and printable ASCII symbols (no spaces, no invisible characters)",
            ));
        }
        Ok(username)
    }

    /// Rebuilds a username read back from storage, or from an export of another keygate: the
    /// rules before RFC 8265 applied (NFKC, 1 to 128 characters, no control characters, no `:`,
    /// no leading or trailing white space), so accounts created under them keep working.
    pub fn from_stored(raw: &str) -> Result<Username, Invalid> {
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

    /// The confusable skeleton of the key.
    pub fn skeleton(&self) -> UsernameSkeleton {
        UsernameSkeleton::of(&self.key)
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
            assert!(Username::from_stored(bad).is_err(), "{bad:?}");
        }
        assert!(Username::parse(&"x".repeat(129)).is_err());
        assert!(Username::parse(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn new_usernames_follow_the_username_case_mapped_profile() {
        let refused = [
            "admin\u{200b}", // zero-width space
            "\u{200b}admin", // zero-width space, leading
            "ad\u{200d}min", // zero-width joiner outside its context
            "ad\u{00ad}min", // soft hyphen
            "ad\u{2060}min", // word joiner
            "\u{202e}nimda", // right-to-left override
            "ad\u{2066}min", // left-to-right isolate
            "ad\u{2069}min", // pop directional isolate
            "ad\u{200e}min", // left-to-right mark
            "ad\u{feff}min", // zero-width no-break space
            "ad min",        // space
            "ad\u{00a0}min", // no-break space (NFKC: a space)
            "ad\u{3000}min", // ideographic space
            "ad\tmin",       // tab
        ];
        for bad in refused {
            let e = Username::parse(bad).unwrap_err();
            assert!(
                !e.0.contains("admin") && !e.0.contains("nimda"),
                "the message echoes the input"
            );
        }
        for good in [
            "admin",
            "Alice",
            "ann.lee-2_x@example.com",
            "jörg",
            "мария",
            "ｊｏｅ",
            "李小龙",
            "שלום",
        ] {
            assert!(Username::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn usernames_stored_under_the_older_rules_still_read() {
        let legacy = Username::from_stored("ann lee").unwrap();
        assert_eq!(legacy.key(), &UsernameKey::of_any("Ann Lee"));
        assert!(Username::parse("ann lee").is_err());
        // The key is derived as before: stored keys and logins keep matching.
        assert_eq!(
            Username::from_stored("admin\u{200b}").unwrap().key().as_str(),
            "admin\u{200b}"
        );
    }

    #[test]
    fn skeletons_agree_with_the_unicode_security_crate_on_every_code_point() {
        let mut checked = 0;
        for cp in 0..=0x10_ffffu32 {
            let Some(c) = char::from_u32(cp) else { continue };
            let one = c.to_string();
            let theirs: String = unicode_security::skeleton(&one).collect();
            assert_eq!(confusables::skeleton(&one), theirs, "U+{cp:04X}");
            checked += 1;
        }
        assert!(checked > 1_100_000);
        for s in ["admin", "\u{430}dm\u{131}n", "a\u{200b}d\u{301}min", "ǅungla", "ﬃ"] {
            let theirs: String = unicode_security::skeleton(s).collect();
            assert_eq!(confusables::skeleton(s), theirs, "{s:?}");
        }
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        let admin = Username::parse("admin").unwrap().skeleton();
        for alike in ["аdmin", "admın", "АDMIN", "Admin", "ａｄｍｉｎ"] {
            assert_eq!(Username::parse(alike).unwrap().skeleton(), admin, "{alike:?}");
        }
        for other in ["admins", "adm1n", "bdmin"] {
            assert_ne!(Username::parse(other).unwrap().skeleton(), admin, "{other:?}");
        }
        // A name stored before the profile applied has a skeleton too, invisible characters
        // dropped (TR39 removes default-ignorable code points).
        let legacy = Username::from_stored("admin\u{200b}").unwrap();
        assert_eq!(legacy.skeleton(), admin);
        assert_eq!(UsernameSkeleton::of(legacy.key()), admin);
    }
}
