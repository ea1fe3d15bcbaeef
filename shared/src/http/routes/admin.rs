//! The admin API's handlers (`/admin/*`): accounts (create, change, revoke sessions, unlock),
//! API keys and invitations. Who may call it is decided by `Keygate::authorize_admin`, which
//! this file hands the bearer token.

use super::{created, no_content, ok};
use crate::http::body::{self, Accept};
use crate::http::error::ApiError;
use crate::http::{Request, Response};
use crate::services::{Keygate, NewUser, UserChange, account_view, new_account_view};
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::json;

/// Admits the caller (a token whose account or key still holds the `admin` role) and writes
/// the audit line of the request.
pub(crate) async fn admit(app: &Keygate, req: &Request) -> Result<(), ApiError> {
    let claims = app.authorize_admin(body::bearer(req)).await?;
    tracing::info!(target: "keygate::audit", event = "admin_request", actor = claims.sub.as_str(), method = %req.method, "audit");
    Ok(())
}

/// A username from the path, percent-decoded (RFC 3986 section 2.1: every `%` starts two hex
/// digits; `+` is a plus sign). The result must be UTF-8.
fn username(segment: &str) -> Result<String, ApiError> {
    let bytes = segment.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return Err(ApiError::invalid_request("bad percent-encoding in the path"));
    }
    percent_decode_str(segment)
        .decode_utf8()
        .map(|name| name.into_owned())
        .map_err(|_| ApiError::invalid_request("the path is not UTF-8"))
}

#[derive(Deserialize)]
struct CreateUserRequest {
    username: String,
    password: String,
    #[serde(default, deserialize_with = "body::present")]
    email: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// `POST /admin/users`.
pub(crate) async fn create_user(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: CreateUserRequest = body::typed(req, Accept::Json)?;
    let account = app
        .create_user(NewUser {
            username: r.username,
            password: r.password.into(),
            email: r.email,
            roles: r.roles,
        })
        .await?;
    Ok(created(&new_account_view(&account)))
}

body::optional_members! {
    #[serde(deny_unknown_fields)]
    struct PatchUserRequest {
        roles: Vec<String>,
        disabled: bool,
    }
}

/// `PATCH /admin/users/{username}`.
pub(crate) async fn update_user(app: &Keygate, req: &Request, name: &str) -> Result<Response, ApiError> {
    let r: PatchUserRequest = body::typed(req, Accept::Json)?;
    let change = UserChange {
        roles: r.roles,
        disabled: r.disabled,
    };
    let account = app.update_user(&username(name)?, change).await?;
    Ok(ok(&account_view(&account)))
}

/// `POST /admin/users/{username}/revoke-sessions`.
pub(crate) async fn revoke_sessions(app: &Keygate, name: &str) -> Result<Response, ApiError> {
    app.revoke_sessions(&username(name)?).await?;
    Ok(no_content())
}

/// `POST /admin/users/{username}/unlock`.
pub(crate) async fn unlock(app: &Keygate, name: &str) -> Result<Response, ApiError> {
    app.unlock_user(&username(name)?).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
struct CreateKeyRequest {
    name: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, deserialize_with = "body::integer")]
    expires_in: Option<i64>,
}

/// `POST /admin/api-keys`: the only answer that shows the key.
pub(crate) async fn create_api_key(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: CreateKeyRequest = body::typed(req, Accept::Json)?;
    let key = app.create_api_key(&r.name, &r.roles, r.expires_in).await?;
    Ok(created(&key))
}

/// `DELETE /admin/api-keys/{key_id}`.
pub(crate) async fn delete_api_key(app: &Keygate, key_id: &str) -> Result<Response, ApiError> {
    app.delete_api_key(key_id).await?;
    Ok(no_content())
}

/// `GET /admin/invitations`: the pending ones.
pub(crate) async fn invitations(app: &Keygate) -> Result<Response, ApiError> {
    let invitations = app.pending_invitations().await?;
    Ok(ok(&json!({ "invitations": invitations })))
}

#[derive(Deserialize)]
struct InviteRequest {
    email: String,
    #[serde(default)]
    roles: Vec<String>,
}

/// `POST /admin/invitations`: the invitation is mailed.
pub(crate) async fn invite(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: InviteRequest = body::typed(req, Accept::Json)?;
    let invitation = app.invite(&r.email, &r.roles).await?;
    Ok(created(&invitation.view))
}

/// `DELETE /admin/invitations/{invitation_id}`.
pub(crate) async fn cancel_invitation(app: &Keygate, invitation_id: &str) -> Result<Response, ApiError> {
    app.cancel_invitation(invitation_id).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::username;

    #[test]
    fn usernames_in_the_path_are_percent_decoded() {
        assert_eq!(username("ann").ok().as_deref(), Some("ann"));
        assert_eq!(username("%41nn%20b").ok().as_deref(), Some("Ann b"));
        assert_eq!(username("%c3%a9%C3%A9").ok().as_deref(), Some("éé"));
        assert_eq!(username("a+b%2F").ok().as_deref(), Some("a+b/"));
        assert_eq!(username("").ok().as_deref(), Some(""));
    }

    #[test]
    fn bad_percent_encoding_and_non_utf8_are_refused() {
        for bad in ["%", "a%4", "%zz", "%%41", "%4g", "%+1", "%é"] {
            let e = username(bad).err().map(|e| e.into_response().body.unwrap_or_default());
            assert!(e.is_some_and(|b| b.contains("bad percent-encoding")), "{bad}");
        }
        let e = username("%FF%41")
            .err()
            .map(|e| e.into_response().body.unwrap_or_default());
        assert!(e.is_some_and(|b| b.contains("not UTF-8")));
    }
}
