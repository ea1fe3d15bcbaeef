//! The sessions capability: refresh-token families, their preview, rotation and revocation.

use super::{AccountStore, StoreError};
use crate::domain::{Family, FamilyId, Preview, RotateOutcome, TokenHash, UnixTime};
use async_trait::async_trait;

/// Refresh-token families. The preview reads the family's account too, hence [`AccountStore`].
#[async_trait]
pub trait SessionStore: AccountStore + Send + Sync {
    /// Stores a new family. `Conflict` if the id exists.
    async fn create_family(&self, family: &Family) -> Result<(), StoreError>;
    /// The family with this id (for tests and operators; the refresh path uses `rotate_refresh`).
    async fn family(&self, family_id: &FamilyId) -> Result<Option<Family>, StoreError>;
    /// The refresh path's preview of a presented token ([`Preview`]): the family, the domain's
    /// decision, and the account only when the token may refresh. `None` for no such family.
    /// This default reads the family, then the account (DynamoDB: one `GetItem` each, the
    /// second only for a live token); a store that can read both in one go does (SQLite: one
    /// read transaction).
    async fn refresh_preview(
        &self,
        family_id: &FamilyId,
        presented: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<Option<Preview>, StoreError> {
        let Some(family) = self.family(family_id).await? else {
            return Ok(None);
        };
        let decision = crate::domain::refresh::decide(&family, presented, now, grace);
        let account = if Preview::wants_account(decision) {
            self.account(&family.username_key).await?
        } else {
            None
        };
        Ok(Some(Preview {
            family,
            decision,
            account,
        }))
    }
    /// Atomically applies `domain::refresh::decide` / `apply` to the stored family for a
    /// presented token hash: rotates to `next`, reissues within `grace`, revokes on reuse, or
    /// changes nothing. Of N concurrent calls with the same current token, at most one rotates.
    async fn rotate_refresh(
        &self,
        family_id: &FamilyId,
        presented: &TokenHash,
        next: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<RotateOutcome, StoreError>;
    /// Marks a family revoked (no-op if absent).
    async fn revoke_family(&self, family_id: &FamilyId) -> Result<(), StoreError>;
}
