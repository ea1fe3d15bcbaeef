//! The item codec: key builders, each record to its item and back, and [`Read`] for attributes.

use crate::domain::share::{ResourcePath, ShareId, ShareRecord};
use crate::domain::{
    Account, ApiKeyRecord, Email, EmailKey, Failures, Family, FamilyId, InvitationId, InvitationKind, InvitationRecord,
    KeyId, PasswordHash, ResetRecord, Roles, TokenHash, UnixTime, UserId, Username, UsernameKey, UsernameSkeleton,
};
use crate::ports::StoreError;
use aws_sdk_dynamodb::types::AttributeValue as Av;
use std::collections::HashMap;

pub(super) type Item = HashMap<String, Av>;

pub(super) fn s(v: impl Into<String>) -> Av {
    Av::S(v.into())
}
pub(super) fn n(v: i64) -> Av {
    Av::N(v.to_string())
}

pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(super) fn user_pk(k: &UsernameKey) -> String {
    format!("USER#{}", k.as_str())
}

pub(super) fn account_key(k: &UsernameKey) -> Item {
    key(user_pk(k), "ACCOUNT")
}

/// The key of a username's login-failure counter.
pub(super) fn lock_key(k: &UsernameKey) -> Item {
    key(user_pk(k), "LOCK")
}

pub(super) fn email_key(email: &EmailKey) -> Item {
    key(format!("EMAIL#{}", email.as_str()), "EMAIL")
}

pub(super) fn api_key_key(id: &KeyId) -> Item {
    key(format!("APIKEY#{id}"), "APIKEY")
}

pub(super) fn family_key(id: &FamilyId) -> Item {
    key(format!("FAMILY#{id}"), "FAMILY")
}

pub(super) fn reset_key(hash: &TokenHash) -> Item {
    key(format!("RESET#{}", hash.as_str()), "RESET")
}

/// The key of the published key set's item.
pub(super) fn jwks_key() -> Item {
    key("JWKS".into(), "JWKS")
}

/// The index item that points e-mail key `email` at the account with key `k`.
pub(super) fn email_item(email: &EmailKey, k: &UsernameKey) -> Item {
    let mut item = email_key(email);
    item.insert("username_key".into(), s(k.as_str()));
    item
}

/// The item that claims a username's skeleton for the account with key `k`.
pub(super) fn skeleton_item(skeleton: &UsernameSkeleton, k: &UsernameKey) -> Item {
    let mut item = key(format!("SKELETON#{}", skeleton.as_str()), "SKELETON");
    item.insert("username_key".into(), s(k.as_str()));
    item
}

pub(super) struct Read<'a>(pub(super) &'a Item);

impl Read<'_> {
    pub(super) fn str(&self, name: &str) -> Result<String, StoreError> {
        match self.0.get(name) {
            Some(Av::S(v)) => Ok(v.clone()),
            _ => Err(StoreError::Corrupt(format!("missing string {name}"))),
        }
    }
    pub(super) fn opt_str(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Some(Av::S(v)) => Some(v.clone()),
            _ => None,
        }
    }
    pub(super) fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.opt_int(name)
            .ok_or_else(|| StoreError::Corrupt(format!("missing number {name}")))
    }
    pub(super) fn opt_int(&self, name: &str) -> Option<i64> {
        match self.0.get(name) {
            Some(Av::N(v)) => v.parse().ok(),
            _ => None,
        }
    }
    pub(super) fn bool(&self, name: &str) -> bool {
        matches!(self.0.get(name), Some(Av::Bool(true)))
    }
    pub(super) fn roles(&self) -> Result<Roles, StoreError> {
        let names: Vec<String> = match self.0.get("roles") {
            Some(Av::L(list)) => list.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            _ => Vec::new(),
        };
        Roles::parse(&names).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
    /// Whether the item's TTL has passed (DynamoDB may still return it).
    pub(super) fn expired(&self, now: UnixTime) -> bool {
        self.opt_int("ttl").is_some_and(|t| t <= now)
    }
}

pub(super) fn roles_av(r: &Roles) -> Av {
    Av::L(r.names().into_iter().map(Av::S).collect())
}

pub(super) fn account_item(a: &Account) -> Item {
    let mut item = account_key(a.key());
    item.insert("user_id".into(), s(a.user_id.as_str()));
    item.insert("username".into(), s(a.username.as_str()));
    if let Some(e) = &a.email {
        item.insert("email".into(), s(e.as_str()));
    }
    item.insert("roles".into(), roles_av(&a.roles));
    item.insert("disabled".into(), Av::Bool(a.disabled));
    item.insert("password_hash".into(), s(a.password_hash.as_str()));
    item.insert("session_epoch".into(), n(a.session_epoch as i64));
    item.insert("reset_epoch".into(), n(a.reset_epoch as i64));
    item.insert("created_at".into(), n(a.created_at));
    item.insert("updated_at".into(), n(a.updated_at));
    item
}

pub(super) fn account_of(item: &Item) -> Result<Account, StoreError> {
    let r = Read(item);
    let corrupt = |e: crate::domain::Invalid| StoreError::Corrupt(e.to_string());
    Ok(Account {
        user_id: UserId::from_stored(r.str("user_id")?),
        username: Username::from_stored(&r.str("username")?).map_err(corrupt)?,
        email: r
            .opt_str("email")
            .map(|e| Email::parse(&e))
            .transpose()
            .map_err(corrupt)?,
        roles: r.roles()?,
        disabled: r.bool("disabled"),
        password_hash: PasswordHash::from_stored(r.str("password_hash")?),
        session_epoch: r.int("session_epoch")?.max(0) as u64,
        reset_epoch: r.opt_int("reset_epoch").unwrap_or(0).max(0) as u64,
        created_at: r.int("created_at")?,
        updated_at: r.int("updated_at")?,
    })
}

pub(super) fn failures_of(item: &Item) -> Result<Failures, StoreError> {
    let r = Read(item);
    Ok(Failures {
        count: u32::try_from(r.int("count")?.max(0)).unwrap_or(u32::MAX),
        last_failure_at: r.int("last_failure_at")?,
    })
}

/// The counter a stored `LOCK` item (if any) stands for at `now` ([`Failures::remembered`]).
pub(super) fn lock_of(item: Option<&Item>, now: UnixTime) -> Result<Failures, StoreError> {
    Ok(Failures::remembered(item.map(failures_of).transpose()?, now))
}

/// A counter item of `key` with these attributes and its TTL.
pub(super) fn lock_item(mut k: Item, f: &Failures) -> Item {
    k.insert("count".into(), n(i64::from(f.count)));
    k.insert("last_failure_at".into(), n(f.last_failure_at));
    k.insert("ttl".into(), n(f.forgotten_at()));
    k
}

pub(super) fn family_item(f: &Family) -> Item {
    let mut item = family_key(&f.family_id);
    item.insert("username_key".into(), s(f.username_key.as_str()));
    item.insert("user_id".into(), s(f.user_id.as_str()));
    item.insert("client_id".into(), s(&f.client_id));
    item.insert("session_epoch".into(), n(f.session_epoch as i64));
    item.insert("created_at".into(), n(f.created_at));
    item.insert("expires_at".into(), n(f.expires_at));
    item.insert("ttl".into(), n(f.expires_at));
    item.insert("current_hash".into(), s(f.current_hash.as_str()));
    if let Some(p) = &f.previous_hash {
        item.insert("previous_hash".into(), s(p.as_str()));
    }
    item.insert("rotated_at".into(), n(f.rotated_at));
    item.insert("revoked".into(), Av::Bool(f.revoked));
    item
}

pub(super) fn family_of(id: &FamilyId, item: &Item) -> Result<Family, StoreError> {
    let r = Read(item);
    Ok(Family {
        family_id: id.clone(),
        username_key: UsernameKey::from_stored(r.str("username_key")?),
        user_id: UserId::from_stored(r.str("user_id")?),
        client_id: r.str("client_id")?,
        session_epoch: r.int("session_epoch")?.max(0) as u64,
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
        current_hash: TokenHash::from_stored(r.str("current_hash")?),
        previous_hash: r.opt_str("previous_hash").map(TokenHash::from_stored),
        rotated_at: r.int("rotated_at")?,
        revoked: r.bool("revoked"),
    })
}

/// The partition of the pending-invitation items
/// ([`InvitationStore::pending_invitations`](crate::ports::InvitationStore::pending_invitations) queries it).
pub(super) const PENDING_INVITATIONS: &str = "INVITATIONS";

pub(super) fn invitation_key(id: &InvitationId) -> Item {
    key(format!("INVITE#{id}"), "INVITE")
}

pub(super) fn pending_key(id: &InvitationId) -> Item {
    key(PENDING_INVITATIONS.to_owned(), id.as_str())
}

/// The record's attributes under `k` (its own key or its pending-list key).
pub(super) fn invitation_item(mut k: Item, r: &InvitationRecord) -> Item {
    k.insert("kind".into(), s(r.kind.as_str()));
    k.insert("email".into(), s(r.email.as_str()));
    k.insert("roles".into(), roles_av(&r.roles));
    k.insert("token_hash".into(), s(r.token_hash.as_str()));
    k.insert("created_at".into(), n(r.created_at));
    k.insert("expires_at".into(), n(r.expires_at));
    k.insert("conflicts".into(), n(i64::from(r.conflicts)));
    k.insert("ttl".into(), n(r.expires_at));
    k
}

pub(super) fn invitation_of(invitation_id: InvitationId, item: &Item) -> Result<InvitationRecord, StoreError> {
    let r = Read(item);
    Ok(InvitationRecord {
        invitation_id,
        kind: InvitationKind::parse(&r.str("kind")?)
            .ok_or_else(|| StoreError::Corrupt("invitation item with an unknown kind".into()))?,
        email: Email::parse(&r.str("email")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        roles: r.roles()?,
        token_hash: TokenHash::from_stored(r.str("token_hash")?),
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
        conflicts: u32::try_from(r.opt_int("conflicts").unwrap_or(0))
            .map_err(|_| StoreError::Corrupt("invitation item with a bad conflict count".into()))?,
    })
}

pub(super) const REVOKED_SHARES: &str = "SHARES-REVOKED";

/// How long after its expiry a share's items stay (verifiers accept a share until its expiry
/// plus their leeway, at most 300 s, and the revocation list must cover that).
pub(super) const SHARE_TTL_MARGIN: i64 = 3600;

pub(super) fn share_key(id: &ShareId) -> Item {
    key(format!("SHARE#{id}"), "SHARE")
}

pub(super) fn creator_key(user: &UserId, id: &ShareId) -> Item {
    key(format!("SHARES#{}", user.as_str()), id.as_str())
}

pub(super) fn share_item(mut k: Item, r: &ShareRecord) -> Item {
    k.insert("resource".into(), s(r.resource.as_str()));
    k.insert("shared_by".into(), s(r.shared_by.as_str()));
    k.insert("created_at".into(), n(r.created_at));
    k.insert("expires_at".into(), n(r.expires_at));
    k.insert("revoked".into(), Av::Bool(r.revoked));
    k.insert("ttl".into(), n(r.expires_at + SHARE_TTL_MARGIN));
    k
}

/// The revocation-list item of a share.
pub(super) fn revoked_item(r: &ShareRecord) -> Item {
    let mut item = key(REVOKED_SHARES.to_owned(), r.share_id.as_str());
    item.insert("expires_at".into(), n(r.expires_at));
    item.insert("ttl".into(), n(r.expires_at + SHARE_TTL_MARGIN));
    item
}

pub(super) fn share_of(share_id: ShareId, item: &Item) -> Result<ShareRecord, StoreError> {
    let r = Read(item);
    Ok(ShareRecord {
        share_id,
        resource: ResourcePath::parse(&r.str("resource")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        shared_by: UserId::from_stored(r.str("shared_by")?),
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
        revoked: r.bool("revoked"),
    })
}

pub(super) fn api_key_item(rec: &ApiKeyRecord) -> Item {
    let mut item = api_key_key(&rec.key_id);
    item.insert("name".into(), s(&rec.name));
    item.insert("roles".into(), roles_av(&rec.roles));
    item.insert("secret_hash".into(), s(rec.secret_hash.as_str()));
    item.insert("created_at".into(), n(rec.created_at));
    if let Some(e) = rec.expires_at {
        item.insert("expires_at".into(), n(e));
        item.insert("ttl".into(), n(e));
    }
    item
}

pub(super) fn reset_item(rec: &ResetRecord) -> Item {
    let mut item = reset_key(&rec.token_hash);
    item.insert("username_key".into(), s(rec.username_key.as_str()));
    item.insert("epoch".into(), n(rec.epoch as i64));
    item.insert("created_at".into(), n(rec.created_at));
    item.insert("expires_at".into(), n(rec.expires_at));
    item.insert("ttl".into(), n(rec.expires_at));
    item
}

pub(super) fn reset_of(token_hash: &TokenHash, item: &Item) -> Result<ResetRecord, StoreError> {
    let r = Read(item);
    Ok(ResetRecord {
        token_hash: token_hash.clone(),
        username_key: UsernameKey::from_stored(r.str("username_key")?),
        epoch: r.opt_int("epoch").unwrap_or(0).max(0) as u64,
        created_at: r.int("created_at")?,
        expires_at: r.int("expires_at")?,
    })
}

/// The id in the sort key of a list item (`parse` reads it); `Corrupt(what)` without one.
pub(super) fn listed_id<T>(item: &Item, parse: impl FnOnce(&str) -> Option<T>, what: &str) -> Result<T, StoreError> {
    Read(item)
        .str("sk")
        .ok()
        .and_then(|sk| parse(&sk))
        .ok_or_else(|| StoreError::Corrupt(what.into()))
}

pub(super) fn api_key_of(key_id: KeyId, item: &Item) -> Result<ApiKeyRecord, StoreError> {
    let r = Read(item);
    Ok(ApiKeyRecord {
        key_id,
        name: r.str("name")?,
        roles: r.roles()?,
        secret_hash: TokenHash::from_stored(r.str("secret_hash")?),
        created_at: r.int("created_at")?,
        expires_at: r.opt_int("expires_at"),
    })
}
