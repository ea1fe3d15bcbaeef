//! # keygate-sdk
//!
//! Verify keygate access tokens in your own Rust services, with nothing but the issuer's
//! published JWKS. This crate does not depend on the AWS SDK.
//!
//! keygate's access tokens follow the JWT profile for OAuth 2.0 access tokens (RFC 9068):
//! header `typ: at+jwt`, a `kid` naming a key of the issuer's JWKS, and the claims of
//! [`AccessClaims`].
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
pub mod jwk;
pub mod verify;

pub use claims::AccessClaims;
pub use jwk::{Jwk, Jwks};
pub use verify::{Verifier, VerifyError, VerifyOptions};
