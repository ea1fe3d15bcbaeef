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
