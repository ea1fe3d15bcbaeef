//! Invitations and registrations on DynamoDB: the record with its pending-list item, its
//! redemption and its conflict counter, and the registration-mail counters.

use super::items::{
    Item, PENDING_INVITATIONS, invitation_item, invitation_key, invitation_of, key, listed_id, n, pending_key, s,
};
use super::writes::{IS_NEW, Transacted, Updated, cancelled, delete_item, put_item, refused, taken};
use super::{DynamoStore, unavailable};
use crate::domain::delivery::RegistrationCounter;
use crate::domain::invitation::MAX_CONFLICTS;
use crate::domain::{Account, InvitationId, InvitationKind, InvitationRecord, TokenHash, UnixTime};
use crate::ports::{AccountStore, CONFUSABLE, InvitationStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};

/// The condition that an invitation item is live for a token hash at `:now` (the rule of
/// `InvitationRecord::is_live`, with `:hash`, `:now` and `:max_conflicts`).
const LIVE_INVITATION: &str = "attribute_exists(pk) AND token_hash = :hash AND expires_at > :now AND \
     (attribute_not_exists(conflicts) OR conflicts < :max_conflicts)";

impl DynamoStore {
    /// Deletes the pending-list item of an invitation that conflicts killed (no-op otherwise).
    async fn unlist_if_dead(&self, record: &InvitationRecord) -> Result<(), StoreError> {
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

/// One redemption: token `hash` for record `id` at `now`, creating `account`.
struct Redemption<'a> {
    id: &'a InvitationId,
    hash: &'a TokenHash,
    now: UnixTime,
    account: &'a Account,
}

impl Redemption<'_> {
    /// The transaction items: the record's delete on condition that it is live for the hash
    /// ([`LIVE_INVITATION`]), the delete of its pending-list item, then the account's puts
    /// ([`DynamoStore::account_puts`]).
    fn items(&self, store: &DynamoStore) -> Result<Vec<TransactWriteItem>, StoreError> {
        let spend = Delete::builder()
            .table_name(&store.table)
            .set_key(Some(invitation_key(self.id)))
            .condition_expression(LIVE_INVITATION)
            .expression_attribute_values(":hash", s(self.hash.as_str()))
            .expression_attribute_values(":now", n(self.now))
            .expression_attribute_values(":max_conflicts", n(i64::from(MAX_CONFLICTS)))
            .build();
        let unlist = Delete::builder()
            .table_name(&store.table)
            .set_key(Some(pending_key(self.id)))
            .build();
        let mut items = vec![delete_item(spend)?, delete_item(unlist)?];
        items.extend(store.account_puts(self.account)?);
        Ok(items)
    }

    /// Why the transaction was cancelled without reasons from the service: what stands in the
    /// way, read back (`false`: the token no longer redeems).
    async fn unexplained(&self, store: &DynamoStore) -> Result<bool, StoreError> {
        let redeemable = store
            .invitation(self.id, self.now)
            .await?
            .is_some_and(|r| r.redeemable_by(self.hash, self.now));
        if !redeemable {
            Ok(false)
        } else if store.account(self.account.key()).await?.is_some() {
            Err(StoreError::Conflict("username"))
        } else if let Some(e) = &self.account.email
            && store.account_by_email(&e.key()).await?.is_some()
        {
            Err(StoreError::Conflict("email"))
        } else {
            Err(StoreError::Conflict(CONFUSABLE))
        }
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
            put_item(&self.table, item, Some(IS_NEW))?,
            put_item(&self.table, invitation_item(pending_key(id), record), Some(IS_NEW))?,
        ];
        self.transact_new(items, "invitation id", "invitation transaction")
            .await
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
            let id = listed_id(&item, InvitationId::parse, "pending invitation item without an id")?;
            let record = invitation_of(id, &item)?;
            if record.is_pending(now) {
                pending.push(record);
            }
        }
        pending.sort_by(InvitationRecord::listing_order);
        Ok(pending)
    }

    /// One transaction: the record (on condition that it exists) and its pending-list item.
    async fn delete_invitation(&self, id: &InvitationId) -> Result<bool, StoreError> {
        let delete = |k: Item, condition: Option<&str>| {
            delete_item(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(k))
                    .set_condition_expression(condition.map(str::to_owned))
                    .build(),
            )
        };
        let items = vec![
            delete(invitation_key(id), Some("attribute_exists(pk)"))?,
            delete(pending_key(id), None)?,
        ];
        self.transact_if_first(items, "invitation deletion", true).await
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
        let redemption = Redemption { id, hash, now, account };
        let codes = match self.transact(redemption.items(self)?).await? {
            Transacted::Committed => return Ok(true),
            Transacted::Cancelled(codes) => codes,
        };
        if refused(&codes, 0) {
            Ok(false)
        } else if let Some(what) = taken(&codes, 2) {
            Err(StoreError::Conflict(what))
        } else if codes.is_empty() {
            redemption.unexplained(self).await
        } else {
            Err(cancelled("redemption transaction", &codes))
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
        let update = self
            .client
            .update_item()
            .update_expression("ADD conflicts :one")
            .condition_expression(LIVE_INVITATION)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":hash", s(hash.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":max_conflicts", n(i64::from(MAX_CONFLICTS)));
        match self.update_or_old(update, &invitation_key(id)).await? {
            Updated::New(item) => {
                let record = invitation_of(id.clone(), &item)?;
                self.unlist_if_dead(&record).await?;
                Ok(Some(record.conflicts))
            }
            Updated::Refused(old) => {
                if let Some(old) = old {
                    self.unlist_if_dead(&invitation_of(id.clone(), &old)?).await?;
                }
                Ok(None)
            }
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
