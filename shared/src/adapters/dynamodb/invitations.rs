//! Invitations and registrations on DynamoDB: the record, its pending-list item, redemption and conflicts.

use super::items::*;
use super::writes::*;
use super::{DynamoStore, unavailable};
use crate::domain::delivery::RegistrationCounter;
use crate::domain::invitation::MAX_CONFLICTS;
use crate::domain::*;
use crate::ports::*;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::*;

/// The condition that an invitation item is live for a token hash at `:now` (the rule of
/// `InvitationRecord::is_live`, with `:hash`, `:now` and `:max_conflicts`).
const LIVE_INVITATION: &str = "attribute_exists(pk) AND token_hash = :hash AND expires_at > :now AND \
     (attribute_not_exists(conflicts) OR conflicts < :max_conflicts)";

impl DynamoStore {
    /// Deletes the pending-list item of an invitation that conflicts killed (no-op otherwise).
    pub(super) async fn unlist_if_dead(&self, record: &InvitationRecord) -> Result<(), StoreError> {
        if record.kind != InvitationKind::Invitation || record.conflicts < MAX_CONFLICTS {
            return Ok(());
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(pending_key(&record.invitation_id)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl InvitationStore for DynamoStore {
    /// One conditional `PutItem`; an invitation's pending-list item is written with it in one
    /// transaction.
    async fn put_invitation(&self, record: &InvitationRecord) -> Result<(), StoreError> {
        let id = &record.invitation_id;
        let item = invitation_item(invitation_key(id), record);
        if record.kind != InvitationKind::Invitation {
            return self.put_new(item, "invitation id").await;
        }
        let items = vec![
            put_item(&self.table, item, "attribute_not_exists(pk)")?,
            put_item(
                &self.table,
                invitation_item(pending_key(id), record),
                "attribute_not_exists(pk)",
            )?,
        ];
        match self.transact(items).await? {
            Transacted::Committed => Ok(()),
            Transacted::Cancelled(codes) if codes.is_empty() || codes.iter().any(|c| c == CONDITION_FAILED) => {
                Err(StoreError::Conflict("invitation id"))
            }
            Transacted::Cancelled(codes) => Err(StoreError::Unavailable(format!(
                "the invitation transaction was cancelled: {codes:?}"
            ))),
        }
    }

    async fn invitation(&self, id: &InvitationId, now: UnixTime) -> Result<Option<InvitationRecord>, StoreError> {
        let Some(item) = self.get(invitation_key(id)).await? else {
            return Ok(None);
        };
        // moto never expires items, and DynamoDB takes its time: the record's own expiry decides.
        Ok(Some(invitation_of(id.clone(), &item)?).filter(|r| r.is_live(now)))
    }

    /// A `Query` on the one partition of pending invitations; expired items are filtered out.
    async fn pending_invitations(&self, now: UnixTime) -> Result<Vec<InvitationRecord>, StoreError> {
        let mut pending = Vec::new();
        for item in self.query_partition(PENDING_INVITATIONS.to_owned(), now).await? {
            let id = Read(&item)
                .str("sk")
                .ok()
                .and_then(|sk| InvitationId::parse(&sk))
                .ok_or_else(|| StoreError::Corrupt("pending invitation item without an id".into()))?;
            let record = invitation_of(id, &item)?;
            if record.kind == InvitationKind::Invitation && record.is_live(now) {
                pending.push(record);
            }
        }
        pending.sort_by(|a, b| (a.created_at, &a.invitation_id).cmp(&(b.created_at, &b.invitation_id)));
        Ok(pending)
    }

    /// One transaction: the record (on condition that it exists) and its pending-list item.
    async fn delete_invitation(&self, id: &InvitationId) -> Result<bool, StoreError> {
        let delete = |k: Item, condition: Option<&str>| {
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(k))
                .set_condition_expression(condition.map(str::to_owned))
                .build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(unavailable)
        };
        let items = vec![
            delete(invitation_key(id), Some("attribute_exists(pk)"))?,
            delete(pending_key(id), None)?,
        ];
        match self.transact(items).await? {
            Transacted::Committed => Ok(true),
            Transacted::Cancelled(codes) if codes.first().is_some_and(|c| c == CONDITION_FAILED) => Ok(false),
            Transacted::Cancelled(codes) if codes.is_empty() => Ok(false),
            Transacted::Cancelled(codes) => Err(StoreError::Unavailable(format!(
                "the invitation deletion was cancelled: {codes:?}"
            ))),
        }
    }

    /// One transaction: the record's conditional delete (hash and expiry: the service
    /// compares), the delete of its pending-list item, and the account's items with the
    /// conditions `create_account` puts on them. Which condition failed tells a spent or
    /// unknown token (`false`) from a taken username or e-mail (`Conflict`).
    async fn redeem_invitation(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
        account: &Account,
    ) -> Result<bool, StoreError> {
        let spend = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(invitation_key(id)))
            .condition_expression(LIVE_INVITATION)
            .expression_attribute_values(":hash", s(hash.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":max_conflicts", n(i64::from(MAX_CONFLICTS)))
            .build()
            .map_err(unavailable)?;
        let unlist = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(pending_key(id)))
            .build()
            .map_err(unavailable)?;
        let mut items = vec![
            TransactWriteItem::builder().delete(spend).build(),
            TransactWriteItem::builder().delete(unlist).build(),
        ];
        items.extend(self.account_puts(account)?);
        let codes = match self.transact(items).await? {
            Transacted::Committed => return Ok(true),
            Transacted::Cancelled(codes) => codes,
        };
        if codes.first().is_some_and(|c| c == CONDITION_FAILED) {
            Ok(false)
        } else if let Some(what) = taken(&codes, 2) {
            Err(StoreError::Conflict(what))
        } else if codes.is_empty() {
            // No reasons given: read what stands in the way.
            let redeemable = self
                .invitation(id, now)
                .await?
                .is_some_and(|r| r.token_hash.ct_eq(hash));
            if !redeemable {
                Ok(false)
            } else if self.account(account.key()).await?.is_some() {
                Err(StoreError::Conflict("username"))
            } else if let Some(e) = &account.email
                && self.account_by_email(&e.key()).await?.is_some()
            {
                Err(StoreError::Conflict("email"))
            } else {
                Err(StoreError::Conflict(CONFUSABLE))
            }
        } else {
            Err(StoreError::Unavailable(format!(
                "the redemption transaction was cancelled: {codes:?}"
            )))
        }
    }

    /// One `UpdateItem`: `ADD conflicts 1` on condition that the item is live for `hash`
    /// ([`LIVE_INVITATION`]). The conflict that kills an invitation also takes it off the
    /// pending list (a second write; a dead invitation still listed there after a failure is
    /// taken off by the next refused attempt).
    async fn count_invitation_conflict(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<u32>, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(invitation_key(id)))
            .update_expression("ADD conflicts :one")
            .condition_expression(LIVE_INVITATION)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":hash", s(hash.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":max_conflicts", n(i64::from(MAX_CONFLICTS)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match counted {
            Ok(out) => {
                let record = invitation_of(id.clone(), &out.attributes.unwrap_or_default())?;
                self.unlist_if_dead(&record).await?;
                Ok(Some(record.conflicts))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let old = match c.item() {
                        Some(item) if !item.is_empty() => Some(item.clone()),
                        _ => self.get(invitation_key(id)).await?,
                    };
                    if let Some(old) = old {
                        self.unlist_if_dead(&invitation_of(id.clone(), &old)?).await?;
                    }
                    Ok(None)
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn allow_registration_delivery(
        &self,
        counter: &RegistrationCounter,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.count_delivery(
            key(format!("REGRATE#{}", counter.key()), "REGRATE"),
            counter.limit(),
            now,
        )
        .await
    }
}
