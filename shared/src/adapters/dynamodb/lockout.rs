//! Login throttling on DynamoDB: the `LOCK` counter item, counted by one conditional update.

use super::items::{Item, Read, account_key, account_of, failures_of, lock_item, lock_key, lock_of, n};
use super::writes::{Updated, unless_refused};
use super::{DynamoStore, unavailable};
use crate::domain::lockout::{Attempt, THRESHOLD};
use crate::domain::{Account, Failures, UnixTime, UsernameKey};
use crate::ports::{AccountStore, LockoutStore, StoreError};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::KeysAndAttributes;

impl DynamoStore {
    /// Counts an attempt on the counter `lkey` in one conditional update, only if the stored
    /// counter allows one now: absent; below the threshold; or still the counter `seen` and its
    /// backoff over. A counter past its TTL is refused here (see [`Self::restart_counter`]).
    async fn count_attempt(&self, lkey: &Item, seen: Failures, now: UnixTime) -> Result<Updated, StoreError> {
        let next = Failures {
            count: 1,
            last_failure_at: now,
        };
        let update = self
            .client
            .update_item()
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
            .expression_attribute_values(":ttl", n(next.forgotten_at()))
            .expression_attribute_values(":threshold", n(i64::from(THRESHOLD)))
            .expression_attribute_values(":seen", n(i64::from(seen.count)))
            .expression_attribute_values(":cutoff", n(Failures::allowed_if_last_failure_at_most(seen.count, now)));
        self.update_or_old(update, lkey).await
    }

    /// A counter past its TTL that DynamoDB has not deleted yet counts as zero: starts it again
    /// at one, unless another request got there first (`None`).
    async fn restart_counter(&self, lkey: &Item, now: UnixTime) -> Result<Option<Failures>, StoreError> {
        let fresh = Failures {
            count: 1,
            last_failure_at: now,
        };
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(lock_item(lkey.clone(), &fresh)))
            .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        Ok(unless_refused(sent)?.map(|_| fresh))
    }
}

#[async_trait]
impl LockoutStore for DynamoStore {
    async fn login_lookup(&self, k: &UsernameKey, now: UnixTime) -> Result<(Option<Account>, Failures), StoreError> {
        let keys = KeysAndAttributes::builder()
            .keys(account_key(k))
            .keys(lock_key(k))
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
            match Read(item).opt_str("sk").as_deref() {
                Some("ACCOUNT") => account = Some(account_of(item)?),
                Some("LOCK") => failures = lock_of(Some(item), now)?,
                _ => {}
            }
        }
        let unprocessed = out.unprocessed_keys().is_some_and(|u| !u.is_empty());
        if unprocessed {
            // Throttled reads: fall back to single consistent reads.
            account = self.account(k).await?;
            failures = lock_of(self.get(lock_key(k)).await?.as_ref(), now)?;
        }
        Ok((account, failures))
    }

    async fn reserve_login_attempt(
        &self,
        k: &UsernameKey,
        seen: Failures,
        now: UnixTime,
    ) -> Result<Attempt, StoreError> {
        let lkey = lock_key(k);
        let mut seen = seen;
        // One conditional write decides. The loop only runs again when `seen` was stale or the
        // counter had expired.
        for _ in 0..4 {
            let old = match self.count_attempt(&lkey, seen, now).await? {
                Updated::New(item) => return Ok(Attempt::Allowed(failures_of(&item)?)),
                Updated::Refused(old) => old,
            };
            let Some(old) = old else {
                // Cleared in between: try again against no counter.
                seen = Failures::default();
                continue;
            };
            if Read(&old).expired(now) {
                match self.restart_counter(&lkey, now).await? {
                    Some(fresh) => return Ok(Attempt::Allowed(fresh)),
                    None => {
                        seen = Failures::default();
                        continue;
                    }
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
            .set_key(Some(lock_key(k)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
