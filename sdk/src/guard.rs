//! Guarding your own axum (or any tower) service with keygate tokens: [`RequireToken`], a
//! tower layer that answers 401 (`WWW-Authenticate: Bearer error="invalid_token"`) without a
//! valid token and 403 without a required role, and [`Claims`], an axum extractor that hands the
//! verified claims to the handler.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use keygate_sdk::guard::{Claims, RequireToken};
//! use keygate_sdk::remote::RemoteJwks;
//! use keygate_sdk::VerifyOptions;
//! use std::sync::Arc;
//!
//! # async fn run() {
//! let options = VerifyOptions { issuer: "https://auth.example.com".into(), audience: "keygate".into(), leeway: 30, max_lifetime: 900 };
//! let jwks = Arc::new(RemoteJwks::new("https://auth.example.com/.well-known/jwks.json", options).unwrap());
//! let app: Router = Router::new()
//!     .route("/me", get(|Claims(c): Claims| async move { c.sub }))
//!     .layer(RequireToken::new(jwks).with_role("reader"));
//! # }
//! ```

use crate::AccessClaims;
use crate::remote::RemoteJwks;
use axum::extract::FromRequestParts;
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

fn reject(status: StatusCode, code: &'static str, description: &str) -> Response {
    let challenge = if status == StatusCode::FORBIDDEN {
        "Bearer error=\"insufficient_scope\""
    } else {
        "Bearer error=\"invalid_token\""
    };
    let body = serde_json::json!({"error": code, "error_description": description}).to_string();
    let mut r = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// A tower layer that lets through only requests with a valid keygate access token (and, if
/// set, one of the required roles). The verified [`AccessClaims`] go into the request's
/// extensions, where [`Claims`] finds them.
#[derive(Clone)]
pub struct RequireToken {
    jwks: Arc<RemoteJwks>,
    roles: Arc<[String]>,
}

impl RequireToken {
    /// Requires a valid token, verified against `jwks`.
    pub fn new(jwks: Arc<RemoteJwks>) -> RequireToken {
        RequireToken {
            jwks,
            roles: Arc::from(Vec::new()),
        }
    }

    /// Also requires `role` (repeat to accept any of several roles).
    pub fn with_role(self, role: impl Into<String>) -> RequireToken {
        let mut roles = self.roles.to_vec();
        roles.push(role.into());
        RequireToken {
            jwks: self.jwks,
            roles: Arc::from(roles),
        }
    }
}

impl<S> tower_layer::Layer<S> for RequireToken {
    type Service = RequireTokenService<S>;
    fn layer(&self, inner: S) -> RequireTokenService<S> {
        RequireTokenService {
            inner,
            guard: self.clone(),
        }
    }
}

/// The service [`RequireToken`] wraps around yours.
#[derive(Clone)]
pub struct RequireTokenService<S> {
    inner: S,
    guard: RequireToken,
}

impl<S, B> tower_service::Service<axum::http::Request<B>> for RequireTokenService<S>
where
    S: tower_service::Service<axum::http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: axum::http::Request<B>) -> Self::Future {
        // The clone that was made ready is the one to call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            let Some(token) = bearer(req.headers()).map(str::to_owned) else {
                return Ok(reject(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "a Bearer access token is required",
                ));
            };
            let claims = match guard.jwks.verify_now(&token).await {
                Ok(c) => c,
                Err(e) => return Ok(reject(StatusCode::UNAUTHORIZED, "invalid_token", &e.to_string())),
            };
            if !guard.roles.is_empty() && !guard.roles.iter().any(|r| claims.has_role(r)) {
                return Ok(reject(
                    StatusCode::FORBIDDEN,
                    "insufficient_scope",
                    "the token lacks the required role",
                ));
            }
            req.extensions_mut().insert(claims);
            inner.call(req).await
        })
    }
}

/// The verified claims of the request's token. Use behind [`RequireToken`]; without it the
/// extractor answers 401.
#[derive(Debug, Clone)]
pub struct Claims(pub AccessClaims);

impl<S: Send + Sync> FromRequestParts<S> for Claims {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Claims, Response> {
        parts
            .extensions
            .get::<AccessClaims>()
            .cloned()
            .map(Claims)
            .ok_or_else(|| {
                reject(
                    StatusCode::UNAUTHORIZED,
                    "invalid_token",
                    "a Bearer access token is required",
                )
            })
    }
}
