//! The accounts capability: creating, reading and updating accounts.

use super::StoreError;
use crate::domain::{Account, AccountUpdate, EmailKey, UsernameKey};
use async_trait::async_trait;

/// Accounts, by username key and by e-mail key.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates an account. `Conflict` if the username key, the username's confusable skeleton
    /// (that of any account created since skeletons are kept) or the email key is taken.
    async fn create_account(&self, account: &Account) -> Result<(), StoreError>;
    /// The account with this username key.
    async fn account(&self, key: &UsernameKey) -> Result<Option<Account>, StoreError>;
    /// The account with this email key.
    async fn account_by_email(&self, email: &EmailKey) -> Result<Option<Account>, StoreError>;
    /// Applies `update` to an existing account; `None` if there is no such account.
    /// `revoke_sessions` increments `session_epoch` atomically.
    async fn update_account(&self, key: &UsernameKey, update: &AccountUpdate) -> Result<Option<Account>, StoreError>;
}
