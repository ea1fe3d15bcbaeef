//! Conditional-write helpers: the one place that tells a failed condition from a failure (for
//! single writes, for an update that returns the old item, for transactions and their
//! cancellation reasons).

use super::items::{Item, account_item, email_item, skeleton_item};
use super::{DynamoStore, unavailable};
use crate::domain::Account;
use crate::ports::{CONFUSABLE, StoreError};
use aws_sdk_dynamodb::error::{BuildError, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, builders::UpdateItemFluentBuilder};
use aws_sdk_dynamodb::types::{
    Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

/// The condition of an item that must not exist yet.
pub(super) const IS_NEW: &str = "attribute_not_exists(pk)";

/// The cancellation reason of a transaction item whose condition failed.
const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// A write's service error that can say its condition failed.
pub(super) trait ConditionFailed {
    fn condition_failed(&self) -> bool;
}

impl ConditionFailed for PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for UpdateItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for DeleteItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

/// A conditional write's result: `Some(output)` if written, `None` if its condition refused it.
pub(super) fn unless_refused<T, E, R>(sent: Result<T, SdkError<E, R>>) -> Result<Option<T>, StoreError>
where
    E: ConditionFailed + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match sent {
        Ok(out) => Ok(Some(out)),
        Err(e) if e.as_service_error().is_some_and(ConditionFailed::condition_failed) => Ok(None),
        Err(e) => Err(unavailable(e)),
    }
}

/// What an update that returns the new item, or on a failed condition the old one, came to.
pub(super) enum Updated {
    /// Written: the item after the update.
    New(Item),
    /// Refused by its condition: the item as it stood (read again where the service did not
    /// return it), `None` if there is none.
    Refused(Option<Item>),
}

/// What a `TransactWriteItems` call came to.
pub(super) enum Transacted {
    Committed,
    /// Cancelled by a condition: each item's cancellation reason code, in order (`None` for an
    /// item whose condition held). Empty if the service gave no reasons.
    Cancelled(Vec<String>),
}

/// Whether the condition of item `i` of a cancelled transaction failed.
pub(super) fn refused(codes: &[String], i: usize) -> bool {
    codes.get(i).is_some_and(|c| c == CONDITION_FAILED)
}

/// The failure of a transaction cancelled for reasons no condition explains.
pub(super) fn cancelled(what: &str, codes: &[String]) -> StoreError {
    StoreError::Unavailable(format!("the {what} was cancelled: {codes:?}"))
}

/// What was taken when the items of [`DynamoStore::account_puts`], from index `first` of a
/// cancelled transaction, were refused: the first of them whose condition failed.
pub(super) fn taken(codes: &[String], first: usize) -> Option<&'static str> {
    ["username", CONFUSABLE, "email"]
        .into_iter()
        .enumerate()
        .find(|(i, _)| refused(codes, first + i))
        .map(|(_, what)| what)
}

/// A transaction's put of `item` on `condition`, if any.
pub(super) fn put_item(table: &str, item: Item, condition: Option<&str>) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .build();
    in_transaction(put, |t, p| t.put(p))
}

/// A transaction's item from a built `Put`, `Update` or `Delete`.
pub(super) fn in_transaction<W>(
    write: Result<W, BuildError>,
    add: impl FnOnce(
        aws_sdk_dynamodb::types::builders::TransactWriteItemBuilder,
        W,
    ) -> aws_sdk_dynamodb::types::builders::TransactWriteItemBuilder,
) -> Result<TransactWriteItem, StoreError> {
    write
        .map(|w| add(TransactWriteItem::builder(), w).build())
        .map_err(unavailable)
}

/// A transaction's update, built.
pub(super) fn update_item(update: Result<Update, BuildError>) -> Result<TransactWriteItem, StoreError> {
    in_transaction(update, |t, u| t.update(u))
}

/// A transaction's delete, built.
pub(super) fn delete_item(delete: Result<Delete, BuildError>) -> Result<TransactWriteItem, StoreError> {
    in_transaction(delete, |t, d| t.delete(d))
}

impl DynamoStore {
    /// Puts an item that must not exist yet; `Conflict(what)` if it does.
    pub(super) async fn put_new(&self, item: Item, what: &'static str) -> Result<(), StoreError> {
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(IS_NEW)
            .send()
            .await;
        unless_refused(sent)?.map(drop).ok_or(StoreError::Conflict(what))
    }

    /// Sends `update` on the item with key `k`, returning the new item, or on a failed
    /// condition the old one.
    pub(super) async fn update_or_old(&self, update: UpdateItemFluentBuilder, k: &Item) -> Result<Updated, StoreError> {
        let sent = update
            .table_name(&self.table)
            .set_key(Some(k.clone()))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Updated::New(out.attributes.unwrap_or_default())),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => match c.item() {
                    Some(item) if !item.is_empty() => Ok(Updated::Refused(Some(item.clone()))),
                    _ => Ok(Updated::Refused(self.get(k.clone()).await?)),
                },
                _ => Err(unavailable(e)),
            },
        }
    }

    /// The transaction items that create an account: the account item, its username's skeleton
    /// item and, with an e-mail, its index item, in this order, each on condition that its key
    /// is free (as `create_account` writes them).
    pub(super) fn account_puts(&self, account: &Account) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = vec![
            put_item(&self.table, account_item(account), Some(IS_NEW))?,
            put_item(
                &self.table,
                skeleton_item(&account.username.skeleton(), account.key()),
                Some(IS_NEW),
            )?,
        ];
        if let Some(e) = &account.email {
            items.push(put_item(
                &self.table,
                email_item(&e.key(), account.key()),
                Some(IS_NEW),
            )?);
        }
        Ok(items)
    }

    /// Runs one transaction. A cancellation that no condition caused, only other transactions
    /// on the same items in flight (`TransactionConflict`), is retried a few times.
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Transacted, StoreError> {
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

    /// Runs a transaction of items that must all be new (the `what` transaction):
    /// `Conflict(conflict)` if any exists (or the service gives no reasons).
    pub(super) async fn transact_new(
        &self,
        items: Vec<TransactWriteItem>,
        conflict: &'static str,
        what: &str,
    ) -> Result<(), StoreError> {
        match self.transact(items).await? {
            Transacted::Committed => Ok(()),
            Transacted::Cancelled(codes) if codes.is_empty() || codes.iter().any(|c| c == CONDITION_FAILED) => {
                Err(StoreError::Conflict(conflict))
            }
            Transacted::Cancelled(codes) => Err(cancelled(what, &codes)),
        }
    }

    /// Runs a transaction (the `what`) whose first item's condition decides: `true` if it
    /// committed, `false` if that condition failed, or if the service gave no reasons and
    /// `silent_is_refused`.
    pub(super) async fn transact_if_first(
        &self,
        items: Vec<TransactWriteItem>,
        what: &str,
        silent_is_refused: bool,
    ) -> Result<bool, StoreError> {
        match self.transact(items).await? {
            Transacted::Committed => Ok(true),
            Transacted::Cancelled(codes) if refused(&codes, 0) => Ok(false),
            Transacted::Cancelled(codes) if codes.is_empty() && silent_is_refused => Ok(false),
            Transacted::Cancelled(codes) => Err(cancelled(what, &codes)),
        }
    }
}
