//! [`Store`](crate::ports::Store) on the embedded SQLite database: rows to domain types and back, and each operation
//! as one transaction (a `BEGIN IMMEDIATE` one wherever DynamoDB writes conditionally). The
//! rules themselves (refresh rotation, lockout, expiry) are the domain's, called as the
//! in-memory store calls them.

use super::Db;
use crate::domain::delivery::{self, Limit, RegistrationCounter, Window};
use crate::domain::invitation::MAX_CONFLICTS;
use crate::domain::lockout::{Attempt, FORGET_AFTER_SECONDS, Failures};
use crate::domain::refresh::{apply, decide};
use crate::domain::share::{ResourcePath, ShareId, ShareRecord};
use crate::domain::{
    Account, AccountUpdate, ApiKeyRecord, Email, EmailKey, Family, FamilyId, InvitationId, InvitationKind,
    InvitationRecord, KeyId, PasswordHash, Preview, ResetRecord, Roles, RotateOutcome, TokenHash, UnixTime, UserId,
    Username, UsernameKey,
};
use crate::ports::{
    AccountStore, ApiKeyStore, CONFUSABLE, Inventory, InvitationStore, JwksStore, LockoutStore, ResetStore,
    SessionStore, ShareStore, StoreError,
};
use async_trait::async_trait;
use keygate_sdk::Jwks;
use rusqlite::{Connection, OptionalExtension, Row, params};

/// The embedded store: accounts, API keys, sessions, reset tokens and counters in SQLite.
#[derive(Clone)]
pub struct SqliteStore {
    db: Db,
}

impl SqliteStore {
    /// The store on an open database.
    pub fn new(db: Db) -> SqliteStore {
        SqliteStore { db }
    }

    /// The database under this store (for backups).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Deletes what has expired by `now` (sessions past their absolute end, reset tokens,
    /// invitations, forgotten failure and delivery counters): what DynamoDB's TTL does for the
    /// table. Returns the rows gone.
    pub async fn sweep(&self, now: UnixTime) -> Result<usize, StoreError> {
        self.db
            .write(move |tx| {
                let mut gone = tx
                    .prepare_cached("DELETE FROM families WHERE expires_at <= ?1")?
                    .execute([now])?;
                gone += tx
                    .prepare_cached("DELETE FROM reset_tokens WHERE expires_at <= ?1")?
                    .execute([now])?;
                gone += tx
                    .prepare_cached("DELETE FROM login_failures WHERE last_failure_at + ?2 <= ?1")?
                    .execute([now, FORGET_AFTER_SECONDS])?;
                gone += tx
                    .prepare_cached("DELETE FROM reset_deliveries WHERE window_start + ?2 <= ?1")?
                    .execute([now, delivery::WINDOW_SECONDS])?;
                gone += tx
                    .prepare_cached("DELETE FROM shares WHERE expires_at + 300 <= ?1")?
                    .execute([now])?;
                gone += tx
                    .prepare_cached("DELETE FROM invitations WHERE expires_at <= ?1")?
                    .execute([now])?;
                gone += tx
                    .prepare_cached("DELETE FROM registration_deliveries WHERE window_start + ?2 <= ?1")?
                    .execute([now, delivery::WINDOW_SECONDS])?;
                Ok(gone)
            })
            .await
    }
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn roles_json(r: &Roles) -> String {
    serde_json::Value::from(r.names()).to_string()
}

fn roles_of(s: &str) -> Result<Roles, StoreError> {
    let names: Vec<String> = serde_json::from_str(s).map_err(corrupt)?;
    Roles::parse(&names).map_err(corrupt)
}

fn epoch(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn sql_epoch(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

const ACCOUNT_COLUMNS: &str =
    "user_id, username, email, roles, disabled, password_hash, session_epoch, reset_epoch, created_at, updated_at";

/// Raw column values, converted outside rusqlite's row callback so that a bad value is a typed
/// `Corrupt`, not a panic or a conversion error without context.
struct AccountRow {
    user_id: String,
    username: String,
    email: Option<String>,
    roles: String,
    disabled: bool,
    password_hash: String,
    session_epoch: i64,
    reset_epoch: i64,
    created_at: i64,
    updated_at: i64,
}

fn account_row(r: &Row<'_>) -> rusqlite::Result<AccountRow> {
    Ok(AccountRow {
        user_id: r.get(0)?,
        username: r.get(1)?,
        email: r.get(2)?,
        roles: r.get(3)?,
        disabled: r.get(4)?,
        password_hash: r.get(5)?,
        session_epoch: r.get(6)?,
        reset_epoch: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

impl AccountRow {
    fn into_account(self) -> Result<Account, StoreError> {
        Ok(Account {
            user_id: UserId::from_stored(self.user_id),
            username: Username::from_stored(&self.username).map_err(corrupt)?,
            email: self.email.as_deref().map(Email::parse).transpose().map_err(corrupt)?,
            roles: roles_of(&self.roles)?,
            disabled: self.disabled,
            password_hash: PasswordHash::from_stored(self.password_hash),
            session_epoch: epoch(self.session_epoch),
            reset_epoch: epoch(self.reset_epoch),
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

fn read_account(conn: &Connection, where_: &str, key: &str) -> Result<Option<Account>, StoreError> {
    conn.prepare_cached(&format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {where_} = ?1"))?
        .query_row([key], account_row)
        .optional()?
        .map(AccountRow::into_account)
        .transpose()
}

fn write_account(conn: &Connection, a: &Account) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO accounts (username_key, user_id, username, email, email_key, roles, disabled,
            password_hash, session_epoch, reset_epoch, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        a.key().as_str(),
        a.user_id.as_str(),
        a.username.as_str(),
        a.email.as_ref().map(Email::as_str),
        a.email.as_ref().map(|e| e.key().as_str().to_owned()),
        roles_json(&a.roles),
        a.disabled,
        a.password_hash.as_str(),
        sql_epoch(a.session_epoch),
        sql_epoch(a.reset_epoch),
        a.created_at,
        a.updated_at,
    ])?;
    Ok(())
}

fn read_failures(conn: &Connection, key: &UsernameKey, now: UnixTime) -> Result<Failures, StoreError> {
    let stored = conn
        .prepare_cached("SELECT count, last_failure_at FROM login_failures WHERE username_key = ?1")?
        .query_row([key.as_str()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .optional()?;
    let stored = stored.map(|(count, last_failure_at)| Failures {
        count: u32::try_from(count.max(0)).unwrap_or(u32::MAX),
        last_failure_at,
    });
    Ok(Failures::remembered(stored, now))
}

const API_KEY_COLUMNS: &str = "key_id, name, roles, secret_hash, created_at, expires_at";

fn api_key_row(r: &Row<'_>) -> rusqlite::Result<(String, String, String, String, i64, Option<i64>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
}

fn api_key_of(
    (key_id, name, roles, secret_hash, created_at, expires_at): (String, String, String, String, i64, Option<i64>),
) -> Result<ApiKeyRecord, StoreError> {
    Ok(ApiKeyRecord {
        key_id: KeyId::parse(&key_id).ok_or_else(|| corrupt("stored API key id"))?,
        name,
        roles: roles_of(&roles)?,
        secret_hash: TokenHash::from_stored(secret_hash),
        created_at,
        expires_at,
    })
}

const FAMILY_COLUMNS: &str = "username_key, user_id, client_id, session_epoch, created_at, expires_at, current_hash, previous_hash, rotated_at, revoked";

fn read_family(conn: &Connection, id: &FamilyId) -> Result<Option<Family>, StoreError> {
    conn.prepare_cached(&format!("SELECT {FAMILY_COLUMNS} FROM families WHERE family_id = ?1"))?
        .query_row([id.as_str()], |r| {
            Ok(Family {
                family_id: id.clone(),
                username_key: UsernameKey::from_stored(r.get(0)?),
                user_id: UserId::from_stored(r.get(1)?),
                client_id: r.get(2)?,
                session_epoch: epoch(r.get(3)?),
                created_at: r.get(4)?,
                expires_at: r.get(5)?,
                current_hash: TokenHash::from_stored(r.get(6)?),
                previous_hash: r.get::<_, Option<String>>(7)?.map(TokenHash::from_stored),
                rotated_at: r.get(8)?,
                revoked: r.get(9)?,
            })
        })
        .optional()
        .map_err(StoreError::from)
}

fn write_family(conn: &Connection, f: &Family) -> Result<(), StoreError> {
    conn.prepare_cached(&format!("INSERT OR REPLACE INTO families (family_id, {FAMILY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"))?.execute(params![
            f.family_id.as_str(),
            f.username_key.as_str(),
            f.user_id.as_str(),
            f.client_id,
            sql_epoch(f.session_epoch),
            f.created_at,
            f.expires_at,
            f.current_hash.as_str(),
            f.previous_hash.as_ref().map(TokenHash::as_str),
            f.rotated_at,
            f.revoked,
        ])?;
    Ok(())
}

/// Writes the rotation state of a stored family (all that [`apply`] changes). An `UPDATE` of
/// these unindexed columns rewrites one page; `INSERT OR REPLACE` deleted and reinserted the row
/// and its index entry, twice the pages in the WAL on every refresh.
fn write_family_state(conn: &Connection, f: &Family) -> Result<(), StoreError> {
    conn.prepare_cached(
        "UPDATE families SET current_hash = ?2, previous_hash = ?3, rotated_at = ?4, revoked = ?5 WHERE family_id = ?1",
    )?
    .execute(params![
        f.family_id.as_str(),
        f.current_hash.as_str(),
        f.previous_hash.as_ref().map(TokenHash::as_str),
        f.rotated_at,
        f.revoked,
    ])?;
    Ok(())
}

const SHARE_COLUMNS: &str = "share_id, resource, shared_by, created_at, expires_at, revoked";

fn share_row(r: &Row<'_>) -> rusqlite::Result<Result<ShareRecord, StoreError>> {
    let (id, resource, shared_by): (String, String, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
    let (created_at, expires_at, revoked): (i64, i64, bool) = (r.get(3)?, r.get(4)?, r.get(5)?);
    Ok((|| {
        Ok(ShareRecord {
            share_id: ShareId::parse(&id).ok_or_else(|| corrupt("stored share id"))?,
            resource: ResourcePath::parse(&resource).map_err(corrupt)?,
            shared_by: UserId::from_stored(shared_by),
            created_at,
            expires_at,
            revoked,
        })
    })())
}

fn exists(conn: &Connection, sql: &str, key: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached(sql)?
        .query_row([key], |_| Ok(()))
        .optional()?
        .is_some())
}

/// `create_account` inside a write transaction: the uniqueness checks, then the insert and
/// the claim of the username's skeleton.
fn insert_new_account(tx: &Connection, a: &Account) -> Result<(), StoreError> {
    if exists(tx, "SELECT 1 FROM accounts WHERE username_key = ?1", a.key().as_str())? {
        return Err(StoreError::Conflict("username"));
    }
    let skeleton = a.username.skeleton();
    if exists(
        tx,
        "SELECT 1 FROM username_skeletons WHERE skeleton = ?1",
        skeleton.as_str(),
    )? {
        return Err(StoreError::Conflict(CONFUSABLE));
    }
    if let Some(email) = &a.email
        && exists(tx, "SELECT 1 FROM accounts WHERE email_key = ?1", email.key().as_str())?
    {
        return Err(StoreError::Conflict("email"));
    }
    if exists(tx, "SELECT 1 FROM accounts WHERE user_id = ?1", a.user_id.as_str())? {
        return Err(StoreError::Conflict("user id"));
    }
    tx.prepare_cached("INSERT INTO username_skeletons (skeleton, username_key) VALUES (?1, ?2)")?
        .execute(params![skeleton.as_str(), a.key().as_str()])?;
    write_account(tx, a)
}

const INVITATION_COLUMNS: &str = "invitation_id, kind, email, roles, token_hash, created_at, expires_at, conflicts";

/// Raw column values of an invitation, converted outside rusqlite's row callback (as accounts).
struct InvitationRow {
    invitation_id: String,
    kind: String,
    email: String,
    roles: String,
    token_hash: String,
    created_at: i64,
    expires_at: i64,
    conflicts: i64,
}

fn invitation_row(r: &Row<'_>) -> rusqlite::Result<InvitationRow> {
    Ok(InvitationRow {
        invitation_id: r.get(0)?,
        kind: r.get(1)?,
        email: r.get(2)?,
        roles: r.get(3)?,
        token_hash: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        conflicts: r.get(7)?,
    })
}

impl InvitationRow {
    fn into_record(self) -> Result<InvitationRecord, StoreError> {
        Ok(InvitationRecord {
            invitation_id: InvitationId::parse(&self.invitation_id).ok_or_else(|| corrupt("stored invitation id"))?,
            kind: InvitationKind::parse(&self.kind).ok_or_else(|| corrupt("stored invitation kind"))?,
            email: Email::parse(&self.email).map_err(corrupt)?,
            roles: roles_of(&self.roles)?,
            token_hash: TokenHash::from_stored(self.token_hash),
            created_at: self.created_at,
            expires_at: self.expires_at,
            conflicts: u32::try_from(self.conflicts).map_err(corrupt)?,
        })
    }
}

/// The record with this id, expired or not.
fn read_invitation(conn: &Connection, id: &InvitationId) -> Result<Option<InvitationRecord>, StoreError> {
    conn.prepare_cached(&format!(
        "SELECT {INVITATION_COLUMNS} FROM invitations WHERE invitation_id = ?1"
    ))?
    .query_row([id.as_str()], invitation_row)
    .optional()?
    .map(InvitationRow::into_record)
    .transpose()
}

/// Counts one mail on a `(key, window_start, count)` counter table inside a write transaction,
/// by the domain's window rule: whether it is within `limit` (nothing changes if not).
fn count_delivery(
    tx: &Connection,
    table: &str,
    key_column: &str,
    key: &str,
    limit: Limit,
    now: UnixTime,
) -> Result<bool, StoreError> {
    let stored = tx
        .prepare_cached(&format!(
            "SELECT window_start, count FROM {table} WHERE {key_column} = ?1"
        ))?
        .query_row([key], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))
        .optional()?
        .map(|(start, count)| {
            // A count beyond u32 is over any limit.
            let count = u32::try_from(count).unwrap_or(u32::MAX);
            Window { start, count }
        });
    let Some(next) = limit.count(stored, now) else {
        return Ok(false);
    };
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {table} ({key_column}, window_start, count) VALUES (?1, ?2, ?3)"
    ))?
    .execute(params![key, next.start, next.count])?;
    Ok(true)
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, account: &Account) -> Result<(), StoreError> {
        let a = account.clone();
        self.db.write(move |tx| insert_new_account(tx, &a)).await
    }

    async fn account(&self, key: &UsernameKey) -> Result<Option<Account>, StoreError> {
        let key = key.clone();
        self.db
            .call(move |c| read_account(c, "username_key", key.as_str()))
            .await
    }

    async fn account_by_email(&self, email: &EmailKey) -> Result<Option<Account>, StoreError> {
        let email = email.clone();
        self.db
            .call(move |c| read_account(c, "email_key", email.as_str()))
            .await
    }

    async fn update_account(&self, key: &UsernameKey, update: &AccountUpdate) -> Result<Option<Account>, StoreError> {
        let (key, update) = (key.clone(), update.clone());
        self.db
            .write(move |tx| {
                let Some(mut a) = read_account(tx, "username_key", key.as_str())? else {
                    return Ok(None);
                };
                update.apply_to(&mut a);
                write_account(tx, &a)?;
                Ok(Some(a))
            })
            .await
    }
}

#[async_trait]
impl LockoutStore for SqliteStore {
    async fn login_lookup(&self, key: &UsernameKey, now: UnixTime) -> Result<(Option<Account>, Failures), StoreError> {
        let key = key.clone();
        self.db
            .call(move |c| {
                // One read transaction, so the account and the counter are from one moment.
                let tx = c.transaction()?;
                let account = read_account(&tx, "username_key", key.as_str())?;
                let failures = read_failures(&tx, &key, now)?;
                Ok((account, failures))
            })
            .await
    }

    async fn reserve_login_attempt(
        &self,
        key: &UsernameKey,
        _seen: Failures,
        now: UnixTime,
    ) -> Result<Attempt, StoreError> {
        let key = key.clone();
        self.db
            .write(move |tx| {
                let attempt = read_failures(tx, &key, now)?.reserve(now);
                if let Attempt::Allowed(f) = attempt {
                    tx.prepare_cached("INSERT OR REPLACE INTO login_failures (username_key, count, last_failure_at) VALUES (?1, ?2, ?3)")?.execute(params![key.as_str(), f.count, f.last_failure_at])?;
                }
                Ok(attempt)
            })
            .await
    }

    async fn clear_login_failures(&self, key: &UsernameKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.db
            .write(move |tx| {
                tx.prepare_cached("DELETE FROM login_failures WHERE username_key = ?1")?
                    .execute([key.as_str()])?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn put_api_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let r = record.clone();
        self.db
            .write(move |tx| {
                if exists(tx, "SELECT 1 FROM api_keys WHERE key_id = ?1", r.key_id.as_str())? {
                    return Err(StoreError::Conflict("api key id"));
                }
                tx.prepare_cached(&format!(
                    "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                ))?
                .execute(params![
                    r.key_id.as_str(),
                    r.name,
                    roles_json(&r.roles),
                    r.secret_hash.as_str(),
                    r.created_at,
                    r.expires_at
                ])?;
                Ok(())
            })
            .await
    }

    async fn api_key(&self, key_id: &KeyId) -> Result<Option<ApiKeyRecord>, StoreError> {
        let id = key_id.clone();
        self.db
            .call(move |c| {
                c.prepare_cached(&format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_id = ?1"))?
                    .query_row([id.as_str()], api_key_row)
                    .optional()?
                    .map(api_key_of)
                    .transpose()
            })
            .await
    }

    async fn delete_api_key(&self, key_id: &KeyId) -> Result<bool, StoreError> {
        let id = key_id.clone();
        self.db
            .write(move |tx| {
                Ok(tx
                    .prepare_cached("DELETE FROM api_keys WHERE key_id = ?1")?
                    .execute([id.as_str()])?
                    > 0)
            })
            .await
    }
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_family(&self, family: &Family) -> Result<(), StoreError> {
        let f = family.clone();
        self.db
            .write(move |tx| {
                if exists(tx, "SELECT 1 FROM families WHERE family_id = ?1", f.family_id.as_str())? {
                    return Err(StoreError::Conflict("family id"));
                }
                write_family(tx, &f)
            })
            .await
    }

    async fn family(&self, family_id: &FamilyId) -> Result<Option<Family>, StoreError> {
        let id = family_id.clone();
        self.db.call(move |c| read_family(c, &id)).await
    }

    async fn refresh_preview(
        &self,
        family_id: &FamilyId,
        presented: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<Option<Preview>, StoreError> {
        let (id, presented) = (family_id.clone(), presented.clone());
        // One read transaction on the connection's thread: a refresh makes two trips to it
        // (this and the rotation), not three.
        self.db
            .call(move |c| {
                let tx = c.transaction()?;
                let Some(family) = read_family(&tx, &id)? else {
                    return Ok(None);
                };
                let preview = Preview::read(family, &presented, now, grace, |k| {
                    read_account(&tx, "username_key", k.as_str())
                })?;
                Ok(Some(preview))
            })
            .await
    }

    async fn rotate_refresh(
        &self,
        family_id: &FamilyId,
        presented: &TokenHash,
        next: &TokenHash,
        now: UnixTime,
        grace: i64,
    ) -> Result<RotateOutcome, StoreError> {
        let (id, presented, next) = (family_id.clone(), presented.clone(), next.clone());
        self.db
            .write(move |tx| {
                let Some(f) = read_family(tx, &id)? else {
                    return Ok(RotateOutcome::Invalid);
                };
                let decision = decide(&f, &presented, now, grace);
                let Some(g) = apply(&f, decision, &presented, &next, now) else {
                    return Ok(RotateOutcome::Invalid);
                };
                write_family_state(tx, &g)?;
                Ok(RotateOutcome::after(decision, g))
            })
            .await
    }

    async fn revoke_family(&self, family_id: &FamilyId) -> Result<(), StoreError> {
        let id = family_id.clone();
        self.db
            .write(move |tx| {
                tx.prepare_cached("UPDATE families SET revoked = 1 WHERE family_id = ?1")?
                    .execute([id.as_str()])?;
                Ok(())
            })
            .await
    }
}

#[async_trait]
impl ResetStore for SqliteStore {
    async fn put_reset_token(&self, record: &ResetRecord) -> Result<(), StoreError> {
        let r = record.clone();
        self.db
            .write(move |tx| {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO reset_tokens (token_hash, username_key, epoch, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    r.token_hash.as_str(),
                    r.username_key.as_str(),
                    sql_epoch(r.epoch),
                    r.created_at,
                    r.expires_at
                ])?;
                Ok(())
            })
            .await
    }

    async fn spend_reset_token(&self, hash: &TokenHash, now: UnixTime) -> Result<Option<ResetRecord>, StoreError> {
        let hash = hash.clone();
        self.db
            .write(move |tx| {
                let record = tx
                    .prepare_cached(
                        "DELETE FROM reset_tokens WHERE token_hash = ?1
                         RETURNING username_key, epoch, created_at, expires_at",
                    )?
                    .query_row([hash.as_str()], |r| {
                        Ok(ResetRecord {
                            token_hash: hash.clone(),
                            username_key: UsernameKey::from_stored(r.get(0)?),
                            epoch: epoch(r.get(1)?),
                            created_at: r.get(2)?,
                            expires_at: r.get(3)?,
                        })
                    })
                    .optional()?;
                Ok(record.filter(|r| r.is_live(now)))
            })
            .await
    }

    async fn finish_reset(
        &self,
        key: &UsernameKey,
        epoch: u64,
        password_hash: &PasswordHash,
        now: UnixTime,
    ) -> Result<Option<Account>, StoreError> {
        let (key, hash) = (key.clone(), password_hash.clone());
        self.db
            .write(move |tx| {
                let Some(mut a) = read_account(tx, "username_key", key.as_str())? else {
                    return Ok(None);
                };
                if !a.finish_reset(epoch, &hash, now) {
                    return Ok(None);
                }
                write_account(tx, &a)?;
                Ok(Some(a))
            })
            .await
    }

    async fn allow_reset_delivery(&self, key: &UsernameKey, now: UnixTime) -> Result<bool, StoreError> {
        let key = key.clone();
        self.db
            .write(move |tx| {
                count_delivery(
                    tx,
                    "reset_deliveries",
                    "username_key",
                    key.as_str(),
                    delivery::RESET_PER_ACCOUNT,
                    now,
                )
            })
            .await
    }
}

#[async_trait]
impl JwksStore for SqliteStore {
    async fn put_published_jwks(&self, jwks: &Jwks) -> Result<(), StoreError> {
        let json = serde_json::to_string(jwks).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.db
            .write(move |tx| {
                tx.prepare_cached("INSERT OR REPLACE INTO published_jwks (id, jwks) VALUES (1, ?1)")?
                    .execute([json])?;
                Ok(())
            })
            .await
    }

    async fn published_jwks(&self) -> Result<Option<Jwks>, StoreError> {
        let json: Option<String> = self
            .db
            .call(|c| {
                Ok(c.prepare_cached("SELECT jwks FROM published_jwks WHERE id = 1")?
                    .query_row([], |r| r.get(0))
                    .optional()?)
            })
            .await?;
        json.map(|j| serde_json::from_str(&j).map_err(corrupt)).transpose()
    }
}

#[async_trait]
impl InvitationStore for SqliteStore {
    async fn put_invitation(&self, record: &InvitationRecord) -> Result<(), StoreError> {
        let r = record.clone();
        self.db
            .write(move |tx| {
                if exists(
                    tx,
                    "SELECT 1 FROM invitations WHERE invitation_id = ?1",
                    r.invitation_id.as_str(),
                )? {
                    return Err(StoreError::Conflict("invitation id"));
                }
                tx.prepare_cached(&format!(
                    "INSERT INTO invitations ({INVITATION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ))?
                .execute(params![
                    r.invitation_id.as_str(),
                    r.kind.as_str(),
                    r.email.as_str(),
                    roles_json(&r.roles),
                    r.token_hash.as_str(),
                    r.created_at,
                    r.expires_at,
                    r.conflicts,
                ])?;
                Ok(())
            })
            .await
    }

    async fn invitation(&self, id: &InvitationId, now: UnixTime) -> Result<Option<InvitationRecord>, StoreError> {
        let id = id.clone();
        self.db
            .call(move |c| Ok(read_invitation(c, &id)?.filter(|r| r.is_live(now))))
            .await
    }

    async fn pending_invitations(&self, now: UnixTime) -> Result<Vec<InvitationRecord>, StoreError> {
        self.db
            .call(move |c| {
                let rows = c
                    .prepare_cached(&format!(
                        "SELECT {INVITATION_COLUMNS} FROM invitations
                         WHERE kind = 'invitation' AND expires_at > ?1 AND conflicts < ?2
                         ORDER BY created_at, invitation_id"
                    ))?
                    .query_map([now, i64::from(MAX_CONFLICTS)], invitation_row)?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.into_iter().map(InvitationRow::into_record).collect()
            })
            .await
    }

    async fn delete_invitation(&self, id: &InvitationId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                Ok(tx
                    .prepare_cached("DELETE FROM invitations WHERE invitation_id = ?1")?
                    .execute([id.as_str()])?
                    > 0)
            })
            .await
    }

    async fn redeem_invitation(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
        account: &Account,
    ) -> Result<bool, StoreError> {
        let (id, hash, a) = (id.clone(), hash.clone(), account.clone());
        // One write transaction: the record is checked, the account inserted as
        // `create_account` inserts it and the record deleted, or (on a conflict, rolled back)
        // nothing changes.
        self.db
            .write(move |tx| {
                let redeemable = read_invitation(tx, &id)?.is_some_and(|r| r.redeemable_by(&hash, now));
                if !redeemable {
                    return Ok(false);
                }
                insert_new_account(tx, &a)?;
                tx.prepare_cached("DELETE FROM invitations WHERE invitation_id = ?1")?
                    .execute([id.as_str()])?;
                Ok(true)
            })
            .await
    }

    async fn count_invitation_conflict(
        &self,
        id: &InvitationId,
        hash: &TokenHash,
        now: UnixTime,
    ) -> Result<Option<u32>, StoreError> {
        let (id, hash) = (id.clone(), hash.clone());
        self.db
            .write(move |tx| {
                let Some(r) = read_invitation(tx, &id)?.filter(|r| r.redeemable_by(&hash, now)) else {
                    return Ok(None);
                };
                tx.prepare_cached("UPDATE invitations SET conflicts = conflicts + 1 WHERE invitation_id = ?1")?
                    .execute([id.as_str()])?;
                Ok(Some(r.conflicts + 1))
            })
            .await
    }

    async fn allow_registration_delivery(
        &self,
        counter: &RegistrationCounter,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        let (key, limit) = (counter.key(), counter.limit());
        self.db
            .write(move |tx| count_delivery(tx, "registration_deliveries", "email_key", &key, limit, now))
            .await
    }
}

#[async_trait]
impl ShareStore for SqliteStore {
    async fn put_share(&self, share: &ShareRecord, limit: u32) -> Result<bool, StoreError> {
        let r = share.clone();
        self.db
            .write(move |tx| {
                if exists(tx, "SELECT 1 FROM shares WHERE share_id = ?1", r.share_id.as_str())? {
                    return Err(StoreError::Conflict("share id"));
                }
                // Under the write lock, so the count and the insert are one step across processes.
                let held: i64 = tx
                    .prepare_cached("SELECT COUNT(*) FROM shares WHERE shared_by = ?1 AND expires_at > ?2")?
                    .query_row(params![r.shared_by.as_str(), r.created_at], |row| row.get(0))?;
                if held >= i64::from(limit) {
                    return Ok(false);
                }
                tx.prepare_cached(&format!(
                    "INSERT INTO shares ({SHARE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                ))?
                .execute(params![
                    r.share_id.as_str(),
                    r.resource.as_str(),
                    r.shared_by.as_str(),
                    r.created_at,
                    r.expires_at,
                    r.revoked,
                ])?;
                Ok(true)
            })
            .await
    }

    async fn share(&self, id: &ShareId, now: UnixTime) -> Result<Option<ShareRecord>, StoreError> {
        let id = id.clone();
        self.db
            .call(move |c| {
                c.prepare_cached(&format!(
                    "SELECT {SHARE_COLUMNS} FROM shares WHERE share_id = ?1 AND expires_at > ?2"
                ))?
                .query_row(params![id.as_str(), now], share_row)
                .optional()?
                .transpose()
            })
            .await
    }

    async fn shares_by(&self, user: &UserId, now: UnixTime) -> Result<Vec<ShareRecord>, StoreError> {
        let user = user.clone();
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(&format!(
                    "SELECT {SHARE_COLUMNS} FROM shares WHERE shared_by = ?1 AND revoked = 0 AND expires_at > ?2
                     ORDER BY created_at, share_id"
                ))?;
                let rows = st.query_map(params![user.as_str(), now], share_row)?;
                rows.map(|r| r?).collect()
            })
            .await
    }

    async fn revoke_share(&self, id: &ShareId, now: UnixTime) -> Result<bool, StoreError> {
        let id = id.clone();
        self.db
            .write(move |tx| {
                let n = tx
                    .prepare_cached("UPDATE shares SET revoked = 1 WHERE share_id = ?1 AND expires_at > ?2")?
                    .execute(params![id.as_str(), now])?;
                Ok(n > 0)
            })
            .await
    }

    async fn revoke_shares_by(&self, user: &UserId, now: UnixTime) -> Result<usize, StoreError> {
        let user = user.clone();
        self.db
            .write(move |tx| {
                let n = tx
                    .prepare_cached(
                        "UPDATE shares SET revoked = 1 WHERE shared_by = ?1 AND revoked = 0 AND expires_at > ?2",
                    )?
                    .execute(params![user.as_str(), now])?;
                Ok(n)
            })
            .await
    }

    async fn revoked_shares(&self, until_after: UnixTime) -> Result<Vec<ShareId>, StoreError> {
        self.db
            .call(move |c| {
                let mut st = c.prepare_cached(
                    "SELECT share_id FROM shares WHERE revoked = 1 AND expires_at > ?1 ORDER BY share_id",
                )?;
                let rows = st.query_map([until_after], |r| r.get::<_, String>(0))?;
                rows.map(|r| ShareId::parse(&r?).ok_or_else(|| corrupt("stored share id")))
                    .collect()
            })
            .await
    }
}

#[async_trait]
impl Inventory for SqliteStore {
    async fn all_accounts(&self) -> Result<Vec<Account>, StoreError> {
        self.db
            .call(|c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_at, username_key"
                ))?;
                let rows = stmt.query_map([], account_row)?.collect::<Result<Vec<_>, _>>()?;
                rows.into_iter().map(AccountRow::into_account).collect()
            })
            .await
    }

    async fn all_api_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.db
            .call(|c| {
                let mut stmt = c.prepare(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY created_at, key_id"
                ))?;
                let rows = stmt.query_map([], api_key_row)?.collect::<Result<Vec<_>, _>>()?;
                rows.into_iter().map(api_key_of).collect()
            })
            .await
    }
}
