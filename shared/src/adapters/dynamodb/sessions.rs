//! Refresh-token families on DynamoDB: rotation as conditional updates of the `FAMILY` item.

use super::items::*;
use super::{DynamoStore, unavailable};
use crate::domain::refresh::{Decision, decide};
use crate::domain::*;
use crate::ports::*;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use aws_sdk_dynamodb::types::*;

impl DynamoStore {
    pub(super) async fn set_revoked(&self, id: &FamilyId) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("FAMILY#{id}"), "FAMILY")))
            .update_expression("SET revoked = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", Av::Bool(true))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_family(&self, f: &Family) -> Result<(), StoreError> {
        self.put_new(family_item(f), "family id").await
    }

    async fn family(&self, id: &FamilyId) -> Result<Option<Family>, StoreError> {
        self.get(key(format!("FAMILY#{id}"), "FAMILY"))
            .await?
            .map(|i| family_of(id, &i))
            .transpose()
    }

    async fn rotate_refresh(
        &self,
        id: &FamilyId,
        presented: &TokenHash,
        next: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<RotateOutcome, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let fkey = key(format!("FAMILY#{id}"), "FAMILY");
        for _ in 0..4 {
            let rotated = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(fkey.clone()))
                .update_expression("SET previous_hash = :p, current_hash = :n, rotated_at = :now")
                .condition_expression("current_hash = :p AND revoked = :f AND expires_at > :now")
                .expression_attribute_values(":p", s(presented.as_str()))
                .expression_attribute_values(":n", s(next.as_str()))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":f", Av::Bool(false))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let old = match rotated {
                Ok(out) => {
                    return Ok(RotateOutcome::Rotated(family_of(
                        id,
                        &out.attributes.unwrap_or_default(),
                    )?));
                }
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => match c.item() {
                        Some(item) if !item.is_empty() => Some(item.clone()),
                        _ => self.get(fkey.clone()).await?,
                    },
                    _ => return Err(unavailable(e)),
                },
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
                    let reissued = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(fkey.clone()))
                        .update_expression("SET current_hash = :n")
                        .condition_expression("previous_hash = :p AND current_hash = :c AND revoked = :f")
                        .expression_attribute_values(":p", s(presented.as_str()))
                        .expression_attribute_values(":c", s(family.current_hash.as_str()))
                        .expression_attribute_values(":n", s(next.as_str()))
                        .expression_attribute_values(":f", Av::Bool(false))
                        .return_values(ReturnValue::AllNew)
                        .send()
                        .await;
                    match reissued {
                        Ok(out) => {
                            return Ok(RotateOutcome::Rotated(family_of(
                                id,
                                &out.attributes.unwrap_or_default(),
                            )?));
                        }
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                        {
                            continue;
                        }
                        Err(e) => return Err(unavailable(e)),
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
