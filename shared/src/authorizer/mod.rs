//! The API Gateway Lambda authorizer (`docs/authorizer.md`). It verifies access tokens with the
//! public JWKS only (`KEYGATE_JWKS_URL`): it never holds the private key.
//!
//! As the HTTP functions are, it is transport around one decision: [`event`] parses each event
//! kind (HTTP API payload 2.0 and 1.0, REST `REQUEST` and `TOKEN`, WebSocket `$connect`) into
//! one input, [`decide`] verifies its token and looks its route's roles up, and [`answer`] gives
//! the decision the shape that kind expects. This module builds them and runs the Lambda loop.

pub mod answer;
pub mod decide;
pub mod event;

pub use answer::Unauthorized;

use crate::config::{Config, ConfigError};
use crate::domain::route_policy::RoutePolicy;
use keygate_sdk::remote::{RemoteJwks, RemoteRevocations};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;
use std::sync::Arc;

/// The authorizer: the route policy and the remote key set, built once per container.
pub struct Authorizer {
    policy: RoutePolicy,
    jwks: RemoteJwks,
    revocations: RemoteRevocations,
    share_max_ttl: i64,
}

impl Authorizer {
    /// Builds the authorizer from the configuration: parses `KEYGATE_ROUTE_ROLES` and the JWKS
    /// URL now, so that a bad value stops the function at start.
    pub fn from_config(config: &Config) -> Result<Authorizer, ConfigError> {
        let policy = config.route_policy.clone();
        let jwks = RemoteJwks::new(&config.jwks_url, config.verify_options()).map_err(|reason| ConfigError {
            var: "KEYGATE_JWKS_URL",
            reason,
        })?;
        let revocations = RemoteRevocations::new(&config.share_revocations_url).map_err(|reason| ConfigError {
            var: "KEYGATE_SHARE_REVOCATIONS_URL",
            reason,
        })?;
        Ok(Authorizer {
            policy,
            jwks,
            revocations,
            share_max_ttl: config.share_max_ttl,
        })
    }

    /// Answers one authorizer event.
    pub async fn authorize(&self, event: &Value) -> Result<Value, Unauthorized> {
        let Some(input) = event::parse(event) else {
            tracing::warn!("not an API Gateway authorizer event");
            return Err(Unauthorized);
        };
        let shares = decide::ShareCheck {
            revocations: &self.revocations,
            max_lifetime: self.share_max_ttl,
        };
        let decision = decide::decide(&input, &self.jwks, &self.policy, &shares).await;
        answer::answer(&input, decision)
    }
}

/// The authorizer function's `main`.
pub async fn lambda_main() {
    crate::telemetry::init();
    let authorizer = match Config::from_env().and_then(|c| Authorizer::from_config(&c)) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("keygate: configuration error: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = authorizer.jwks.hydrate().await {
        // Not fatal: the first request tries again.
        tracing::warn!(error = %e, "could not prefetch the JWKS");
    }
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let a = authorizer.clone();
        async move { a.authorize(&event.payload).await }
    });
    if let Err(e) = lambda_runtime::run(handler).await {
        eprintln!("keygate: the Lambda runtime stopped: {e}");
        std::process::exit(1);
    }
}
