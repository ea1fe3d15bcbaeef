//! The claims of a keygate access token (RFC 9068 profile).

use serde::{Deserialize, Serialize};

/// The claims keygate puts in every access token.
///
/// `sub` is the account's stable id (never the username), or `apikey:<key_id>` for tokens
/// obtained with an API key. `roles` is the list of role names; `scope` carries the same
/// roles space-separated, for tools that read OAuth scopes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: `KEYGATE_ISSUER`.
    pub iss: String,
    /// Subject: the account's stable id, or `apikey:<key_id>`.
    pub sub: String,
    /// Audience: `KEYGATE_AUDIENCE`.
    pub aud: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: i64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Not before, seconds since the Unix epoch (keygate sets it to `iat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Unique token id.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Role names.
    pub roles: Vec<String>,
    /// The roles, space-separated.
    pub scope: String,
    /// The account's username (absent for API-key tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
}

impl AccessClaims {
    /// Whether the token carries `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}
