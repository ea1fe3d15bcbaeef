//! The one place where failures become the contract's error answers:
//! `{"error": CODE, "error_description": TEXT}`.

use super::Response;
use crate::services::Error;
use http::{HeaderValue, StatusCode, header};

/// A contract error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub description: String,
    pub retry_after: Option<i64>,
    pub bearer_challenge: bool,
    /// `WWW-Authenticate: Basic` (a client that failed HTTP Basic authentication, RFC 6749
    /// section 5.2).
    pub basic_challenge: bool,
    /// The `Allow` header of a 405 (RFC 9110 section 15.5.6).
    pub allow: Option<&'static str>,
}

impl ApiError {
    /// An error with a status, a code and a description.
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            description: description.into(),
            retry_after: None,
            bearer_challenge: false,
            basic_challenge: false,
            allow: None,
        }
    }
    /// 400 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
    /// 413 `request_too_large`.
    pub fn too_large() -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            "the request body is larger than 16 KiB",
        )
    }
    /// 404 `not_found`.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }
    /// 405 `method_not_allowed`, with `Allow: allow` (the route's methods, comma-separated).
    pub fn method_not_allowed(allow: &'static str) -> ApiError {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        }
    }
    /// Adds a `WWW-Authenticate: Basic` challenge when this is `invalid_client` and the client
    /// tried HTTP Basic (or no authentication at all).
    pub fn challenge_basic_client(mut self, basic: bool) -> ApiError {
        self.basic_challenge = basic && self.code == "invalid_client";
        self
    }

    /// The HTTP answer.
    pub fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.code, "error_description": self.description});
        let mut r = Response::json(self.status, &body).no_store();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string())
        {
            r.headers.insert(header::RETRY_AFTER, v);
        }
        if self.bearer_challenge {
            let challenge = if self.status == StatusCode::FORBIDDEN {
                "Bearer error=\"insufficient_scope\""
            } else {
                "Bearer error=\"invalid_token\""
            };
            r.headers
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if self.basic_challenge {
            r.headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"keygate\", charset=\"UTF-8\""),
            );
        }
        if let Some(allow) = self.allow {
            r.headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        r
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        match e {
            Error::InvalidRequest(d) => ApiError::invalid_request(d),
            Error::InvalidGrant => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_grant", e.to_string()),
            Error::IssuedToAnotherClient => ApiError::new(StatusCode::BAD_REQUEST, "invalid_grant", e.to_string()),
            Error::AccountsOnly | Error::NotShareable => {
                ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope", e.to_string())
            }
            Error::TooManyShares => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_shares", e.to_string()),
            Error::RegistrationClosed => ApiError::new(StatusCode::FORBIDDEN, "registration_closed", e.to_string()),
            Error::InvalidCsrf => ApiError::new(StatusCode::FORBIDDEN, "invalid_csrf", e.to_string()),
            Error::InvalidClient => ApiError::new(StatusCode::UNAUTHORIZED, "invalid_client", e.to_string()),
            Error::InvalidScope(d) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_scope", d),
            Error::UnsupportedGrantType => {
                ApiError::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", e.to_string())
            }
            Error::TooManyAttempts { retry_after } => ApiError {
                retry_after: Some(retry_after),
                ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", e.to_string())
            },
            Error::InvalidResetToken | Error::InvalidSignupToken => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_token", e.to_string())
            }
            Error::WeakPassword(d) => ApiError::new(StatusCode::BAD_REQUEST, "weak_password", d),
            Error::Unauthorized(d) => ApiError {
                bearer_challenge: true,
                ..ApiError::new(StatusCode::UNAUTHORIZED, "invalid_token", d)
            },
            Error::Forbidden(_) => ApiError {
                bearer_challenge: true,
                ..ApiError::new(StatusCode::FORBIDDEN, "insufficient_scope", e.to_string())
            },
            Error::NotFound(d) => ApiError::new(StatusCode::NOT_FOUND, "not_found", d),
            Error::Conflict(d) => ApiError::new(StatusCode::CONFLICT, "conflict", d),
            Error::Unavailable(detail) => {
                tracing::error!(error = %detail, "dependency unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "a dependency is unavailable; retry later",
                )
            }
        }
    }
}
