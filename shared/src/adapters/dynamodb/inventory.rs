//! Table scans on DynamoDB: the inventory for `keygate export`, which the skeleton claims of
//! `keygate bootstrap` read too.

use super::DynamoStore;
use super::items::{Read, account_of, api_key_of, skeleton_item};
use crate::domain::{Account, ApiKeyRecord, KeyId};
use crate::ports::{CONFUSABLE, Inventory, StoreError};
use async_trait::async_trait;

impl DynamoStore {
    /// Claims the username skeleton of every account that has no claim yet (accounts created
    /// before skeletons were kept), oldest first; where two existing accounts look alike, both
    /// stay and the older holds the claim. Idempotent; `keygate bootstrap` runs it. Returns the
    /// claims written. Not on any request path: it scans the table.
    pub async fn claim_skeletons(&self) -> Result<u64, StoreError> {
        let mut accounts = self.all_accounts().await?;
        accounts.sort_by(Account::listing_order);
        let mut claimed = 0;
        for a in &accounts {
            match self
                .put_new(skeleton_item(&a.username.skeleton(), a.key()), CONFUSABLE)
                .await
            {
                Ok(()) => claimed += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(claimed)
    }
}

#[async_trait]
impl Inventory for DynamoStore {
    async fn all_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let now = crate::domain::time::now();
        self.scan_kind("ACCOUNT")
            .await?
            .iter()
            .filter(|i| !Read(i).expired(now))
            .map(account_of)
            .collect()
    }

    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.scan_kind("APIKEY").await? {
            let pk = Read(&item).str("pk")?;
            let id = pk
                .strip_prefix("APIKEY#")
                .and_then(KeyId::parse)
                .ok_or_else(|| StoreError::Corrupt("API key item without a key id".into()))?;
            out.push(api_key_of(id, &item)?);
        }
        Ok(out)
    }
}
