//! The discovery document (RFC 8414 names, served as OpenID Connect discovery too): it
//! advertises exactly what the token and revocation endpoints accept.

use super::Keygate;
use serde::Serialize;

/// The extension grant of API keys (RFC 6749 section 4.5: an absolute URI). `api_key` is
/// accepted as its short alias.
pub const API_KEY_GRANT: &str = "urn:keygate:params:oauth:grant-type:api-key";

/// Every grant type the token endpoint accepts, under its advertised name.
pub const GRANT_TYPES: &[&str] = &["password", "client_credentials", "refresh_token", API_KEY_GRANT];

/// Client authentication at the token endpoint: public clients (`none`, a password or
/// refresh grant naming a `client_id`) and API keys as confidential clients, by HTTP Basic or
/// in the body.
pub const TOKEN_ENDPOINT_AUTH_METHODS: &[&str] = &["none", "client_secret_basic", "client_secret_post"];

/// The discovery document.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub token_endpoint: String,
    pub revocation_endpoint: String,
    pub grant_types_supported: &'static [&'static str],
    pub token_endpoint_auth_methods_supported: &'static [&'static str],
    pub revocation_endpoint_auth_methods_supported: &'static [&'static str],
    /// Empty: there is no authorization endpoint, so no `response_type` works.
    pub response_types_supported: &'static [&'static str],
    pub subject_types_supported: &'static [&'static str],
    pub claims_supported: &'static [&'static str],
}

impl Keygate {
    /// The discovery document for this issuer.
    pub fn discovery(&self) -> Discovery {
        let iss = &self.config.issuer;
        Discovery {
            issuer: iss.clone(),
            jwks_uri: format!("{iss}/.well-known/jwks.json"),
            token_endpoint: format!("{iss}/auth/token"),
            revocation_endpoint: format!("{iss}/auth/revoke"),
            grant_types_supported: GRANT_TYPES,
            token_endpoint_auth_methods_supported: TOKEN_ENDPOINT_AUTH_METHODS,
            revocation_endpoint_auth_methods_supported: &["none"],
            response_types_supported: &[],
            subject_types_supported: &["public"],
            claims_supported: &[
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "nbf",
                "jti",
                "client_id",
                "roles",
                "scope",
                "preferred_username",
            ],
        }
    }
}
