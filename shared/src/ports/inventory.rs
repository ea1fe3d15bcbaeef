//! The inventory capability: every account and API key, for `keygate export`.

use super::StoreError;
use crate::domain::{Account, ApiKeyRecord};
use async_trait::async_trait;

/// Every account and API key, for `keygate export` (a move between stores). Not on any request
/// path: a DynamoDB implementation scans the table.
#[async_trait]
pub trait Inventory: Send + Sync {
    /// Every account.
    async fn all_accounts(&self) -> Result<Vec<Account>, StoreError>;
    /// Every API key record (hashes only), expired ones included.
    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
}
