//! The password-reset capability: reset tokens, finishing a reset, and the reset-mail limit.

use super::StoreError;
use crate::domain::delivery;
use crate::domain::{Account, PasswordHash, ResetRecord, TokenHash, UnixTime, UsernameKey};
use async_trait::async_trait;

/// Window for password-reset deliveries per account (the domain's delivery window).
pub const RESET_DELIVERY_WINDOW_SECONDS: i64 = delivery::WINDOW_SECONDS;
/// At most this many reset mails per account per window.
pub const RESET_DELIVERY_LIMIT: u32 = delivery::RESET_PER_ACCOUNT.max;

/// Reset tokens (hashes only) and the per-account reset-mail counter.
#[async_trait]
pub trait ResetStore: Send + Sync {
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
    /// Counts a reset delivery for `key` by `domain::delivery`'s window rule; `true` if it is
    /// within the limit ([`RESET_DELIVERY_LIMIT`] per [`RESET_DELIVERY_WINDOW_SECONDS`]),
    /// `false` if over it (nothing counted).
    async fn allow_reset_delivery(&self, key: &UsernameKey, now: UnixTime) -> Result<bool, StoreError>;
}
