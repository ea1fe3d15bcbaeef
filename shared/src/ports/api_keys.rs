//! The API-key capability: storing, reading and deleting API key records (hashes only).

use super::StoreError;
use crate::domain::{ApiKeyRecord, KeyId};
use async_trait::async_trait;

/// API key records by key id.
#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new API key. `Conflict` if the id exists.
    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError>;
    /// The API key with this id, if it exists (expired ones included: callers check).
    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Deletes an API key; whether it existed.
    async fn delete_api_key(&self, key_id: &KeyId) -> Result<bool, StoreError>;
}
