//! The ports: what the services need from the outside world. Adapters implement them
//! (`adapters::memory` and `adapters::dynamodb` for [`Store`], `adapters::local_key` and
//! `adapters::secrets_manager` for [`KeySource`], `adapters::mail` for [`Mailer`]), and the
//! embedded SQLite store (`adapters::sqlite`) for [`Store`] and [`KeyVersions`].
//!
//! Every operation that must not race is atomic in each implementation (a conditional write in
//! DynamoDB, one critical section in the embedded store); the store conformance suite
//! (`tests/tests/store_conformance.rs`) runs the same cases against both.

use crate::domain::delivery::{self, RegistrationCounter};
use crate::domain::keys::SigningKey;
use crate::domain::lockout::Attempt;
use crate::domain::share::{ShareId, ShareRecord};
use crate::domain::{
    Account, AccountUpdate, ApiKeyRecord, EmailKey, Failures, Family, FamilyId, InvitationId, InvitationRecord, KeyId,
    PasswordHash, Preview, ResetRecord, RotateOutcome, TokenHash, UnixTime, UserId, UsernameKey,
};
use async_trait::async_trait;
use keygate_sdk::Jwks;
use std::sync::Arc;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness condition failed (username, its confusable skeleton or email taken, id
    /// reused). The text names what was taken ([`CONFUSABLE`] for a look-alike username).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The backing service is unreachable, throttling or failing. Maps to 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (corrupt item). Maps to 503 and is logged.
    #[error("corrupt stored item: {0}")]
    Corrupt(String),
}

/// What [`StoreError::Conflict`] names when a new username's confusable skeleton
/// ([`UsernameSkeleton`](crate::domain::UsernameSkeleton)) is an existing account's.
pub const CONFUSABLE: &str = "a username that looks the same";

/// Window for password-reset deliveries per account (the domain's delivery window).
pub const RESET_DELIVERY_WINDOW_SECONDS: i64 = delivery::WINDOW_SECONDS;
/// At most this many reset mails per account per window.
pub const RESET_DELIVERY_LIMIT: u32 = delivery::RESET_PER_ACCOUNT.max;

/// Every account and API key, for `keygate export` (a move between stores). Not on any request
/// path: a DynamoDB implementation scans the table.
#[async_trait]
pub trait Inventory: Send + Sync {
    /// Every account.
    async fn all_accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Every API key record (hashes only), expired ones included.
    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
}

/// Accounts, API keys, refresh-token families, reset tokens, invitations and throttling counters.
#[async_trait]
pub trait Store: Inventory + Send + Sync {
    /// Creates an account. `Conflict` if the username key, the username's confusable skeleton
    /// (that of any account created since skeletons are kept) or the email key is taken.
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;
    /// The account with this username key.
    async fn account(&self, key: &UsernameKey) -> Result<Option<Account>, StoreError>;
    /// The account with this email key.
    async fn account_by_email(&self, email: &EmailKey) -> Result<Option<Account>, StoreError>;
    /// The account (if any) and the failure counter for a username key, in one read.
    async fn login_lookup(&self, key: &UsernameKey, now: UnixTime) -> Result<(Option<Account>, Failures), StoreError>;
    /// Applies `update` to an existing account; `None` if there is no such account.
    /// `revoke_sessions` increments `session_epoch` atomically.
    async fn update_account(&self, key: &UsernameKey, update: &AccountUpdate) -> Result<Option<Account>, StoreError>;

    /// Reserves one login attempt for `key` (existing account or not) before its password is
    /// verified, in one atomic step: if `domain::lockout` allows an attempt at `now` against the
    /// stored counter, counts it as a failure (provisional: a success clears the counter) and
    /// returns [`Attempt::Allowed`] with the new counter; otherwise counts nothing and returns
    /// [`Attempt::Throttled`]. So of N concurrent reservations at one `now` against a counter
    /// below [`THRESHOLD`](crate::domain::lockout::THRESHOLD), exactly as many as bring it to the
    /// threshold are allowed. `seen` is the counter [`Store::login_lookup`] just returned: a hint
    /// a store may use to write conditionally (DynamoDB); the decision is taken on the stored
    /// counter, never on `seen`. A counter older than `FORGET_AFTER_SECONDS` counts as zero.
    async fn reserve_login_attempt(
        &self,
        key: &UsernameKey,
        seen: Failures,
        now: UnixTime,
    ) -> Result<Attempt, StoreError>;
    /// Resets the failure counter after a success.
    async fn clear_login_failures(&self, key: &UsernameKey) -> Result<(), StoreError>;

    /// Stores a new API key. `Conflict` if the id exists.
    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError>;
    /// The API key with this id, if it exists (expired ones included: callers check).
    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Deletes an API key; whether it existed.
    async fn delete_api_key(&self, key_id: &KeyId) -> Result<bool, StoreError>;

    /// Stores a new family. `Conflict` if the id exists.
    async fn create_family(&self, family: &Family) -> Result<(), StoreError>;
    /// The family with this id (for tests and operators; the refresh path uses `rotate_refresh`).
    async fn family(&self, family_id: &FamilyId) -> Result<Option<Family>, StoreError>;
    /// The refresh path's preview of a presented token ([`Preview`]): the family, the domain's
    /// decision, and the account only when the token may refresh. `None` for no such family.
    /// This default reads the family, then the account (DynamoDB: one `GetItem` each, the
    /// second only for a live token); a store that can read both in one go does (SQLite: one
    /// read transaction).
    async fn refresh_preview(
        &self,
        family_id: &FamilyId,
        presented: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<Option<Preview>, StoreError> {
        let Some(family) = self.family(family_id).await? else {
            return Ok(None);
        };
        let decision = crate::domain::refresh::decide(&family, presented, now, grace);
        let account = if Preview::wants_account(decision) {
            self.account(&family.username_key).await?
        } else {
            None
        };
        Ok(Some(Preview {
            family,
            decision,
            account,
        }))
    }
    /// Atomically applies `domain::refresh::decide` / `apply` to the stored family for a
    /// presented token hash: rotates to `next`, reissues within `grace`, revokes on reuse, or
    /// changes nothing. Of N concurrent calls with the same current token, at most one rotates.
    async fn rotate_refresh(
        &self,
        family_id: &FamilyId,
        presented: &TokenHash,
        next: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<RotateOutcome, StoreError>;
    /// Marks a family revoked (no-op if absent).
    async fn revoke_family(&self, family_id: &FamilyId) -> Result<(), StoreError>;

    /// Stores a reset token record (with the account's `reset_epoch` at issue).
    async fn put_reset_token(&self, record: &ResetRecord) -> Result<(), StoreError>;
    /// Atomically consumes a reset token: returns its record if it existed and had not expired
    /// at `now`; afterwards it is gone. Of N concurrent calls, at most one gets `Some`.
    async fn spend_reset_token(&self, hash: &TokenHash, now: UnixTime) -> Result<Option<ResetRecord>, StoreError>;
    /// Finishes a reset in one atomic step, only if the account's `reset_epoch` still equals
    /// `epoch` (the spent token's): sets `password_hash`, increments `session_epoch` (every
    /// session dies) and `reset_epoch` (every other outstanding reset token dies), sets
    /// `updated_at`. `None` if there is no such account or its epoch has moved on. Of N
    /// concurrent calls with one epoch, at most one gets `Some`.
    async fn finish_reset(
        &self,
        key: &UsernameKey,
        epoch: u64,
        password_hash: &PasswordHash,
        now: UnixTime,
    ) -> Result<Option<Account>, StoreError>;
    /// Publishes the public key set (the rotation function and `keygate bootstrap` write it),
    /// so that functions that only verify or publish keys never read the private key.
    async fn put_published_jwks(&self, jwks: &Jwks) -> Result<(), StoreError>;
    /// The published public key set, if any.
    async fn published_jwks(&self) -> Result<Option<Jwks>, StoreError>;

    /// Counts a reset delivery for `key` by `domain::delivery`'s window rule; `true` if it is
    /// within the limit ([`RESET_DELIVERY_LIMIT`] per [`RESET_DELIVERY_WINDOW_SECONDS`]),
    /// `false` if over it (nothing counted).
    async fn allow_reset_delivery(&self, key: &UsernameKey, now: UnixTime) -> Result<bool, StoreError>;

    /// Stores a new invitation or registration record. `Conflict` if the id exists.
    async fn put_invitation(&self, record: &InvitationRecord) -> Result<(), StoreError>;
    /// The record with this id, if it exists and is unexpired at `now`.
    async fn invitation(&self, id: &InvitationId, now: UnixTime) -> Result<Option<InvitationRecord>, StoreError>;
    /// The pending (unexpired at `now`) records of kind `Invitation`, oldest first.
    async fn pending_invitations(&self, now: UnixTime) -> Result<Vec<InvitationRecord>, StoreError>;
    /// Deletes a record (either kind); whether it existed.
    async fn delete_invitation(&self, id: &InvitationId) -> Result<bool, StoreError>;
    /// Atomically redeems a token: if record `id` exists, its token hash equals `hash` and it is
    /// live at `now` ([`InvitationRecord::is_live`]: unexpired, fewer than `MAX_CONFLICTS`
    /// conflicts), creates `account` exactly as `create_account` does and deletes the
    /// record, in one atomic step: `Ok(true)`. `Ok(false)` if the record is absent, expired or has
    /// another hash (nothing changes). `Err(Conflict)` if the username key, its skeleton or the
    /// e-mail key is taken: nothing changes, the record stays. Of N concurrent calls at most one
    /// returns `Ok(true)`. A `Conflict` is counted with [`Store::count_invitation_conflict`].
    async fn redeem_invitation(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
        account: &Account,
    ) -> Result<bool, StoreError>;
    /// Stores a new share link unless its creator already holds `limit` shares unexpired at
    /// `share.created_at`, revoked ones included (`KEYGATE_SHARE_MAX_PER_ACCOUNT`): `Ok(false)`
    /// then, and nothing is written. `Conflict` if the id exists. The embedded and memory stores
    /// decide in one atomic step; DynamoDB counts with a consistent `Query` before its
    /// conditional write, so simultaneous creations may pass the limit by at most their number.
    async fn put_share(&self, share: &ShareRecord, limit: u32) -> Result<bool, StoreError>;
    /// The share with this id, revoked or not, while unexpired at `now`.
    async fn share(&self, id: &ShareId, now: UnixTime) -> Result<Option<ShareRecord>, StoreError>;
    /// The unexpired, unrevoked shares `user` made, oldest first.
    async fn shares_by(&self, user: &UserId, now: UnixTime) -> Result<Vec<ShareRecord>, StoreError>;
    /// Revokes an unexpired share; whether there was one (revoking twice is `true` twice).
    async fn revoke_share(&self, id: &ShareId, now: UnixTime) -> Result<bool, StoreError>;
    /// Revokes every unexpired, unrevoked share `user` made (their creator was disabled or
    /// deleted); how many. This default revokes them one by one.
    async fn revoke_shares_by(&self, user: &UserId, now: UnixTime) -> Result<usize, StoreError> {
        let mut n = 0;
        for share in self.shares_by(user, now).await? {
            if self.revoke_share(&share.share_id, now).await? {
                n += 1;
            }
        }
        Ok(n)
    }
    /// The ids of revoked shares whose expiry is after `until_after` (verifiers still accept a
    /// share until its expiry plus their leeway, so callers pass `now - leeway`).
    async fn revoked_shares(&self, until_after: UnixTime) -> Result<Vec<ShareId>, StoreError>;
    /// Atomically counts one refused redemption (a taken username or e-mail) of record `id`:
    /// if it exists, its token hash equals `hash` and it is live at `now`, increments its
    /// `conflicts` and returns the new count; otherwise (absent, another hash, expired, or
    /// already at `MAX_CONFLICTS`) counts nothing and returns `None`. So of any number of
    /// calls, concurrent or not, at most `MAX_CONFLICTS` return `Some`, and once one returns
    /// `Some(MAX_CONFLICTS)` the record is no longer live: no read returns it, nothing redeems it.
    async fn count_invitation_conflict(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<u32>, StoreError>;
    /// Counts one registration mail on `counter` (a mailbox or a mail domain) by
    /// `domain::delivery`'s window rule and the counter's own limit: `true` if it is within it,
    /// `false` if over it (nothing counted). Mailbox and domain counters never share a key,
    /// nor with the reset counters.
    async fn allow_registration_delivery(
        &self,
        counter: &RegistrationCounter,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
}

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

/// A password-reset message.
#[derive(Clone)]
pub struct ResetMail {
    pub to: String,
    pub username: String,
    /// The reset token. Never log it.
    pub token: String,
    /// `KEYGATE_RESET_URL` with the token filled in. Never log it.
    pub reset_url: String,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for ResetMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetMail")
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Which signup mail: a self-registration's confirmation, or an admin's invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupKind {
    Register,
    Invitation,
}

impl SignupKind {
    /// The outbox's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignupKind::Register => "register",
            SignupKind::Invitation => "invitation",
        }
    }
}

/// A registration or invitation message: a single-use link to `/auth/register/complete`.
#[derive(Clone)]
pub struct SignupMail {
    pub kind: SignupKind,
    pub to: String,
    /// The registration or invitation token. Never log it.
    pub token: String,
    /// `KEYGATE_REGISTER_URL` with the token filled in. Never log it.
    pub url: String,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for SignupMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupMail")
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A mail delivery failure.
#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed: {0}")]
pub struct MailError(pub String);

/// Sends password-reset, registration and invitation mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers one reset message.
    async fn send_reset(&self, mail: &ResetMail) -> Result<(), MailError>;
    /// Delivers one registration or invitation message.
    async fn send_signup(&self, mail: &SignupMail) -> Result<(), MailError>;
}
