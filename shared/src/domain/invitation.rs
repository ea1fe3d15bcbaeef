//! Invitations and self-registrations: a record that lets whoever holds its token create one
//! account with the record's e-mail address and roles. An admin's invitation
//! ([`InvitationKind::Invitation`]) is listed while pending and can be withdrawn; a
//! self-registration ([`InvitationKind::Registration`]) is the same record made by the open
//! registration flow. The token (`kgi_<invitation id>_<secret>`) is mailed once and stored only
//! as the hash of its secret; redeeming it spends the record. A token that was refused for a
//! taken username [`MAX_CONFLICTS`] times is dead, so one token cannot probe usernames forever.

use super::secret::{RngError, SECRET_B64_LEN, TokenHash, is_b64, new_secret};
use super::{Email, Roles, UnixTime};
use serde::{Deserialize, Serialize};

super::secret::id_type!(
    /// Id of an invitation or registration record; 128 bits. Not secret on its own (an admin
    /// lists and deletes invitations by it): the token's secret part is what redeems.
    InvitationId, 16
);

/// Hex characters of an [`InvitationId`].
const ID_HEX_LEN: usize = 32;

/// An invitation or registration token: `kgi_<invitation id>_<secret>`. The secret carries 256
/// bits. `Debug` never shows it.
#[derive(Clone)]
pub struct InvitationToken {
    id: InvitationId,
    secret: String,
}

impl InvitationToken {
    /// A new token for record `id`, or the generator's failure.
    pub fn try_generate(id: InvitationId) -> Result<InvitationToken, RngError> {
        Ok(InvitationToken {
            id,
            secret: new_secret()?,
        })
    }
    /// Parses a presented token; `None` for anything malformed.
    pub fn parse(s: &str) -> Option<InvitationToken> {
        let rest = s.strip_prefix("kgi_")?;
        let (id, secret) = rest.split_at_checked(ID_HEX_LEN)?;
        let secret = secret.strip_prefix('_')?;
        let id = InvitationId::parse(id)?;
        is_b64(secret, SECRET_B64_LEN).then(|| InvitationToken {
            id,
            secret: secret.to_owned(),
        })
    }
    /// The record this token redeems.
    pub fn id(&self) -> &InvitationId {
        &self.id
    }
    /// The hash that storage keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.secret)
    }
    /// The token as mailed. Never log it.
    pub fn expose(&self) -> String {
        format!("kgi_{}_{}", self.id, self.secret)
    }
}

impl std::fmt::Debug for InvitationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InvitationToken(<redacted>)")
    }
}

/// How many times a token may be refused for a taken username (409 `conflict`); after that
/// it is dead.
pub const MAX_CONFLICTS: u32 = 5;

/// Who made the record: an admin's invitation or a self-registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationKind {
    Invitation,
    Registration,
}

impl InvitationKind {
    /// The name as serialized and stored: `invitation` or `registration`.
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationKind::Invitation => "invitation",
            InvitationKind::Registration => "registration",
        }
    }
    /// The kind of a stored name; `None` for anything else.
    pub fn parse(s: &str) -> Option<InvitationKind> {
        match s {
            "invitation" => Some(InvitationKind::Invitation),
            "registration" => Some(InvitationKind::Registration),
            _ => None,
        }
    }
}

/// A stored invitation or registration: the hash of its token, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    pub invitation_id: InvitationId,
    pub kind: InvitationKind,
    /// The address the token was sent to: the new account's e-mail.
    pub email: Email,
    /// The new account's roles.
    pub roles: Roles,
    pub token_hash: TokenHash,
    pub created_at: UnixTime,
    /// The token redeems while `now < expires_at`.
    pub expires_at: UnixTime,
    /// How many redemptions were refused for a taken username or e-mail; at
    /// [`MAX_CONFLICTS`] the token is dead.
    pub conflicts: u32,
}

impl InvitationRecord {
    /// Whether the record is still usable at `now`: unexpired, and refused for a taken
    /// username fewer than [`MAX_CONFLICTS`] times.
    pub fn is_live(&self, now: UnixTime) -> bool {
        now < self.expires_at && self.conflicts < MAX_CONFLICTS
    }

    /// Whether the token with hash `hash` redeems this record at `now` (and a refused redemption
    /// counts against it): it is live and the hash is its own.
    pub fn redeemable_by(&self, hash: &TokenHash, now: UnixTime) -> bool {
        self.is_live(now) && self.token_hash.ct_eq(hash)
    }

    /// Whether the record is on the list of pending invitations at `now`: a live invitation
    /// (registrations are never listed).
    pub fn is_pending(&self, now: UnixTime) -> bool {
        self.kind == InvitationKind::Invitation && self.is_live(now)
    }

    /// Oldest first, then by id: the order pending invitations are listed in.
    pub fn listing_order(a: &InvitationRecord, b: &InvitationRecord) -> std::cmp::Ordering {
        (a.created_at, &a.invitation_id).cmp(&(b.created_at, &b.invitation_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_32_lowercase_hex_and_random() {
        let id = InvitationId::try_generate().unwrap();
        assert_eq!(id.as_str().len(), 32);
        assert!(InvitationId::parse(id.as_str()).is_some_and(|p| p == id));
        assert_eq!(id.to_string(), id.as_str());
        assert_ne!(InvitationId::try_generate().unwrap(), id);
        for bad in [
            "",
            "0123",
            &id.as_str().to_uppercase(),
            &format!("{id}0"),
            &"g".repeat(32),
        ] {
            assert!(InvitationId::parse(bad).is_none() || bad == id.as_str(), "{bad}");
        }
    }

    #[test]
    fn tokens_round_trip_and_hash() {
        let id = InvitationId::try_generate().unwrap();
        let t = InvitationToken::try_generate(id.clone()).unwrap();
        let exposed = t.expose();
        assert!(exposed.starts_with(&format!("kgi_{id}_")));
        assert_eq!(exposed.len(), 4 + 32 + 1 + 43);
        let parsed = InvitationToken::parse(&exposed).unwrap();
        assert_eq!(parsed.id(), &id);
        assert!(parsed.hash().ct_eq(&t.hash()));
        let other = InvitationToken::try_generate(id).unwrap();
        assert!(!other.hash().ct_eq(&t.hash()));
        assert_ne!(other.expose(), exposed);
        let debug = format!("{t:?}");
        assert!(
            !debug.contains(&exposed[37..]) && !debug.contains(t.id().as_str()),
            "{debug}"
        );
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let t = InvitationToken::try_generate(InvitationId::try_generate().unwrap())
            .unwrap()
            .expose();
        let api_key = crate::domain::ApiKey::generate().expose();
        for bad in [
            String::new(),
            "kgi_".into(),
            "kgi_zz".into(),
            t[..t.len() - 1].to_owned(),
            format!("{t}x"),
            format!(" {t}"),
            t.replacen("kgi_", "kgk_", 1),
            t.replacen("kgi_", "KGI_", 1),
            t.replacen('_', "-", 2),
            t.to_uppercase(),
            format!("{}=", &t[..t.len() - 1]),
            format!("{}!", &t[..t.len() - 1]),
            api_key.replacen("kgk_", "kgi_", 1),
            format!("kgi_{}_{}", "0".repeat(31), &t[37..]),
        ] {
            assert!(InvitationToken::parse(&bad).is_none(), "{bad}");
        }
        assert!(InvitationToken::parse(&t).is_some());
    }

    #[test]
    fn kinds_serialize_lowercase_and_round_trip() {
        for k in [InvitationKind::Invitation, InvitationKind::Registration] {
            assert_eq!(serde_json::to_string(&k).unwrap(), format!("\"{}\"", k.as_str()));
            assert_eq!(InvitationKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(InvitationKind::parse("Invitation"), None);
    }
}
