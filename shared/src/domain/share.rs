//! Share links: one resource, read-only, for a limited time, for whoever holds the link. The
//! resource path rules live in `keygate-sdk` (one rule for keygate and every verifier); the
//! token itself is a `share+jwt` signed like access tokens.

use super::UnixTime;
use super::account::UserId;
pub use keygate_sdk::share::{InvalidResource, MAX_RESOURCE_BYTES, ResourcePath};

super::secret::id_type!(
    /// Id of a share link; 128 bits. Public: it is the token's `jti` and in revocation lists.
    ShareId, 16
);

/// A share link as stored: who made it, for what, until when, and whether it was revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRecord {
    pub share_id: ShareId,
    pub resource: ResourcePath,
    /// The account that made it.
    pub shared_by: UserId,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked: bool,
}

impl ShareRecord {
    /// Whether the share is still readable at `now`, revoked or not (until its expiry a revoked
    /// share stays stored, and counts against its creator's limit).
    pub fn is_unexpired(&self, now: UnixTime) -> bool {
        now < self.expires_at
    }

    /// Whether the share is listed among its creator's shares at `now`: unexpired and unrevoked.
    pub fn is_active(&self, now: UnixTime) -> bool {
        !self.revoked && self.is_unexpired(now)
    }

    /// Oldest first, then by id: the order shares are listed in.
    pub fn listing_order(a: &ShareRecord, b: &ShareRecord) -> std::cmp::Ordering {
        (a.created_at, &a.share_id).cmp(&(b.created_at, &b.share_id))
    }
}
