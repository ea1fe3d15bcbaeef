//! Role names, as carried in the `roles` and `scope` claims.

use super::Invalid;
use serde::{Deserialize, Serialize};

/// A role name: 1 to 64 characters of `A-Z a-z 0-9 _ - . :`. No spaces, since `scope` joins
/// roles with spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Role(String);

impl Role {
    /// Parses a role name.
    pub fn parse(s: &str) -> Result<Role, Invalid> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
        if ok {
            Ok(Role(s.to_owned()))
        } else {
            Err(Invalid("role names are 1-64 characters of A-Z a-z 0-9 _ - . :"))
        }
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Role {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Role, Invalid> {
        Role::parse(&s)
    }
}
impl From<Role> for String {
    fn from(r: Role) -> String {
        r.0
    }
}

/// A set of roles: sorted, without duplicates, at most 64 of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Role>", into = "Vec<Role>")]
pub struct Roles(Vec<Role>);

impl Roles {
    /// Builds a role set.
    pub fn new(mut roles: Vec<Role>) -> Result<Roles, Invalid> {
        roles.sort();
        roles.dedup();
        if roles.len() > 64 {
            return Err(Invalid("at most 64 roles"));
        }
        Ok(Roles(roles))
    }
    /// Parses role names.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Roles, Invalid> {
        Roles::new(
            names
                .iter()
                .map(|n| Role::parse(n.as_ref()))
                .collect::<Result<_, _>>()?,
        )
    }
    /// Whether `name` is among the roles.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|r| r.0 == name)
    }
    /// The names, in order.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|r| r.0.clone()).collect()
    }
    /// The names joined by spaces (the `scope` claim).
    pub fn scope(&self) -> String {
        self.names().join(" ")
    }
}

impl TryFrom<Vec<Role>> for Roles {
    type Error = Invalid;
    fn try_from(v: Vec<Role>) -> Result<Roles, Invalid> {
        Roles::new(v)
    }
}
impl From<Roles> for Vec<Role> {
    fn from(r: Roles) -> Vec<Role> {
        r.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_validated_sorted_and_deduplicated() {
        let r = Roles::parse(&["writer", "admin", "writer"]).unwrap();
        assert_eq!(r.names(), vec!["admin", "writer"]);
        assert_eq!(r.scope(), "admin writer");
        assert!(r.contains("admin") && !r.contains("root"));
        for bad in ["", "has space", "ü", &"x".repeat(65)] {
            assert!(Role::parse(bad).is_err(), "{bad}");
        }
    }
}
