//! Accounts, API key records and reset token records.

use super::secret::{KeyId, RngError, random_bytes, rng_failed};
use super::{Invalid, PasswordHash, Roles, TokenHash, UnixTime, Username, UsernameKey};
use serde::{Deserialize, Serialize};

/// An account's stable id: the `sub` of its tokens. A random UUID (version 4) in text form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// A new random id; stops the process if the generator fails.
    pub fn generate() -> UserId {
        Self::try_generate().unwrap_or_else(|e| rng_failed(e))
    }
    /// A new random id, or the generator's failure.
    pub fn try_generate() -> Result<UserId, RngError> {
        let mut b = random_bytes::<16>()?;
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Ok(UserId(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        )))
    }
    /// Rebuilds an id read back from storage.
    pub fn from_stored(s: String) -> UserId {
        UserId(s)
    }
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address: trimmed of nothing, 3 to 254 characters, one `@` with text on both sides,
/// no white space or control characters. Deliverability is the mailer's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

/// The lookup key of an email address (lowercased), unique across accounts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailKey(String);

impl Email {
    /// Parses an address.
    pub fn parse(s: &str) -> Result<Email, Invalid> {
        let ok = (3..=254).contains(&s.len())
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(s.split_once('@'), Some((l, d)) if !l.is_empty() && !d.is_empty() && !d.contains('@'));
        if ok {
            Ok(Email(s.to_owned()))
        } else {
            Err(Invalid("email is not a valid address"))
        }
    }
    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The lookup key.
    pub fn key(&self) -> EmailKey {
        EmailKey(self.0.to_lowercase())
    }
}

impl EmailKey {
    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Email, Invalid> {
        Email::parse(&s)
    }
}
impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// A person's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub user_id: UserId,
    pub username: Username,
    pub email: Option<Email>,
    pub roles: Roles,
    pub disabled: bool,
    pub password_hash: PasswordHash,
    /// Incremented to revoke every session at once: a refresh-token family is alive only
    /// while its `session_epoch` equals the account's.
    pub session_epoch: u64,
    /// The generation of reset tokens: each reset token records it when issued and is good only
    /// while it is unchanged; a finished reset moves it on, spending every other reset token.
    pub reset_epoch: u64,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl Account {
    /// The comparison key of the username.
    pub fn key(&self) -> &UsernameKey {
        self.username.key()
    }

    /// Oldest first, then by username key: the order accounts are listed (and exported) in.
    pub fn listing_order(a: &Account, b: &Account) -> std::cmp::Ordering {
        (a.created_at, a.key()).cmp(&(b.created_at, b.key()))
    }

    /// Finishes a password reset whose token was issued at reset epoch `epoch`: unless the
    /// account's epoch has moved on since (`false`, nothing changes), sets the new password hash,
    /// ends every session (`session_epoch`) and every other outstanding reset token
    /// (`reset_epoch`), and sets `updated_at`.
    pub fn finish_reset(&mut self, epoch: u64, password_hash: &PasswordHash, now: UnixTime) -> bool {
        if self.reset_epoch != epoch {
            return false;
        }
        self.password_hash = password_hash.clone();
        self.session_epoch += 1;
        self.reset_epoch += 1;
        self.updated_at = now;
        true
    }
}

/// A change to an account. `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountUpdate {
    pub roles: Option<Roles>,
    pub disabled: Option<bool>,
    pub password_hash: Option<PasswordHash>,
    /// Revoke every session (increments `session_epoch`).
    pub revoke_sessions: bool,
    pub updated_at: UnixTime,
}

impl AccountUpdate {
    /// Applies the change to `account` (a store that reads, changes and writes back an account
    /// inside one atomic step calls this).
    pub fn apply_to(&self, account: &mut Account) {
        if let Some(r) = &self.roles {
            account.roles = r.clone();
        }
        if let Some(x) = self.disabled {
            account.disabled = x;
        }
        if let Some(h) = &self.password_hash {
            account.password_hash = h.clone();
        }
        if self.revoke_sessions {
            account.session_epoch += 1;
        }
        account.updated_at = self.updated_at;
    }
}

/// A stored API key: its hash, never the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub key_id: KeyId,
    pub name: String,
    pub roles: Roles,
    pub secret_hash: TokenHash,
    pub created_at: UnixTime,
    pub expires_at: Option<UnixTime>,
}

impl ApiKeyRecord {
    /// Whether the key is usable at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.expires_at.is_none_or(|e| now < e)
    }
}

/// A stored password-reset token: its hash, never the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetRecord {
    pub token_hash: TokenHash,
    pub username_key: UsernameKey,
    /// The account's `reset_epoch` when the token was issued.
    pub epoch: u64,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
}

impl ResetRecord {
    /// Whether the token may still be spent at `now`.
    pub fn is_live(&self, now: UnixTime) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_uuid_v4() {
        let id = UserId::generate();
        let s = id.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(&s[14..15], "4");
        assert_ne!(UserId::generate(), id);
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("Ann@Example.org").unwrap().key().as_str(),
            "ann@example.org"
        );
        for bad in ["", "a", "@x", "x@", "a b@c", "a@b@c"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
