//! The claims of keygate's access tokens, built in one place: for an account, for an API key,
//! and for any other holder (the rotation's self-test) through [`access_claims`].

use crate::domain::{Account, KeyId, Roles, UnixTime};
use keygate_sdk::AccessClaims;

/// Whom an access token speaks for, and with which roles.
pub struct Holder<'a> {
    /// `sub`: an account's user id, or `apikey:<key id>`.
    pub sub: String,
    /// `client_id`: the client the token is issued to.
    pub client_id: String,
    /// `roles`, and `scope` (the same names joined by spaces).
    pub roles: &'a Roles,
    /// `preferred_username`: accounts only.
    pub username: Option<&'a str>,
}

impl<'a> Holder<'a> {
    /// `account`, through `client_id`.
    pub fn account(account: &'a Account, client_id: &str) -> Holder<'a> {
        Holder {
            sub: account.user_id.as_str().to_owned(),
            client_id: client_id.to_owned(),
            roles: &account.roles,
            username: Some(account.username.as_str()),
        }
    }

    /// The API key `key_id` (its own client), with `roles` (the key's, or fewer).
    pub fn api_key(key_id: &KeyId, roles: &'a Roles) -> Holder<'a> {
        Holder {
            sub: format!("apikey:{key_id}"),
            client_id: key_id.to_string(),
            roles,
            username: None,
        }
    }
}

/// The claims of an access token for `holder` from `issuer` to `audience`, issued `now` with
/// the id `jti` and valid `lifetime` seconds (`nbf` is `now`).
pub fn access_claims(
    issuer: &str,
    audience: &str,
    lifetime: i64,
    holder: Holder<'_>,
    now: UnixTime,
    jti: String,
) -> AccessClaims {
    AccessClaims {
        iss: issuer.to_owned(),
        sub: holder.sub,
        aud: audience.to_owned(),
        exp: now + lifetime,
        iat: now,
        nbf: Some(now),
        jti,
        client_id: holder.client_id,
        roles: holder.roles.names(),
        scope: holder.roles.scope(),
        preferred_username: holder.username.map(str::to_owned),
    }
}
