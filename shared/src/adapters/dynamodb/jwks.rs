//! Published keys on DynamoDB: the public key set as JSON in the one `JWKS` item.

use super::DynamoStore;
use super::items::{Read, jwks_key, n, s};
use crate::ports::{JwksStore, StoreError};
use async_trait::async_trait;
use keygate_sdk::Jwks;

#[async_trait]
impl JwksStore for DynamoStore {
    async fn put_published_jwks(&self, jwks: &Jwks) -> Result<(), StoreError> {
        let mut item = jwks_key();
        let json = serde_json::to_string(jwks).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("jwks".into(), s(json));
        item.insert("updated_at".into(), n(crate::domain::time::now()));
        self.put(item).await
    }

    async fn published_jwks(&self) -> Result<Option<Jwks>, StoreError> {
        let Some(item) = self.get(jwks_key()).await? else {
            return Ok(None);
        };
        let json = Read(&item).str("jwks")?;
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("published jwks: {e}")))
    }
}
