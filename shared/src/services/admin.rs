//! Operator use cases: accounts, sessions and API keys (the admin API of `openapi.yaml`, and
//! `docs/cli.md`).

use super::{Error, Keygate, Result, audit};
use crate::domain::time::{now, rfc3339};
use crate::domain::{
    Account, AccountUpdate, ApiKey, ApiKeyName, ApiKeyRecord, Email, KeyId, Password, Roles, Username, UsernameKey,
};
use keygate_sdk::AccessClaims;
use serde::Serialize;

/// A new account's details, as given by an operator.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    /// Build it with `.into()` from a `String` or `&str`; its `Debug` shows nothing of it.
    pub password: Password,
    pub email: Option<String>,
    pub roles: Vec<String>,
}

/// A change to an account, as given by an operator.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub roles: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

/// The answer to an API key's creation: the only time the key is shown.
#[derive(Debug, Clone, Serialize)]
pub struct ApiKeyCreated {
    pub key_id: String,
    pub api_key: String,
    pub name: String,
    pub roles: Vec<String>,
    pub expires_at: Option<String>,
}

/// A new account as its creation is answered (`POST /admin/users`, `POST
/// /auth/register/complete`, `keygate user create`): its id, username and roles.
pub fn new_account_view(a: &Account) -> serde_json::Value {
    serde_json::json!({
        "user_id": a.user_id.as_str(),
        "username": a.username.as_str(),
        "roles": a.roles.names(),
    })
}

/// An account as operators see it (never the password hash).
pub fn account_view(a: &Account) -> serde_json::Value {
    serde_json::json!({
        "user_id": a.user_id.as_str(),
        "username": a.username.as_str(),
        "email": a.email.as_ref().map(|e| e.as_str()),
        "roles": a.roles.names(),
        "disabled": a.disabled,
        "created_at": rfc3339(a.created_at),
        "updated_at": rfc3339(a.updated_at),
    })
}

/// Where the admin role of a token came from, read again at each admin call.
enum Grounds<'a> {
    Account { sub: &'a str, username: &'a str },
    ApiKey(&'a str),
}

impl<'a> Grounds<'a> {
    /// API-key tokens have `sub` `apikey:<key id>`; account tokens carry the username.
    fn of(claims: &'a AccessClaims) -> Option<Grounds<'a>> {
        match claims.sub.strip_prefix("apikey:") {
            Some(key_id) => Some(Grounds::ApiKey(key_id)),
            None => claims.preferred_username.as_deref().map(|username| Grounds::Account {
                sub: &claims.sub,
                username,
            }),
        }
    }
}

impl Keygate {
    /// Admits a caller of the admin API (`/admin/*` in `openapi.yaml`): a valid access token whose
    /// `roles` include `admin` (else 401 / 403), whose account is then read again, so that
    /// a disabled or deleted account (401) or one that lost the role (403) is refused at once,
    /// whatever its still-valid token says. API-key tokens are checked against their key the
    /// same way (deleted or expired: 401; role gone: 403).
    pub async fn authorize_admin(&self, bearer: Option<&str>) -> Result<AccessClaims> {
        let token = bearer.ok_or_else(|| Error::Unauthorized("a Bearer access token is required".into()))?;
        let claims = self.verify_access_token(token).await?;
        if !claims.has_role("admin") {
            audit::subject("admin", "forbidden", &claims.sub);
            return Err(Error::Forbidden("admin"));
        }
        let roles = match Grounds::of(&claims) {
            Some(Grounds::Account { sub, username }) => self
                .store
                .account(&UsernameKey::of_any(username))
                .await?
                .filter(|a| a.user_id.as_str() == sub && !a.disabled)
                .map(|a| a.roles),
            Some(Grounds::ApiKey(key_id)) => match KeyId::parse(key_id) {
                Some(id) => self
                    .store
                    .api_key(&id)
                    .await?
                    .filter(|k| k.is_live(now()))
                    .map(|k| k.roles),
                None => None,
            },
            None => None,
        };
        match roles {
            None => {
                audit::subject("admin", "account_gone_or_disabled", &claims.sub);
                Err(Error::Unauthorized("the token's account is disabled or gone".into()))
            }
            Some(r) if !r.contains("admin") => {
                audit::subject("admin", "forbidden", &claims.sub);
                Err(Error::Forbidden("admin"))
            }
            Some(_) => Ok(claims),
        }
    }

    /// Creates an account. 409 if the username (after NFKC and case folding) or email exists.
    pub async fn create_user(&self, new: NewUser) -> Result<Account> {
        let now = now();
        let username = Username::parse(&new.username)?;
        let email = new.email.as_deref().map(Email::parse).transpose()?;
        let roles = Roles::parse(&new.roles)?;
        let password = self.new_password(&new.password, Some(&username))?;
        let account = self.new_account(username, email, roles, password, now).await?;
        match self.store.create_account(&account).await {
            Ok(()) => {}
            Err(crate::ports::StoreError::Conflict(what)) => {
                audit::admin("create_user", "conflict", account.username.as_str());
                return Err(Error::Conflict(format!("{what} already exists")));
            }
            Err(e) => return Err(e.into()),
        }
        audit::admin("create_user", "success", account.user_id.as_str());
        Ok(account)
    }

    /// Ensures an admin account exists (for `--admin` and `KEYGATE_BOOTSTRAP_ADMIN`): creates it
    /// with the `admin` role if absent; an existing account is left as it is.
    pub async fn ensure_admin(&self, username: &str, password: impl Into<Password>) -> Result<Account> {
        let key = UsernameKey::of_any(username);
        if let Some(existing) = self.store.account(&key).await? {
            return Ok(existing);
        }
        let new = NewUser {
            username: username.to_owned(),
            password: password.into(),
            email: None,
            roles: vec!["admin".into()],
        };
        match self.create_user(new).await {
            Err(Error::Conflict(_)) => self
                .store
                .account(&key)
                .await?
                .ok_or_else(|| Error::NotFound("no such user".into())),
            other => other,
        }
    }

    /// Changes an account's roles or disabled flag.
    pub async fn update_user(&self, username: &str, change: UserChange) -> Result<Account> {
        let roles = change.roles.as_deref().map(Roles::parse).transpose()?;
        let update = AccountUpdate {
            roles,
            disabled: change.disabled,
            ..Default::default()
        };
        let account = self.update_named(username, update, "update_user").await?;
        if account.disabled {
            // A disabled creator's links stop at once (contract section 12): they are listed in
            // `/auth/share/revoked` until they expire.
            let n = self.store.revoke_shares_by(&account.user_id, now()).await?;
            if n > 0 {
                audit::admin("revoke_shares", "success", account.user_id.as_str());
            }
        }
        Ok(account)
    }

    /// Applies `update` to the account named `username` (any spelling), stamped now, and audits
    /// it as `event`; 404 when there is no such account.
    async fn update_named(&self, username: &str, update: AccountUpdate, event: &'static str) -> Result<Account> {
        let update = AccountUpdate {
            updated_at: now(),
            ..update
        };
        let updated = self
            .store
            .update_account(&UsernameKey::of_any(username), &update)
            .await?;
        let account = updated.ok_or_else(|| Error::NotFound("no such user".into()))?;
        audit::admin(event, "success", account.user_id.as_str());
        Ok(account)
    }

    /// Revokes every session (refresh-token family) of an account.
    pub async fn revoke_sessions(&self, username: &str) -> Result<()> {
        let update = AccountUpdate {
            revoke_sessions: true,
            ..Default::default()
        };
        self.update_named(username, update, "revoke_sessions").await.map(drop)
    }

    /// Clears the login lockout of an account's username (contract section 12); 404 when there
    /// is no such account. Device counters are left alone: they belong to their browsers.
    pub async fn unlock_user(&self, username: &str) -> Result<()> {
        let account = self
            .store
            .account(&UsernameKey::of_any(username))
            .await?
            .ok_or_else(|| Error::NotFound("no such user".into()))?;
        self.store.clear_login_failures(account.key()).await?;
        audit::admin("unlock_user", "success", account.user_id.as_str());
        Ok(())
    }

    /// Creates an API key; the answer is the only place the key appears.
    pub async fn create_api_key(&self, name: &str, roles: &[String], expires_in: Option<i64>) -> Result<ApiKeyCreated> {
        let now = now();
        let name = ApiKeyName::parse(name)?;
        let roles = Roles::parse(roles)?;
        let expires_at = match expires_in {
            None => None,
            Some(s) if (1..=315_360_000).contains(&s) => Some(now + s),
            Some(_) => {
                return Err(Error::InvalidRequest(
                    "expires_in must be 1 to 315360000 seconds".into(),
                ));
            }
        };
        let key = ApiKey::try_generate()?;
        let record = ApiKeyRecord {
            key_id: key.key_id().clone(),
            name: name.into_string(),
            roles: roles.clone(),
            secret_hash: key.hash(),
            created_at: now,
            expires_at,
        };
        self.store.put_api_key(&record).await?;
        audit::admin("create_api_key", "success", record.key_id.as_str());
        Ok(ApiKeyCreated {
            key_id: record.key_id.to_string(),
            api_key: key.expose(),
            name: record.name,
            roles: roles.names(),
            expires_at: expires_at.map(rfc3339),
        })
    }

    /// Deletes an API key; it stops working at once.
    pub async fn delete_api_key(&self, key_id: &str) -> Result<()> {
        let id = KeyId::parse(key_id).ok_or_else(|| Error::NotFound("no such API key".into()))?;
        if !self.store.delete_api_key(&id).await? {
            return Err(Error::NotFound("no such API key".into()));
        }
        audit::admin("delete_api_key", "success", id.as_str());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_users_debug_never_shows_its_password() {
        let new = NewUser {
            username: "ann".into(),
            password: "violet harbor lantern 7".into(),
            email: None,
            roles: vec![],
        };
        let shown = format!("{new:?}");
        assert!(shown.contains("ann") && !shown.contains("violet"), "{shown}");
    }
}
