//! Refresh-token families on DynamoDB: rotation as conditional updates of the `FAMILY` item.

use super::DynamoStore;
use super::items::{Item, family_item, family_key, family_of, n, s};
use super::writes::{Updated, unless_refused};
use crate::domain::refresh::{Decision, decide};
use crate::domain::{Family, FamilyId, RotateOutcome, TokenHash, UnixTime};
use crate::ports::{SessionStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue as Av, ReturnValue};

impl DynamoStore {
    async fn set_revoked(&self, id: &FamilyId) -> Result<(), StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(family_key(id)))
            .update_expression("SET revoked = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", Av::Bool(true))
            .send()
            .await;
        unless_refused(sent).map(drop)
    }

    /// Rotates the family `fkey` from `presented` to `next` on condition that `presented` is its
    /// current token and it is live: the new item, or the old one.
    async fn rotate_if_current(
        &self,
        fkey: &Item,
        presented: &TokenHash,
        next: &TokenHash,
        now: UnixTime,
    ) -> Result<Updated, StoreError> {
        let update = self
            .client
            .update_item()
            .update_expression("SET previous_hash = :p, current_hash = :n, rotated_at = :now")
            .condition_expression("current_hash = :p AND revoked = :f AND expires_at > :now")
            .expression_attribute_values(":p", s(presented.as_str()))
            .expression_attribute_values(":n", s(next.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":f", Av::Bool(false));
        self.update_or_old(update, fkey).await
    }

    /// Within the grace period, replaces the family's current token `current` by `next`, on
    /// condition that nothing moved since it was read: the new item, `None` if something did.
    async fn reissue(
        &self,
        fkey: &Item,
        presented: &TokenHash,
        current: &TokenHash,
        next: &TokenHash,
    ) -> Result<Option<Item>, StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(fkey.clone()))
            .update_expression("SET current_hash = :n")
            .condition_expression("previous_hash = :p AND current_hash = :c AND revoked = :f")
            .expression_attribute_values(":p", s(presented.as_str()))
            .expression_attribute_values(":c", s(current.as_str()))
            .expression_attribute_values(":n", s(next.as_str()))
            .expression_attribute_values(":f", Av::Bool(false))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        Ok(unless_refused(sent)?.map(|out| out.attributes.unwrap_or_default()))
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_family(&self, f: &Family) -> Result<(), StoreError> {
        self.put_new(family_item(f), "family id").await
    }

    async fn family(&self, id: &FamilyId) -> Result<Option<Family>, StoreError> {
        self.get(family_key(id)).await?.map(|i| family_of(id, &i)).transpose()
    }

    async fn rotate_refresh(
        &self,
        id: &FamilyId,
        presented: &TokenHash,
        next: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<RotateOutcome, StoreError> {
        let fkey = family_key(id);
        for _ in 0..4 {
            let old = match self.rotate_if_current(&fkey, presented, next, now).await? {
                Updated::New(item) => return Ok(RotateOutcome::Rotated(family_of(id, &item)?)),
                Updated::Refused(old) => old,
            };
            let Some(old) = old else {
                return Ok(RotateOutcome::Invalid);
            };
            let family = family_of(id, &old)?;
            match decide(&family, presented, now, grace) {
                Decision::Reject => return Ok(RotateOutcome::Invalid),
                Decision::Rotate => continue,
                Decision::RevokeFamily => {
                    self.set_revoked(id).await?;
                    return Ok(RotateOutcome::Reused);
                }
                Decision::GraceReissue if family.current_hash.ct_eq(next) => {
                    // The same successor again (its derivation is deterministic): nothing to write.
                    return Ok(RotateOutcome::Rotated(family));
                }
                Decision::GraceReissue => {
                    if let Some(item) = self.reissue(&fkey, presented, &family.current_hash, next).await? {
                        return Ok(RotateOutcome::Rotated(family_of(id, &item)?));
                    }
                }
            }
        }
        Err(StoreError::Unavailable("refresh rotation kept racing; retry".into()))
    }

    async fn revoke_family(&self, id: &FamilyId) -> Result<(), StoreError> {
        self.set_revoked(id).await
    }
}
