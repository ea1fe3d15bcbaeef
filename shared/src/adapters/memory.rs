//! The embedded store: plain maps behind one mutex. Every operation is one critical section,
//! so each is atomic, as the conditional writes of the DynamoDB store are. Expired records
//! read as absent.

use crate::domain::delivery::{self, Limit, RegistrationCounter, Window};
use crate::domain::lockout::{Attempt, Failures};
use crate::domain::refresh::{apply, decide};
use crate::domain::share::{ShareId, ShareRecord};
use crate::domain::{
    Account, AccountUpdate, ApiKeyRecord, EmailKey, Family, FamilyId, InvitationId, InvitationRecord, KeyId,
    PasswordHash, ResetRecord, RotateOutcome, TokenHash, UnixTime, UserId, UsernameKey, UsernameSkeleton,
};
use crate::ports::{
    AccountStore, ApiKeyStore, CONFUSABLE, Inventory, InvitationStore, JwksStore, LockoutStore, ResetStore,
    SessionStore, ShareStore, StoreError,
};
use async_trait::async_trait;
use keygate_sdk::Jwks;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};

#[derive(Default)]
struct Data {
    accounts: HashMap<UsernameKey, Account>,
    emails: HashMap<EmailKey, UsernameKey>,
    skeletons: HashMap<UsernameSkeleton, UsernameKey>,
    failures: HashMap<UsernameKey, Failures>,
    api_keys: HashMap<KeyId, ApiKeyRecord>,
    families: HashMap<FamilyId, Family>,
    resets: HashMap<TokenHash, ResetRecord>,
    deliveries: HashMap<UsernameKey, Window>,
    invitations: HashMap<InvitationId, InvitationRecord>,
    registration_deliveries: HashMap<RegistrationCounter, Window>,
    shares: HashMap<ShareId, ShareRecord>,
    jwks: Option<Jwks>,
}

impl Data {
    /// `create_account`'s checks and insert, on the locked maps.
    fn insert_account(&mut self, account: &Account) -> Result<(), StoreError> {
        if self.accounts.contains_key(account.key()) {
            return Err(StoreError::Conflict("username"));
        }
        let skeleton = account.username.skeleton();
        if self.skeletons.contains_key(&skeleton) {
            return Err(StoreError::Conflict(CONFUSABLE));
        }
        if let Some(email) = &account.email {
            if self.emails.contains_key(&email.key()) {
                return Err(StoreError::Conflict("email"));
            }
            self.emails.insert(email.key(), account.key().clone());
        }
        self.skeletons.insert(skeleton, account.key().clone());
        self.accounts.insert(account.key().clone(), account.clone());
        Ok(())
    }
}

/// The embedded store of `keygate serve` and the tests.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        self.lock().insert_account(account)
    }

    async fn account(&self, key: &UsernameKey) -> Result<Option<Account>, StoreError> {
        Ok(self.lock().accounts.get(key).cloned())
    }

    async fn account_by_email(&self, email: &EmailKey) -> Result<Option<Account>, StoreError> {
        let d = self.lock();
        Ok(d.emails.get(email).and_then(|k| d.accounts.get(k)).cloned())
    }

    async fn update_account(&self, key: &UsernameKey, update: &AccountUpdate) -> Result<Option<Account>, StoreError> {
        let mut d = self.lock();
        let Some(a) = d.accounts.get_mut(key) else {
            return Ok(None);
        };
        update.apply_to(a);
        Ok(Some(a.clone()))
    }
}

#[async_trait]
impl LockoutStore for MemoryStore {
    async fn login_lookup(&self, key: &UsernameKey, now: UnixTime) -> Result<(Option<Account>, Failures), StoreError> {
        let d = self.lock();
        Ok((
            d.accounts.get(key).cloned(),
            Failures::remembered(d.failures.get(key).copied(), now),
        ))
    }

    async fn reserve_login_attempt(
        &self,
        key: &UsernameKey,
        _seen: Failures,
        now: UnixTime,
    ) -> Result<Attempt, StoreError> {
        let mut d = self.lock();
        let attempt = Failures::remembered(d.failures.get(key).copied(), now).reserve(now);
        if let Attempt::Allowed(f) = attempt {
            d.failures.insert(key.clone(), f);
        }
        Ok(attempt)
    }

    async fn clear_login_failures(&self, key: &UsernameKey) -> Result<(), StoreError> {
        self.lock().failures.remove(key);
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for MemoryStore {
    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut d = self.lock();
        if d.api_keys.contains_key(&record.key_id) {
            return Err(StoreError::Conflict("api key id"));
        }
        d.api_keys.insert(record.key_id.clone(), record.clone());
        Ok(())
    }

    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        Ok(self.lock().api_keys.get(key_id).cloned())
    }

    async fn delete_api_key(&self, key_id: &KeyId) -> Result<bool, StoreError> {
        Ok(self.lock().api_keys.remove(key_id).is_some())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_family(&self, family: &Family) -> Result<(), StoreError> {
        let mut d = self.lock();
        if d.families.contains_key(&family.family_id) {
            return Err(StoreError::Conflict("family id"));
        }
        d.families.insert(family.family_id.clone(), family.clone());
        Ok(())
    }

    async fn family(&self, family_id: &FamilyId) -> Result<Option<Family>, StoreError> {
        Ok(self.lock().families.get(family_id).cloned())
    }

    async fn rotate_refresh(
        &self,
        family_id: &FamilyId,
        presented: &TokenHash,
        next: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<RotateOutcome, StoreError> {
        let mut d = self.lock();
        let Some(f) = d.families.get(family_id) else {
            return Ok(RotateOutcome::Invalid);
        };
        let decision = decide(f, presented, now, grace);
        let Some(g) = apply(f, decision, presented, next, now) else {
            return Ok(RotateOutcome::Invalid);
        };
        d.families.insert(family_id.clone(), g.clone());
        Ok(RotateOutcome::after(decision, g))
    }

    async fn revoke_family(&self, family_id: &FamilyId) -> Result<(), StoreError> {
        if let Some(f) = self.lock().families.get_mut(family_id) {
            f.revoked = true;
        }
        Ok(())
    }
}

#[async_trait]
impl ResetStore for MemoryStore {
    async fn put_reset_token(&self, record: &ResetRecord) -> Result<(), StoreError> {
        self.lock().resets.insert(record.token_hash.clone(), record.clone());
        Ok(())
    }

    async fn spend_reset_token(&self, hash: &TokenHash, now: UnixTime) -> Result<Option<ResetRecord>, StoreError> {
        let mut d = self.lock();
        Ok(d.resets.remove(hash).filter(|r| r.is_live(now)))
    }

    async fn finish_reset(
        &self,
        key: &UsernameKey,
        epoch: u64,
        password_hash: &PasswordHash,
        now: UnixTime,
    ) -> Result<Option<Account>, StoreError> {
        let mut d = self.lock();
        let Some(a) = d.accounts.get_mut(key) else {
            return Ok(None);
        };
        Ok(a.finish_reset(epoch, password_hash, now).then(|| a.clone()))
    }

    async fn allow_reset_delivery(&self, key: &UsernameKey, now: UnixTime) -> Result<bool, StoreError> {
        Ok(count_delivery(
            &mut self.lock().deliveries,
            key.clone(),
            delivery::RESET_PER_ACCOUNT,
            now,
        ))
    }
}

#[async_trait]
impl JwksStore for MemoryStore {
    async fn put_published_jwks(&self, jwks: &Jwks) -> Result<(), StoreError> {
        self.lock().jwks = Some(jwks.clone());
        Ok(())
    }

    async fn published_jwks(&self) -> Result<Option<Jwks>, StoreError> {
        Ok(self.lock().jwks.clone())
    }
}

#[async_trait]
impl InvitationStore for MemoryStore {
    async fn put_invitation(&self, record: &InvitationRecord) -> Result<(), StoreError> {
        let mut d = self.lock();
        if d.invitations.contains_key(&record.invitation_id) {
            return Err(StoreError::Conflict("invitation id"));
        }
        d.invitations.insert(record.invitation_id.clone(), record.clone());
        Ok(())
    }

    async fn invitation(&self, id: &InvitationId, now: UnixTime) -> Result<Option<InvitationRecord>, StoreError> {
        Ok(self.lock().invitations.get(id).filter(|r| r.is_live(now)).cloned())
    }

    async fn pending_invitations(&self, now: UnixTime) -> Result<Vec<InvitationRecord>, StoreError> {
        let mut pending: Vec<InvitationRecord> = self
            .lock()
            .invitations
            .values()
            .filter(|r| r.is_pending(now))
            .cloned()
            .collect();
        pending.sort_by(InvitationRecord::listing_order);
        Ok(pending)
    }

    async fn delete_invitation(&self, id: &InvitationId) -> Result<bool, StoreError> {
        Ok(self.lock().invitations.remove(id).is_some())
    }

    async fn redeem_invitation(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
        account: &Account,
    ) -> Result<bool, StoreError> {
        let mut d = self.lock();
        let redeemable = d.invitations.get(id).is_some_and(|r| r.redeemable_by(hash, now));
        if !redeemable {
            return Ok(false);
        }
        d.insert_account(account)?;
        d.invitations.remove(id);
        Ok(true)
    }

    async fn count_invitation_conflict(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<u32>, StoreError> {
        let mut d = self.lock();
        let Some(r) = d.invitations.get_mut(id).filter(|r| r.redeemable_by(hash, now)) else {
            return Ok(None);
        };
        r.conflicts += 1;
        Ok(Some(r.conflicts))
    }

    async fn allow_registration_delivery(
        &self,
        counter: &RegistrationCounter,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        Ok(count_delivery(
            &mut self.lock().registration_deliveries,
            counter.clone(),
            counter.limit(),
            now,
        ))
    }
}

#[async_trait]
impl ShareStore for MemoryStore {
    async fn put_share(&self, share: &ShareRecord, limit: u32) -> Result<bool, StoreError> {
        let mut d = self.lock();
        if d.shares.contains_key(&share.share_id) {
            return Err(StoreError::Conflict("share id"));
        }
        let held = d
            .shares
            .values()
            .filter(|s| s.shared_by == share.shared_by && s.is_unexpired(share.created_at))
            .count();
        if held >= limit as usize {
            return Ok(false);
        }
        d.shares.insert(share.share_id.clone(), share.clone());
        Ok(true)
    }

    async fn share(&self, id: &ShareId, now: UnixTime) -> Result<Option<ShareRecord>, StoreError> {
        Ok(self.lock().shares.get(id).filter(|s| s.is_unexpired(now)).cloned())
    }

    async fn shares_by(&self, user: &UserId, now: UnixTime) -> Result<Vec<ShareRecord>, StoreError> {
        let mut out: Vec<ShareRecord> = self
            .lock()
            .shares
            .values()
            .filter(|s| &s.shared_by == user && s.is_active(now))
            .cloned()
            .collect();
        out.sort_by(ShareRecord::listing_order);
        Ok(out)
    }

    async fn revoke_share(&self, id: &ShareId, now: UnixTime) -> Result<bool, StoreError> {
        let mut d = self.lock();
        match d.shares.get_mut(id).filter(|s| s.is_unexpired(now)) {
            Some(s) => {
                s.revoked = true;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn revoked_shares(&self, until_after: UnixTime) -> Result<Vec<ShareId>, StoreError> {
        let mut ids: Vec<ShareId> = self
            .lock()
            .shares
            .values()
            .filter(|s| s.revoked && s.expires_at > until_after)
            .map(|s| s.share_id.clone())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Counts one mail on the counter `key` by the domain's window rule: whether it is within
/// `limit` (nothing changes if not).
fn count_delivery<K: Eq + Hash>(counters: &mut HashMap<K, Window>, key: K, limit: Limit, now: UnixTime) -> bool {
    match limit.count(counters.get(&key).copied(), now) {
        Some(window) => {
            counters.insert(key, window);
            true
        }
        None => false,
    }
}

#[async_trait]
impl Inventory for MemoryStore {
    async fn all_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let mut all: Vec<Account> = self.lock().accounts.values().cloned().collect();
        all.sort_by(Account::listing_order);
        Ok(all)
    }

    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut all: Vec<ApiKeyRecord> = self.lock().api_keys.values().cloned().collect();
        all.sort_by(|a, b| (a.created_at, &a.key_id).cmp(&(b.created_at, &b.key_id)));
        Ok(all)
    }
}
