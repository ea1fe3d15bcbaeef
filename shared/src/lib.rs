//! keygate's shared library.
//!
//! Dependencies point one way: [`http`] (transport: Lambda events and the local server) →
//! [`services`] (login, refresh, reset, admin) → [`domain`] (pure rules and types) and
//! [`ports`] (traits for the store, the key source and the mailer) ← [`adapters`]
//! (DynamoDB, Secrets Manager, SES, embedded). The domain knows nothing of AWS or HTTP.

pub mod adapters;
pub mod authorizer;
pub mod config;
pub mod domain;
pub mod http;
pub mod ports;
#[cfg(all(feature = "dynamodb", feature = "secrets-manager"))]
pub mod rotation;
pub mod runtime;
pub mod services;
pub mod telemetry;
