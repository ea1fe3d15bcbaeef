//! Share links (`/auth/share*`): a caller's links to one resource, created, listed and
//! revoked with the caller's bearer token, and the public list of revoked link ids.

use super::{created, no_content, ok, public};
use crate::http::body::{self, Accept};
use crate::http::error::ApiError;
use crate::http::{Request, Response};
use crate::services::Keygate;
use serde::Deserialize;
use serde_json::json;

/// `GET /auth/share`: the caller's links.
pub(crate) async fn list(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let shares = app.list_shares(body::bearer(req)).await?;
    Ok(ok(&json!({ "shares": shares })))
}

#[derive(Deserialize)]
struct ShareRequest {
    resource: String,
    #[serde(default, deserialize_with = "body::integer")]
    expires_in: Option<i64>,
}

/// `POST /auth/share`.
pub(crate) async fn create(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: ShareRequest = body::typed(req, Accept::Json)?;
    let created_share = app.create_share(body::bearer(req), &r.resource, r.expires_in).await?;
    Ok(created(&created_share))
}

/// `DELETE /auth/share/{share_id}`.
pub(crate) async fn revoke(app: &Keygate, req: &Request, share_id: &str) -> Result<Response, ApiError> {
    app.revoke_share(body::bearer(req), share_id).await?;
    Ok(no_content())
}

/// `GET /auth/share/revoked[?share_id=...]`: revoked link ids, which caches may keep a minute.
pub(crate) async fn revoked(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let revoked = match one_query_value(req, "share_id")? {
        Some(id) => app.revoked_share_id(&id).await?,
        None => app.revoked_share_ids().await?,
    };
    Ok(public(&json!({ "revoked": revoked }), "public, max-age=60"))
}

/// The value of query parameter `name`, if present; a parameter given twice is refused.
fn one_query_value(req: &Request, name: &str) -> Result<Option<String>, ApiError> {
    let mut found = None;
    for (k, v) in form_urlencoded::parse(req.query.as_deref().unwrap_or_default().as_bytes()) {
        if k == name {
            if found.is_some() {
                return Err(ApiError::invalid_request(format!("{name} is given twice")));
            }
            found = Some(v.into_owned());
        }
    }
    Ok(found)
}
