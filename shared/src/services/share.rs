//! Share links (contract section 2): an account mints a `share+jwt` for one resource, lists and
//! revokes its shares; anyone reads the ids of revoked ones, so that verifiers need no AWS
//! credentials.

use super::{Error, Keygate, Result, audit};
use crate::domain::route_policy::Route;
use crate::domain::share::{ResourcePath, ShareId, ShareRecord};
use crate::domain::time::{now, rfc3339};
use crate::domain::{Account, UsernameKey};
use serde::Serialize;

/// The default lifetime of a share link, seconds (a week).
pub const DEFAULT_SHARE_TTL: i64 = 604_800;

/// A share as its creator sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ShareView {
    pub share_id: String,
    pub resource: String,
    pub expires_at: String,
}

impl ShareView {
    fn of(r: &ShareRecord) -> ShareView {
        ShareView {
            share_id: r.share_id.as_str().to_owned(),
            resource: r.resource.as_str().to_owned(),
            expires_at: rfc3339(r.expires_at),
        }
    }
}

/// A new share: its view and its token (shown only in this answer).
#[derive(Debug, Clone, Serialize)]
pub struct ShareCreated {
    pub share_id: String,
    pub token: String,
    pub resource: String,
    pub expires_at: String,
}

/// The claims of a share token.
#[derive(Serialize)]
struct ShareTokenClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: String,
    jti: &'a str,
    resource: &'a str,
    shared_by: &'a str,
    /// The creator's roles now: the authorizer admits the link only where these suffice.
    shared_by_roles: &'a [String],
    scope: &'static str,
    iat: i64,
    exp: i64,
}

impl Keygate {
    /// The account behind an access token, read again: API-key tokens are refused (403), and
    /// so is a token whose account is gone or disabled (401).
    async fn share_caller(&self, bearer: Option<&str>) -> Result<Account> {
        let token = bearer.ok_or_else(|| Error::Unauthorized("a Bearer access token is required".into()))?;
        let claims = self.verify_access_token(token).await?;
        if claims.sub.starts_with("apikey:") {
            return Err(Error::AccountsOnly);
        }
        let username = claims
            .preferred_username
            .as_deref()
            .ok_or_else(|| Error::Unauthorized("the token names no account".into()))?;
        self.store
            .account(&UsernameKey::of_any(username))
            .await?
            .filter(|a| a.user_id.as_str() == claims.sub && !a.disabled)
            .ok_or_else(|| Error::Unauthorized("the token's account is disabled or gone".into()))
    }

    /// `POST /auth/share`: a share token for `resource`, alive `expires_in` seconds (default a
    /// week, at most `KEYGATE_SHARE_MAX_TTL`).
    pub async fn create_share(
        &self,
        bearer: Option<&str>,
        resource: &str,
        expires_in: Option<i64>,
    ) -> Result<ShareCreated> {
        let caller = self.share_caller(bearer).await?;
        let resource = ResourcePath::parse(resource).map_err(|e| Error::InvalidRequest(e.to_string()))?;
        // The account's roles as read now, never the token's: a link grants nothing its creator
        // lacks, on a route that is marked shareable (the authorizer checks the same rule).
        let roles = caller.roles.names();
        let shareable = Route::path("GET", resource.as_str())
            .is_some_and(|route| self.config.route_policy.admits_share(&route, &roles));
        if !shareable {
            audit::subject("share_create", "not_shareable", caller.user_id.as_str());
            return Err(Error::NotShareable);
        }
        let user = caller.user_id;
        let ttl = expires_in.unwrap_or(DEFAULT_SHARE_TTL.min(self.config.share_max_ttl));
        if ttl < 1 || ttl > self.config.share_max_ttl {
            return Err(Error::InvalidRequest(format!(
                "expires_in must be from 1 to {} seconds",
                self.config.share_max_ttl
            )));
        }
        let now = now();
        let id = ShareId::try_generate()?;
        let record = ShareRecord {
            share_id: id.clone(),
            resource,
            shared_by: user,
            created_at: now,
            expires_at: now + ttl,
            revoked: false,
        };
        let key = self.keys.signing_key().await?;
        let token = key
            .sign_typed(
                "share+jwt",
                &ShareTokenClaims {
                    iss: &self.config.issuer,
                    aud: &self.config.audience,
                    sub: format!("share:{id}"),
                    jti: id.as_str(),
                    resource: record.resource.as_str(),
                    shared_by: record.shared_by.as_str(),
                    shared_by_roles: &roles,
                    scope: "share:read",
                    iat: now,
                    exp: record.expires_at,
                },
            )
            .map_err(super::signing_failed)?;
        if !self.store.put_share(&record, self.config.share_max_per_account).await? {
            audit::subject("share_create", "too_many_shares", record.shared_by.as_str());
            return Err(Error::TooManyShares);
        }
        audit::subject("share_create", "success", record.shared_by.as_str());
        let view = ShareView::of(&record);
        Ok(ShareCreated {
            share_id: view.share_id,
            token,
            resource: view.resource,
            expires_at: view.expires_at,
        })
    }

    /// `GET /auth/share`: the caller's live shares, oldest first.
    pub async fn list_shares(&self, bearer: Option<&str>) -> Result<Vec<ShareView>> {
        let user = self.share_caller(bearer).await?.user_id;
        Ok(self
            .store
            .shares_by(&user, now())
            .await?
            .iter()
            .map(ShareView::of)
            .collect())
    }

    /// `DELETE /auth/share/{share_id}`: by its creator or an admin; anyone else, and an unknown
    /// or expired share, gets 404.
    pub async fn revoke_share(&self, bearer: Option<&str>, share_id: &str) -> Result<()> {
        let caller = self.share_caller(bearer).await?;
        let now = now();
        let not_found = || Error::NotFound("no such share".into());
        let id = ShareId::parse(share_id).ok_or_else(not_found)?;
        let share = self.store.share(&id, now).await?.ok_or_else(not_found)?;
        // The account was read again: its roles now, not the token's.
        if share.shared_by != caller.user_id && !caller.roles.contains("admin") {
            return Err(not_found());
        }
        self.store.revoke_share(&id, now).await?;
        audit::subject("share_revoke", "success", caller.user_id.as_str());
        Ok(())
    }

    /// `GET /auth/share/revoked`: the ids of revoked shares that verifiers could still accept
    /// (until their expiry plus the leeway).
    pub async fn revoked_share_ids(&self) -> Result<Vec<String>> {
        let ids = self.store.revoked_shares(now() - self.config.leeway).await?;
        Ok(ids.into_iter().map(|i| i.as_str().to_owned()).collect())
    }

    /// `GET /auth/share/revoked?share_id=ID`: the list narrowed to one share, `[ID]` or `[]`,
    /// which is what verifiers read (keygate-sdk's `RemoteRevocations`): its size does not grow
    /// with anyone's revocations. An id that is no share id is never revoked.
    pub async fn revoked_share_id(&self, share_id: &str) -> Result<Vec<String>> {
        let Some(id) = ShareId::parse(share_id) else {
            return Ok(Vec::new());
        };
        let share = self.store.share(&id, now() - self.config.leeway).await?;
        Ok(share
            .filter(|s| s.revoked)
            .map(|s| s.share_id.as_str().to_owned())
            .into_iter()
            .collect())
    }
}
