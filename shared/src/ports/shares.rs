//! The share-link capability: share records, the per-creator limit, revocation and the
//! revocation list.

use super::StoreError;
use crate::domain::share::{ShareId, ShareRecord};
use crate::domain::{UnixTime, UserId};
use async_trait::async_trait;

/// Share links by id and by creator.
#[async_trait]
pub trait ShareStore: Send + Sync {
    /// Stores a new share link unless its creator already holds `limit` shares unexpired at
    /// `share.created_at`, revoked ones included (`KEYGATE_SHARE_MAX_PER_ACCOUNT`): `Ok(false)`
    /// then, and nothing is written. `Conflict` if the id exists. The embedded and memory stores
    /// decide in one atomic step; DynamoDB counts with a consistent `Query` before its
    /// conditional write, so simultaneous creations may pass the limit by at most their number.
    async fn put_share(&self, share: &ShareRecord, limit: u32) -> Result<bool, StoreError>;
    /// The share with this id, revoked or not, while unexpired at `now`.
    async fn share(&self, id: &ShareId, now: UnixTime) -> Result<Option<ShareRecord>, StoreError>;
    /// The unexpired, unrevoked shares `user` made, oldest first.
    async fn shares_by(&self, user: &UserId, now: UnixTime) -> Result<Vec<ShareRecord>, StoreError>;
    /// Revokes an unexpired share; whether there was one (revoking twice is `true` twice).
    async fn revoke_share(&self, id: &ShareId, now: UnixTime) -> Result<bool, StoreError>;
    /// Revokes every unexpired, unrevoked share `user` made (their creator was disabled or
    /// deleted); how many. This default revokes them one by one.
    async fn revoke_shares_by(&self, user: &UserId, now: UnixTime) -> Result<usize, StoreError> {
        let mut n = 0;
        for share in self.shares_by(user, now).await? {
            if self.revoke_share(&share.share_id, now).await? {
                n += 1;
            }
        }
        Ok(n)
    }
    /// The ids of revoked shares whose expiry is after `until_after` (verifiers still accept a
    /// share until its expiry plus their leeway, so callers pass `now - leeway`).
    async fn revoked_shares(&self, until_after: UnixTime) -> Result<Vec<ShareId>, StoreError>;
}
