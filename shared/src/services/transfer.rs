//! `keygate export` / `keygate import` (docs/cli.md): accounts and API keys as JSON
//! lines, from one store to another (the embedded store to DynamoDB, when a team outgrows one
//! machine). Only hashes travel: password hashes (argon2id PHC strings) and API-key hashes,
//! never a password or key. Sessions, reset tokens and counters stay behind: users log in
//! again after a move.
//!
//! Every imported line is parsed into domain types first, so a damaged or hand-edited file is
//! refused line by line, and an existing username, email or key id is never overwritten.
//! Usernames are read as stored accounts are (`Username::from_stored`), so accounts created
//! before RFC 8265's profile applied still move; the target store still refuses one that looks
//! like an account it holds (the username's skeleton).

use crate::domain::{
    Account, ApiKeyName, ApiKeyRecord, Email, KeyId, PasswordHash, Roles, TokenHash, UnixTime, UserId, Username,
};
use crate::ports::{Inventory, Store, StoreError};
use serde::{Deserialize, Serialize};

/// The first line of an export: what it is and its format's version.
pub const FORMAT: &str = "keygate-export";
/// The version of the export format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// One line of an export file.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Line {
    /// The header, first.
    Header { format: String, version: u32 },
    /// An account, with its password hash.
    Account {
        user_id: String,
        username: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        email: Option<String>,
        roles: Vec<String>,
        disabled: bool,
        password_hash: String,
        created_at: UnixTime,
        updated_at: UnixTime,
    },
    /// An API key, by the hash of its secret.
    ApiKey {
        key_id: String,
        name: String,
        roles: Vec<String>,
        secret_hash: String,
        created_at: UnixTime,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_at: Option<UnixTime>,
    },
}

impl std::fmt::Debug for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Header { version, .. } => write!(f, "Header(v{version})"),
            Line::Account { username, .. } => write!(f, "Account({username})"),
            Line::ApiKey { key_id, .. } => write!(f, "ApiKey({key_id})"),
        }
    }
}

/// The export of `store`: the header, then every account, then every API key.
pub async fn export(store: &dyn Inventory) -> Result<Vec<Line>, StoreError> {
    let mut lines = vec![Line::Header {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
    }];
    lines.extend(store.all_accounts().await?.into_iter().map(|a| Line::Account {
        user_id: a.user_id.as_str().to_owned(),
        username: a.username.as_str().to_owned(),
        email: a.email.map(String::from),
        roles: a.roles.names(),
        disabled: a.disabled,
        password_hash: a.password_hash.as_str().to_owned(),
        created_at: a.created_at,
        updated_at: a.updated_at,
    }));
    lines.extend(store.all_api_keys().await?.into_iter().map(|k| Line::ApiKey {
        key_id: k.key_id.as_str().to_owned(),
        name: k.name,
        roles: k.roles.names(),
        secret_hash: k.secret_hash.as_str().to_owned(),
        created_at: k.created_at,
        expires_at: k.expires_at,
    }));
    Ok(lines)
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub accounts_imported: u64,
    pub api_keys_imported: u64,
    /// Lines refused because the username (or a look-alike), email or key id already exists in
    /// the target.
    pub duplicates_refused: u64,
    /// Lines refused because they do not parse (each is reported with its line number).
    pub invalid_refused: u64,
}

/// A record read from an export line, ready to store.
enum Record {
    Account(Box<Account>),
    ApiKey(ApiKeyRecord),
}

/// Why one line was refused; the text never carries a hash.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("not an export line: {0}")]
    Parse(String),
    #[error("{0}")]
    Invalid(&'static str),
    #[error("already exists ({0})")]
    Duplicate(&'static str),
    #[error(transparent)]
    Store(StoreError),
}

fn valid_hash(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn record(line: Line) -> Result<Option<Record>, LineError> {
    let invalid = |e: crate::domain::Invalid| LineError::Invalid(e.0);
    match line {
        Line::Header { format, version } => {
            if format != FORMAT || version != FORMAT_VERSION {
                return Err(LineError::Invalid("the header names another format or version"));
            }
            Ok(None)
        }
        Line::Account {
            user_id,
            username,
            email,
            roles,
            disabled,
            password_hash,
            created_at,
            updated_at,
        } => {
            if !password_hash.starts_with("$argon2id$") {
                return Err(LineError::Invalid("password_hash is not an argon2id PHC string"));
            }
            if user_id.is_empty() || user_id.len() > 64 {
                return Err(LineError::Invalid("user_id is empty or too long"));
            }
            Ok(Some(Record::Account(Box::new(Account {
                user_id: UserId::from_stored(user_id),
                username: Username::from_stored(&username).map_err(invalid)?,
                email: email.as_deref().map(Email::parse).transpose().map_err(invalid)?,
                roles: Roles::parse(&roles).map_err(invalid)?,
                disabled,
                password_hash: PasswordHash::from_stored(password_hash),
                session_epoch: 0,
                reset_epoch: 0,
                created_at,
                updated_at,
            }))))
        }
        Line::ApiKey {
            key_id,
            name,
            roles,
            secret_hash,
            created_at,
            expires_at,
        } => {
            if !valid_hash(&secret_hash) {
                return Err(LineError::Invalid("secret_hash is not a SHA-256 hex digest"));
            }
            Ok(Some(Record::ApiKey(ApiKeyRecord {
                key_id: KeyId::parse(&key_id).ok_or(LineError::Invalid("key_id is not a keygate key id"))?,
                name: ApiKeyName::parse(&name).map_err(invalid)?.into_string(),
                roles: Roles::parse(&roles).map_err(invalid)?,
                secret_hash: TokenHash::from_stored(secret_hash),
                created_at,
                expires_at,
            })))
        }
    }
}

/// Imports one export line into `store`, counting it in `report`.
pub async fn import_line(store: &dyn Store, text: &str, report: &mut ImportReport) -> Result<(), LineError> {
    let outcome = import_one(store, text).await;
    match &outcome {
        Ok(Some(true)) => report.accounts_imported += 1,
        Ok(Some(false)) => report.api_keys_imported += 1,
        Ok(None) => {}
        Err(LineError::Duplicate(_)) => report.duplicates_refused += 1,
        Err(LineError::Parse(_) | LineError::Invalid(_)) => report.invalid_refused += 1,
        Err(LineError::Store(_)) => {}
    }
    outcome.map(|_| ())
}

/// `Some(true)` for an account, `Some(false)` for an API key, `None` for the header.
async fn import_one(store: &dyn Store, text: &str) -> Result<Option<bool>, LineError> {
    let line: Line = serde_json::from_str(text).map_err(|e| LineError::Parse(json_error(&e)))?;
    let stored = match record(line)? {
        None => return Ok(None),
        Some(Record::Account(a)) => store.create_account(&a).await.map(|()| true),
        Some(Record::ApiKey(k)) => store.put_api_key(&k).await.map(|()| false),
    };
    stored.map(Some).map_err(|e| match e {
        StoreError::Conflict(what) => LineError::Duplicate(what),
        e => LineError::Store(e),
    })
}

/// A JSON error's kind and position, never the input it quotes (a hash, say).
fn json_error(e: &serde_json::Error) -> String {
    let kind = match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Data => "unexpected members or values",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    format!("{kind} at column {}", e.column())
}
