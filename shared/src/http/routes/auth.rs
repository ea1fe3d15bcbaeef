//! The token endpoints (`/auth/token`, `/auth/refresh`, `/auth/revoke`), `GET /auth/validate`,
//! and the public key and discovery documents: the OAuth 2.0 side of keygate.

use super::{ok, public, required};
use crate::domain::{ClientAuth, ClientAuthMethod};
use crate::http::body::{self, Accept};
use crate::http::error::ApiError;
use crate::http::{Request, Response, cookie};
use crate::services::{API_KEY_GRANT, Error, Keygate, TokenPair};
use http::{HeaderValue, header};
use serde_json::json;

/// How long caches may keep the key set and the discovery document.
const DOCUMENT_CACHE: &str = "public, max-age=300";

body::optional_members! {
    /// The body of `POST /auth/token`: every grant's members, each optional here and required
    /// by its grant.
    struct TokenRequest {
        grant_type: String,
        /// The password grant's.
        username: String,
        password: String,
        /// The API-key grant's.
        api_key: String,
        /// The `refresh_token` grant's.
        refresh_token: String,
        /// The client, when the body names it (else HTTP Basic, or no client).
        client_id: String,
        client_secret: String,
        /// The roles a `client_credentials` or API-key grant asks for.
        scope: String,
    }
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

/// `POST /auth/token`.
pub(crate) async fn token(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let basic = body::basic_credentials(req)?;
    let Some(obj) = body::object(req, Accept::JsonOrForm)? else {
        // No body at all: HTTP Basic carries the user's credentials (a password grant).
        let Some((user, pass)) = basic else {
            return Err(ApiError::invalid_request(
                "a request body or HTTP Basic credentials are required",
            ));
        };
        return Ok(ok(&app
            .password_login_from(&user, &pass, None, cookie::device(req))
            .await?));
    };
    let r: TokenRequest = body::from_object(obj)?;
    let grant = required(&r.grant_type, "grant_type")?;
    // With a body, HTTP Basic authenticates the client, whatever the grant (RFC 6749 section
    // 2.3.1): it is never a user's login.
    let (client, challenge) = client_auth(basic.as_ref(), r.client_id.as_deref(), r.client_secret.as_deref())?;
    let pair = grant_tokens(app, grant, &r, client, cookie::device(req))
        .await
        .map_err(|e| e.challenge_basic_client(challenge))?;
    Ok(ok(&pair))
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

body::optional_members! {
    struct RefreshRequest {
        grant_type: String,
        refresh_token: String,
        client_id: String,
        client_secret: String,
    }
}

/// `POST /auth/refresh`: the token endpoint's `refresh_token` grant, with the same client
/// authentication.
pub(crate) async fn refresh(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
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
    Ok(ok(&pair))
}

body::optional_members! {
    struct RevokeRequest {
        refresh_token: String,
        /// RFC 7009's name for it.
        token: String,
        /// RFC 7009's hint; keygate revokes only refresh tokens, so only its type is checked.
        #[serde(rename = "token_type_hint")]
        _token_type_hint: String,
    }
}

/// `POST /auth/revoke` (RFC 7009).
pub(crate) async fn revoke(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let r: RevokeRequest = body::typed(req, Accept::JsonOrForm)?;
    let t = r
        .refresh_token
        .or(r.token)
        .ok_or_else(|| ApiError::invalid_request("refresh_token is required"))?;
    app.revoke(&t).await?;
    Ok(ok(&json!({})))
}

/// `GET /.well-known/jwks.json`.
pub(crate) async fn jwks(app: &Keygate) -> Result<Response, ApiError> {
    Ok(public(&*app.jwks().await?, DOCUMENT_CACHE))
}

/// `GET /.well-known/openid-configuration`: the document built by `Keygate::discovery`.
pub(crate) fn discovery(app: &Keygate) -> Response {
    public(&app.discovery(), DOCUMENT_CACHE)
}

/// `GET /auth/validate` (`keygate serve` only): the claims of a valid access token, as a body
/// and as `X-Auth-*` headers for a reverse proxy.
pub(crate) async fn validate(app: &Keygate, req: &Request) -> Result<Response, ApiError> {
    let token = body::bearer(req).ok_or_else(|| Error::Unauthorized("a Bearer access token is required".into()))?;
    let claims = app.verify_access_token(token).await?;
    let mut r = ok(&json!({"sub": claims.sub, "roles": claims.roles, "scope": claims.scope,
        "client_id": claims.client_id, "username": claims.preferred_username}));
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
