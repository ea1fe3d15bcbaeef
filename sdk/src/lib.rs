#![warn(missing_docs)]
//! # keygate-sdk
//!
//! Verify keygate access tokens in your own Rust services, with nothing but the issuer's
//! published JWKS. This crate does not depend on the AWS SDK.
//!
//! keygate's access tokens follow the JWT profile for OAuth 2.0 access tokens (RFC 9068):
//! header `typ: at+jwt`, a `kid` naming a key of the issuer's JWKS, and the claims of
//! [`AccessClaims`].
//!
//! ## Quick start
//!
//! - [`Verifier`]: verify a token against a key set you already have.
//! - [`remote::RemoteJwks`]: fetch and cache the issuer's JWKS (refetched on an unknown `kid`
//!   at most once a minute, concurrent fetches shared, [`remote::RemoteJwks::hydrate`] to
//!   prefetch) and verify with it. keygate's own Lambda authorizer uses exactly this code.
//! - [`guard::RequireToken`] and [`guard::Claims`]: a tower layer and an axum extractor that
//!   protect your handlers (401 with `WWW-Authenticate: Bearer error="invalid_token"`, 403
//!   without a required role).
//! - [`client::Client`]: log in with a password or an API key and call APIs with a token that is
//!   refreshed for you.
//!
//! Runnable examples: `examples/protected_service.rs` (an axum service behind the layer) and
//! `examples/device.rs` (a device that logs in with an API key and calls it).
//!
//! Features: `remote`, `client` and `axum`, all on by default; with none, the crate is the pure
//! verifier.
//!
//! ```
//! use keygate_sdk::{Jwks, Verifier, VerifyOptions};
//! let jwks: Jwks = serde_json::from_str(r#"{"keys": []}"#).unwrap();
//! let verifier = Verifier::new(
//!     VerifyOptions { issuer: "https://auth.example.com".into(), audience: "keygate".into(), leeway: 30, max_lifetime: 900 },
//!     &jwks,
//! );
//! assert!(verifier.verify("not.a.token", 0).is_err());
//! ```

pub mod claims;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "axum")]
pub mod guard;
pub mod jwk;
#[cfg(feature = "remote")]
pub mod remote;
pub mod share;
#[cfg(feature = "remote")]
pub mod tls;
pub mod verify;

pub use claims::AccessClaims;
pub use jwk::{Jwk, Jwks};
pub use verify::{DeviceClaims, ShareClaims, Verifier, VerifyError, VerifyOptions};

/// The token of an `Authorization: Bearer <token>` header value (scheme case-insensitive), if
/// that is what it is.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
