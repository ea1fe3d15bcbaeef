//! The DynamoDB store: one table, string keys `pk` and `sk`, TTL attribute `ttl` (epoch
//! seconds). Every step that must not race is one conditional write.
//!
//! | item | pk | sk | attributes |
//! | --- | --- | --- | --- |
//! | account | `USER#<username key>` | `ACCOUNT` | user_id, username, email, roles, disabled, password_hash, session_epoch, reset_epoch (absent: 0), created_at, updated_at |
//! | email index | `EMAIL#<email key>` | `EMAIL` | username_key (written with the account in one transaction) |
//! | username skeleton | `SKELETON#<skeleton>` | `SKELETON` | username_key (the confusable skeleton of the username, Unicode TR39; written with the account in one transaction) |
//! | login failures | `USER#<username key>` | `LOCK` | count, last_failure_at, ttl |
//! | reset deliveries | `USER#<username key>` | `RESETRATE` | window_start, count, ttl |
//! | API key | `APIKEY#<key id>` | `APIKEY` | name, roles, secret_hash, created_at, expires_at, ttl |
//! | refresh family | `FAMILY#<family id>` | `FAMILY` | username_key, user_id, client_id, session_epoch, created_at, expires_at, current_hash, previous_hash, rotated_at, revoked, ttl |
//! | reset token | `RESET#<token hash>` | `RESET` | username_key, epoch (absent: 0), created_at, expires_at, ttl |
//! | invitation or registration | `INVITE#<invitation id>` | `INVITE` | kind, email, roles, token_hash, created_at, expires_at, conflicts (absent: 0), ttl |
//! | pending invitation | `INVITATIONS` | `<invitation id>` | the same attributes (kind `invitation` only; written and deleted with its record in one transaction; deleted after the conflict that kills the token) |
//! | registration deliveries | `REGRATE#<mailbox>` or `REGRATE#@<mail domain>` | `REGRATE` | window_start, count, ttl |
//! | share link | `SHARE#<share id>` | `SHARE` | resource, shared_by, created_at, expires_at, revoked, ttl |
//! | a creator's live share | `SHARES#<user id>` | `<share id>` | the same attributes (written with the share, deleted when it is revoked, in one transaction) |
//! | revoked share | `SHARES-REVOKED` | `<share id>` | expires_at, ttl (written with the revocation) |
//! | published keys | `JWKS` | `JWKS` | jwks (the public JWKS as JSON), updated_at |
//!
//! Only hashes of API keys, refresh, reset and invitation tokens are stored. DynamoDB deletes expired
//! items some time after their `ttl` (and moto never does), so reads treat them as absent.

use crate::domain::delivery::{self, Limit, RegistrationCounter};
use crate::domain::invitation::MAX_CONFLICTS;
use crate::domain::lockout::{Attempt, FORGET_AFTER_SECONDS, Failures, THRESHOLD};
use crate::domain::refresh::{Decision, decide};
use crate::domain::share::{ResourcePath, ShareId, ShareRecord};
use crate::domain::{
    Account, AccountUpdate, ApiKeyRecord, Email, EmailKey, Family, FamilyId, InvitationId, InvitationKind,
    InvitationRecord, KeyId, PasswordHash, ResetRecord, Roles, RotateOutcome, TokenHash, UnixTime, UserId, Username,
    UsernameKey, UsernameSkeleton,
};
use crate::ports::{
    AccountStore, ApiKeyStore, CONFUSABLE, Inventory, InvitationStore, JwksStore, LockoutStore, ResetStore,
    SessionStore, ShareStore, StoreError,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue as Av, BillingMode, Delete, KeySchemaElement, KeyType, KeysAndAttributes, Put,
    ReturnValue, ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TransactWriteItem,
};
use aws_types::SdkConfig;
use keygate_sdk::Jwks;
use std::collections::HashMap;

type Item = HashMap<String, Av>;

/// The DynamoDB implementation of [`Store`](crate::ports::Store).
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn unavailable<E: std::error::Error>(e: E) -> StoreError {
    StoreError::Unavailable(super::aws::describe(&e))
}

fn s(v: impl Into<String>) -> Av {
    Av::S(v.into())
}
fn n(v: i64) -> Av {
    Av::N(v.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn user_pk(k: &UsernameKey) -> String {
    format!("USER#{}", k.as_str())
}

/// The item that claims a username's skeleton for the account with key `k`.
fn skeleton_item(skeleton: &UsernameSkeleton, k: &UsernameKey) -> Item {
    let mut item = key(format!("SKELETON#{}", skeleton.as_str()), "SKELETON");
    item.insert("username_key".into(), s(k.as_str()));
    item
}

struct Read<'a>(&'a Item);

impl Read<'_> {
    fn str(&self, name: &str) -> Result<String, StoreError> {
        match self.0.get(name) {
            Some(Av::S(v)) => Ok(v.clone()),
            _ => Err(StoreError::Corrupt(format!("missing string {name}"))),
        }
    }
    fn opt_str(&self, name: &str) -> Option<String> {
        match self.0.get(name) {
            Some(Av::S(v)) => Some(v.clone()),
            _ => None,
        }
    }
    fn int(&self, name: &str) -> Result<i64, StoreError> {
        self.opt_int(name)
            .ok_or_else(|| StoreError::Corrupt(format!("missing number {name}")))
    }
    fn opt_int(&self, name: &str) -> Option<i64> {
        match self.0.get(name) {
            Some(Av::N(v)) => v.parse().ok(),
            _ => None,
        }
    }
    fn bool(&self, name: &str) -> bool {
        matches!(self.0.get(name), Some(Av::Bool(true)))
    }
    fn roles(&self) -> Result<Roles, StoreError> {
        let names: Vec<String> = match self.0.get("roles") {
            Some(Av::L(list)) => list.iter().filter_map(|v| v.as_s().ok().cloned()).collect(),
            _ => Vec::new(),
        };
        Roles::parse(&names).map_err(|e| StoreError::Corrupt(e.to_string()))
    }
    /// Whether the item's TTL has passed (DynamoDB may still return it).
    fn expired(&self, now: UnixTime) -> bool {
        self.opt_int("ttl").is_some_and(|t| t <= now)
    }
}

fn roles_av(r: &Roles) -> Av {
    Av::L(r.names().into_iter().map(Av::S).collect())
}

fn account_item(a: &Account) -> Item {
    let mut item = key(user_pk(a.key()), "ACCOUNT");
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

fn account_of(item: &Item) -> Result<Account, StoreError> {
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

fn failures_of(item: &Item) -> Result<Failures, StoreError> {
    let r = Read(item);
    Ok(Failures {
        count: u32::try_from(r.int("count")?.max(0)).unwrap_or(u32::MAX),
        last_failure_at: r.int("last_failure_at")?,
    })
}

fn family_item(f: &Family) -> Item {
    let mut item = key(format!("FAMILY#{}", f.family_id), "FAMILY");
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

fn family_of(id: &FamilyId, item: &Item) -> Result<Family, StoreError> {
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

/// The partition of the pending-invitation items ([`InvitationStore::pending_invitations`] queries it).
const PENDING_INVITATIONS: &str = "INVITATIONS";

fn invitation_key(id: &InvitationId) -> Item {
    key(format!("INVITE#{id}"), "INVITE")
}

fn pending_key(id: &InvitationId) -> Item {
    key(PENDING_INVITATIONS.to_owned(), id.as_str())
}

/// The record's attributes under `k` (its own key or its pending-list key).
fn invitation_item(mut k: Item, r: &InvitationRecord) -> Item {
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

fn invitation_of(invitation_id: InvitationId, item: &Item) -> Result<InvitationRecord, StoreError> {
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

/// The condition that an invitation item is live for a token hash at `:now` (the rule of
/// `InvitationRecord::is_live`, with `:hash`, `:now` and `:max_conflicts`).
const LIVE_INVITATION: &str = "attribute_exists(pk) AND token_hash = :hash AND expires_at > :now AND \
     (attribute_not_exists(conflicts) OR conflicts < :max_conflicts)";

const REVOKED_SHARES: &str = "SHARES-REVOKED";

/// How long after its expiry a share's items stay (verifiers accept a share until its expiry
/// plus their leeway, at most 300 s, and the revocation list must cover that).
const SHARE_TTL_MARGIN: i64 = 3600;

fn share_key(id: &ShareId) -> Item {
    key(format!("SHARE#{id}"), "SHARE")
}

fn creator_key(user: &UserId, id: &ShareId) -> Item {
    key(format!("SHARES#{}", user.as_str()), id.as_str())
}

fn share_item(mut k: Item, r: &ShareRecord) -> Item {
    k.insert("resource".into(), s(r.resource.as_str()));
    k.insert("shared_by".into(), s(r.shared_by.as_str()));
    k.insert("created_at".into(), n(r.created_at));
    k.insert("expires_at".into(), n(r.expires_at));
    k.insert("revoked".into(), Av::Bool(r.revoked));
    k.insert("ttl".into(), n(r.expires_at + SHARE_TTL_MARGIN));
    k
}

fn share_of(share_id: ShareId, item: &Item) -> Result<ShareRecord, StoreError> {
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

/// What a `TransactWriteItems` call came to.
enum Transacted {
    Committed,
    /// Cancelled by a condition: each item's cancellation reason code, in order (`None` for an
    /// item whose condition held). Empty if the service gave no reasons.
    Cancelled(Vec<String>),
}

const CONDITION_FAILED: &str = "ConditionalCheckFailed";

/// What was taken when the items of [`DynamoStore::account_puts`], from index `first` of a
/// cancelled transaction, were refused: the first of them whose condition failed.
fn taken(codes: &[String], first: usize) -> Option<&'static str> {
    ["username", CONFUSABLE, "email"]
        .into_iter()
        .enumerate()
        .find(|(i, _)| codes.get(first + i).is_some_and(|c| c == CONDITION_FAILED))
        .map(|(_, what)| what)
}

fn put_item(table: &str, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .build()
        .map(|p| TransactWriteItem::builder().put(p).build())
        .map_err(unavailable)
}

fn api_key_of(key_id: KeyId, item: &Item) -> Result<ApiKeyRecord, StoreError> {
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

impl DynamoStore {
    /// Every item whose sort key is `sk` (a paginated scan: for `keygate export` only).
    async fn scan_kind(&self, sk: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :sk")
                .expression_attribute_values(":sk", s(sk))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(items),
            }
        }
    }

    /// Claims the username skeleton of every account that has no claim yet (accounts created
    /// before skeletons were kept), oldest first; where two existing accounts look alike, both
    /// stay and the older holds the claim. Idempotent; `keygate bootstrap` runs it. Returns the
    /// claims written. Not on any request path: it scans the table.
    pub async fn claim_skeletons(&self) -> Result<u64, StoreError> {
        let now = crate::domain::time::now();
        let mut accounts = self
            .scan_kind("ACCOUNT")
            .await?
            .iter()
            .filter(|i| !Read(i).expired(now))
            .map(account_of)
            .collect::<Result<Vec<_>, _>>()?;
        accounts.sort_by(|a, b| (a.created_at, a.key()).cmp(&(b.created_at, b.key())));
        let mut claimed = 0;
        for a in &accounts {
            match self
                .put_new(skeleton_item(&a.username.skeleton(), a.key()), CONFUSABLE)
                .await
            {
                Ok(()) => claimed += 1,
                Err(StoreError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(claimed)
    }

    /// A store on `table`. Makes no call until used.
    pub fn new(sdk: &SdkConfig, table: String) -> DynamoStore {
        DynamoStore {
            client: Client::new(sdk),
            table,
        }
    }

    async fn get(&self, k: Item) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(k))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.item)
    }

    /// Puts an item that must not exist yet; `Conflict(what)` if it does.
    async fn put_new(&self, item: Item, what: &'static str) -> Result<(), StoreError> {
        let r = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::Conflict(what))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// The transaction items that create an account: the account item, its username's skeleton
    /// item and, with an e-mail, its index item, in this order, each on condition that its key
    /// is free (as `create_account` writes them).
    fn account_puts(&self, account: &Account) -> Result<Vec<TransactWriteItem>, StoreError> {
        let mut items = vec![
            put_item(&self.table, account_item(account), "attribute_not_exists(pk)")?,
            put_item(
                &self.table,
                skeleton_item(&account.username.skeleton(), account.key()),
                "attribute_not_exists(pk)",
            )?,
        ];
        if let Some(e) = &account.email {
            let mut idx = key(format!("EMAIL#{}", e.key().as_str()), "EMAIL");
            idx.insert("username_key".into(), s(account.key().as_str()));
            items.push(put_item(&self.table, idx, "attribute_not_exists(pk)")?);
        }
        Ok(items)
    }

    /// Every item of partition `pk` whose `expires_at` is after `after` (all pages).
    async fn query_partition(&self, pk: String, after: UnixTime) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .filter_expression("expires_at > :after")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":after", n(after))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Runs one transaction. A cancellation that no condition caused, only other transactions
    /// on the same items in flight (`TransactionConflict`), is retried a few times.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<Transacted, StoreError> {
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        for _ in 0..4 {
            let e = match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
            {
                Ok(_) => return Ok(Transacted::Committed),
                Err(e) => e,
            };
            let Some(TransactWriteItemsError::TransactionCanceledException(t)) = e.as_service_error() else {
                return Err(unavailable(e));
            };
            let codes: Vec<String> = t
                .cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect();
            let raced = codes.iter().any(|c| c == "TransactionConflict");
            if raced && !codes.iter().any(|c| c == CONDITION_FAILED) {
                continue;
            }
            return Ok(Transacted::Cancelled(codes));
        }
        Err(StoreError::Unavailable("the transaction kept racing; retry".into()))
    }

    /// Counts one mail on the counter item `rkey`: whether it is within `limit`, by the
    /// domain's window rule written as conditions (`domain::delivery`). A fresh window is one
    /// conditional write, a mail within it another.
    async fn count_delivery(&self, rkey: Item, limit: Limit, now: UnixTime) -> Result<bool, StoreError> {
        let cutoff = Limit::fresh_if_started_at_most(now);
        let fresh = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(rkey.clone()))
            .update_expression("SET window_start = :now, #count = :one, #ttl = :ttl")
            .condition_expression("attribute_not_exists(pk) OR window_start <= :cutoff")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(now + delivery::WINDOW_SECONDS))
            .expression_attribute_values(":cutoff", n(cutoff))
            .send()
            .await;
        match fresh {
            Ok(_) => return Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
            Err(e) => return Err(unavailable(e)),
        }
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(rkey))
            .update_expression("ADD #count :one")
            .condition_expression("#count < :limit AND window_start > :cutoff")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(i64::from(limit.max)))
            .expression_attribute_values(":cutoff", n(cutoff))
            .send()
            .await;
        match counted {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Deletes the pending-list item of an invitation that conflicts killed (no-op otherwise).
    async fn unlist_if_dead(&self, record: &InvitationRecord) -> Result<(), StoreError> {
        if record.kind != InvitationKind::Invitation || record.conflicts < MAX_CONFLICTS {
            return Ok(());
        }
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(pending_key(&record.invitation_id)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn set_revoked(&self, id: &FamilyId) -> Result<(), StoreError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("FAMILY#{id}"), "FAMILY")))
            .update_expression("SET revoked = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", Av::Bool(true))
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl AccountStore for DynamoStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let codes = match self.transact(self.account_puts(account)?).await? {
            Transacted::Committed => return Ok(()),
            Transacted::Cancelled(codes) => codes,
        };
        match taken(&codes, 0) {
            Some(what) => Err(StoreError::Conflict(what)),
            None if codes.is_empty() => Err(StoreError::Conflict("username")),
            None => Err(StoreError::Unavailable("the account transaction was cancelled".into())),
        }
    }

    async fn account(&self, k: &UsernameKey) -> Result<Option<Account>, StoreError> {
        self.get(key(user_pk(k), "ACCOUNT"))
            .await?
            .as_ref()
            .map(account_of)
            .transpose()
    }

    async fn account_by_email(&self, email: &EmailKey) -> Result<Option<Account>, StoreError> {
        let Some(idx) = self.get(key(format!("EMAIL#{}", email.as_str()), "EMAIL")).await? else {
            return Ok(None);
        };
        let username_key = UsernameKey::from_stored(Read(&idx).str("username_key")?);
        self.account(&username_key).await
    }

    async fn update_account(&self, k: &UsernameKey, update: &AccountUpdate) -> Result<Option<Account>, StoreError> {
        let mut sets = vec!["updated_at = :updated"];
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(k), "ACCOUNT")))
            .condition_expression("attribute_exists(pk)")
            .return_values(ReturnValue::AllNew)
            .expression_attribute_values(":updated", n(update.updated_at));
        if let Some(r) = &update.roles {
            sets.push("#roles = :roles");
            req = req
                .expression_attribute_names("#roles", "roles")
                .expression_attribute_values(":roles", roles_av(r));
        }
        if let Some(d) = update.disabled {
            sets.push("disabled = :disabled");
            req = req.expression_attribute_values(":disabled", Av::Bool(d));
        }
        if let Some(h) = &update.password_hash {
            sets.push("password_hash = :hash");
            req = req.expression_attribute_values(":hash", s(h.as_str()));
        }
        if update.revoke_sessions {
            sets.push("session_epoch = session_epoch + :one");
            req = req.expression_attribute_values(":one", n(1));
        }
        match req.update_expression(format!("SET {}", sets.join(", "))).send().await {
            Ok(out) => out.attributes.as_ref().map(account_of).transpose(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }
}

#[async_trait]
impl LockoutStore for DynamoStore {
    async fn login_lookup(&self, k: &UsernameKey, now: UnixTime) -> Result<(Option<Account>, Failures), StoreError> {
        let keys = KeysAndAttributes::builder()
            .keys(key(user_pk(k), "ACCOUNT"))
            .keys(key(user_pk(k), "LOCK"))
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
            let r = Read(item);
            match r.opt_str("sk").as_deref() {
                Some("ACCOUNT") => account = Some(account_of(item)?),
                Some("LOCK") if !r.expired(now) => failures = failures_of(item)?,
                _ => {}
            }
        }
        let unprocessed = out.unprocessed_keys().is_some_and(|u| !u.is_empty());
        if unprocessed {
            // Throttled reads: fall back to single consistent reads.
            account = self.account(k).await?;
            if let Some(item) = self.get(key(user_pk(k), "LOCK")).await?
                && !Read(&item).expired(now)
            {
                failures = failures_of(&item)?;
            }
        }
        Ok((account, failures))
    }

    async fn reserve_login_attempt(
        &self,
        k: &UsernameKey,
        seen: Failures,
        now: UnixTime,
    ) -> Result<Attempt, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let lkey = key(user_pk(k), "LOCK");
        let ttl = now + FORGET_AFTER_SECONDS;
        let mut seen = seen;
        // One conditional write decides: it counts the attempt only if the stored counter allows
        // one now (absent; below the threshold; or still the counter `seen` and its backoff
        // over). The loop only runs again when `seen` was stale or the counter had expired.
        for _ in 0..4 {
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(lkey.clone()))
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
                .expression_attribute_values(":ttl", n(ttl))
                .expression_attribute_values(":threshold", n(i64::from(THRESHOLD)))
                .expression_attribute_values(":seen", n(i64::from(seen.count)))
                .expression_attribute_values(":cutoff", n(Failures::allowed_if_last_failure_at_most(seen.count, now)))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let old = match counted {
                Ok(out) => return Ok(Attempt::Allowed(failures_of(&out.attributes.unwrap_or_default())?)),
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => match c.item() {
                        Some(item) if !item.is_empty() => Some(item.clone()),
                        _ => self.get(lkey.clone()).await?,
                    },
                    _ => return Err(unavailable(e)),
                },
            };
            let Some(old) = old else {
                // Cleared in between: try again against no counter.
                seen = Failures::default();
                continue;
            };
            if Read(&old).expired(now) {
                // A counter past its TTL that DynamoDB has not deleted yet counts as zero: start
                // again at one, unless another request got there first.
                let mut item = lkey.clone();
                item.insert("count".into(), n(1));
                item.insert("last_failure_at".into(), n(now));
                item.insert("ttl".into(), n(ttl));
                let restarted = self
                    .client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk) OR #ttl <= :now")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":now", n(now))
                    .send()
                    .await;
                match restarted {
                    Ok(_) => {
                        return Ok(Attempt::Allowed(Failures {
                            count: 1,
                            last_failure_at: now,
                        }));
                    }
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                    {
                        seen = Failures::default();
                        continue;
                    }
                    Err(e) => return Err(unavailable(e)),
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
            .set_key(Some(key(user_pk(k), "LOCK")))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn put_api_key(&self, rec: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut item = key(format!("APIKEY#{}", rec.key_id), "APIKEY");
        item.insert("name".into(), s(&rec.name));
        item.insert("roles".into(), roles_av(&rec.roles));
        item.insert("secret_hash".into(), s(rec.secret_hash.as_str()));
        item.insert("created_at".into(), n(rec.created_at));
        if let Some(e) = rec.expires_at {
            item.insert("expires_at".into(), n(e));
            item.insert("ttl".into(), n(e));
        }
        self.put_new(item, "api key id").await
    }

    async fn api_key(&self, id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let Some(item) = self.get(key(format!("APIKEY#{id}"), "APIKEY")).await? else {
            return Ok(None);
        };
        api_key_of(id.clone(), &item).map(Some)
    }

    async fn delete_api_key(&self, id: &KeyId) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("APIKEY#{id}"), "APIKEY")))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_family(&self, f: &Family) -> Result<(), StoreError> {
        self.put_new(family_item(f), "family id").await
    }

    async fn family(&self, id: &FamilyId) -> Result<Option<Family>, StoreError> {
        self.get(key(format!("FAMILY#{id}"), "FAMILY"))
            .await?
            .map(|i| family_of(id, &i))
            .transpose()
    }

    async fn rotate_refresh(
        &self,
        id: &FamilyId,
        presented: &TokenHash,
        next: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<RotateOutcome, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let fkey = key(format!("FAMILY#{id}"), "FAMILY");
        for _ in 0..4 {
            let rotated = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(fkey.clone()))
                .update_expression("SET previous_hash = :p, current_hash = :n, rotated_at = :now")
                .condition_expression("current_hash = :p AND revoked = :f AND expires_at > :now")
                .expression_attribute_values(":p", s(presented.as_str()))
                .expression_attribute_values(":n", s(next.as_str()))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":f", Av::Bool(false))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            let old = match rotated {
                Ok(out) => {
                    return Ok(RotateOutcome::Rotated(family_of(
                        id,
                        &out.attributes.unwrap_or_default(),
                    )?));
                }
                Err(e) => match e.as_service_error() {
                    Some(UpdateItemError::ConditionalCheckFailedException(c)) => match c.item() {
                        Some(item) if !item.is_empty() => Some(item.clone()),
                        _ => self.get(fkey.clone()).await?,
                    },
                    _ => return Err(unavailable(e)),
                },
            };
            let Some(old) = old else {
                return Ok(RotateOutcome::Invalid);
            };
            let family = family_of(id, &old)?;
            match decide(&family, presented, now, grace) {
                Decision::Reject => return Ok(RotateOutcome::Invalid),
                Decision::Rotate => continue,
                Decision::RevokeFamily => {
                    self.set_revoked(id).await?;
                    return Ok(RotateOutcome::Reused);
                }
                Decision::GraceReissue if family.current_hash.ct_eq(next) => {
                    // The same successor again (its derivation is deterministic): nothing to write.
                    return Ok(RotateOutcome::Rotated(family));
                }
                Decision::GraceReissue => {
                    let reissued = self
                        .client
                        .update_item()
                        .table_name(&self.table)
                        .set_key(Some(fkey.clone()))
                        .update_expression("SET current_hash = :n")
                        .condition_expression("previous_hash = :p AND current_hash = :c AND revoked = :f")
                        .expression_attribute_values(":p", s(presented.as_str()))
                        .expression_attribute_values(":c", s(family.current_hash.as_str()))
                        .expression_attribute_values(":n", s(next.as_str()))
                        .expression_attribute_values(":f", Av::Bool(false))
                        .return_values(ReturnValue::AllNew)
                        .send()
                        .await;
                    match reissued {
                        Ok(out) => {
                            return Ok(RotateOutcome::Rotated(family_of(
                                id,
                                &out.attributes.unwrap_or_default(),
                            )?));
                        }
                        Err(e)
                            if e.as_service_error()
                                .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                        {
                            continue;
                        }
                        Err(e) => return Err(unavailable(e)),
                    }
                }
            }
        }
        Err(StoreError::Unavailable("refresh rotation kept racing; retry".into()))
    }

    async fn revoke_family(&self, id: &FamilyId) -> Result<(), StoreError> {
        self.set_revoked(id).await
    }
}

#[async_trait]
impl ResetStore for DynamoStore {
    async fn put_reset_token(&self, rec: &ResetRecord) -> Result<(), StoreError> {
        let mut item = key(format!("RESET#{}", rec.token_hash.as_str()), "RESET");
        item.insert("username_key".into(), s(rec.username_key.as_str()));
        item.insert("epoch".into(), n(rec.epoch as i64));
        item.insert("created_at".into(), n(rec.created_at));
        item.insert("expires_at".into(), n(rec.expires_at));
        item.insert("ttl".into(), n(rec.expires_at));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn spend_reset_token(&self, hash: &TokenHash, now: UnixTime) -> Result<Option<ResetRecord>, StoreError> {
        let r = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("RESET#{}", hash.as_str()), "RESET")))
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match r {
            Ok(out) => {
                let Some(item) = out.attributes.filter(|a| !a.is_empty()) else {
                    return Ok(None);
                };
                let r = Read(&item);
                Ok(Some(ResetRecord {
                    token_hash: hash.clone(),
                    username_key: UsernameKey::from_stored(r.str("username_key")?),
                    epoch: r.opt_int("epoch").unwrap_or(0).max(0) as u64,
                    created_at: r.int("created_at")?,
                    expires_at: r.int("expires_at")?,
                }))
            }
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    /// One conditional UpdateItem on the account: the same single write that set the new
    /// password before, now also guarded by and advancing `reset_epoch`. Items written before
    /// the attribute existed count as epoch 0.
    async fn finish_reset(
        &self,
        k: &UsernameKey,
        epoch: u64,
        password_hash: &PasswordHash,
        now: UnixTime,
    ) -> Result<Option<Account>, StoreError> {
        let condition = if epoch == 0 {
            "attribute_exists(pk) AND (attribute_not_exists(reset_epoch) OR reset_epoch = :epoch)"
        } else {
            "attribute_exists(pk) AND reset_epoch = :epoch"
        };
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(user_pk(k), "ACCOUNT")))
            .update_expression(
                "SET password_hash = :hash, session_epoch = session_epoch + :one, \
                 reset_epoch = if_not_exists(reset_epoch, :zero) + :one, updated_at = :now",
            )
            .condition_expression(condition)
            .expression_attribute_values(":epoch", n(epoch as i64))
            .expression_attribute_values(":hash", s(password_hash.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match r {
            Ok(out) => out.attributes.as_ref().map(account_of).transpose(),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn allow_reset_delivery(&self, k: &UsernameKey, now: UnixTime) -> Result<bool, StoreError> {
        self.count_delivery(key(user_pk(k), "RESETRATE"), delivery::RESET_PER_ACCOUNT, now)
            .await
    }
}

#[async_trait]
impl JwksStore for DynamoStore {
    async fn put_published_jwks(&self, jwks: &Jwks) -> Result<(), StoreError> {
        let mut item = key("JWKS".into(), "JWKS");
        let json = serde_json::to_string(jwks).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        item.insert("jwks".into(), s(json));
        item.insert("updated_at".into(), n(crate::domain::time::now()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn published_jwks(&self) -> Result<Option<Jwks>, StoreError> {
        let Some(item) = self.get(key("JWKS".into(), "JWKS")).await? else {
            return Ok(None);
        };
        let json = Read(&item).str("jwks")?;
        serde_json::from_str(&json)
            .map(Some)
            .map_err(|e| StoreError::Corrupt(format!("published jwks: {e}")))
    }
}

#[async_trait]
impl InvitationStore for DynamoStore {
    /// One conditional `PutItem`; an invitation's pending-list item is written with it in one
    /// transaction.
    async fn put_invitation(&self, record: &InvitationRecord) -> Result<(), StoreError> {
        let id = &record.invitation_id;
        let item = invitation_item(invitation_key(id), record);
        if record.kind != InvitationKind::Invitation {
            return self.put_new(item, "invitation id").await;
        }
        let items = vec![
            put_item(&self.table, item, "attribute_not_exists(pk)")?,
            put_item(
                &self.table,
                invitation_item(pending_key(id), record),
                "attribute_not_exists(pk)",
            )?,
        ];
        match self.transact(items).await? {
            Transacted::Committed => Ok(()),
            Transacted::Cancelled(codes) if codes.is_empty() || codes.iter().any(|c| c == CONDITION_FAILED) => {
                Err(StoreError::Conflict("invitation id"))
            }
            Transacted::Cancelled(codes) => Err(StoreError::Unavailable(format!(
                "the invitation transaction was cancelled: {codes:?}"
            ))),
        }
    }

    async fn invitation(&self, id: &InvitationId, now: UnixTime) -> Result<Option<InvitationRecord>, StoreError> {
        let Some(item) = self.get(invitation_key(id)).await? else {
            return Ok(None);
        };
        // moto never expires items, and DynamoDB takes its time: the record's own expiry decides.
        Ok(Some(invitation_of(id.clone(), &item)?).filter(|r| r.is_live(now)))
    }

    /// A `Query` on the one partition of pending invitations; expired items are filtered out.
    async fn pending_invitations(&self, now: UnixTime) -> Result<Vec<InvitationRecord>, StoreError> {
        let mut pending = Vec::new();
        for item in self.query_partition(PENDING_INVITATIONS.to_owned(), now).await? {
            let id = Read(&item)
                .str("sk")
                .ok()
                .and_then(|sk| InvitationId::parse(&sk))
                .ok_or_else(|| StoreError::Corrupt("pending invitation item without an id".into()))?;
            let record = invitation_of(id, &item)?;
            if record.kind == InvitationKind::Invitation && record.is_live(now) {
                pending.push(record);
            }
        }
        pending.sort_by(|a, b| (a.created_at, &a.invitation_id).cmp(&(b.created_at, &b.invitation_id)));
        Ok(pending)
    }

    /// One transaction: the record (on condition that it exists) and its pending-list item.
    async fn delete_invitation(&self, id: &InvitationId) -> Result<bool, StoreError> {
        let delete = |k: Item, condition: Option<&str>| {
            Delete::builder()
                .table_name(&self.table)
                .set_key(Some(k))
                .set_condition_expression(condition.map(str::to_owned))
                .build()
                .map(|d| TransactWriteItem::builder().delete(d).build())
                .map_err(unavailable)
        };
        let items = vec![
            delete(invitation_key(id), Some("attribute_exists(pk)"))?,
            delete(pending_key(id), None)?,
        ];
        match self.transact(items).await? {
            Transacted::Committed => Ok(true),
            Transacted::Cancelled(codes) if codes.first().is_some_and(|c| c == CONDITION_FAILED) => Ok(false),
            Transacted::Cancelled(codes) if codes.is_empty() => Ok(false),
            Transacted::Cancelled(codes) => Err(StoreError::Unavailable(format!(
                "the invitation deletion was cancelled: {codes:?}"
            ))),
        }
    }

    /// One transaction: the record's conditional delete (hash and expiry: the service
    /// compares), the delete of its pending-list item, and the account's items with the
    /// conditions `create_account` puts on them. Which condition failed tells a spent or
    /// unknown token (`false`) from a taken username or e-mail (`Conflict`).
    async fn redeem_invitation(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
        account: &Account,
    ) -> Result<bool, StoreError> {
        let spend = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(invitation_key(id)))
            .condition_expression(LIVE_INVITATION)
            .expression_attribute_values(":hash", s(hash.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":max_conflicts", n(i64::from(MAX_CONFLICTS)))
            .build()
            .map_err(unavailable)?;
        let unlist = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(pending_key(id)))
            .build()
            .map_err(unavailable)?;
        let mut items = vec![
            TransactWriteItem::builder().delete(spend).build(),
            TransactWriteItem::builder().delete(unlist).build(),
        ];
        items.extend(self.account_puts(account)?);
        let codes = match self.transact(items).await? {
            Transacted::Committed => return Ok(true),
            Transacted::Cancelled(codes) => codes,
        };
        if codes.first().is_some_and(|c| c == CONDITION_FAILED) {
            Ok(false)
        } else if let Some(what) = taken(&codes, 2) {
            Err(StoreError::Conflict(what))
        } else if codes.is_empty() {
            // No reasons given: read what stands in the way.
            let redeemable = self
                .invitation(id, now)
                .await?
                .is_some_and(|r| r.token_hash.ct_eq(hash));
            if !redeemable {
                Ok(false)
            } else if self.account(account.key()).await?.is_some() {
                Err(StoreError::Conflict("username"))
            } else if let Some(e) = &account.email
                && self.account_by_email(&e.key()).await?.is_some()
            {
                Err(StoreError::Conflict("email"))
            } else {
                Err(StoreError::Conflict(CONFUSABLE))
            }
        } else {
            Err(StoreError::Unavailable(format!(
                "the redemption transaction was cancelled: {codes:?}"
            )))
        }
    }

    /// One `UpdateItem`: `ADD conflicts 1` on condition that the item is live for `hash`
    /// ([`LIVE_INVITATION`]). The conflict that kills an invitation also takes it off the
    /// pending list (a second write; a dead invitation still listed there after a failure is
    /// taken off by the next refused attempt).
    async fn count_invitation_conflict(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<u32>, StoreError> {
        use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(invitation_key(id)))
            .update_expression("ADD conflicts :one")
            .condition_expression(LIVE_INVITATION)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":hash", s(hash.as_str()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":max_conflicts", n(i64::from(MAX_CONFLICTS)))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match counted {
            Ok(out) => {
                let record = invitation_of(id.clone(), &out.attributes.unwrap_or_default())?;
                self.unlist_if_dead(&record).await?;
                Ok(Some(record.conflicts))
            }
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(c)) => {
                    let old = match c.item() {
                        Some(item) if !item.is_empty() => Some(item.clone()),
                        _ => self.get(invitation_key(id)).await?,
                    };
                    if let Some(old) = old {
                        self.unlist_if_dead(&invitation_of(id.clone(), &old)?).await?;
                    }
                    Ok(None)
                }
                _ => Err(unavailable(e)),
            },
        }
    }

    async fn allow_registration_delivery(
        &self,
        counter: &RegistrationCounter,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        self.count_delivery(
            key(format!("REGRATE#{}", counter.key()), "REGRATE"),
            counter.limit(),
            now,
        )
        .await
    }
}

#[async_trait]
impl ShareStore for DynamoStore {
    /// A consistent `Query` of the creator's list (revoked shares stay in it until they expire),
    /// then one transaction: the share and its item in the creator's list.
    async fn put_share(&self, share: &ShareRecord, limit: u32) -> Result<bool, StoreError> {
        let held = self
            .query_partition(format!("SHARES#{}", share.shared_by.as_str()), share.created_at)
            .await?
            .len();
        if held >= limit as usize {
            return Ok(false);
        }
        let items = vec![
            put_item(
                &self.table,
                share_item(share_key(&share.share_id), share),
                "attribute_not_exists(pk)",
            )?,
            put_item(
                &self.table,
                share_item(creator_key(&share.shared_by, &share.share_id), share),
                "attribute_not_exists(pk)",
            )?,
        ];
        match self.transact(items).await? {
            Transacted::Committed => Ok(true),
            Transacted::Cancelled(codes) if codes.is_empty() || codes.iter().any(|c| c == CONDITION_FAILED) => {
                Err(StoreError::Conflict("share id"))
            }
            Transacted::Cancelled(codes) => Err(StoreError::Unavailable(format!(
                "the share transaction was cancelled: {codes:?}"
            ))),
        }
    }

    async fn share(&self, id: &ShareId, now: UnixTime) -> Result<Option<ShareRecord>, StoreError> {
        let Some(item) = self.get(share_key(id)).await? else {
            return Ok(None);
        };
        // moto never expires items: the record's own expiry decides.
        Ok(Some(share_of(id.clone(), &item)?).filter(|r| now < r.expires_at))
    }

    /// A `Query` on the creator's partition (revoked shares are marked there, and skipped).
    async fn shares_by(&self, user: &UserId, now: UnixTime) -> Result<Vec<ShareRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.query_partition(format!("SHARES#{}", user.as_str()), now).await? {
            let id = Read(&item)
                .str("sk")
                .ok()
                .and_then(|sk| ShareId::parse(&sk))
                .ok_or_else(|| StoreError::Corrupt("share list item without an id".into()))?;
            let record = share_of(id, &item)?;
            if !record.revoked && now < record.expires_at {
                out.push(record);
            }
        }
        out.sort_by(|a, b| (a.created_at, &a.share_id).cmp(&(b.created_at, &b.share_id)));
        Ok(out)
    }

    /// Reads the share (its creator names the list item), then one transaction: the share
    /// marked revoked on condition that it exists and is unexpired, its list item marked too (it
    /// still counts against the creator's limit until it expires), the revocation-list item
    /// written.
    async fn revoke_share(&self, id: &ShareId, now: UnixTime) -> Result<bool, StoreError> {
        let Some(share) = self.share(id, now).await? else {
            return Ok(false);
        };
        if share.revoked {
            return Ok(true);
        }
        let mark = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(share_key(id)))
            .update_expression("SET revoked = :t")
            .condition_expression("attribute_exists(pk) AND expires_at > :now")
            .expression_attribute_values(":t", Av::Bool(true))
            .expression_attribute_values(":now", n(now))
            .build()
            .map(|u| TransactWriteItem::builder().update(u).build())
            .map_err(unavailable)?;
        let unlist = aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(creator_key(&share.shared_by, id)))
            .update_expression("SET revoked = :t")
            .expression_attribute_values(":t", Av::Bool(true))
            .build()
            .map(|u| TransactWriteItem::builder().update(u).build())
            .map_err(unavailable)?;
        let mut revoked = key(REVOKED_SHARES.to_owned(), id.as_str());
        revoked.insert("expires_at".into(), n(share.expires_at));
        revoked.insert("ttl".into(), n(share.expires_at + SHARE_TTL_MARGIN));
        let list = Put::builder()
            .table_name(&self.table)
            .set_item(Some(revoked))
            .build()
            .map(|p| TransactWriteItem::builder().put(p).build())
            .map_err(unavailable)?;
        match self.transact(vec![mark, unlist, list]).await? {
            Transacted::Committed => Ok(true),
            Transacted::Cancelled(codes) if codes.first().is_some_and(|c| c == CONDITION_FAILED) => Ok(false),
            Transacted::Cancelled(codes) => Err(StoreError::Unavailable(format!(
                "the share revocation was cancelled: {codes:?}"
            ))),
        }
    }

    /// A `Query` on the revocation list's partition.
    async fn revoked_shares(&self, until_after: UnixTime) -> Result<Vec<ShareId>, StoreError> {
        let mut ids = Vec::new();
        for item in self.query_partition(REVOKED_SHARES.to_owned(), until_after).await? {
            let id = Read(&item)
                .str("sk")
                .ok()
                .and_then(|sk| ShareId::parse(&sk))
                .ok_or_else(|| StoreError::Corrupt("revoked share item without an id".into()))?;
            ids.push(id);
        }
        ids.sort();
        Ok(ids)
    }
}

#[async_trait]
impl Inventory for DynamoStore {
    async fn all_accounts(&self) -> Result<Vec<Account>, StoreError> {
        let now = crate::domain::time::now();
        self.scan_kind("ACCOUNT")
            .await?
            .iter()
            .filter(|i| !Read(i).expired(now))
            .map(account_of)
            .collect()
    }

    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.scan_kind("APIKEY").await? {
            let pk = Read(&item).str("pk")?;
            let id = pk
                .strip_prefix("APIKEY#")
                .and_then(KeyId::parse)
                .ok_or_else(|| StoreError::Corrupt("API key item without a key id".into()))?;
            out.push(api_key_of(id, &item)?);
        }
        Ok(out)
    }
}

/// Creates keygate's table (on-demand, `pk`/`sk`, TTL on `ttl`) unless it exists; waits until
/// it is active. Returns whether it was created.
pub async fn create_table(client: &Client, table: &str) -> Result<bool, StoreError> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(unavailable)
    };
    let schema = |name: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(t)
            .build()
            .map_err(unavailable)
    };
    let created = client
        .create_table()
        .table_name(table)
        .attribute_definitions(attr("pk")?)
        .attribute_definitions(attr("sk")?)
        .key_schema(schema("pk", KeyType::Hash)?)
        .key_schema(schema("sk", KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    let created = match created {
        Ok(_) => true,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => false,
        Err(e) => return Err(unavailable(e)),
    };
    for _ in 0..600 {
        let d = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(unavailable)?;
        if d.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if created {
        let spec = TimeToLiveSpecification::builder()
            .enabled(true)
            .attribute_name("ttl")
            .build()
            .map_err(unavailable)?;
        client
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(spec)
            .send()
            .await
            .map_err(unavailable)?;
    }
    Ok(created)
}
