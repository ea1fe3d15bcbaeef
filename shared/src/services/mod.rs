//! Services: keygate's use cases (login, refresh, revoke, reset, admin), written against the
//! ports. Each returns a typed [`Error`]; `http::error` maps it to its HTTP answer.

mod admin;
pub mod audit;
mod claims;
mod devices;
mod discovery;
mod registration;
mod reset;
pub mod rotation;
mod sessions;
mod share;
mod tokens;
pub mod transfer;

pub use admin::{ApiKeyCreated, NewUser, UserChange, account_view, new_account_view};
pub use claims::{Holder, access_claims};
pub use discovery::{API_KEY_GRANT, Discovery};
pub use registration::{InvitationCreated, InvitationView};
pub use reset::Identifier;
pub use sessions::{BrowserSession, SessionBody};
pub use share::{ShareCreated, ShareView};
pub use tokens::TokenPair;

use crate::config::Config;
use crate::domain::keys::SigningKey;
use crate::domain::password::HashError;
use crate::domain::{
    Account, Email, FamilyId, NewPassword, Password, PasswordError, PasswordHash, PasswordHasher, PasswordPolicy,
    Roles, UnixTime, UserId, Username,
};
use crate::ports::{KeyError, KeySource, Mailer, StoreError};
use keygate_sdk::{AccessClaims, Verifier, VerifyOptions};
use std::sync::Arc;
use std::time::Duration;

/// A use case's failure. Each variant is one error answer of `openapi.yaml`; see `http::error`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// 400 `invalid_request`.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401 `invalid_grant`: wrong password, unknown user, bad key, disabled account, dead token.
    #[error("the credentials or the refresh token are invalid")]
    InvalidGrant,
    /// 400 `invalid_grant`: a live refresh token presented by another client than the one it
    /// was issued to (RFC 6749 section 6); it stays live.
    #[error("the refresh token was issued to another client")]
    IssuedToAnotherClient,
    /// 400 `unsupported_grant_type`.
    #[error("grant_type must be password, client_credentials, refresh_token or api_key")]
    UnsupportedGrantType,
    /// 401 `invalid_client`: client authentication failed (unknown, revoked or expired key,
    /// a secret that is not the key, or no client authentication where it is required).
    #[error("client authentication failed")]
    InvalidClient,
    /// 400 `invalid_scope`: the scope is malformed or asks for a role the client lacks.
    #[error("{0}")]
    InvalidScope(String),
    /// 429 `too_many_attempts` with `Retry-After`.
    #[error("too many failed attempts; retry later")]
    TooManyAttempts { retry_after: i64 },
    /// 400 `invalid_token` (reset token unknown, expired or spent).
    #[error("the reset token is invalid, expired or already used")]
    InvalidResetToken,
    /// 400 `invalid_token` (registration or invitation token unknown, expired or spent).
    #[error("the registration or invitation token is invalid, expired or already used")]
    InvalidSignupToken,
    /// 400 `weak_password`.
    #[error("{0}")]
    WeakPassword(String),
    /// 401 `invalid_token` (missing or invalid bearer token).
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `invalid_csrf`: a cookie-authenticated call without the session's CSRF token, or
    /// from a foreign `Origin`.
    #[error("the CSRF token is missing or wrong, or the request comes from a foreign origin")]
    InvalidCsrf,
    /// 403 `insufficient_scope`: share links are made by accounts, not API keys.
    #[error("share links are made by accounts, not API keys")]
    AccountsOnly,
    /// 403 `insufficient_scope`: the resource lies under no route that is marked shareable and
    /// that the caller's roles satisfy (contract section 12).
    #[error("this resource is under no shareable route your roles allow")]
    NotShareable,
    /// 429 `too_many_shares`: the account holds `KEYGATE_SHARE_MAX_PER_ACCOUNT` unexpired shares.
    #[error("this account holds the most share links it may; revoked links count until they expire")]
    TooManyShares,
    /// 403 `registration_closed`: self-registration in `invite` mode.
    #[error("registration is by invitation only")]
    RegistrationClosed,
    /// 403 `insufficient_scope`.
    #[error("this requires the {0} role")]
    Forbidden(&'static str),
    /// 404 `not_found`.
    #[error("{0}")]
    NotFound(String),
    /// 409 `conflict`.
    #[error("{0}")]
    Conflict(String),
    /// 503 `temporarily_unavailable`. The text is logged, not shown.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
}

impl From<crate::domain::secret::RngError> for Error {
    fn from(e: crate::domain::secret::RngError) -> Error {
        Error::Unavailable(e.to_string())
    }
}

impl From<crate::domain::Invalid> for Error {
    fn from(e: crate::domain::Invalid) -> Error {
        Error::InvalidRequest(e.to_string())
    }
}

impl From<PasswordError> for Error {
    fn from(e: PasswordError) -> Error {
        Error::WeakPassword(e.to_string())
    }
}

impl From<HashError> for Error {
    fn from(e: HashError) -> Error {
        Error::Unavailable(e.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Conflict(what) => Error::Conflict(what.to_owned()),
            other => Error::Unavailable(other.to_string()),
        }
    }
}

impl From<KeyError> for Error {
    fn from(e: KeyError) -> Error {
        Error::Unavailable(e.to_string())
    }
}

/// A token that could not be signed: 503.
fn signing_failed(e: crate::domain::keys::KeyMaterialError) -> Error {
    Error::Unavailable(format!("signing failed: {e}"))
}

/// The result of a use case.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// keygate: configuration and the ports, built once per process (per Lambda container).
pub struct Keygate {
    pub config: Arc<Config>,
    pub store: Arc<dyn crate::ports::Store>,
    pub keys: Arc<dyn KeySource>,
    pub mailer: Arc<dyn Mailer>,
    pub hasher: PasswordHasher,
    pub policy: PasswordPolicy,
    /// Forgot-password answers take at least this long, whether or not the account exists.
    pub forgot_floor: Duration,
    /// The cached verifier of our own tokens (admin API, `/auth/validate`, device cookies), rebuilt when the
    /// published key set changes.
    verifier: tokio::sync::RwLock<Option<(Arc<keygate_sdk::Jwks>, Arc<Verifier>)>>,
}

impl Keygate {
    /// Assembles keygate from its parts.
    pub fn new(
        config: Config,
        store: Arc<dyn crate::ports::Store>,
        keys: Arc<dyn KeySource>,
        mailer: Arc<dyn Mailer>,
    ) -> Keygate {
        let policy = PasswordPolicy {
            min_chars: config.password_min_length,
        };
        Keygate {
            config: Arc::new(config),
            store,
            keys,
            mailer,
            hasher: PasswordHasher::owasp(),
            policy,
            forgot_floor: Duration::from_millis(250),
            verifier: tokio::sync::RwLock::new(None),
        }
    }

    /// Signs an access token.
    async fn sign(&self, claims: &AccessClaims) -> Result<String> {
        let key: Arc<SigningKey> = self.keys.signing_key().await?;
        key.sign(claims).map_err(signing_failed)
    }

    /// Verifies one of our own access tokens (for the admin API and `/auth/validate`), with
    /// the same rules as the authorizer.
    pub async fn verify_access_token(&self, token: &str) -> Result<AccessClaims> {
        self.own_verifier()
            .await?
            .verify(token, crate::domain::time::now())
            .map_err(|e| Error::Unauthorized(format!("invalid access token: {e}")))
    }

    /// The verifier for the published key set, cached until the set changes.
    async fn own_verifier(&self) -> Result<Arc<Verifier>> {
        let jwks = self.keys.jwks().await?;
        let cached = {
            let guard = self.verifier.read().await;
            guard
                .as_ref()
                .filter(|(j, _)| Arc::ptr_eq(j, &jwks))
                .map(|(_, v)| v.clone())
        };
        Ok(match cached {
            Some(v) => v,
            None => {
                let v = Arc::new(Verifier::new(self.verify_options(), &jwks));
                *self.verifier.write().await = Some((jwks, v.clone()));
                v
            }
        })
    }

    /// The verification options for our own tokens ([`Config::verify_options`]).
    pub fn verify_options(&self) -> VerifyOptions {
        self.config.verify_options()
    }

    /// The claims of an access token for `holder`, issued `now` under this configuration with a
    /// fresh random id.
    fn access_claims(&self, holder: Holder<'_>, now: UnixTime) -> Result<AccessClaims> {
        let config = &self.config;
        let jti = FamilyId::try_generate()?.to_string();
        Ok(access_claims(
            &config.issuer,
            &config.audience,
            config.access_token_ttl,
            holder,
            now,
            jti,
        ))
    }

    /// Runs password hashing work off the async executor.
    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(PasswordHasher) -> T + Send + 'static) -> Result<T> {
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || f(hasher))
            .await
            .map_err(|e| Error::Unavailable(format!("hashing task failed: {e}")))
    }

    /// `password` checked against the policy as a new password, of the account `username` when
    /// there is one (a weak one: `WeakPassword`).
    fn new_password(&self, password: &Password, username: Option<&Username>) -> Result<NewPassword> {
        let context = match username {
            Some(u) => vec![u.as_str(), "keygate"],
            None => vec!["keygate"],
        };
        Ok(NewPassword::parse(password.expose(), &self.policy, &context)?)
    }

    /// Hashes a new password off the async executor.
    async fn hash(&self, password: NewPassword) -> Result<PasswordHash> {
        Ok(self.blocking(move |h| h.hash(&password)).await??)
    }

    /// A new, enabled account of parsed parts, created `now` with a fresh user id; nothing is
    /// stored yet.
    async fn new_account(
        &self,
        username: Username,
        email: Option<Email>,
        roles: Roles,
        password: NewPassword,
        now: UnixTime,
    ) -> Result<Account> {
        let password_hash = self.hash(password).await?;
        Ok(Account {
            user_id: UserId::try_generate()?,
            username,
            email,
            roles,
            disabled: false,
            password_hash,
            session_epoch: 0,
            reset_epoch: 0,
            created_at: now,
            updated_at: now,
        })
    }

    /// The outcome of `work`, answered no sooner than `forgot_floor` after it starts, so that
    /// answers that must look alike also take alike.
    async fn after_floor<T>(&self, work: impl Future<Output = T>) -> T {
        let started = tokio::time::Instant::now();
        let result = work.await;
        tokio::time::sleep_until(started + self.forgot_floor).await;
        result
    }

    /// The public keys to publish.
    pub async fn jwks(&self) -> Result<Arc<keygate_sdk::Jwks>> {
        Ok(self.keys.jwks().await?)
    }
}
