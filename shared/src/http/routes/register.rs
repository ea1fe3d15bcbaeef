//! Self-service registration: `POST /auth/register` mails a link, `POST
//! /auth/register/complete` spends it on a new account.

use super::{accepted, created};
use crate::http::body::{self, Accept};
use crate::http::error::ApiError;
use crate::http::{Request, Response};
use crate::services::{Keygate, new_account_view};
use serde::Deserialize;

#[derive(Deserialize)]
struct RegisterRequest {
    email: String,
}

/// `POST /auth/register`: accepted whether or not the address may register.
pub(crate) async fn register(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: RegisterRequest = body::typed(req, Accept::JsonOrForm)?;
    app.register(&r.email).await?;
    Ok(accepted())
}

#[derive(Deserialize)]
struct CompleteRequest {
    token: String,
    username: String,
    password: String,
}

/// `POST /auth/register/complete`: the new account.
pub(crate) async fn complete(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: CompleteRequest = body::typed(req, Accept::JsonOrForm)?;
    let account = app.complete_registration(&r.token, &r.username, &r.password).await?;
    Ok(created(&new_account_view(&account)))
}
