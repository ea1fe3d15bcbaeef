//! Login throttling on DynamoDB: the `LOCK` counter item, counted by one conditional update.

use super::items::*;
use super::{DynamoStore, unavailable};
use crate::domain::lockout::{Attempt, FORGET_AFTER_SECONDS, THRESHOLD};
use crate::domain::*;
use crate::ports::*;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::*;

#[async_trait]
impl LockoutStore for DynamoStore {
    async fn login_lookup(&self, k: &UsernameKey, now: UnixTime) -> Result<(Option<Account>, Failures), StoreError> {
        let keys = KeysAndAttributes::builder()
            .keys(key(user_pk(k), "ACCOUNT"))
            .keys(key(user_pk(k), "LOCK"))
            .consistent_read(true)
            .build()
            .map_err(unavailable)?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys)
            .send()
            .await
            .map_err(unavailable)?;
        let mut account = None;
        let mut failures = Failures::default();
        for item in out.responses().and_then(|r| r.get(&self.table)).into_iter().flatten() {
            let r = Read(item);
            match r.opt_str("sk").as_deref() {
                Some("ACCOUNT") => account = Some(account_of(item)?),
                Some("LOCK") if !r.expired(now) => failures = failures_of(item)?,
                _ => {}
            }
        }
        let unprocessed = out.unprocessed_keys().is_some_and(|u| !u.is_empty());
        if unprocessed {
            // Throttled reads: fall back to single consistent reads.
            account = self.account(k).await?;
            if let Some(item) = self.get(key(user_pk(k), "LOCK")).await?
                && !Read(&item).expired(now)
            {
                failures = failures_of(&item)?;
            }
        }
        Ok((account, failures))
    }

    async fn reserve_login_attempt(
        &self,
        k: &UsernameKey,
        seen: Failures,
        now: UnixTime,
    ) -> Result<Attempt, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let lkey = key(user_pk(k), "LOCK");
        let ttl = now + FORGET_AFTER_SECONDS;
        let mut seen = seen;
        // One conditional write decides: it counts the attempt only if the stored counter allows
        // one now (absent; below the threshold; or still the counter `seen` and its backoff
        // over). The loop only runs again when `seen` was stale or the counter had expired.
        for _ in 0..4 {
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(lkey.clone()))
                .update_expression("ADD #count :one SET last_failure_at = :now, #ttl = :ttl")
                .condition_expression(
                    "attribute_not_exists(pk) OR ((attribute_not_exists(#ttl) OR #ttl > :now) AND \
                     (attribute_not_exists(#count) OR #count < :threshold OR \
                     (#count = :seen AND last_failure_at <= :cutoff)))",
                )
                .expression_attribute_names("#count", "count")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":ttl", n(ttl))
                .expression_attribute_values(":threshold", n(i64::from(THRESHOLD)))
                .expression_attribute_values(":seen", n(i64::from(seen.count)))
                .expression_attribute_values(":cutoff", n(Failures::allowed_if_last_failure_at_most(seen.count, now)))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let old = match counted {
                Ok(out) => return Ok(Attempt::Allowed(failures_of(&out.attributes.unwrap_or_default())?)),
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => match c.item() {
                        Some(item) if !item.is_empty() => Some(item.clone()),
                        _ => self.get(lkey.clone()).await?,
                    },
                    _ => return Err(unavailable(e)),
                },
            };
            let Some(old) = old else {
                // Cleared in between: try again against no counter.
                seen = Failures::default();
                continue;
            };
            if Read(&old).expired(now) {
                // A counter past its TTL that DynamoDB has not deleted yet counts as zero: start
                // again at one, unless another request got there first.
                let mut item = lkey.clone();
                item.insert("count".into(), n(1));
                item.insert("last_failure_at".into(), n(now));
                item.insert("ttl".into(), n(ttl));
                let restarted = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":now", n(now))
                    .send()
                    .await;
                match restarted {
                    Ok(_) => {
                        return Ok(Attempt::Allowed(Failures {
                            count: 1,
                            last_failure_at: now,
                        }));
                    }
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        seen = Failures::default();
                        continue;
                    }
                    Err(e) => return Err(unavailable(e)),
                }
            }
            let stored = failures_of(&old)?;
            if let Some(retry_after) = stored.retry_after(now) {
                return Ok(Attempt::Throttled { retry_after });
            }
            // `seen` was stale and the stored counter allows an attempt: decide against it.
            seen = stored;
        }
        Err(StoreError::Unavailable("login throttling kept racing; retry".into()))
    }

    async fn clear_login_failures(&self, k: &UsernameKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(k), "LOCK")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
