//! The login-throttling capability: the failure counter read, reserved and cleared on login.

use super::StoreError;
use crate::domain::lockout::Attempt;
use crate::domain::{Account, Failures, UnixTime, UsernameKey};
use async_trait::async_trait;

/// Failure counters per username key, read with the account on the login path.
#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// The account (if any) and the failure counter for a username key, in one read.
    async fn login_lookup(&self, key: &UsernameKey, now: UnixTime) -> Result<(Option<Account>, Failures), StoreError>;
    /// Reserves one login attempt for `key` (existing account or not) before its password is
    /// verified, in one atomic step: if `domain::lockout` allows an attempt at `now` against the
    /// stored counter, counts it as a failure (provisional: a success clears the counter) and
    /// returns [`Attempt::Allowed`] with the new counter; otherwise counts nothing and returns
    /// [`Attempt::Throttled`]. So of N concurrent reservations at one `now` against a counter
    /// below [`THRESHOLD`](crate::domain::lockout::THRESHOLD), exactly as many as bring it to the
    /// threshold are allowed. `seen` is the counter [`LockoutStore::login_lookup`] just returned:
    /// a hint a store may use to write conditionally (DynamoDB); the decision is taken on the
    /// stored counter, never on `seen`. A counter older than `FORGET_AFTER_SECONDS` counts as
    /// zero ([`Failures::remembered`]).
    async fn reserve_login_attempt(
        &self,
        key: &UsernameKey,
        seen: Failures,
        now: UnixTime,
    ) -> Result<Attempt, StoreError>;
    /// Resets the failure counter after a success.
    async fn clear_login_failures(&self, key: &UsernameKey) -> Result<(), StoreError>;
}
