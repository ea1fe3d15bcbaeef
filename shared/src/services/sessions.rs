//! Browser sessions (`/auth/session*`): the password login and the refresh rotation of
//! [`Keygate::password_login`] and [`Keygate::refresh`], with the refresh token handed to the
//! transport for an HttpOnly cookie and a CSRF token bound to the session. The transport
//! checks `Origin`; this checks the CSRF token before anything changes.

use super::{Error, Keygate, Result, TokenPair};
use crate::domain::session::CsrfToken;
use crate::domain::time::now;
use crate::domain::{Password, RefreshToken};
use serde::Serialize;

/// A started or refreshed browser session.
pub struct BrowserSession {
    /// The answer's body: no refresh token in it.
    pub body: SessionBody,
    /// The refresh token, for the session cookie only.
    pub cookie_token: String,
    /// Seconds until the session's absolute end (the cookie's `Max-Age`).
    pub max_age: i64,
    /// A login's new device cookie value (contract section 12); `None` for a refresh.
    pub device_cookie: Option<String>,
}

/// `{"access_token", "token_type", "expires_in", "csrf_token"}`.
#[derive(Serialize)]
pub struct SessionBody {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub csrf_token: String,
}

impl BrowserSession {
    fn of(pair: TokenPair) -> Result<BrowserSession> {
        let (Some(cookie_token), Some(max_age)) = (pair.refresh_token, pair.refresh_expires_in) else {
            return Err(Error::Unavailable("a password login issued no refresh token".into()));
        };
        let family = RefreshToken::parse(&cookie_token)
            .ok_or_else(|| Error::Unavailable("a login issued a malformed refresh token".into()))?;
        Ok(BrowserSession {
            body: SessionBody {
                access_token: pair.access_token,
                token_type: pair.token_type,
                expires_in: pair.expires_in,
                csrf_token: CsrfToken::for_family(family.family()).expose().to_owned(),
            },
            cookie_token,
            max_age,
            device_cookie: None,
        })
    }
}

/// The session of a cookie, once its CSRF token has been checked.
fn checked(cookie: Option<&str>, csrf: Option<&str>) -> Result<Option<RefreshToken>> {
    let Some(token) = cookie.and_then(RefreshToken::parse) else {
        return Ok(None);
    };
    let expected = CsrfToken::for_family(token.family());
    if !csrf.is_some_and(|c| expected.matches(c)) {
        return Err(Error::InvalidCsrf);
    }
    Ok(Some(token))
}

impl Keygate {
    /// `POST /auth/session`: a password login whose refresh token goes into a cookie, counted
    /// on the device of `device_cookie` when that names this account's browser; a success
    /// names the browser afresh with a new device cookie.
    pub async fn start_browser_session(
        &self,
        username: &str,
        password: impl Into<Password>,
        device_cookie: Option<&str>,
    ) -> Result<BrowserSession> {
        let (pair, account) = self
            .verified_login(username, &password.into(), None, device_cookie)
            .await?;
        let device_cookie = self.mint_device_cookie(&account, now()).await?;
        Ok(BrowserSession {
            device_cookie: Some(device_cookie),
            ..BrowserSession::of(pair)?
        })
    }

    /// `POST /auth/session/refresh`: rotates the cookie's refresh token (reuse detection and
    /// grace as [`Keygate::refresh`]). A missing or malformed cookie is `InvalidGrant`; a
    /// missing or wrong CSRF token is `InvalidCsrf`, and nothing changes.
    pub async fn refresh_session(&self, cookie: Option<&str>, csrf: Option<&str>) -> Result<BrowserSession> {
        let Some(token) = checked(cookie, csrf)? else {
            return Err(Error::InvalidGrant);
        };
        BrowserSession::of(self.refresh(&token.expose()).await?)
    }

    /// `POST /auth/session/logout`: revokes the cookie's session. No cookie: nothing to do.
    pub async fn end_session(&self, cookie: Option<&str>, csrf: Option<&str>) -> Result<()> {
        match checked(cookie, csrf)? {
            Some(token) => self.revoke(&token.expose()).await,
            None => Ok(()),
        }
    }
}
