//! Routes: which function serves which route, and the handlers that turn requests into use
//! cases and use-case results into the contract's answers.

use super::body::{self, Accept};
use super::error::ApiError;
use super::{Request, Response};
use super::{cookie, cors};
use crate::domain::{ClientAuth, ClientAuthMethod};
use crate::services::{
    API_KEY_GRANT, BrowserSession, Error, Identifier, Keygate, NewUser, TokenPair, UserChange, account_view,
};
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
    Register,
    Share,
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
    Session,
    SessionRefresh,
    SessionLogout,
    Register,
    RegisterComplete,
    Shares,
    Share,
    RevokedShares,
    /// `/admin/invitations*`: admin routes that send mail, so served by the `register`
    /// function (which holds the mail rights), not by `admin`.
    Invitations,
}

impl Function {
    fn serves(self, route: Route) -> bool {
        use Route as R;
        match self {
            Function::Local => true,
            Function::Authenticate => matches!(route, R::Token | R::Session),
            Function::Refresh => matches!(route, R::Refresh | R::SessionRefresh),
            Function::Revoke => matches!(route, R::Revoke | R::SessionLogout),
            Function::Jwks => matches!(route, R::Jwks | R::Discovery),
            Function::ForgotPasswordRequest => route == R::Forgot,
            Function::ForgotPasswordConfirm => route == R::Reset,
            Function::Admin => route == R::Admin,
            Function::Register => matches!(route, R::Register | R::RegisterComplete | R::Invitations),
            Function::Share => matches!(route, R::Shares | R::Share | R::RevokedShares),
        }
    }
}

/// The route at `path` and the methods it answers (an `Allow` header's value); `None` for an
/// unknown path (404).
fn route_of(path: &str) -> Option<(Route, &'static str)> {
    let path = path.trim_end_matches('/');
    Some(match path {
        "/auth/token" => (Route::Token, "POST"),
        "/auth/refresh" => (Route::Refresh, "POST"),
        "/auth/revoke" => (Route::Revoke, "POST"),
        "/.well-known/jwks.json" => (Route::Jwks, "GET"),
        "/.well-known/openid-configuration" => (Route::Discovery, "GET"),
        "/auth/password/forgot" => (Route::Forgot, "POST"),
        "/auth/password/reset" => (Route::Reset, "POST"),
        "/auth/validate" => (Route::Validate, "GET"),
        "/auth/session" => (Route::Session, "POST"),
        "/auth/session/refresh" => (Route::SessionRefresh, "POST"),
        "/auth/session/logout" => (Route::SessionLogout, "POST"),
        "/auth/register" => (Route::Register, "POST"),
        "/auth/register/complete" => (Route::RegisterComplete, "POST"),
        "/auth/share" => (Route::Shares, "GET, POST"),
        "/auth/share/revoked" => (Route::RevokedShares, "GET"),
        p if p
            .strip_prefix("/auth/share/")
            .is_some_and(|id| !id.is_empty() && !id.contains('/')) =>
        {
            (Route::Share, "DELETE")
        }
        p => {
            let segments: Vec<&str> = p.strip_prefix("/admin/")?.split('/').collect();
            match segments.as_slice() {
                ["users"] | ["users", _, "revoke-sessions" | "unlock"] | ["api-keys"] => (Route::Admin, "POST"),
                ["users", _] => (Route::Admin, "PATCH"),
                ["api-keys", _] => (Route::Admin, "DELETE"),
                ["invitations"] => (Route::Invitations, "GET, POST"),
                ["invitations", _] => (Route::Invitations, "DELETE"),
                _ => return None,
            }
        }
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
    let mut response = response.unwrap_or_else(ApiError::into_response);
    cors::decorate(&app.config, &req, &mut response);
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
    let Some((route, allow)) = route_of(&req.path) else {
        return Err(ApiError::not_found());
    };
    if !function.serves(route)
        || (route == Route::Validate && function != Function::Local)
        || (matches!(route, Route::Admin | Route::Invitations) && !app.config.admin_api)
    {
        return Err(ApiError::not_found());
    }
    if let Some(answer) = cors::preflight(&app.config, req, allow) {
        return Ok(answer);
    }
    if !allow.split(", ").any(|m| m == req.method.as_str()) {
        return Err(ApiError::method_not_allowed(allow));
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
        Route::Admin | Route::Invitations => admin(app, req).await,
        Route::Session => session_login(app, req).await,
        Route::SessionRefresh => session_refresh(app, req).await,
        Route::SessionLogout => session_logout(app, req).await,
        Route::Register => register(app, req).await,
        Route::RegisterComplete => register_complete(app, req).await,
        Route::Shares if req.method == Method::GET => {
            let shares = app.list_shares(body::bearer(req)).await?;
            Ok(Response::json(StatusCode::OK, &json!({ "shares": shares })).no_store())
        }
        Route::Shares => create_share(app, req).await,
        Route::Share => {
            let id = req.path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
            app.revoke_share(body::bearer(req), id).await?;
            Ok(Response::empty(StatusCode::NO_CONTENT))
        }
        Route::RevokedShares => {
            let revoked = match one_query_value(req, "share_id")? {
                Some(id) => app.revoked_share_id(&id).await?,
                None => app.revoked_share_ids().await?,
            };
            Ok(Response::json(StatusCode::OK, &json!({ "revoked": revoked }))
                .with_header(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=60")))
        }
    }
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

fn tokens(pair: &TokenPair) -> Response {
    Response::json(StatusCode::OK, pair).no_store()
}

#[derive(Deserialize)]
struct TokenRequest {
    #[serde(default, deserialize_with = "body::present")]
    grant_type: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    username: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    password: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    api_key: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    client_secret: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    scope: Option<String>,
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .ok_or_else(|| ApiError::invalid_request(format!("{name} is required")))
}

/// The client of a token request as presented, from HTTP Basic and the body's `client_id` and
/// `client_secret`, and whether an `invalid_client` answer challenges `Basic` (RFC 6749
/// section 5.2: every attempt but `client_secret_post`).
fn client_auth(
    basic: Option<&(String, String)>,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<(ClientAuth, bool), ApiError> {
    let client = ClientAuth::from_request(basic.map(|(u, p)| (u.as_str(), p.as_str())), client_id, client_secret)
        .map_err(|e| ApiError::invalid_request(e.0))?;
    let challenge = !matches!(&client, ClientAuth::Confidential(c) if c.method == ClientAuthMethod::Post);
    Ok((client, challenge))
}

async fn token(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let basic = body::basic_credentials(req)?;
    let Some(obj) = body::object(req, Accept::JsonOrForm)? else {
        // No body at all: HTTP Basic carries the user's credentials (a password grant).
        let Some((user, pass)) = basic else {
            return Err(ApiError::invalid_request(
                "a request body or HTTP Basic credentials are required",
            ));
        };
        return Ok(tokens(
            &app.password_login_from(&user, &pass, None, cookie::device(req)).await?,
        ));
    };
    let r: TokenRequest = body::from_object(obj)?;
    let grant = required(&r.grant_type, "grant_type")?;
    // With a body, HTTP Basic authenticates the client, whatever the grant (RFC 6749 section
    // 2.3.1): it is never a user's login.
    let (client, challenge) = client_auth(basic.as_ref(), r.client_id.as_deref(), r.client_secret.as_deref())?;
    let pair = grant_tokens(app, grant, &r, client, cookie::device(req))
        .await
        .map_err(|e| e.challenge_basic_client(challenge))?;
    Ok(tokens(&pair))
}

/// The token pair of one grant (RFC 6749 sections 4.3, 4.4, 6 and the API-key extension).
async fn grant_tokens(
    app: &Keygate,
    grant: &str,
    r: &TokenRequest,
    client: ClientAuth,
    device_cookie: Option<&str>,
) -> Result<TokenPair, ApiError> {
    Ok(match grant {
        "password" => {
            let (user, pass) = (required(&r.username, "username")?, required(&r.password, "password")?);
            let client = app.login_client_of(&client).await?;
            app.password_login_from(user, pass, Some(&client), device_cookie)
                .await?
        }
        "client_credentials" => match client {
            ClientAuth::Confidential(c) => app.client_credentials_login(&c, r.scope.as_deref()).await?,
            ClientAuth::Anonymous | ClientAuth::Public(_) => return Err(Error::InvalidClient.into()),
        },
        "refresh_token" => {
            let token = required(&r.refresh_token, "refresh_token")?;
            let client = app.client_of(&client).await?;
            app.refresh_for_client(token, &client).await?
        }
        "api_key" | API_KEY_GRANT => {
            let key = required(&r.api_key, "api_key")?;
            app.client_of(&client).await?;
            app.api_key_login_scoped(key, r.scope.as_deref()).await?
        }
        _ => return Err(Error::UnsupportedGrantType.into()),
    })
}

#[derive(Deserialize)]
struct RefreshRequest {
    #[serde(default, deserialize_with = "body::present")]
    grant_type: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    refresh_token: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    client_secret: Option<String>,
}

/// `POST /auth/refresh`: the token endpoint's `refresh_token` grant, with the same client
/// authentication.
async fn refresh(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let basic = body::basic_credentials(req)?;
    let r: RefreshRequest = body::typed(req, Accept::JsonOrForm)?;
    if r.grant_type.as_deref().is_some_and(|g| g != "refresh_token") {
        return Err(Error::UnsupportedGrantType.into());
    }
    let token = required(&r.refresh_token, "refresh_token")?;
    let (client, challenge) = client_auth(basic.as_ref(), r.client_id.as_deref(), r.client_secret.as_deref())?;
    let pair = async {
        let client = app.client_of(&client).await?;
        app.refresh_for_client(token, &client).await
    }
    .await
    .map_err(|e| ApiError::from(e).challenge_basic_client(challenge))?;
    Ok(tokens(&pair))
}

#[derive(Deserialize)]
struct RevokeRequest {
    #[serde(default, deserialize_with = "body::present")]
    refresh_token: Option<String>,
    /// RFC 7009's name for it.
    #[serde(default, deserialize_with = "body::present")]
    token: Option<String>,
    /// RFC 7009's hint; keygate revokes only refresh tokens, so only its type is checked.
    #[serde(default, deserialize_with = "body::present", rename = "token_type_hint")]
    _token_type_hint: Option<String>,
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
fn session_preamble(app: &Keygate, req: &Request) -> Result<(), ApiError> {
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

#[derive(Deserialize)]
struct SessionRequest {
    #[serde(default, deserialize_with = "body::present")]
    grant_type: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    username: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
    password: Option<String>,
}

async fn session_login(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    session_preamble(app, req)?;
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

async fn session_refresh(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    session_preamble(app, req)?;
    let session = app.refresh_session(cookie::session(req), csrf_header(req)).await?;
    session_answer(&session)
}

async fn session_logout(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    session_preamble(app, req)?;
    app.end_session(cookie::session(req), csrf_header(req)).await?;
    Ok(Response::empty(StatusCode::NO_CONTENT)
        .no_store()
        .with_header(header::SET_COOKIE, cookie::clear_session()))
}

#[derive(Deserialize)]
struct ForgotRequest {
    #[serde(default, deserialize_with = "body::present")]
    username: Option<String>,
    #[serde(default, deserialize_with = "body::present")]
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

#[derive(Deserialize)]
struct ShareRequest {
    resource: String,
    #[serde(default, deserialize_with = "body::integer")]
    expires_in: Option<i64>,
}

async fn create_share(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: ShareRequest = body::typed(req, Accept::Json)?;
    let created = app.create_share(body::bearer(req), &r.resource, r.expires_in).await?;
    Ok(Response::json(StatusCode::CREATED, &created).no_store())
}

#[derive(Deserialize)]
struct RegisterRequest {
    email: String,
}

async fn register(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: RegisterRequest = body::typed(req, Accept::JsonOrForm)?;
    app.register(&r.email).await?;
    Ok(Response::json(StatusCode::ACCEPTED, &json!({"status": "accepted"})).no_store())
}

#[derive(Deserialize)]
struct CompleteRequest {
    token: String,
    username: String,
    password: String,
}

async fn register_complete(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: CompleteRequest = body::typed(req, Accept::JsonOrForm)?;
    let account = app.complete_registration(&r.token, &r.username, &r.password).await?;
    Ok(Response::json(
        StatusCode::CREATED,
        &json!({"user_id": account.user_id.as_str(), "username": account.username.as_str(), "roles": account.roles.names()}),
    )
    .no_store())
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
    #[serde(default, deserialize_with = "body::present")]
    email: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchUserRequest {
    #[serde(default, deserialize_with = "body::present")]
    roles: Option<Vec<String>>,
    #[serde(default, deserialize_with = "body::present")]
    disabled: Option<bool>,
}

#[derive(Deserialize)]
struct InviteRequest {
    email: String,
    #[serde(default)]
    roles: Vec<String>,
}

#[derive(Deserialize)]
struct CreateKeyRequest {
    name: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default, deserialize_with = "body::integer")]
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

/// The admin API; the route table has already checked the path and the method.
async fn admin(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let claims = app.authorize_admin(body::bearer(req)).await?;
    let segments: Vec<&str> = req.path.trim_end_matches('/').split('/').skip(2).collect();
    let m = &req.method;
    tracing::info!(target: "keygate::audit", event = "admin_request", actor = claims.sub.as_str(), method = %m, "audit");
    match segments.as_slice() {
        ["users"] => {
            let r: CreateUserRequest = body::typed(req, Accept::Json)?;
            let account = app
                .create_user(NewUser {
                    username: r.username,
                    password: r.password.into(),
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
        ["users", name] => {
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
        ["users", name, "revoke-sessions"] => {
            app.revoke_sessions(&percent_decode(name)?).await?;
            Ok(Response::empty(StatusCode::NO_CONTENT))
        }
        ["users", name, "unlock"] => {
            app.unlock_user(&percent_decode(name)?).await?;
            Ok(Response::empty(StatusCode::NO_CONTENT))
        }
        ["api-keys"] => {
            let r: CreateKeyRequest = body::typed(req, Accept::Json)?;
            let created = app.create_api_key(&r.name, &r.roles, r.expires_in).await?;
            Ok(Response::json(StatusCode::CREATED, &created).no_store())
        }
        ["api-keys", id] => {
            app.delete_api_key(id).await?;
            Ok(Response::empty(StatusCode::NO_CONTENT))
        }
        ["invitations"] if m == Method::GET => {
            let invitations = app.pending_invitations().await?;
            Ok(Response::json(StatusCode::OK, &json!({ "invitations": invitations })).no_store())
        }
        ["invitations"] => {
            let r: InviteRequest = body::typed(req, Accept::Json)?;
            let created = app.invite(&r.email, &r.roles).await?;
            Ok(Response::json(StatusCode::CREATED, &created.view).no_store())
        }
        ["invitations", id] => {
            app.cancel_invitation(id).await?;
            Ok(Response::empty(StatusCode::NO_CONTENT))
        }
        _ => Err(ApiError::not_found()),
    }
}
