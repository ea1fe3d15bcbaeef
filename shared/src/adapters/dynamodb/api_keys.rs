//! API keys on DynamoDB: one `APIKEY` item per key.

use super::items::*;
use super::{DynamoStore, unavailable};
use crate::domain::*;
use crate::ports::*;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::*;

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn put_api_key(&self, rec: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut item = key(format!("APIKEY#{}", rec.key_id), "APIKEY");
        item.insert("name".into(), s(&rec.name));
        item.insert("roles".into(), roles_av(&rec.roles));
        item.insert("secret_hash".into(), s(rec.secret_hash.as_str()));
        item.insert("created_at".into(), n(rec.created_at));
        if let Some(e) = rec.expires_at {
            item.insert("expires_at".into(), n(e));
            item.insert("ttl".into(), n(e));
        }
        self.put_new(item, "api key id").await
    }

    async fn api_key(&self, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(item) = self.get(key(format!("APIKEY#{id}"), "APIKEY")).await? else {
            return Ok(None);
        };
        api_key_of(id.clone(), &item).map(Some)
    }

    async fn delete_api_key(&self, id: &KeyId) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("APIKEY#{id}"), "APIKEY")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
