//! Refresh-token families: one login starts a family with an absolute lifetime; each refresh
//! retires the presented token and issues its successor.
//!
//! The family keeps only the hash of its current token and of the one just retired. A
//! refresh token names its family, and the family id (128 random bits) is known only to holders
//! of the family's tokens, so a token that names a live family but is not its current one is a
//! retired token presented again, whichever generation it was: the whole family is revoked.
//! Within `KEYGATE_REFRESH_GRACE` seconds of a rotation, the just-retired token may be presented
//! again and gets a pair in the same family instead (a client that lost the answer, two tabs
//! refreshing at once). The service derives each successor from the presented token
//! (`RefreshToken::successor`), so a grace re-issue carries the token the rotation issued and
//! leaves the family as it was: every holder of the retired token ends up with the one live token.

pub use super::secret::FamilyId;
use super::{TokenHash, UnixTime, UserId, UsernameKey};

/// One login session's chain of refresh tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    pub family_id: FamilyId,
    pub username_key: UsernameKey,
    pub user_id: UserId,
    pub client_id: String,
    /// The account's `session_epoch` when the family started; the family dies when they differ.
    pub session_epoch: u64,
    pub created_at: UnixTime,
    /// The absolute end of the session: no refresh after this, whatever the rotations.
    pub expires_at: UnixTime,
    pub current_hash: TokenHash,
    pub previous_hash: Option<TokenHash>,
    /// When `previous_hash` was retired.
    pub rotated_at: UnixTime,
    pub revoked: bool,
}

/// What to do with a presented refresh token, given its family's stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The current token: retire it, issue the successor.
    Rotate,
    /// The just-retired token within the grace window: issue its successor again (with a
    /// deterministic successor, the current token: nothing changes).
    GraceReissue,
    /// A retired token presented again: revoke the family.
    RevokeFamily,
    /// A dead family (revoked or expired): refuse, change nothing.
    Reject,
}

/// The rule, for a presented token whose hash is `presented`.
pub fn decide(f: &Family, presented: &TokenHash, now: UnixTime, grace: i64) -> Decision {
    if f.revoked || now >= f.expires_at {
        return Decision::Reject;
    }
    if f.current_hash.ct_eq(presented) {
        return Decision::Rotate;
    }
    let is_previous = f.previous_hash.as_ref().is_some_and(|p| p.ct_eq(presented));
    if is_previous && grace > 0 && now < f.rotated_at + grace {
        return Decision::GraceReissue;
    }
    Decision::RevokeFamily
}

/// Applies a decision: the family's state afterwards, or `None` when nothing is written.
pub fn apply(f: &Family, decision: Decision, presented: &TokenHash, next: &TokenHash, now: UnixTime) -> Option<Family> {
    let mut g = f.clone();
    match decision {
        Decision::Rotate => {
            g.previous_hash = Some(presented.clone());
            g.current_hash = next.clone();
            g.rotated_at = now;
        }
        Decision::GraceReissue => g.current_hash = next.clone(),
        Decision::RevokeFamily => g.revoked = true,
        Decision::Reject => return None,
    }
    Some(g)
}

/// The refresh path's first look at a family, before any signing: what [`decide`] says of the
/// presented token and, only when that lets it refresh, the account the family names (`None`
/// if it is gone). A preview: the store's conditional rotation decides for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preview {
    pub family: Family,
    pub decision: Decision,
    pub account: Option<crate::domain::Account>,
}

impl Preview {
    /// Whether the preview needs the account (the token may refresh).
    pub fn wants_account(decision: Decision) -> bool {
        matches!(decision, Decision::Rotate | Decision::GraceReissue)
    }

    /// The preview of `presented` against `family` at `now` ([`decide`]), reading the account
    /// with `account` only when the token may refresh (for a store that reads both in one step).
    pub fn read<E>(
        family: Family,
        presented: &TokenHash,
        now: UnixTime,
        grace: i64,
        account: impl FnOnce(&UsernameKey) -> Result<Option<crate::domain::Account>, E>,
    ) -> Result<Preview, E> {
        let decision = decide(&family, presented, now, grace);
        let account = match Preview::wants_account(decision) {
            true => account(&family.username_key)?,
            false => None,
        };
        Ok(Preview {
            family,
            decision,
            account,
        })
    }
}

/// The result of a rotation attempt, as the store reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotateOutcome {
    /// The successor is now current; the family's new state.
    Rotated(Family),
    /// The presented token was a retired one: the family is now revoked.
    Reused,
    /// No such family, or it is revoked or expired: nothing changed.
    Invalid,
}

impl RotateOutcome {
    /// What a store reports after writing `family`, the state [`apply`] gave for `decision`.
    pub fn after(decision: Decision, family: Family) -> RotateOutcome {
        match decision {
            Decision::Rotate | Decision::GraceReissue => RotateOutcome::Rotated(family),
            Decision::RevokeFamily => RotateOutcome::Reused,
            Decision::Reject => RotateOutcome::Invalid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RefreshToken;

    fn family(now: UnixTime) -> (Family, RefreshToken) {
        let fid = FamilyId::generate();
        let t = RefreshToken::generate(fid.clone());
        let f = Family {
            family_id: fid,
            username_key: UsernameKey::of_any("ann"),
            user_id: UserId::generate(),
            client_id: "keygate".into(),
            session_epoch: 0,
            created_at: now,
            expires_at: now + 100,
            current_hash: t.hash(),
            previous_hash: None,
            rotated_at: now,
            revoked: false,
        };
        (f, t)
    }

    #[test]
    fn rotation_then_reuse_revokes() {
        let (f, t1) = family(0);
        let t2 = RefreshToken::generate(f.family_id.clone());
        assert_eq!(decide(&f, &t1.hash(), 10, 0), Decision::Rotate);
        let g = apply(&f, Decision::Rotate, &t1.hash(), &t2.hash(), 10).unwrap();
        assert_eq!(decide(&g, &t2.hash(), 11, 0), Decision::Rotate);
        assert_eq!(decide(&g, &t1.hash(), 11, 0), Decision::RevokeFamily);
        let h = apply(&g, Decision::RevokeFamily, &t1.hash(), &t2.hash(), 11).unwrap();
        assert_eq!(decide(&h, &t2.hash(), 12, 0), Decision::Reject);
    }

    #[test]
    fn grace_window_reissues_only_for_the_just_retired_token() {
        let (f, t1) = family(0);
        let t2 = RefreshToken::generate(f.family_id.clone());
        let g = apply(&f, Decision::Rotate, &t1.hash(), &t2.hash(), 10).unwrap();
        assert_eq!(decide(&g, &t1.hash(), 14, 5), Decision::GraceReissue);
        assert_eq!(decide(&g, &t1.hash(), 15, 5), Decision::RevokeFamily);
        let stranger = RefreshToken::generate(f.family_id.clone());
        assert_eq!(decide(&g, &stranger.hash(), 11, 5), Decision::RevokeFamily);
    }

    #[test]
    fn a_grace_reissue_of_the_same_successor_changes_nothing() {
        let (f, t1) = family(0);
        let t2 = t1.successor(b"k");
        let g = apply(&f, Decision::Rotate, &t1.hash(), &t2.hash(), 10).unwrap();
        let again = t1.successor(b"k");
        assert_eq!(decide(&g, &t1.hash(), 12, 5), Decision::GraceReissue);
        assert_eq!(
            apply(&g, Decision::GraceReissue, &t1.hash(), &again.hash(), 12),
            Some(g.clone())
        );
        assert_eq!(decide(&g, &t2.hash(), 12, 5), Decision::Rotate);
    }

    #[test]
    fn absolute_lifetime() {
        let (f, t1) = family(0);
        assert_eq!(decide(&f, &t1.hash(), 99, 0), Decision::Rotate);
        assert_eq!(decide(&f, &t1.hash(), 100, 0), Decision::Reject);
    }
}
