//! The browser session (`/auth/session`, `/auth/session/refresh`, `/auth/session/logout`): a
//! login answered with a session cookie, refreshed and ended by that cookie and its CSRF token.

use super::required;
use crate::http::body::{self, Accept};
use crate::http::error::ApiError;
use crate::http::{Request, Response, cookie, cors};
use crate::services::{BrowserSession, Error, Keygate};
use http::{StatusCode, header};

/// The answer that starts or continues a browser session: the body, the session cookie, and
/// after a login the device cookie.
fn session_answer(s: &BrowserSession) -> Result<Response, ApiError> {
    let cookie = cookie::set_session(&s.cookie_token, s.max_age)
        .ok_or_else(|| Error::Unavailable("a refresh token is not a cookie value".into()))?;
    let mut answer = Response::json(StatusCode::OK, &s.body)
        .no_store()
        .with_header(header::SET_COOKIE, cookie);
    if let Some(device) = &s.device_cookie {
        let device = cookie::set_device(device)
            .ok_or_else(|| Error::Unavailable("a device cookie is not a cookie value".into()))?;
        answer = answer.with_header(header::SET_COOKIE, device);
    }
    Ok(answer)
}

/// The checks every session route makes before anything else: the `Origin` (a foreign one is
/// `invalid_csrf`) and the body cap.
fn preamble(app: &Keygate, req: &Request) -> Result<(), ApiError> {
    if !cors::origin_ok(&app.config, req) {
        return Err(Error::InvalidCsrf.into());
    }
    if req.body.is_none() {
        return Err(ApiError::too_large());
    }
    Ok(())
}

fn csrf_header(req: &Request) -> Option<&str> {
    req.headers.get("x-csrf-token")?.to_str().ok()
}

body::optional_members! {
    struct SessionRequest {
        grant_type: String,
        username: String,
        password: String,
    }
}

/// `POST /auth/session`: a password login that answers with a session cookie.
pub(crate) async fn login(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    preamble(app, req)?;
    let r: SessionRequest = body::typed(req, Accept::JsonOrForm)?;
    if r.grant_type.as_deref().is_some_and(|g| g != "password") {
        return Err(Error::UnsupportedGrantType.into());
    }
    let session = app
        .start_browser_session(
            required(&r.username, "username")?,
            required(&r.password, "password")?,
            cookie::device(req),
        )
        .await?;
    session_answer(&session)
}

/// `POST /auth/session/refresh`.
pub(crate) async fn refresh(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    preamble(app, req)?;
    let session = app.refresh_session(cookie::session(req), csrf_header(req)).await?;
    session_answer(&session)
}

/// `POST /auth/session/logout`.
pub(crate) async fn logout(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    preamble(app, req)?;
    app.end_session(cookie::session(req), csrf_header(req)).await?;
    Ok(super::no_content()
        .no_store()
        .with_header(header::SET_COOKIE, cookie::clear_session()))
}
