//! Share links on DynamoDB: the share item, the creator's list and the revocation list.

use super::DynamoStore;
use super::items::{REVOKED_SHARES, creator_key, listed_id, n, revoked_item, share_item, share_key, share_of};
use super::writes::{IS_NEW, put_item, update_item};
use crate::domain::share::{ShareId, ShareRecord};
use crate::domain::{UnixTime, UserId};
use crate::ports::{ShareStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue as Av, TransactWriteItem, Update};

/// The partition of a creator's share list.
fn creator_pk(user: &UserId) -> String {
    format!("SHARES#{}", user.as_str())
}

impl DynamoStore {
    /// The transaction items of a revocation: the share marked revoked on condition that it
    /// exists and is unexpired, its list item marked too, the revocation-list item written.
    fn revocation(&self, share: &ShareRecord, now: UnixTime) -> Result<Vec<TransactWriteItem>, StoreError> {
        let id = &share.share_id;
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(share_key(id)))
            .update_expression("SET revoked = :t")
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":t", Av::Bool(true))
            .expression_attribute_values(":now", n(now))
            .build();
        let unlist = Update::builder()
            .table_name(&self.table)
            .set_key(Some(creator_key(&share.shared_by, id)))
            .update_expression("SET revoked = :t")
            .expression_attribute_values(":t", Av::Bool(true))
            .build();
        Ok(vec![
            update_item(mark)?,
            update_item(unlist)?,
            put_item(&self.table, revoked_item(share), None)?,
        ])
    }
}

#[async_trait]
impl ShareStore for DynamoStore {
    /// A consistent `Query` of the creator's list (revoked shares stay in it until they expire),
    /// then one transaction: the share and its item in the creator's list.
    async fn put_share(&self, share: &ShareRecord, limit: u32) -> Result<bool, StoreError> {
        let held = self
            .query_partition(creator_pk(&share.shared_by), share.created_at)
            .await?
            .len();
        if held >= limit as usize {
            return Ok(false);
        }
        let items = vec![
            put_item(&self.table, share_item(share_key(&share.share_id), share), Some(IS_NEW))?,
            put_item(
                &self.table,
                share_item(creator_key(&share.shared_by, &share.share_id), share),
                Some(IS_NEW),
            )?,
        ];
        self.transact_new(items, "share id", "share transaction").await?;
        Ok(true)
    }

    async fn share(&self, id: &ShareId, now: UnixTime) -> Result<Option<ShareRecord>, StoreError> {
        let Some(item) = self.get(share_key(id)).await? else {
            return Ok(None);
        };
        // moto never expires items: the record's own expiry decides.
        Ok(Some(share_of(id.clone(), &item)?).filter(|r| r.is_unexpired(now)))
    }

    /// A `Query` on the creator's partition (revoked shares are marked there, and skipped).
    async fn shares_by(&self, user: &UserId, now: UnixTime) -> Result<Vec<ShareRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.query_partition(creator_pk(user), now).await? {
            let id = listed_id(&item, ShareId::parse, "share list item without an id")?;
            let record = share_of(id, &item)?;
            if record.is_active(now) {
                out.push(record);
            }
        }
        out.sort_by(ShareRecord::listing_order);
        Ok(out)
    }

    /// Reads the share (its creator names the list item), then one transaction: the share
    /// marked revoked on condition that it exists and is unexpired, its list item marked too (it
    /// still counts against the creator's limit until it expires), the revocation-list item
    /// written.
    async fn revoke_share(&self, id: &ShareId, now: UnixTime) -> Result<bool, StoreError> {
        let Some(share) = self.share(id, now).await? else {
            return Ok(false);
        };
        if share.revoked {
            return Ok(true);
        }
        self.transact_if_first(self.revocation(&share, now)?, "share revocation", false)
            .await
    }

    /// A `Query` on the revocation list's partition.
    async fn revoked_shares(&self, until_after: UnixTime) -> Result<Vec<ShareId>, StoreError> {
        let mut ids = Vec::new();
        for item in self.query_partition(REVOKED_SHARES.to_owned(), until_after).await? {
            ids.push(listed_id(&item, ShareId::parse, "revoked share item without an id")?);
        }
        ids.sort();
        Ok(ids)
    }
}
