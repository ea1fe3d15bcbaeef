//! API keys on DynamoDB: one `APIKEY` item per key.

use super::items::{api_key_item, api_key_key, api_key_of};
use super::{DynamoStore, unavailable};
use crate::domain::{ApiKeyRecord, KeyId};
use crate::ports::{ApiKeyStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn put_api_key(&self, rec: &ApiKeyRecord) -> Result<(), StoreError> {
        self.put_new(api_key_item(rec), "api key id").await
    }

    async fn api_key(&self, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(item) = self.get(api_key_key(id)).await? else {
            return Ok(None);
        };
        api_key_of(id.clone(), &item).map(Some)
    }

    async fn delete_api_key(&self, id: &KeyId) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(api_key_key(id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}
