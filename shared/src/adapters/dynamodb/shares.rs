//! Share links on DynamoDB: the share item, the creator's list and the revocation list.

use super::items::*;
use super::writes::*;
use super::{DynamoStore, unavailable};
use crate::domain::share::{ShareId, ShareRecord};
use crate::domain::*;
use crate::ports::*;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::*;

#[async_trait]
impl ShareStore for DynamoStore {
    /// A consistent `Query` of the creator's list (revoked shares stay in it until they expire),
    /// then one transaction: the share and its item in the creator's list.
    async fn put_share(&self, share: &ShareRecord, limit: u32) -> Result<bool, StoreError> {
        let held = self
            .query_partition(format!("SHARES#{}", share.shared_by.as_str()), share.created_at)
            .await?
            .len();
        if held >= limit as usize {
            return Ok(false);
        }
        let items = vec![
            put_item(
                &self.table,
                share_item(share_key(&share.share_id), share),
                "attribute_not_exists(pk)",
            )?,
            put_item(
                &self.table,
                share_item(creator_key(&share.shared_by, &share.share_id), share),
                "attribute_not_exists(pk)",
            )?,
        ];
        match self.transact(items).await? {
            Transacted::Committed => Ok(true),
            Transacted::Cancelled(codes) if codes.is_empty() || codes.iter().any(|c| c == CONDITION_FAILED) => {
                Err(StoreError::Conflict("share id"))
            }
            Transacted::Cancelled(codes) => Err(StoreError::Unavailable(format!(
                "the share transaction was cancelled: {codes:?}"
            ))),
        }
    }

    async fn share(&self, id: &ShareId, now: UnixTime) -> Result<Option<ShareRecord>, StoreError> {
        let Some(item) = self.get(share_key(id)).await? else {
            return Ok(None);
        };
        // moto never expires items: the record's own expiry decides.
        Ok(Some(share_of(id.clone(), &item)?).filter(|r| now < r.expires_at))
    }

    /// A `Query` on the creator's partition (revoked shares are marked there, and skipped).
    async fn shares_by(&self, user: &UserId, now: UnixTime) -> Result<Vec<ShareRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.query_partition(format!("SHARES#{}", user.as_str()), now).await? {
            let id = Read(&item)
                .str("sk")
                .ok()
                .and_then(|sk| ShareId::parse(&sk))
                .ok_or_else(|| StoreError::Corrupt("share list item without an id".into()))?;
            let record = share_of(id, &item)?;
            if !record.revoked && now < record.expires_at {
                out.push(record);
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.share_id).cmp(&(b.created_at, &b.share_id)));
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
        let mark = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(share_key(id)))
            .update_expression("SET revoked = :t")
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":t", Av::Bool(true))
            .expression_attribute_values(":now", n(now))
            .build()
            .map(|u| TransactWriteItem::builder().update(u).build())
            .map_err(unavailable)?;
        let unlist = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(creator_key(&share.shared_by, id)))
            .update_expression("SET revoked = :t")
            .expression_attribute_values(":t", Av::Bool(true))
            .build()
            .map(|u| TransactWriteItem::builder().update(u).build())
            .map_err(unavailable)?;
        let mut revoked = key(REVOKED_SHARES.to_owned(), id.as_str());
        revoked.insert("expires_at".into(), n(share.expires_at));
        revoked.insert("ttl".into(), n(share.expires_at + SHARE_TTL_MARGIN));
        let list = Put::builder()
            .table_name(&self.table)
            .set_item(Some(revoked))
            .build()
            .map(|p| TransactWriteItem::builder().put(p).build())
            .map_err(unavailable)?;
        match self.transact(vec![mark, unlist, list]).await? {
            Transacted::Committed => Ok(true),
            Transacted::Cancelled(codes) if codes.first().is_some_and(|c| c == CONDITION_FAILED) => Ok(false),
            Transacted::Cancelled(codes) => Err(StoreError::Unavailable(format!(
                "the share revocation was cancelled: {codes:?}"
            ))),
        }
    }

    /// A `Query` on the revocation list's partition.
    async fn revoked_shares(&self, until_after: UnixTime) -> Result<Vec<ShareId>, StoreError> {
        let mut ids = Vec::new();
        for item in self.query_partition(REVOKED_SHARES.to_owned(), until_after).await? {
            let id = Read(&item)
                .str("sk")
                .ok()
                .and_then(|sk| ShareId::parse(&sk))
                .ok_or_else(|| StoreError::Corrupt("revoked share item without an id".into()))?;
            ids.push(id);
        }
        ids.sort();
        Ok(ids)
    }
}
