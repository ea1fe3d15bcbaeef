//! The OpenID Provider's rules (contract section 7): registered clients and their redirect
//! URIs (exact match, RFC 8252 section 7.3 loopback ports), the authorization request parsed
//! once into typed parts (OpenID Connect Core 1.0 section 3.1.2.1, RFC 6749 section 4.1.1),
//! PKCE S256 (RFC 7636; `plain` refused), and the ID token's claims and `at_hash`.
//!
//! Parsing follows RFC 6749 section 4.1.2.1's two kinds of failure: a request whose client or
//! redirect URI cannot be trusted is an [`UntrustedRequest`] (shown on a page, never
//! redirected); every later failure is an [`AuthorizeError`] that is redirected back to the
//! client with `error` and `error_description`.

use super::{Invalid, Role, UnixTime};
use aws_lc_rs::digest;
use base64::Engine as _;
use std::collections::BTreeMap;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Longest redirect URI keygate registers, in bytes.
pub const MAX_REDIRECT_URI_BYTES: usize = 2048;
/// Most redirect URIs one client registers.
pub const MAX_REDIRECT_URIS: usize = 32;
/// Longest `state` and `nonce`, in bytes.
pub const MAX_STATE_BYTES: usize = 1024;
/// How long an authorization code lives, seconds (contract section 7).
pub const CODE_TTL_SECONDS: i64 = 60;

/// The grant type of the device authorization grant (RFC 8628).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Whether a client keeps a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientType {
    /// A single-page, mobile or desktop app: no secret, PKCE always.
    Public,
    /// A web backend (or an ALB): a secret, `client_secret_basic` or `client_secret_post`.
    Confidential,
}

/// A grant a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    DeviceCode,
}

impl GrantType {
    /// Parses a grant type's registered name.
    pub fn parse(s: &str) -> Result<GrantType, Invalid> {
        match s {
            "authorization_code" => Ok(GrantType::AuthorizationCode),
            "refresh_token" => Ok(GrantType::RefreshToken),
            DEVICE_CODE_GRANT => Ok(GrantType::DeviceCode),
            _ => Err(Invalid(
                "grant_types may hold authorization_code, refresh_token and urn:ietf:params:oauth:grant-type:device_code",
            )),
        }
    }

    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::DeviceCode => DEVICE_CODE_GRANT,
        }
    }
}

/// A redirect URI as registered: an absolute `https` URI without a fragment; a loopback
/// `http://127.0.0.1/PATH` or `http://[::1]/PATH` registered without a port, which matches that
/// URI with any port (RFC 8252 section 7.3); or, for development, `http` on host `localhost`
/// exactly (any port, matched exactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    text: String,
    /// For a loopback registration: the URI's text before and after where a port would stand.
    loopback: Option<(String, String)>,
}

impl RedirectUri {
    /// Parses a redirect URI to register (or a post-logout redirect URI: the same rules).
    pub fn parse(s: &str) -> Result<RedirectUri, Invalid> {
        const BAD: Invalid = Invalid(
            "a redirect URI is an absolute https URI without a fragment, http://127.0.0.1/PATH or http://[::1]/PATH without a port, or http://localhost[:PORT]/PATH",
        );
        if s.is_empty() || s.len() > MAX_REDIRECT_URI_BYTES || s.contains('#') {
            return Err(BAD);
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(BAD);
        }
        let url = url::Url::parse(s).map_err(|_| BAD)?;
        // The text as registered must be the URL as parsed, so that matching the string is
        // matching the URL (no spelling a browser would read otherwise).
        if url.as_str() != s && url.as_str() != format!("{s}/") {
            return Err(BAD);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(BAD);
        }
        let host = url.host_str().ok_or(BAD)?;
        match url.scheme() {
            "https" => Ok(RedirectUri {
                text: s.to_owned(),
                loopback: None,
            }),
            "http" if host == "localhost" => Ok(RedirectUri {
                text: s.to_owned(),
                loopback: None,
            }),
            "http" if host == "127.0.0.1" || host == "[::1]" => {
                if url.port().is_some() {
                    return Err(Invalid(
                        "a loopback redirect URI is registered without a port: any port matches it",
                    ));
                }
                let authority = format!("http://{host}");
                let rest = s.strip_prefix(&authority).ok_or(BAD)?;
                Ok(RedirectUri {
                    text: s.to_owned(),
                    loopback: Some((authority, rest.to_owned())),
                })
            }
            _ => Err(BAD),
        }
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `presented` (a request's `redirect_uri`) is this URI: the exact string, except
    /// that a loopback registration matches its URI with any port.
    pub fn matches(&self, presented: &str) -> bool {
        if presented == self.text {
            return true;
        }
        let Some((authority, rest)) = &self.loopback else {
            return false;
        };
        let Some(after) = presented.strip_prefix(authority.as_str()) else {
            return false;
        };
        let Some(after) = after.strip_prefix(':') else {
            return false;
        };
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let (port, tail) = after.split_at(digits);
        (1..=5).contains(&port.len())
            && !port.starts_with('0')
            && port.parse::<u16>().is_ok_and(|p| p > 0)
            && tail == rest
    }
}

/// What a client registration is made of, parsed (the admin API's `POST /admin/clients`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub name: String,
    pub client_type: ClientType,
    pub redirect_uris: Vec<RedirectUri>,
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    pub grant_types: Vec<GrantType>,
    pub require_pkce: bool,
}

impl ClientSettings {
    /// Parses a registration. `grant_types` defaults to `authorization_code` and
    /// `refresh_token`; `require_pkce` to true, and may be false only for a confidential client
    /// (an ALB sends no PKCE); a client with the code grant needs a redirect URI, one whose only
    /// grant is the device grant may have none.
    pub fn parse(
        name: &str,
        client_type: ClientType,
        redirect_uris: &[String],
        post_logout_redirect_uris: &[String],
        grant_types: Option<&[String]>,
        require_pkce: Option<bool>,
    ) -> Result<ClientSettings, Invalid> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
            return Err(Invalid("name must be 1 to 128 characters, without control characters"));
        }
        if redirect_uris.len() > MAX_REDIRECT_URIS || post_logout_redirect_uris.len() > MAX_REDIRECT_URIS {
            return Err(Invalid("at most 32 redirect URIs"));
        }
        let parse_all = |uris: &[String]| {
            uris.iter()
                .map(|u| RedirectUri::parse(u))
                .collect::<Result<Vec<_>, _>>()
        };
        let redirect_uris = parse_all(redirect_uris)?;
        let post_logout_redirect_uris = parse_all(post_logout_redirect_uris)?;
        let mut grants = match grant_types {
            None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            Some(g) => g.iter().map(|g| GrantType::parse(g)).collect::<Result<Vec<_>, _>>()?,
        };
        grants.sort();
        grants.dedup();
        if grants.is_empty() || grants == [GrantType::RefreshToken] {
            return Err(Invalid("grant_types needs authorization_code or the device grant"));
        }
        if grants.contains(&GrantType::AuthorizationCode) && redirect_uris.is_empty() {
            return Err(Invalid(
                "a client with the authorization_code grant needs a redirect URI",
            ));
        }
        let require_pkce = require_pkce.unwrap_or(true);
        if !require_pkce && client_type == ClientType::Public {
            return Err(Invalid("a public client always uses PKCE"));
        }
        Ok(ClientSettings {
            name: name.to_owned(),
            client_type,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types: grants,
            require_pkce,
        })
    }

    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// The registered redirect URI that `presented` is, if any.
    pub fn redirect_uri(&self, presented: &str) -> Option<&RedirectUri> {
        self.redirect_uris.iter().find(|r| r.matches(presented))
    }

    /// The registered post-logout redirect URI that `presented` is, if any.
    pub fn post_logout_redirect_uri(&self, presented: &str) -> Option<&RedirectUri> {
        self.post_logout_redirect_uris.iter().find(|r| r.matches(presented))
    }
}

/// The parameters of an authorization request (query or form), each at most once (RFC 6749
/// section 3.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeParams(BTreeMap<String, String>);

/// A request whose client or redirect URI cannot be trusted: shown on keygate's own page,
/// never redirected (RFC 6749 section 4.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UntrustedRequest(pub &'static str);

impl AuthorizeParams {
    /// Collects `pairs`; a parameter given twice makes the whole request untrusted (which
    /// `redirect_uri` would be meant?). Empty values count as absent (RFC 6749 section 3.1).
    pub fn parse<K: AsRef<str>, V: AsRef<str>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<AuthorizeParams, UntrustedRequest> {
        let mut map = BTreeMap::new();
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            if v.is_empty() {
                continue;
            }
            if map.insert(k.to_owned(), v.to_owned()).is_some() {
                return Err(UntrustedRequest("a parameter is given more than once"));
            }
        }
        Ok(AuthorizeParams(map))
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The `client_id`, or why the request cannot be trusted.
    pub fn client_id(&self) -> Result<&str, UntrustedRequest> {
        self.get("client_id").ok_or(UntrustedRequest("client_id is missing"))
    }

    /// The `redirect_uri`, or why the request cannot be trusted (OpenID Connect requires it).
    pub fn redirect_uri(&self) -> Result<&str, UntrustedRequest> {
        self.get("redirect_uri")
            .ok_or(UntrustedRequest("redirect_uri is missing"))
    }
}

/// A failure redirected back to the client (RFC 6749 section 4.1.2.1, OpenID Connect Core
/// section 3.1.2.6): `error` is one of the registered codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct AuthorizeError {
    pub error: &'static str,
    pub description: &'static str,
}

impl AuthorizeError {
    const fn new(error: &'static str, description: &'static str) -> AuthorizeError {
        AuthorizeError { error, description }
    }
    /// `prompt=none` without a live login.
    pub const LOGIN_REQUIRED: AuthorizeError = AuthorizeError::new("login_required", "the person is not signed in");
    /// The person denied, or is not allowed.
    pub const ACCESS_DENIED: AuthorizeError = AuthorizeError::new("access_denied", "the request was denied");
}

/// A PKCE code challenge, method S256 (RFC 7636 section 4.2).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CodeChallenge(String);

/// Whether `s` is 43 to 128 characters of RFC 7636's unreserved set.
fn pkce_text(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

impl CodeChallenge {
    /// Parses `code_challenge` with its method: only S256; a challenge without a method is
    /// `plain` (RFC 7636 section 4.3), and refused like it.
    pub fn parse(challenge: &str, method: Option<&str>) -> Result<CodeChallenge, AuthorizeError> {
        if method != Some("S256") {
            return Err(AuthorizeError::new(
                "invalid_request",
                "code_challenge_method must be S256",
            ));
        }
        // BASE64URL(SHA-256) is exactly 43 characters.
        if challenge.len() != 43 || !pkce_text(challenge) {
            return Err(AuthorizeError::new(
                "invalid_request",
                "code_challenge must be the base64url SHA-256 of the verifier",
            ));
        }
        Ok(CodeChallenge(challenge.to_owned()))
    }

    /// Rebuilds a challenge read back from storage.
    pub fn from_stored(s: String) -> CodeChallenge {
        CodeChallenge(s)
    }

    /// The challenge as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` (the token request's `code_verifier`) is this challenge's: 43 to 128
    /// unreserved characters whose base64url SHA-256 is the challenge (compared in constant
    /// time: the challenge is public, but the comparison costs nothing).
    pub fn verifies(&self, verifier: &str) -> bool {
        if !pkce_text(verifier) {
            return false;
        }
        let hash = B64.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
        subtle::ConstantTimeEq::ct_eq(hash.as_bytes(), self.0.as_bytes()).into()
    }
}

/// What the authorization request asks about the login (`prompt`, `max_age`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prompt {
    /// A live login is used, else the login page.
    #[default]
    Default,
    /// Only a live login; else `login_required`, no page.
    None,
    /// Always the login page, even with a live login.
    Login,
}

/// The scopes an authorization request asks for: OpenID Connect's, plus role names that
/// narrow the access token's roles (contract section 2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    pub openid: bool,
    pub profile: bool,
    pub email: bool,
    pub offline_access: bool,
    /// Role names asked for; empty: every role of the account.
    pub roles: Vec<String>,
}

impl Scopes {
    /// Parses a space-separated `scope`; a token that is neither a known scope nor a valid
    /// role name is `invalid_scope`.
    pub fn parse(scope: Option<&str>) -> Result<Scopes, AuthorizeError> {
        let mut s = Scopes::default();
        for token in scope.unwrap_or_default().split(' ').filter(|t| !t.is_empty()) {
            match token {
                "openid" => s.openid = true,
                "profile" => s.profile = true,
                "email" => s.email = true,
                "offline_access" => s.offline_access = true,
                role => {
                    Role::parse(role).map_err(|_| {
                        AuthorizeError::new("invalid_scope", "a scope is neither known nor a role name")
                    })?;
                    if !s.roles.iter().any(|r| r == role) {
                        s.roles.push(role.to_owned());
                    }
                }
            }
        }
        Ok(s)
    }

    /// The `scope` as granted, space-separated, in a stable order.
    pub fn to_scope_string(&self) -> String {
        let mut out: Vec<&str> = Vec::new();
        for (on, name) in [
            (self.openid, "openid"),
            (self.profile, "profile"),
            (self.email, "email"),
            (self.offline_access, "offline_access"),
        ] {
            if on {
                out.push(name);
            }
        }
        out.extend(self.roles.iter().map(String::as_str));
        out.join(" ")
    }
}

/// An authorization request from a known client to one of its registered redirect URIs,
/// parsed: what the login, the code and the token answer need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: String,
    /// As the request gave it (a loopback URI with its port): the code is bound to it.
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    /// Seconds: a login older than this is not used.
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
}

impl AuthorizationRequest {
    /// Parses the rest of a request whose client (`settings`, id `client_id`) and redirect URI
    /// were found: every failure here is redirected to `redirect_uri`.
    pub fn parse(
        params: &AuthorizeParams,
        client_id: &str,
        settings: &ClientSettings,
        redirect_uri: &str,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        match params.get("response_type") {
            Some("code") => {}
            Some(_) => {
                return Err(AuthorizeError::new(
                    "unsupported_response_type",
                    "response_type must be code",
                ));
            }
            None => return Err(AuthorizeError::new("invalid_request", "response_type is missing")),
        }
        if !settings.allows(GrantType::AuthorizationCode) {
            return Err(AuthorizeError::new(
                "unauthorized_client",
                "this client may not use the authorization code grant",
            ));
        }
        if params.get("request").is_some() || params.get("request_uri").is_some() {
            return Err(AuthorizeError::new(
                "request_not_supported",
                "request objects are not supported",
            ));
        }
        let scopes = Scopes::parse(params.get("scope"))?;
        let code_challenge = match params.get("code_challenge") {
            Some(c) => Some(CodeChallenge::parse(c, params.get("code_challenge_method"))?),
            None if params.get("code_challenge_method").is_some() => {
                return Err(AuthorizeError::new("invalid_request", "code_challenge is missing"));
            }
            None if settings.require_pkce => {
                return Err(AuthorizeError::new(
                    "invalid_request",
                    "this client requires PKCE: code_challenge with code_challenge_method S256",
                ));
            }
            None => None,
        };
        let prompt = parse_prompt(params.get("prompt"))?;
        let max_age = match params.get("max_age") {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|n| (0..=315_360_000).contains(n)).ok_or(
                AuthorizeError::new("invalid_request", "max_age must be a number of seconds"),
            )?),
        };
        let bounded = |name: &'static str| -> Result<Option<String>, AuthorizeError> {
            match params.get(name) {
                Some(v) if v.len() > MAX_STATE_BYTES => Err(AuthorizeError::new(
                    "invalid_request",
                    "state, nonce and login_hint are at most 1024 bytes",
                )),
                v => Ok(v.map(str::to_owned)),
            }
        };
        Ok(AuthorizationRequest {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes,
            state: bounded("state")?,
            nonce: bounded("nonce")?,
            code_challenge,
            prompt,
            max_age,
            login_hint: bounded("login_hint")?,
        })
    }

    /// Whether a login made at `auth_time` may be used now for this request (no
    /// `prompt=login`, and not older than `max_age`).
    pub fn accepts_login(&self, auth_time: UnixTime, now: UnixTime) -> bool {
        self.prompt != Prompt::Login && self.max_age.is_none_or(|max| now - auth_time <= max)
    }
}

/// `prompt`: `none` alone, `login`, and the consent values a first-party provider has nothing
/// to ask about (`consent`, `select_account`: accepted, no page of their own).
fn parse_prompt(prompt: Option<&str>) -> Result<Prompt, AuthorizeError> {
    let Some(prompt) = prompt else {
        return Ok(Prompt::Default);
    };
    let values: Vec<&str> = prompt.split(' ').filter(|v| !v.is_empty()).collect();
    if values.contains(&"none") {
        if values.len() > 1 {
            return Err(AuthorizeError::new(
                "invalid_request",
                "prompt=none may not be combined with other values",
            ));
        }
        return Ok(Prompt::None);
    }
    let mut out = Prompt::Default;
    for v in values {
        match v {
            "login" => out = Prompt::Login,
            "consent" | "select_account" => {}
            _ => {
                return Err(AuthorizeError::new(
                    "invalid_request",
                    "prompt must be none, login, consent or select_account",
                ));
            }
        }
    }
    Ok(out)
}

/// The `at_hash` of an access token for a signature algorithm (OpenID Connect Core section
/// 3.1.3.6): the base64url left half of the token's hash by the algorithm's hash function
/// (SHA-256 for RS256 and ES256, SHA-512 for EdDSA with Ed25519).
pub fn at_hash(access_token: &str, alg: &str) -> String {
    let algorithm = if alg == "EdDSA" {
        &digest::SHA512
    } else {
        &digest::SHA256
    };
    let hash = digest::digest(algorithm, access_token.as_bytes());
    let bytes = hash.as_ref();
    B64.encode(&bytes[..bytes.len() / 2])
}

/// Authentication methods of a login (RFC 8176), as `amr` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginMethod {
    Password,
    PasswordAndOtp,
    PasswordAndPasskey,
    Passkey,
}

impl LoginMethod {
    /// The `amr` claim of tokens from such a login (contract sections 7 and 8).
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            LoginMethod::Password => &["pwd"],
            LoginMethod::PasswordAndOtp => &["pwd", "otp", "mfa"],
            LoginMethod::PasswordAndPasskey => &["pwd", "hwk", "mfa"],
            LoginMethod::Passkey => &["hwk", "user"],
        }
    }
}

/// An ID token's claims (OpenID Connect Core section 2; header `typ: JWT`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: UnixTime,
    pub iat: UnixTime,
    pub auth_time: UnixTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub at_hash: String,
    pub sid: String,
    pub amr: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(client_type: ClientType, uris: &[&str], require_pkce: Option<bool>) -> Result<ClientSettings, Invalid> {
        let uris: Vec<String> = uris.iter().map(|s| s.to_string()).collect();
        ClientSettings::parse("App", client_type, &uris, &[], None, require_pkce)
    }

    fn params(pairs: &[(&str, &str)]) -> AuthorizeParams {
        AuthorizeParams::parse(pairs.iter().copied()).unwrap()
    }

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn redirect_uris_are_https_loopback_without_port_or_localhost() {
        for ok in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?x=1",
            "http://127.0.0.1/callback",
            "http://[::1]/callback",
            "http://localhost:3000/callback",
            "http://localhost/cb",
            "https://example.com:8443/",
        ] {
            assert!(RedirectUri::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/callback",
            "app.example.com/cb",
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "http://127.0.0.1:8080/callback",
            "http://[::1]:8080/callback",
            "ftp://example.com/",
            "javascript:alert(1)",
            "https://user:pw@example.com/cb",
            "https://example.com/c b",
            "HTTPS://EXAMPLE.COM/cb",
            "https://example.com/../cb",
            "http://localhost.evil.com/cb",
            "custom.scheme:/cb",
        ] {
            assert!(RedirectUri::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn matching_is_exact_but_for_the_loopback_port() {
        let https = RedirectUri::parse("https://app.example.com/cb").unwrap();
        assert!(https.matches("https://app.example.com/cb"));
        for no in [
            "https://app.example.com/cb/",
            "https://app.example.com/CB",
            "https://app.example.com/cb?x",
            "https://app.example.com:443/cb",
            "https://APP.example.com/cb",
        ] {
            assert!(!https.matches(no), "{no}");
        }
        let loop4 = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        for yes in [
            "http://127.0.0.1/cb",
            "http://127.0.0.1:1/cb",
            "http://127.0.0.1:51004/cb",
        ] {
            assert!(loop4.matches(yes), "{yes}");
        }
        for no in [
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:08080/cb",
            "http://127.0.0.1:80/cb/x",
            "http://127.0.0.1:/cb",
            "http://127.0.0.1:80@evil.com/cb",
            "http://127.0.0.2:80/cb",
            "http://localhost:80/cb",
        ] {
            assert!(!loop4.matches(no), "{no}");
        }
        let loop6 = RedirectUri::parse("http://[::1]/cb").unwrap();
        assert!(loop6.matches("http://[::1]:8080/cb"));
        let local = RedirectUri::parse("http://localhost:3000/cb").unwrap();
        assert!(local.matches("http://localhost:3000/cb"));
        assert!(
            !local.matches("http://localhost:3001/cb"),
            "localhost is matched exactly"
        );
    }

    #[test]
    fn client_settings_follow_the_contract() {
        let public = settings(ClientType::Public, &["https://a.example/cb"], None).unwrap();
        assert!(public.require_pkce);
        assert_eq!(
            public.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert!(
            settings(ClientType::Public, &["https://a.example/cb"], Some(false)).is_err(),
            "a public client always uses PKCE"
        );
        let alb = settings(
            ClientType::Confidential,
            &["https://a.example/oauth2/idpresponse"],
            Some(false),
        )
        .unwrap();
        assert!(!alb.require_pkce);
        assert!(
            settings(ClientType::Public, &[], None).is_err(),
            "the code grant needs a redirect URI"
        );
        let device = ClientSettings::parse(
            "TV",
            ClientType::Public,
            &[],
            &[],
            Some(&[DEVICE_CODE_GRANT.to_owned(), "refresh_token".to_owned()]),
            None,
        )
        .unwrap();
        assert!(device.allows(GrantType::DeviceCode) && !device.allows(GrantType::AuthorizationCode));
        for bad in [vec!["password".to_owned()], vec!["refresh_token".to_owned()], vec![]] {
            assert!(
                ClientSettings::parse("x", ClientType::Public, &["https://a/cb".into()], &[], Some(&bad), None)
                    .is_err(),
                "{bad:?}"
            );
        }
        assert!(ClientSettings::parse(" ", ClientType::Public, &["https://a/cb".into()], &[], None, None).is_err());
        assert!(ClientSettings::parse("a", ClientType::Public, &["http://evil/cb".into()], &[], None, None).is_err());
    }

    #[test]
    fn a_repeated_or_missing_client_or_redirect_uri_is_never_redirected() {
        let twice = AuthorizeParams::parse([("redirect_uri", "https://a/cb"), ("redirect_uri", "https://evil/cb")]);
        assert!(twice.is_err());
        let p = params(&[("response_type", "code"), ("client_id", "")]);
        assert!(p.client_id().is_err(), "an empty value is absent");
        assert!(p.redirect_uri().is_err());
        let p = params(&[("client_id", "c1"), ("redirect_uri", "https://a/cb")]);
        assert_eq!((p.client_id(), p.redirect_uri()), (Ok("c1"), Ok("https://a/cb")));
    }

    #[test]
    fn authorization_requests_parse_into_their_parts() {
        let s = settings(ClientType::Public, &["https://a.example/cb"], None).unwrap();
        let p = params(&[
            ("response_type", "code"),
            ("client_id", "c1"),
            ("redirect_uri", "https://a.example/cb"),
            ("scope", "openid email reader offline_access reader"),
            ("state", "xyz"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
            ("prompt", "login"),
            ("max_age", "300"),
        ]);
        let r = AuthorizationRequest::parse(&p, "c1", &s, "https://a.example/cb").unwrap();
        assert!(r.scopes.openid && r.scopes.email && r.scopes.offline_access && !r.scopes.profile);
        assert_eq!(r.scopes.roles, ["reader"]);
        assert_eq!(r.scopes.to_scope_string(), "openid email offline_access reader");
        assert_eq!(
            (r.state.as_deref(), r.nonce.as_deref()),
            (Some("xyz"), Some("n-0S6_WzA2Mj"))
        );
        assert_eq!(r.prompt, Prompt::Login);
        assert!(!r.accepts_login(1000, 1001), "prompt=login never takes a live login");
        let r = AuthorizationRequest::parse(
            &params(&[
                ("response_type", "code"),
                ("code_challenge", CHALLENGE),
                ("code_challenge_method", "S256"),
                ("max_age", "60"),
            ]),
            "c1",
            &s,
            "https://a.example/cb",
        )
        .unwrap();
        assert!(r.accepts_login(1000, 1060) && !r.accepts_login(1000, 1061));
    }

    #[test]
    fn every_other_error_is_redirected_with_its_code() {
        let s = settings(ClientType::Public, &["https://a.example/cb"], None).unwrap();
        let ok = [("code_challenge", CHALLENGE), ("code_challenge_method", "S256")];
        let case = |extra: &[(&str, &str)], with_pkce: bool| {
            let mut pairs: Vec<(&str, &str)> = extra.to_vec();
            if with_pkce {
                pairs.extend_from_slice(&ok);
            }
            AuthorizationRequest::parse(&params(&pairs), "c1", &s, "https://a.example/cb")
                .err()
                .map(|e| e.error)
        };
        assert_eq!(case(&[], true), Some("invalid_request"), "no response_type");
        assert_eq!(
            case(&[("response_type", "token")], true),
            Some("unsupported_response_type")
        );
        assert_eq!(
            case(&[("response_type", "code")], false),
            Some("invalid_request"),
            "PKCE required"
        );
        assert_eq!(
            case(
                &[
                    ("response_type", "code"),
                    ("code_challenge", CHALLENGE),
                    ("code_challenge_method", "plain")
                ],
                false
            ),
            Some("invalid_request"),
            "plain is refused"
        );
        assert_eq!(
            case(&[("response_type", "code"), ("code_challenge", CHALLENGE)], false),
            Some("invalid_request"),
            "no method is plain"
        );
        assert_eq!(
            case(&[("response_type", "code"), ("scope", "openid bad!role")], true),
            Some("invalid_scope")
        );
        assert_eq!(
            case(&[("response_type", "code"), ("prompt", "none login")], true),
            Some("invalid_request")
        );
        assert_eq!(
            case(&[("response_type", "code"), ("max_age", "-1")], true),
            Some("invalid_request")
        );
        assert_eq!(
            case(&[("response_type", "code"), ("request", "eyJ")], true),
            Some("request_not_supported")
        );
        assert_eq!(case(&[("response_type", "code"), ("prompt", "none")], true), None);
        let device_only = ClientSettings::parse(
            "TV",
            ClientType::Public,
            &[],
            &[],
            Some(&[DEVICE_CODE_GRANT.to_owned()]),
            None,
        )
        .unwrap();
        let e =
            AuthorizationRequest::parse(&params(&[("response_type", "code")]), "c1", &device_only, "x").unwrap_err();
        assert_eq!(e.error, "unauthorized_client");
    }

    #[test]
    fn pkce_s256_verifies_the_rfc_7636_example_and_nothing_else() {
        let c = CodeChallenge::parse(CHALLENGE, Some("S256")).unwrap();
        assert!(c.verifies(VERIFIER));
        assert!(!c.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj"));
        assert!(!c.verifies(CHALLENGE));
        assert!(!c.verifies("short"));
        assert!(CodeChallenge::parse("too-short", Some("S256")).is_err());
        assert!(CodeChallenge::parse(&format!("{}=", &CHALLENGE[..42]), Some("S256")).is_err());
    }

    #[test]
    fn at_hash_is_the_left_half_of_the_tokens_hash() {
        // OpenID Connect Core, appendix A.3: the access token and at_hash of its example.
        assert_eq!(
            at_hash("jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y", "RS256"),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash("x", "EdDSA").len(), 43, "32 bytes of SHA-512");
    }

    #[test]
    fn amr_names_each_login_method() {
        assert_eq!(LoginMethod::Password.amr(), ["pwd"]);
        assert_eq!(LoginMethod::PasswordAndOtp.amr(), ["pwd", "otp", "mfa"]);
        assert_eq!(LoginMethod::PasswordAndPasskey.amr(), ["pwd", "hwk", "mfa"]);
        assert_eq!(LoginMethod::Passkey.amr(), ["hwk", "user"]);
    }
}
