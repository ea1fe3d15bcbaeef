//! Secrets Manager rotation of the signing key (`functions/rotate-signing-key`).
//!
//! The four steps, each idempotent (Secrets Manager may call a step again):
//! - `createSecret`: a new private JWK, same algorithm as the current key (RS256 if the current
//!   value is a placeholder, as right after deployment), stored as the
//!   `AWSPENDING` version named by the request token. From now on the JWKS publishes it, so
//!   verifiers learn the key before anything is signed with it.
//! - `setSecret`: nothing to configure elsewhere: publication is the JWKS's job.
//! - `testSecret`: the pending key must parse and sign a token that verifies with its public key.
//! - `finishSecret`: the pending version becomes `AWSCURRENT` (signers switch when their cache
//!   renews, within five minutes); the old one becomes `AWSPREVIOUS` and stays published, so
//!   tokens it signed keep verifying until they expire.
//!
//! After `createSecret`, `setSecret` and `finishSecret`, the public keys of the current, pending
//! and previous versions are published in the table (`KEYGATE_TABLE`), where the `jwks` and
//! `admin` functions read them without access to the private key.

use crate::domain::keys::{Alg, SigningKey};
use crate::ports::KeyError;
use aws_sdk_secretsmanager::Client;
use keygate_sdk::{AccessClaims, Jwks, Verifier, VerifyOptions};
use lambda_runtime::{LambdaEvent, service_fn};
use serde::Deserialize;
use std::sync::Arc;

/// A rotation event.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    pub step: String,
    pub secret_id: String,
    pub client_request_token: String,
}

fn unavailable<E: std::error::Error>(e: E) -> KeyError {
    KeyError::Unavailable(crate::adapters::aws::describe(&e))
}

async fn version(
    client: &Client,
    id: &str,
    stage: Option<&str>,
    version_id: Option<&str>,
) -> Result<Option<SigningKey>, KeyError> {
    let out = client
        .get_secret_value()
        .secret_id(id)
        .set_version_stage(stage.map(str::to_owned))
        .set_version_id(version_id.map(str::to_owned))
        .send()
        .await;
    match out {
        Ok(v) => {
            let s = v
                .secret_string()
                .ok_or_else(|| KeyError::Invalid("the secret version has no string value".into()))?;
            Ok(Some(
                SigningKey::from_jwk_json(s).map_err(|e| KeyError::Invalid(e.to_string()))?,
            ))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// Runs one rotation step. With a store, the public keys are published there after the steps
/// that change them.
pub async fn rotate(
    client: &Client,
    ev: &RotationEvent,
    store: Option<&dyn crate::ports::Store>,
) -> Result<(), KeyError> {
    step(client, ev).await?;
    if let Some(store) = store
        && ev.step != "testSecret"
    {
        let jwks = crate::adapters::secrets_manager::publish_jwks(client, &ev.secret_id, store).await?;
        tracing::info!(target: "keygate::audit", event = "rotation", step = ev.step.as_str(), published_keys = jwks.keys.len(), "audit");
    }
    Ok(())
}

async fn step(client: &Client, ev: &RotationEvent) -> Result<(), KeyError> {
    let id = ev.secret_id.as_str();
    let token = ev.client_request_token.as_str();
    let described = client
        .describe_secret()
        .secret_id(id)
        .send()
        .await
        .map_err(unavailable)?;
    // Secrets Manager stages the new version AWSPENDING before calling createSecret; a
    // version it has not created yet is accepted for createSecret only.
    let stages: Vec<String> = match described.version_ids_to_stages().and_then(|m| m.get(token)) {
        Some(s) => s.clone(),
        None if ev.step == "createSecret" => Vec::new(),
        None => {
            return Err(KeyError::Invalid(
                "the request token is not a version of the secret".into(),
            ));
        }
    };
    if stages.iter().any(|s| s == "AWSCURRENT") {
        tracing::info!(step = ev.step.as_str(), "this version is already current");
        return Ok(());
    }
    if !stages.iter().any(|s| s == "AWSPENDING") && ev.step != "createSecret" {
        return Err(KeyError::Invalid("the version is not staged AWSPENDING".into()));
    }
    match ev.step.as_str() {
        "createSecret" => {
            // The same algorithm as the current key; RS256 when there is no usable current key
            // yet (the placeholder value of a freshly deployed secret).
            let alg = match version(client, id, Some("AWSCURRENT"), None).await {
                Ok(Some(current)) => current.alg(),
                Ok(None) | Err(KeyError::Invalid(_)) => Alg::RS256,
                Err(e) => return Err(e),
            };
            if version(client, id, Some("AWSPENDING"), Some(token))
                .await
                .ok()
                .flatten()
                .is_some()
            {
                return Ok(());
            }
            let next = SigningKey::generate(alg).map_err(|e| KeyError::Invalid(e.to_string()))?;
            client
                .put_secret_value()
                .secret_id(id)
                .client_request_token(token)
                .secret_string(next.to_jwk_json())
                .version_stages("AWSPENDING")
                .send()
                .await
                .map_err(unavailable)?;
            tracing::info!(target: "keygate::audit", event = "rotation", step = "createSecret", kid = next.kid(), "audit");
            Ok(())
        }
        "setSecret" => Ok(()),
        "testSecret" => {
            let pending = version(client, id, Some("AWSPENDING"), Some(token))
                .await?
                .ok_or_else(|| KeyError::Invalid("no pending version to test".into()))?;
            let now = crate::domain::time::now();
            let claims = AccessClaims {
                iss: "keygate-rotation-test".into(),
                sub: "rotation-test".into(),
                aud: "keygate-rotation-test".into(),
                exp: now + 60,
                iat: now,
                nbf: Some(now),
                jti: "rotation-test".into(),
                client_id: "rotation-test".into(),
                roles: vec![],
                scope: String::new(),
                preferred_username: None,
            };
            let token = pending.sign(&claims).map_err(|e| KeyError::Invalid(e.to_string()))?;
            let options = VerifyOptions {
                issuer: claims.iss.clone(),
                audience: claims.aud.clone(),
                leeway: 0,
                max_lifetime: 60,
            };
            Verifier::new(
                options,
                &Jwks {
                    keys: vec![pending.public_jwk()],
                },
            )
            .verify(&token, now)
            .map_err(|e| KeyError::Invalid(format!("the pending key does not verify its own token: {e}")))?;
            Ok(())
        }
        "finishSecret" => {
            let current = described.version_ids_to_stages().and_then(|m| {
                m.iter()
                    .find(|(_, s)| s.iter().any(|x| x == "AWSCURRENT"))
                    .map(|(v, _)| v.clone())
            });
            client
                .update_secret_version_stage()
                .secret_id(id)
                .version_stage("AWSCURRENT")
                .move_to_version_id(token)
                .set_remove_from_version_id(current)
                .send()
                .await
                .map_err(unavailable)?;
            tracing::info!(target: "keygate::audit", event = "rotation", step = "finishSecret", "audit");
            Ok(())
        }
        other => Err(KeyError::Invalid(format!("unknown rotation step {other:?}"))),
    }
}

/// The rotation function's `main`.
pub async fn lambda_main() {
    crate::telemetry::init();
    let sdk = crate::adapters::aws::sdk_config().await;
    let client = Arc::new(Client::new(&sdk));
    // Where the public keys are published: the table, when the function is given one.
    let store: Option<Arc<dyn crate::ports::Store>> = std::env::var("KEYGATE_TABLE")
        .ok()
        .filter(|t| !t.is_empty())
        .map(|t| Arc::new(crate::adapters::dynamodb::DynamoStore::new(&sdk, t)) as Arc<dyn crate::ports::Store>);
    if store.is_none() {
        tracing::warn!("KEYGATE_TABLE is not set: the public keys will not be published for the jwks function");
    }
    let handler = service_fn(move |event: LambdaEvent<RotationEvent>| {
        let client = client.clone();
        let store = store.clone();
        async move {
            rotate(&client, &event.payload, store.as_deref()).await.map_err(|e| {
                tracing::error!(step = event.payload.step.as_str(), error = %e, "rotation step failed");
                lambda_runtime::Diagnostic {
                    error_type: "RotationError".into(),
                    error_message: e.to_string(),
                }
            })
        }
    });
    if let Err(e) = lambda_runtime::run(handler).await {
        eprintln!("keygate: the Lambda runtime stopped: {e}");
        std::process::exit(1);
    }
}
