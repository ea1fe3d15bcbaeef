//! Routes: which function serves which route, and the handlers that turn requests into use
//! cases and use-case results into the contract's answers.

use super::body::{self, Accept};
use super::error::ApiError;
use super::{Request, Response};
use crate::services::{Error, Identifier, Keygate, NewUser, UserChange, account_view};
use http::{HeaderValue, Method, StatusCode, header};
use serde::Deserialize;
use serde_json::json;
use std::time::Instant;

/// A deployable unit: each Lambda function serves its own routes; `Local` (`keygate serve`)
/// serves them all, plus `GET /auth/validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Authenticate,
    Refresh,
    Revoke,
    Jwks,
    ForgotPasswordRequest,
    ForgotPasswordConfirm,
    Admin,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    Token,
    Refresh,
    Revoke,
    Jwks,
    Discovery,
    Forgot,
    Reset,
    Validate,
    Admin,
}

impl Function {
    fn serves(self, route: Route) -> bool {
        use Route as R;
        match self {
            Function::Local => true,
            Function::Authenticate => route == R::Token,
            Function::Refresh => route == R::Refresh,
            Function::Revoke => route == R::Revoke,
            Function::Jwks => matches!(route, R::Jwks | R::Discovery),
            Function::ForgotPasswordRequest => route == R::Forgot,
            Function::ForgotPasswordConfirm => route == R::Reset,
            Function::Admin => route == R::Admin,
        }
    }
}

fn route_of(path: &str) -> Option<(Route, &'static [Method])> {
    const POST: &[Method] = &[Method::POST];
    const GET: &[Method] = &[Method::GET];
    Some(match path.trim_end_matches('/') {
        "/auth/token" => (Route::Token, POST),
        "/auth/refresh" => (Route::Refresh, POST),
        "/auth/revoke" => (Route::Revoke, POST),
        "/.well-known/jwks.json" => (Route::Jwks, GET),
        "/.well-known/openid-configuration" => (Route::Discovery, GET),
        "/auth/password/forgot" => (Route::Forgot, POST),
        "/auth/password/reset" => (Route::Reset, POST),
        "/auth/validate" => (Route::Validate, GET),
        p if p == "/admin" || p.starts_with("/admin/") => (Route::Admin, &[]),
        _ => return None,
    })
}

/// Longest user agent kept in the logs, in bytes.
const MAX_LOGGED_USER_AGENT: usize = 256;

/// The client's user agent, cut to [`MAX_LOGGED_USER_AGENT`] bytes on a character boundary.
fn user_agent(req: &Request) -> Option<&str> {
    let ua = req.headers.get(header::USER_AGENT)?.to_str().ok()?;
    let mut end = ua.len().min(MAX_LOGGED_USER_AGENT);
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    Some(&ua[..end])
}

/// Handles one request for `function`. Never panics: every failure is a contract answer.
/// Every line logged while handling it (audit lines included) carries the request's span:
/// request id, method, path, the client's `source_ip` and `user_agent`.
pub async fn handle(app: &Keygate, function: Function, req: Request) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(
        "request",
        request_id = %req.request_id,
        method = %req.method,
        path = %req.path,
        source_ip = req.source_ip.map(tracing::field::display),
        user_agent = user_agent(&req),
    );
    let response = {
        use tracing::Instrument as _;
        dispatch(app, function, &req).instrument(span.clone()).await
    };
    let response = response.unwrap_or_else(ApiError::into_response);
    span.in_scope(|| {
        tracing::info!(
            status = response.status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "answered"
        );
    });
    response
}

async fn dispatch(app: &Keygate, function: Function, req: &Request) -> Result<Response, ApiError> {
    let Some((route, methods)) = route_of(&req.path) else {
        return Err(ApiError::not_found());
    };
    if !function.serves(route) || (route == Route::Validate && function != Function::Local) {
        return Err(ApiError::not_found());
    }
    if !methods.is_empty() && !methods.contains(&req.method) {
        return Err(ApiError::method_not_allowed());
    }
    match route {
        Route::Token => token(app, req).await,
        Route::Refresh => refresh(app, req).await,
        Route::Revoke => revoke(app, req).await,
        Route::Jwks => {
            let jwks = app.jwks().await?;
            Ok(Response::json(StatusCode::OK, &*jwks)
                .with_header(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")))
        }
        Route::Discovery => Ok(Response::json(StatusCode::OK, &app.discovery())
            .with_header(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"))),
        Route::Forgot => forgot(app, req).await,
        Route::Reset => reset(app, req).await,
        Route::Validate => validate(app, req).await,
        Route::Admin => admin(app, req).await,
    }
}

fn tokens(pair: &crate::services::TokenPair) -> Response {
    Response::json(StatusCode::OK, pair).no_store()
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    username: Option<String>,
    password: Option<String>,
    api_key: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .ok_or_else(|| ApiError::invalid_request(format!("{name} is required")))
}

async fn token(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let basic = body::basic_credentials(req)?;
    let Some(obj) = body::object(req, Accept::JsonOrForm)? else {
        let Some((user, pass)) = basic else {
            return Err(ApiError::invalid_request(
                "a request body or HTTP Basic credentials are required",
            ));
        };
        return Ok(tokens(&app.password_login(&user, &pass, None).await?));
    };
    let r: TokenRequest = body::from_object(obj)?;
    let client_id = r.client_id.as_deref().filter(|c| valid_client_id(c));
    if r.client_id.is_some() && client_id.is_none() {
        return Err(ApiError::invalid_request(
            "client_id must be 1-128 characters of A-Z a-z 0-9 _ - . :",
        ));
    }
    let pair = match r.grant_type.as_deref() {
        None => return Err(ApiError::invalid_request("grant_type is required")),
        Some("password") => match (&r.username, &r.password, basic) {
            (None, None, Some((u, p))) => app.password_login(&u, &p, client_id).await?,
            _ => {
                app.password_login(
                    required(&r.username, "username")?,
                    required(&r.password, "password")?,
                    client_id,
                )
                .await?
            }
        },
        Some("api_key") => app.api_key_login(required(&r.api_key, "api_key")?).await?,
        Some("refresh_token") => app.refresh(required(&r.refresh_token, "refresh_token")?).await?,
        Some(_) => return Err(Error::UnsupportedGrantType.into()),
    };
    Ok(tokens(&pair))
}

fn valid_client_id(c: &str) -> bool {
    !c.is_empty()
        && c.len() <= 128
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

#[derive(Deserialize)]
struct RefreshRequest {
    grant_type: Option<String>,
    refresh_token: Option<String>,
}

async fn refresh(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: RefreshRequest = body::typed(req, Accept::JsonOrForm)?;
    if r.grant_type.as_deref().is_some_and(|g| g != "refresh_token") {
        return Err(Error::UnsupportedGrantType.into());
    }
    Ok(tokens(
        &app.refresh(required(&r.refresh_token, "refresh_token")?).await?,
    ))
}

#[derive(Deserialize)]
struct RevokeRequest {
    refresh_token: Option<String>,
    /// RFC 7009's name for it.
    token: Option<String>,
}

async fn revoke(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: RevokeRequest = body::typed(req, Accept::JsonOrForm)?;
    let t = r
        .refresh_token
        .or(r.token)
        .ok_or_else(|| ApiError::invalid_request("refresh_token is required"))?;
    app.revoke(&t).await?;
    Ok(Response::json(StatusCode::OK, &json!({})).no_store())
}

#[derive(Deserialize)]
struct ForgotRequest {
    username: Option<String>,
    email: Option<String>,
}

async fn forgot(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
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
    Ok(Response::json(StatusCode::ACCEPTED, &json!({"status": "accepted"})).no_store())
}

#[derive(Deserialize)]
struct ResetRequest {
    token: String,
    new_password: String,
}

async fn reset(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: ResetRequest = body::typed(req, Accept::JsonOrForm)?;
    app.reset_password(&r.token, &r.new_password).await?;
    Ok(Response::empty(StatusCode::NO_CONTENT).no_store())
}

async fn validate(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let token = body::bearer(req).ok_or_else(|| Error::Unauthorized("a Bearer access token is required".into()))?;
    let claims = app.verify_access_token(token).await?;
    let mut r = Response::json(
        StatusCode::OK,
        &json!({"sub": claims.sub, "roles": claims.roles, "scope": claims.scope, "client_id": claims.client_id,
                "username": claims.preferred_username}),
    )
    .no_store();
    let headers = [
        ("x-auth-subject", claims.sub.clone()),
        ("x-auth-roles", claims.roles.join(",")),
    ];
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            r.headers.insert(header::HeaderName::from_static(name), v);
        }
    }
    if let Some(u) = claims
        .preferred_username
        .as_deref()
        .and_then(|u| HeaderValue::from_str(u).ok())
    {
        r.headers.insert(header::HeaderName::from_static("x-auth-username"), u);
    }
    Ok(r)
}

#[derive(Deserialize)]
struct CreateUserRequest {
    username: String,
    password: String,
    email: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchUserRequest {
    roles: Option<Vec<String>>,
    disabled: Option<bool>,
}

#[derive(Deserialize)]
struct CreateKeyRequest {
    name: String,
    #[serde(default)]
    roles: Vec<String>,
    expires_in: Option<i64>,
}

fn percent_decode(segment: &str) -> Result<String, ApiError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            let b = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ApiError::invalid_request("bad percent-encoding in the path"))?;
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::invalid_request("the path is not UTF-8"))
}

async fn admin(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    if !app.config.admin_api {
        return Err(ApiError::not_found());
    }
    let claims = app.authorize_admin(body::bearer(req)).await?;
    let segments: Vec<&str> = req.path.trim_end_matches('/').split('/').skip(2).collect();
    let m = &req.method;
    tracing::info!(target: "keygate::audit", event = "admin_request", actor = claims.sub.as_str(), method = %m, "audit");
    match segments.as_slice() {
        ["users"] if m == Method::POST => {
            let r: CreateUserRequest = body::typed(req, Accept::Json)?;
            let account = app
                .create_user(NewUser {
                    username: r.username,
                    password: r.password,
                    email: r.email,
                    roles: r.roles,
                })
                .await?;
            Ok(Response::json(
                StatusCode::CREATED,
                &json!({"user_id": account.user_id.as_str(), "username": account.username.as_str(), "roles": account.roles.names()}),
            )
            .no_store())
        }
        ["users", name] if m == Method::PATCH => {
            let r: PatchUserRequest = body::typed(req, Accept::Json)?;
            let account = app
                .update_user(
                    &percent_decode(name)?,
                    UserChange {
                        roles: r.roles,
                        disabled: r.disabled,
                    },
                )
                .await?;
            Ok(Response::json(StatusCode::OK, &account_view(&account)).no_store())
        }
        ["users", name, "revoke-sessions"] if m == Method::POST => {
            app.revoke_sessions(&percent_decode(name)?).await?;
            Ok(Response::empty(StatusCode::NO_CONTENT))
        }
        ["api-keys"] if m == Method::POST => {
            let r: CreateKeyRequest = body::typed(req, Accept::Json)?;
            let created = app.create_api_key(&r.name, &r.roles, r.expires_in).await?;
            Ok(Response::json(StatusCode::CREATED, &created).no_store())
        }
        ["api-keys", id] if m == Method::DELETE => {
            app.delete_api_key(id).await?;
            Ok(Response::empty(StatusCode::NO_CONTENT))
        }
        ["users"] | ["users", _] | ["users", _, "revoke-sessions"] | ["api-keys"] | ["api-keys", _] => {
            Err(ApiError::method_not_allowed())
        }
        _ => Err(ApiError::not_found()),
    }
}
