//! The signing-key ports: where the signing key comes from, the secret's versions as the
//! rotation protocol sees them, and the published-key facts the operator's commands print.

use crate::domain::UnixTime;
use crate::domain::keys::SigningKey;
use async_trait::async_trait;
use keygate_sdk::Jwks;
use std::sync::Arc;

/// A key source failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The backing service is unreachable. Maps to 503.
    #[error("key source unavailable: {0}")]
    Unavailable(String),
    /// The stored key is not a valid private JWK.
    #[error("invalid signing key: {0}")]
    Invalid(String),
}

/// Where the signing key and the published public keys come from.
#[async_trait]
pub trait KeySource: Send + Sync {
    /// The key to sign with now (`AWSCURRENT`).
    async fn signing_key(&self) -> Result<Arc<SigningKey>, KeyError>;
    /// The public keys to publish: current, and during rotation pending and previous.
    async fn jwks(&self) -> Result<Arc<Jwks>, KeyError>;
}

/// One version of the signing-key secret and its staging labels (`AWSCURRENT`, `AWSPENDING`,
/// `AWSPREVIOUS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    pub id: String,
    pub stages: Vec<String>,
    /// When the version was created, where the source records it.
    pub created_at: Option<UnixTime>,
}

impl KeyVersion {
    /// Whether this version carries `stage`.
    pub fn has(&self, stage: &str) -> bool {
        self.stages.iter().any(|s| s == stage)
    }
}

/// Where a published key stands in the rotation (its version's staging label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// `AWSCURRENT`: signs.
    Current,
    /// `AWSPENDING`: published ahead of signing, during a rotation.
    Pending,
    /// `AWSPREVIOUS`: published after signing, so tokens it signed keep verifying.
    Previous,
}

/// One published key, as `keygate keys list` prints it: public facts only.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishedKey {
    pub kid: String,
    pub alg: &'static str,
    pub state: KeyState,
    /// When its version was created (RFC 3339), where the key source records it.
    pub created_at: Option<String>,
}

impl KeyState {
    /// The state that a version's staging labels give its key, if it is published at all.
    pub fn of(stages: &[String]) -> Option<KeyState> {
        let has = |label: &str| stages.iter().any(|s| s == label);
        if has("AWSCURRENT") {
            Some(KeyState::Current)
        } else if has("AWSPENDING") {
            Some(KeyState::Pending)
        } else if has("AWSPREVIOUS") {
            Some(KeyState::Previous)
        } else {
            None
        }
    }
}

/// Why an operator's key command did not happen.
#[derive(Debug, thiserror::Error)]
pub enum KeyCommandError {
    /// Secrets Manager or the table could not be read or written, or the key is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The command is not allowed in this state; the text says why.
    #[error("{0}")]
    Refused(String),
}

/// The signing-key secret as the rotation protocol sees it: versions with staging labels
/// (Secrets Manager's model; `adapters::secrets_manager::SecretVersions` implements it).
#[async_trait]
pub trait KeyVersions: Send + Sync {
    /// Every version of the secret with its stages.
    async fn versions(&self) -> Result<Vec<KeyVersion>, KeyError>;
    /// The key stored in a version: `Ok(None)` if there is no such version, `Err(Invalid)` if
    /// its value is not a private JWK (the placeholder of a freshly deployed secret).
    async fn key(&self, version_id: &str) -> Result<Option<SigningKey>, KeyError>;
    /// Starts a rotation run by the key store's own machinery (Secrets Manager's `RotateSecret`
    /// runs the rotation function) and returns the new version's id; `Ok(None)` (the default)
    /// when there is none and the caller runs the four steps itself.
    async fn start_rotation(&self) -> Result<Option<String>, KeyCommandError> {
        Ok(None)
    }
    /// Stores `key` as version `version_id`, staged `AWSPENDING`.
    async fn put_pending(&self, version_id: &str, key: &SigningKey) -> Result<(), KeyError>;
    /// Moves `AWSCURRENT` to `version_id`, from `current` (which becomes `AWSPREVIOUS`).
    async fn make_current(&self, version_id: &str, current: Option<&str>) -> Result<(), KeyError>;
    /// Removes `AWSPREVIOUS` from `version_id`: its key is no longer published nor trusted.
    async fn retire(&self, version_id: &str) -> Result<(), KeyError>;
    /// Stores `key` as version `version_id`, staged `AWSCURRENT`, if no version is current: the
    /// check and the write under the store's own lock, so that processes starting at once on an
    /// empty store agree on one first key. `Ok(false)` when a version was current already.
    ///
    /// Only a store with such a lock can do it; the default refuses (a Secrets Manager secret's
    /// first key comes from `keygate bootstrap` or its first rotation).
    async fn put_first_current(&self, version_id: &str, key: &SigningKey) -> Result<bool, KeyError> {
        let _ = (version_id, key);
        Err(KeyError::Invalid(
            "this key store makes no first key by itself: run `keygate bootstrap`".into(),
        ))
    }
}
