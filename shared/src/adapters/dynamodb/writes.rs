//! Conditional-write helpers: a put that must be new, transactions and their cancellation reasons.

use super::items::*;
use super::{DynamoStore, unavailable};
use crate::domain::*;
use crate::ports::*;
use aws_sdk_dynamodb::types::*;

/// What a `TransactWriteItems` call came to.
pub(super) enum Transacted {
    Committed,
    /// Cancelled by a condition: each item's cancellation reason code, in order (`None` for an
    /// item whose condition held). Empty if the service gave no reasons.
    Cancelled(Vec<String>),
}

pub(super) const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// What was taken when the items of [`DynamoStore::account_puts`], from index `first` of a
/// cancelled transaction, were refused: the first of them whose condition failed.
pub(super) fn taken(codes: &[String], first: usize) -> Option<&'static str> {
    ["username", CONFUSABLE, "email"]
        .into_iter()
        .enumerate()
        .find(|(i, _)| codes.get(first + i).is_some_and(|c| c == CONDITION_FAILED))
        .map(|(_, what)| what)
}

pub(super) fn put_item(table: &str, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .build()
        .map(|p| TransactWriteItem::builder().put(p).build())
        .map_err(unavailable)
}

impl DynamoStore {
    /// Puts an item that must not exist yet; `Conflict(what)` if it does.
    pub(super) async fn put_new(&self, item: Item, what: &'static str) -> Result<(), StoreError> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict(what))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The transaction items that create an account: the account item, its username's skeleton
    /// item and, with an e-mail, its index item, in this order, each on condition that its key
    /// is free (as `create_account` writes them).
    pub(super) fn account_puts(&self, account: &Account) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = vec![
            put_item(&self.table, account_item(account), "attribute_not_exists(pk)")?,
            put_item(
                &self.table,
                skeleton_item(&account.username.skeleton(), account.key()),
                "attribute_not_exists(pk)",
            )?,
        ];
        if let Some(e) = &account.email {
            let mut idx = key(format!("EMAIL#{}", e.key().as_str()), "EMAIL");
            idx.insert("username_key".into(), s(account.key().as_str()));
            items.push(put_item(&self.table, idx, "attribute_not_exists(pk)")?);
        }
        Ok(items)
    }

    /// Runs one transaction. A cancellation that no condition caused, only other transactions
    /// on the same items in flight (`TransactionConflict`), is retried a few times.
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Transacted, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        for _ in 0..4 {
            let e = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(Transacted::Committed),
                Err(e) => e,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(t)) = e.as_service_error() else {
                return Err(unavailable(e));
            };
            let codes: Vec<String> = t
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect();
            let raced = codes.iter().any(|c| c == "TransactionConflict");
            if raced && !codes.iter().any(|c| c == CONDITION_FAILED) {
                continue;
            }
            return Ok(Transacted::Cancelled(codes));
        }
        Err(StoreError::Unavailable("the transaction kept racing; retry".into()))
    }
}
