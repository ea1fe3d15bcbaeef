//! The published-keys capability: the public key set as the rotation function last wrote it.

use super::StoreError;
use async_trait::async_trait;
use keygate_sdk::Jwks;

/// The published public key set.
#[async_trait]
pub trait JwksStore: Send + Sync {
    /// Publishes the public key set (the rotation function and `keygate bootstrap` write it),
    /// so that functions that only verify or publish keys never read the private key.
    async fn put_published_jwks(&self, jwks: &Jwks) -> Result<(), StoreError>;
    /// The published public key set, if any.
    async fn published_jwks(&self) -> Result<Option<Jwks>, StoreError>;
}
