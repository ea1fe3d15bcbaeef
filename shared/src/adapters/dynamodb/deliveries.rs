//! The mail counters on DynamoDB: `domain::delivery`'s window rule written as conditional
//! updates, for reset and registration mail alike.

use super::DynamoStore;
use super::items::{Item, n};
use super::writes::unless_refused;
use crate::domain::UnixTime;
use crate::domain::delivery::{self, Limit};
use crate::ports::StoreError;

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
        if unless_refused(fresh)?.is_some() {
            return Ok(true);
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
        Ok(unless_refused(counted)?.is_some())
    }
}
