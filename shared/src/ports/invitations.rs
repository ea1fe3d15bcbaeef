//! The invitations capability: invitation and registration records, their redemption, the
//! conflict counter that kills a token, and the registration-mail limits.

use super::StoreError;
use crate::domain::delivery::RegistrationCounter;
use crate::domain::{Account, InvitationId, InvitationRecord, TokenHash, UnixTime};
use async_trait::async_trait;

/// Invitation and registration records (token hashes only) and registration-mail counters.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Stores a new invitation or registration record. `Conflict` if the id exists.
    async fn put_invitation(&self, record: &InvitationRecord) -> Result<(), StoreError>;
    /// The record with this id, if it exists and is unexpired at `now`.
    async fn invitation(&self, id: &InvitationId, now: UnixTime) -> Result<Option<InvitationRecord>, StoreError>;
    /// The pending (unexpired at `now`) records of kind `Invitation`, oldest first.
    async fn pending_invitations(&self, now: UnixTime) -> Result<Vec<InvitationRecord>, StoreError>;
    /// Deletes a record (either kind); whether it existed.
    async fn delete_invitation(&self, id: &InvitationId) -> Result<bool, StoreError>;
    /// Atomically redeems a token: if record `id` exists, its token hash equals `hash` and it is
    /// live at `now` ([`InvitationRecord::is_live`]: unexpired, fewer than `MAX_CONFLICTS`
    /// conflicts), creates `account` exactly as `create_account` does and deletes the
    /// record, in one atomic step: `Ok(true)`. `Ok(false)` if the record is absent, expired or has
    /// another hash (nothing changes). `Err(Conflict)` if the username key, its skeleton or the
    /// e-mail key is taken: nothing changes, the record stays. Of N concurrent calls at most one
    /// returns `Ok(true)`. A `Conflict` is counted with
    /// [`InvitationStore::count_invitation_conflict`].
    async fn redeem_invitation(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
        account: &Account,
    ) -> Result<bool, StoreError>;
    /// Atomically counts one refused redemption (a taken username or e-mail) of record `id`:
    /// if it exists, its token hash equals `hash` and it is live at `now`, increments its
    /// `conflicts` and returns the new count; otherwise (absent, another hash, expired, or
    /// already at `MAX_CONFLICTS`) counts nothing and returns `None`. So of any number of
    /// calls, concurrent or not, at most `MAX_CONFLICTS` return `Some`, and once one returns
    /// `Some(MAX_CONFLICTS)` the record is no longer live: no read returns it, nothing redeems it.
    async fn count_invitation_conflict(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<u32>, StoreError>;
    /// Counts one registration mail on `counter` (a mailbox or a mail domain) by
    /// `domain::delivery`'s window rule and the counter's own limit: `true` if it is within it,
    /// `false` if over it (nothing counted). Mailbox and domain counters never share a key,
    /// nor with the reset counters.
    async fn allow_registration_delivery(
        &self,
        counter: &RegistrationCounter,
        now: UnixTime,
    ) -> Result<bool, StoreError>;
}
