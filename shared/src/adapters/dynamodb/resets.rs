//! Password resets on DynamoDB: reset-token items, the reset of the account item, and the
//! per-account reset-mail counter.

use super::DynamoStore;
use super::items::{account_key, account_of, key, n, reset_item, reset_key, reset_of, s, user_pk};
use super::writes::unless_refused;
use crate::domain::delivery;
use crate::domain::{Account, PasswordHash, ResetRecord, TokenHash, UnixTime, UsernameKey};
use crate::ports::{ResetStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

#[async_trait]
impl ResetStore for DynamoStore {
    async fn put_reset_token(&self, rec: &ResetRecord) -> Result<(), StoreError> {
        self.put(reset_item(rec)).await
    }

    async fn spend_reset_token(&self, hash: &TokenHash, now: UnixTime) -> Result<Option<ResetRecord>, StoreError> {
        let sent = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(reset_key(hash)))
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let Some(item) = unless_refused(sent)?
            .and_then(|out| out.attributes)
            .filter(|a| !a.is_empty())
        else {
            return Ok(None);
        };
        reset_of(hash, &item).map(Some)
    }

    /// One conditional UpdateItem on the account: the same single write that set the new
    /// password before, now also guarded by and advancing `reset_epoch`. Items written before
    /// the attribute existed count as epoch 0.
    async fn finish_reset(
        &self,
        k: &UsernameKey,
        epoch: u64,
        password_hash: &PasswordHash,
        now: UnixTime,
    ) -> Result<Option<Account>, StoreError> {
        let condition = if epoch == 0 {
            "attribute_exists(pk) AND (attribute_not_exists(reset_epoch) OR reset_epoch = :epoch)"
        } else {
            "attribute_exists(pk) AND reset_epoch = :epoch"
        };
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(k)))
            .update_expression(
                "SET password_hash = :hash, session_epoch = session_epoch + :one, \
                 reset_epoch = if_not_exists(reset_epoch, :zero) + :one, updated_at = :now",
            )
            .condition_expression(condition)
            .expression_attribute_values(":epoch", n(epoch as i64))
            .expression_attribute_values(":hash", s(password_hash.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match unless_refused(sent)? {
            Some(out) => out.attributes.as_ref().map(account_of).transpose(),
            None => Ok(None),
        }
    }

    async fn allow_reset_delivery(&self, k: &UsernameKey, now: UnixTime) -> Result<bool, StoreError> {
        self.count_delivery(key(user_pk(k), "RESETRATE"), delivery::RESET_PER_ACCOUNT, now)
            .await
    }
}
