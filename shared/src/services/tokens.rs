//! Login (password, API key, client credentials), refresh rotation, logout, and token issuance.

use super::{Error, Holder, Keygate, Result, audit};
use crate::domain::keys::SigningKey;
use crate::domain::lockout::Attempt;
use crate::domain::time::now;
use crate::domain::{
    Account, ApiKey, ApiKeyRecord, Client, ClientAuth, ClientCredentials, DEFAULT_CLIENT_ID, Decision, Family,
    FamilyId, LoginPassword, Password, Preview, RefreshRefusal, RefreshToken, RotateOutcome, Scope, UnixTime,
    UsernameKey,
};
use keygate_sdk::AccessClaims;
use serde::Serialize;

/// A token response (RFC 6749 section 5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_expires_in: Option<i64>,
}

/// The refresh token that succeeds `presented`, keyed by the private signing key (the one secret
/// every refresh already holds). Should the key ever serialize to nothing, a random successor
/// (no idempotent grace re-issue) rather than an unkeyed one.
fn successor(presented: &RefreshToken, key: &SigningKey) -> Result<RefreshToken> {
    let secret = key.to_jwk_json();
    if secret.is_empty() {
        return Ok(RefreshToken::try_generate(presented.family().clone())?);
    }
    Ok(presented.successor(secret.as_bytes()))
}

/// Whether `client` may refresh `family` (`domain::Client::may_refresh`), as the error to answer.
fn bound_to(client: &Client, family: &Family) -> Result<()> {
    match client.may_refresh(&family.client_id) {
        Ok(()) => Ok(()),
        Err(RefreshRefusal::ClientAuthenticationRequired) => {
            audit::subject("refresh", "failure", "client_unauthenticated");
            Err(Error::InvalidClient)
        }
        Err(RefreshRefusal::OtherClient) => {
            audit::subject("refresh", "failure", "other_client");
            Err(Error::IssuedToAnotherClient)
        }
    }
}

impl Keygate {
    /// A `Bearer` token response: `access_token`, alive for the configured access-token
    /// lifetime, and the refresh token with its remaining lifetime in seconds, if there is one.
    fn token_pair(&self, access_token: String, refresh: Option<(&RefreshToken, i64)>) -> TokenPair {
        TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: self.config.access_token_ttl,
            refresh_token: refresh.map(|(token, _)| token.expose()),
            refresh_expires_in: refresh.map(|(_, expires_in)| expires_in),
        }
    }

    /// The claims of an access token for `account` through `client_id`.
    fn claims_for_account(&self, account: &Account, client_id: &str, now: UnixTime) -> Result<AccessClaims> {
        self.access_claims(Holder::account(account, client_id), now)
    }

    /// Starts a session for `account`: a new refresh-token family and a token pair.
    async fn start_session(&self, account: &Account, client_id: &str, now: UnixTime) -> Result<TokenPair> {
        let family_id = FamilyId::try_generate()?;
        let refresh = RefreshToken::try_generate(family_id.clone())?;
        let expires_at = now + self.config.refresh_token_ttl;
        let family = Family {
            family_id,
            username_key: account.key().clone(),
            user_id: account.user_id.clone(),
            client_id: client_id.to_owned(),
            session_epoch: account.session_epoch,
            created_at: now,
            expires_at,
            current_hash: refresh.hash(),
            previous_hash: None,
            rotated_at: now,
            revoked: false,
        };
        let access_token = self.sign(&self.claims_for_account(account, client_id, now)?).await?;
        self.store.create_family(&family).await?;
        Ok(self.token_pair(access_token, Some((&refresh, expires_at - now))))
    }

    /// The password grant. Unknown users cost one password-hash verification and count a
    /// failure like known ones, so both answer alike in body and timing. The attempt is counted
    /// (reserved) before the hash is verified, atomically in the store, so of any number of
    /// simultaneous guesses for one username at most `lockout::THRESHOLD` are verified; a
    /// success then clears the counter. The session is bound to `client` (`None`: the default
    /// client), which the caller has authenticated ([`Keygate::client_of`]).
    pub async fn password_login(
        &self,
        username: &str,
        password: impl Into<Password>,
        client: Option<&Client>,
    ) -> Result<TokenPair> {
        self.password_login_from(username, password, client, None).await
    }

    /// [`Keygate::password_login`] from a browser that presented `device_cookie`: when it is a
    /// valid device cookie for this username's account, the attempt is counted on that device's
    /// own failure counter instead of the username's (contract section 12), so strangers'
    /// guesses, which lock the username, do not lock out the owner's browser.
    pub async fn password_login_from(
        &self,
        username: &str,
        password: impl Into<Password>,
        client: Option<&Client>,
        device_cookie: Option<&str>,
    ) -> Result<TokenPair> {
        let (pair, _) = self
            .verified_login(username, &password.into(), client, device_cookie)
            .await?;
        Ok(pair)
    }

    /// The password grant's work: the token pair and the account it is for.
    pub(super) async fn verified_login(
        &self,
        username: &str,
        password: &Password,
        client: Option<&Client>,
        device_cookie: Option<&str>,
    ) -> Result<(TokenPair, Account)> {
        let now = now();
        let key = UsernameKey::of_any(username);
        let (account, failures) = self.store.login_lookup(&key, now).await?;
        // The counter this attempt is charged to: the device's, for the owner's own browser.
        let (bucket, failures) = match self.device_of(device_cookie, account.as_ref(), now).await? {
            Some(device) => {
                let bucket = device.failure_bucket();
                let failures = self.store.login_lookup(&bucket, now).await?.1;
                (bucket, failures)
            }
            None => (key.clone(), failures),
        };
        // Already locked as read: refuse without a write.
        let reserved = match failures.retry_after(now) {
            Some(retry_after) => Attempt::Throttled { retry_after },
            None => self.store.reserve_login_attempt(&bucket, failures, now).await?,
        };
        if let Attempt::Throttled { retry_after } = reserved {
            audit::subject(
                "login",
                if bucket == key { "throttled" } else { "device_throttled" },
                &crate::domain::secret::log_fingerprint(key.as_str()),
            );
            return Err(Error::TooManyAttempts { retry_after });
        }
        let presented = LoginPassword::new(password.expose());
        let stored = account.as_ref().map(|a| a.password_hash.clone());
        let ok = self.blocking(move |h| h.verify(&presented, stored.as_ref())).await?;
        let account = match account {
            Some(a) if ok && !a.disabled => a,
            _ => {
                // The reservation already counted this failure. An unknown account's name is
                // logged as a fingerprint: people type passwords into the username field.
                audit::subject(
                    "login",
                    "failure",
                    &account.as_ref().map_or_else(
                        || crate::domain::secret::log_fingerprint(key.as_str()),
                        |a| a.user_id.as_str().to_owned(),
                    ),
                );
                return Err(Error::InvalidGrant);
            }
        };
        self.store.clear_login_failures(&bucket).await?;
        let client_id = client.map_or(DEFAULT_CLIENT_ID, Client::id);
        let pair = self.start_session(&account, client_id, now).await?;
        audit::subject("login", "success", account.user_id.as_str());
        Ok((pair, account))
    }

    /// The API-key grant: an access token only (the key is the long-lived credential).
    pub async fn api_key_login(&self, presented: &str) -> Result<TokenPair> {
        self.api_key_login_scoped(presented, None).await
    }

    /// The API-key grant with an optional `scope` narrowing the key's roles.
    pub async fn api_key_login_scoped(&self, presented: &str, scope: Option<&str>) -> Result<TokenPair> {
        let record = self
            .live_key(ApiKey::parse(presented), "api_key_login", Error::InvalidGrant)
            .await?;
        self.key_token(&record, scope, "api_key_login").await
    }

    /// The `client_credentials` grant (RFC 6749 section 4.4): the client is an API key
    /// (`client_id` its `key_id`, `client_secret` the key). An access token only, for the key's
    /// roles narrowed to `scope`; bad credentials are `invalid_client`.
    pub async fn client_credentials_login(&self, client: &ClientCredentials, scope: Option<&str>) -> Result<TokenPair> {
        let record = self
            .live_key(client.api_key(), "client_credentials", Error::InvalidClient)
            .await?;
        self.key_token(&record, scope, "client_credentials").await
    }

    /// The client a password grant's tokens are issued to: as [`Keygate::client_of`], except that
    /// naming a confidential client's id without its secret is no proof of that client (contract
    /// section 12), so the tokens are the default client's, never labelled with that id.
    pub async fn login_client_of(&self, client: &ClientAuth) -> Result<Client> {
        match client {
            ClientAuth::Public(id) if id.names_api_key() => Ok(Client::Default),
            other => self.client_of(other).await,
        }
    }

    /// The client of a token request: a confidential client (an API key) once it proved it
    /// holds its key, a public client by its id, or the default client. A `client_id` of the
    /// API-key id form without its secret is `invalid_client`: a confidential client must
    /// authenticate (RFC 6749 sections 2.3 and 3.2.1), and naming one is no proof of it.
    pub async fn client_of(&self, client: &ClientAuth) -> Result<Client> {
        match client {
            ClientAuth::Anonymous => Ok(Client::Default),
            ClientAuth::Public(id) if id.names_api_key() => {
                audit::subject("client_auth", "failure", "unauthenticated");
                Err(Error::InvalidClient)
            }
            ClientAuth::Public(id) => Ok(Client::Public(id.clone())),
            ClientAuth::Confidential(c) => {
                let record = self.live_key(c.api_key(), "client_auth", Error::InvalidClient).await?;
                audit::subject("client_auth", "success", record.key_id.as_str());
                Ok(Client::Confidential(record.key_id))
            }
        }
    }

    /// The live stored key that `key` presents, or `failure`.
    async fn live_key(&self, key: Option<ApiKey>, event: &'static str, failure: Error) -> Result<ApiKeyRecord> {
        let now = now();
        let Some(key) = key else {
            audit::subject(event, "failure", "malformed");
            return Err(failure);
        };
        match self.store.api_key(key.key_id()).await? {
            Some(r) if r.secret_hash.ct_eq(&key.hash()) && r.is_live(now) => Ok(r),
            _ => {
                audit::subject(event, "failure", key.key_id().as_str());
                Err(failure)
            }
        }
    }

    /// An access token for an API key, its roles narrowed to `scope` if one is asked for.
    async fn key_token(&self, record: &ApiKeyRecord, scope: Option<&str>, event: &'static str) -> Result<TokenPair> {
        let now = now();
        let roles = match scope {
            None => record.roles.clone(),
            Some(s) => {
                let scope = Scope::parse(s).map_err(|e| Error::InvalidScope(e.to_string()))?;
                scope
                    .narrow(&record.roles)
                    .ok_or_else(|| Error::InvalidScope("the scope asks for a role the client does not have".into()))?
            }
        };
        let claims = self.access_claims(Holder::api_key(&record.key_id, &roles), now)?;
        let access_token = self.sign(&claims).await?;
        audit::subject(event, "success", record.key_id.as_str());
        Ok(self.token_pair(access_token, None))
    }

    /// Rotates a refresh token: retires it and returns a new pair in the same family, with the
    /// account's roles read afresh. A retired token presented again revokes the family.
    ///
    /// Every read, the signing-key fetch and the signing happen before the one conditional
    /// write (`Store::rotate_refresh`), and nothing that can fail comes after it: a dependency
    /// failure answers 503 with the presented token still live, so the client's retry succeeds
    /// instead of being taken for reuse.
    ///
    /// This is the default client's refresh (a login that named no client, a browser session);
    /// [`Keygate::refresh_for_client`] is any client's.
    pub async fn refresh(&self, presented: &str) -> Result<TokenPair> {
        self.refresh_for_client(presented, &Client::Default).await
    }

    /// [`Keygate::refresh`] by `client` (authenticated by [`Keygate::client_of`]): a token
    /// refreshes only for the client it was issued to (RFC 6749 section 6). A confidential
    /// client's token without that client's authentication is `invalid_client`; presented by
    /// another client, `IssuedToAnotherClient`. Either way nothing is written: the token stays
    /// live and its family unrevoked.
    pub async fn refresh_for_client(&self, presented: &str, client: &Client) -> Result<TokenPair> {
        let now = now();
        let Some(token) = RefreshToken::parse(presented) else {
            return Err(Error::InvalidGrant);
        };
        let presented_hash = token.hash();
        let grace = self.config.refresh_grace;
        // The family names the account; its decision here is a preview that spares the reads
        // and the signing for dead tokens. The conditional write below decides for good.
        let Some(Preview {
            family,
            decision,
            account,
        }) = self
            .store
            .refresh_preview(token.family(), &presented_hash, now, grace)
            .await?
        else {
            audit::subject("refresh", "failure", "invalid");
            return Err(Error::InvalidGrant);
        };
        // A dead family answers alike for every client; any other is checked against its
        // client before anything is written, reuse detection included.
        if decision != Decision::Reject {
            bound_to(client, &family)?;
        }
        match decision {
            Decision::Reject => {
                audit::subject("refresh", "failure", "invalid");
                return Err(Error::InvalidGrant);
            }
            Decision::RevokeFamily => {
                self.store.revoke_family(&family.family_id).await?;
                audit::refresh_reuse_detected();
                return Err(Error::InvalidGrant);
            }
            Decision::Rotate | Decision::GraceReissue => {}
        }
        let account = match account {
            Some(a) if !a.disabled && a.session_epoch == family.session_epoch => a,
            _ => {
                self.store.revoke_family(&family.family_id).await?;
                audit::subject("refresh", "failure", family.user_id.as_str());
                return Err(Error::InvalidGrant);
            }
        };
        let key = self.keys.signing_key().await?;
        let access_token = key
            .sign(&self.claims_for_account(&account, &family.client_id, now)?)
            .map_err(super::signing_failed)?;
        // The successor is derived from the presented token under a key only keygate holds
        // (derived from the signing key), so a grace re-issue returns the very token the
        // rotation returned: two tabs refreshing with one token end up holding the same one.
        let next = successor(&token, &key)?;
        // The commit point: after it, only the answer.
        let outcome = self
            .store
            .rotate_refresh(token.family(), &presented_hash, &next.hash(), now, grace)
            .await?;
        match outcome {
            RotateOutcome::Rotated(_) => {}
            RotateOutcome::Reused => {
                audit::refresh_reuse_detected();
                return Err(Error::InvalidGrant);
            }
            RotateOutcome::Invalid => {
                audit::subject("refresh", "failure", "invalid");
                return Err(Error::InvalidGrant);
            }
        }
        audit::subject("refresh", "success", account.user_id.as_str());
        Ok(self.token_pair(access_token, Some((&next, family.expires_at - now))))
    }

    /// Logout (RFC 7009): revokes the presented token's family. Succeeds whether or not the
    /// token was valid.
    pub async fn revoke(&self, presented: &str) -> Result<()> {
        if let Some(token) = RefreshToken::parse(presented) {
            self.store.revoke_family(token.family()).await?;
            audit::subject("revoke", "success", "session");
        }
        Ok(())
    }

    /// An access token for `username`, for operators' scripts (`keygate token issue`).
    pub async fn issue_token(&self, username: &str) -> Result<String> {
        let now = now();
        let key = UsernameKey::of_any(username);
        let account = self
            .store
            .account(&key)
            .await?
            .ok_or_else(|| Error::NotFound("no such user".into()))?;
        if account.disabled {
            return Err(Error::Conflict("the account is disabled".into()));
        }
        audit::subject("token_issue", "success", account.user_id.as_str());
        self.sign(&self.claims_for_account(&account, "keygate-cli", now)?).await
    }
}
