//! # keygate-sdk
//!
//! Verify keygate access tokens in your own Rust services, with nothing but the issuer's
//! published JWKS. This crate does not depend on the AWS SDK.
//!
//! keygate's access tokens follow the JWT profile for OAuth 2.0 access tokens (RFC 9068):
//! header `typ: at+jwt`, a `kid` naming a key of the issuer's JWKS, and the claims of
//! [`AccessClaims`].

pub mod claims;
pub mod jwk;

pub use claims::AccessClaims;
pub use jwk::{Jwk, Jwks};
