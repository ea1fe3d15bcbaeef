//! The mail counters: `domain::delivery`'s window rule written as conditional updates.

use super::items::*;
use super::{DynamoStore, unavailable};
use crate::domain::delivery::{self, Limit};
use crate::domain::*;
use crate::ports::*;

impl DynamoStore {
    /// Counts one mail on the counter item `rkey`: whether it is within `limit`, by the
    /// domain's window rule written as conditions (`domain::delivery`). A fresh window is one
    /// conditional write, a mail within it another.
    pub(super) async fn count_delivery(&self, rkey: Item, limit: Limit, now: UnixTime) -> Result<bool, StoreError> {
        let cutoff = Limit::fresh_if_started_at_most(now);
        let fresh = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(rkey.clone()))
            .update_expression("SET window_start = :now, #count = :one, #ttl = :ttl")
            .condition_expression("attribute_not_exists(pk) OR window_start <= :cutoff")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(now + delivery::WINDOW_SECONDS))
            .expression_attribute_values(":cutoff", n(cutoff))
            .send()
            .await;
        match fresh {
            Ok(_) => return Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(rkey))
            .update_expression("ADD #count :one")
            .condition_expression("#count < :limit AND window_start > :cutoff")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit.max)))
            .expression_attribute_values(":cutoff", n(cutoff))
            .send()
            .await;
        match counted {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}
