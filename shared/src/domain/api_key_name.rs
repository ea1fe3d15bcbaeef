//! API key names: the one rule for a key's label, wherever a key is made or moved in (the admin
//! API, `keygate apikey create`, `keygate import`).

use super::Invalid;

/// Longest API key name, in characters.
pub const MAX_API_KEY_NAME_CHARS: usize = 128;

/// An API key's name: white space at either end removed, then 1 to 128 characters, none of
/// them a control character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyName(String);

impl ApiKeyName {
    /// Parses a name (trimmed first).
    pub fn parse(raw: &str) -> Result<ApiKeyName, Invalid> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars == 0 || chars > MAX_API_KEY_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(Invalid("name must be 1-128 printable characters"));
        }
        Ok(ApiKeyName(name.to_owned()))
    }
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The name, for a stored record.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl std::str::FromStr for ApiKeyName {
    type Err = Invalid;
    fn from_str(s: &str) -> Result<ApiKeyName, Invalid> {
        ApiKeyName::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_1_to_128_printable_characters() {
        let longest = "é".repeat(MAX_API_KEY_NAME_CHARS);
        assert_eq!(ApiKeyName::parse(&longest).unwrap().as_str(), longest);
        assert_eq!(ApiKeyName::parse("  billing ").unwrap().as_str(), "billing");
        assert_eq!(
            ApiKeyName::parse("ci: deploy (prod)").unwrap().as_str(),
            "ci: deploy (prod)"
        );
        for bad in [
            String::new(),
            "   ".into(),
            "x".repeat(MAX_API_KEY_NAME_CHARS + 1),
            "a\nb".into(),
            "a\u{7f}b".into(),
            "a\u{85}b".into(),
        ] {
            assert!(ApiKeyName::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
