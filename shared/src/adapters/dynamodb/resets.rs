//! Password resets and published keys on DynamoDB: reset-token items, the reset of the account item, the JWKS item.

use super::items::*;
use super::{DynamoStore, unavailable};
use crate::domain::delivery::{self};
use crate::domain::*;
use crate::ports::*;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::*;
use keygate_sdk::Jwks;

#[async_trait]
impl ResetStore for DynamoStore {
    async fn put_reset_token(&self, rec: &ResetRecord) -> Result<(), StoreError> {
        let mut item = key(format!("RESET#{}", rec.token_hash.as_str()), "RESET");
        item.insert("username_key".into(), s(rec.username_key.as_str()));
        item.insert("epoch".into(), n(rec.epoch as i64));
        item.insert("created_at".into(), n(rec.created_at));
        item.insert("expires_at".into(), n(rec.expires_at));
        item.insert("ttl".into(), n(rec.expires_at));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn spend_reset_token(&self, hash: &TokenHash, now: UnixTime) -> Result<Option<ResetRecord>, StoreError> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("RESET#{}", hash.as_str()), "RESET")))
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match r {
            Ok(out) => {
                let Some(item) = out.attributes.filter(|a| !a.is_empty()) else {
                    return Ok(None);
                };
                let r = Read(&item);
                Ok(Some(ResetRecord {
                    token_hash: hash.clone(),
                    username_key: UsernameKey::from_stored(r.str("username_key")?),
                    epoch: r.opt_int("epoch").unwrap_or(0).max(0) as u64,
                    created_at: r.int("created_at")?,
                    expires_at: r.int("expires_at")?,
                }))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
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
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(k), "ACCOUNT")))
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
        match r {
            Ok(out) => out.attributes.as_ref().map(account_of).transpose(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn allow_reset_delivery(&self, k: &UsernameKey, now: UnixTime) -> Result<bool, StoreError> {
        self.count_delivery(key(user_pk(k), "RESETRATE"), delivery::RESET_PER_ACCOUNT, now)
            .await
    }
}

#[async_trait]
impl JwksStore for DynamoStore {
    async fn put_published_jwks(&self, jwks: &Jwks) -> Result<(), StoreError> {
        let mut item = key("JWKS".into(), "JWKS");
        let json = serde_json::to_string(jwks).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("jwks".into(), s(json));
        item.insert("updated_at".into(), n(crate::domain::time::now()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn published_jwks(&self) -> Result<Option<Jwks>, StoreError> {
        let Some(item) = self.get(key("JWKS".into(), "JWKS")).await? else {
            return Ok(None);
        };
        let json = Read(&item).str("jwks")?;
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("published jwks: {e}")))
    }
}
