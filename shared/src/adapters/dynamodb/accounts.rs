//! Accounts on DynamoDB: the account item, written with its e-mail index and skeleton items.

use super::DynamoStore;
use super::items::{Read, account_key, account_of, email_key, n, roles_av, s};
use super::writes::{Transacted, taken, unless_refused};
use crate::domain::{Account, AccountUpdate, EmailKey, UsernameKey};
use crate::ports::{AccountStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue as Av, ReturnValue};

#[async_trait]
impl AccountStore for DynamoStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let codes = match self.transact(self.account_puts(account)?).await? {
            Transacted::Committed => return Ok(()),
            Transacted::Cancelled(codes) => codes,
        };
        match taken(&codes, 0) {
            Some(what) => Err(StoreError::Conflict(what)),
            None if codes.is_empty() => Err(StoreError::Conflict("username")),
            None => Err(StoreError::Unavailable("the account transaction was cancelled".into())),
        }
    }

    async fn account(&self, k: &UsernameKey) -> Result<Option<Account>, StoreError> {
        self.get(account_key(k)).await?.as_ref().map(account_of).transpose()
    }

    async fn account_by_email(&self, email: &EmailKey) -> Result<Option<Account>, StoreError> {
        let Some(idx) = self.get(email_key(email)).await? else {
            return Ok(None);
        };
        let username_key = UsernameKey::from_stored(Read(&idx).str("username_key")?);
        self.account(&username_key).await
    }

    async fn update_account(&self, k: &UsernameKey, update: &AccountUpdate) -> Result<Option<Account>, StoreError> {
        let mut sets = vec!["updated_at = :updated"];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(account_key(k)))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew)
            .expression_attribute_values(":updated", n(update.updated_at));
        if let Some(r) = &update.roles {
            sets.push("#roles = :roles");
            req = req
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_values(":roles", roles_av(r));
        }
        if let Some(d) = update.disabled {
            sets.push("disabled = :disabled");
            req = req.expression_attribute_values(":disabled", Av::Bool(d));
        }
        if let Some(h) = &update.password_hash {
            sets.push("password_hash = :hash");
            req = req.expression_attribute_values(":hash", s(h.as_str()));
        }
        if update.revoke_sessions {
            sets.push("session_epoch = session_epoch + :one");
            req = req.expression_attribute_values(":one", n(1));
        }
        let sent = req.update_expression(format!("SET {}", sets.join(", "))).send().await;
        match unless_refused(sent)? {
            Some(out) => out.attributes.as_ref().map(account_of).transpose(),
            None => Ok(None),
        }
    }
}
