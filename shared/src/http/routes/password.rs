//! Forgotten passwords: `POST /auth/password/forgot` mails a reset link, `POST
//! /auth/password/reset` spends it on a new password.

use super::{accepted, no_content};
use crate::http::body::{self, Accept};
use crate::http::error::ApiError;
use crate::http::{Request, Response};
use crate::services::{Identifier, Keygate};
use serde::Deserialize;

body::optional_members! {
    struct ForgotRequest {
        username: String,
        email: String,
    }
}

/// `POST /auth/password/forgot`: accepted whether or not the account exists.
pub(crate) async fn forgot(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: ForgotRequest = body::typed(req, Accept::JsonOrForm)?;
    let who = match (r.username, r.email) {
        (Some(u), None) => Identifier::Username(u),
        (None, Some(e)) => Identifier::Email(e),
        _ => {
            return Err(ApiError::invalid_request(
                "exactly one of username or email is required",
            ));
        }
    };
    app.forgot_password(who).await?;
    Ok(accepted())
}

#[derive(Deserialize)]
struct ResetRequest {
    token: String,
    new_password: String,
}

/// `POST /auth/password/reset`.
pub(crate) async fn reset(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: ResetRequest = body::typed(req, Accept::JsonOrForm)?;
    app.reset_password(&r.token, &r.new_password).await?;
    Ok(no_content().no_store())
}
