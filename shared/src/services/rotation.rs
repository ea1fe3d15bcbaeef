//! The signing-key rotation protocol (Secrets Manager's four steps), written against the
//! [`KeyVersions`] port, and the publication of the public keys.
//!
//! Each step is idempotent (Secrets Manager may call a step again):
//! - `createSecret`: a new private JWK, same algorithm as the current key (RS256 when the
//!   current value is not a key, as right after `sam deploy`: CloudFormation's
//!   `GenerateSecretString` placeholder), stored as the `AWSPENDING` version named by the
//!   request token. It is published at once, so verifiers learn it before it signs.
//! - `setSecret`: nothing to configure elsewhere: publication is the JWKS's job.
//! - `testSecret`: the pending key must parse and sign a token that verifies with its public key.
//! - `finishSecret`: the pending version becomes `AWSCURRENT` (signers switch when their cache
//!   renews, within five minutes); the old one becomes `AWSPREVIOUS` and stays published, so
//!   tokens it signed keep verifying until they expire.

use crate::domain::keys::{Alg, SigningKey};
use crate::domain::time::now;
use crate::ports::{KeyError, KeyVersion, KeyVersions, Store};
use keygate_sdk::{AccessClaims, Jwks, Verifier, VerifyOptions};

/// A step of Secrets Manager's rotation protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Set,
    Test,
    Finish,
}

impl Step {
    /// The step named in a rotation event (`createSecret`, ...).
    pub fn parse(name: &str) -> Option<Step> {
        match name {
            "createSecret" => Some(Step::Create),
            "setSecret" => Some(Step::Set),
            "testSecret" => Some(Step::Test),
            "finishSecret" => Some(Step::Finish),
            _ => None,
        }
    }

    /// The protocol's name of the step.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }
}

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";
const PREVIOUS: &str = "AWSPREVIOUS";

/// Runs one rotation step for version `token`. With a store, the public keys are published
/// there after every step that changes them, where the `jwks` and `admin` functions read them.
pub async fn rotate(
    secret: &dyn KeyVersions,
    step: Step,
    token: &str,
    publish_to: Option<&dyn Store>,
) -> Result<(), KeyError> {
    run_step(secret, step, token).await?;
    if let Some(store) = publish_to
        && step != Step::Test
    {
        let jwks = publish(secret, store).await?;
        tracing::info!(target: "keygate::audit", event = "rotation", step = step.as_str(), published_keys = jwks.keys.len(), "audit");
    }
    Ok(())
}

/// Publishes the public keys of the secret in `store` and returns them.
pub async fn publish(secret: &dyn KeyVersions, store: &dyn Store) -> Result<Jwks, KeyError> {
    let jwks = public_keys(secret).await?;
    store
        .put_published_jwks(&jwks)
        .await
        .map_err(|e| KeyError::Unavailable(e.to_string()))?;
    Ok(jwks)
}

/// The public keys to publish: the current key and, during a rotation, the pending and the
/// previous ones. A version whose value is not a key (the placeholder before the first
/// rotation finishes) is skipped; a set with no key at all is an error.
pub async fn public_keys(secret: &dyn KeyVersions) -> Result<Jwks, KeyError> {
    let mut versions = secret.versions().await?;
    // The current key first: verifiers and `keys list` read it as the signing key.
    versions.sort_by_key(|v| !v.has(CURRENT));
    let mut keys: Vec<keygate_sdk::Jwk> = Vec::new();
    for v in versions
        .iter()
        .filter(|v| v.has(CURRENT) || v.has(PENDING) || v.has(PREVIOUS))
    {
        match secret.key(&v.id).await {
            Ok(Some(k)) if !keys.iter().any(|j| j.kid == k.kid()) => keys.push(k.public_jwk()),
            Ok(_) => {}
            Err(KeyError::Invalid(reason)) => {
                tracing::warn!(stages = ?v.stages, %reason, "skipping a secret version that holds no key");
            }
            Err(e) => return Err(e),
        }
    }
    if keys.is_empty() {
        return Err(KeyError::Invalid(
            "the secret holds no signing key yet: rotate it (or run `keygate bootstrap`)".into(),
        ));
    }
    Ok(Jwks { keys })
}

async fn run_step(secret: &dyn KeyVersions, step: Step, token: &str) -> Result<(), KeyError> {
    let versions = secret.versions().await?;
    // Secrets Manager stages the new version AWSPENDING before calling createSecret; a version
    // it has not created yet is accepted for createSecret only.
    let this = versions.iter().find(|v| v.id == token);
    match this {
        Some(v) if v.has(CURRENT) => {
            tracing::info!(step = step.as_str(), "this version is already current");
            return Ok(());
        }
        Some(v) if !v.has(PENDING) && step != Step::Create => {
            return Err(KeyError::Invalid("the version is not staged AWSPENDING".into()));
        }
        None if step != Step::Create => {
            return Err(KeyError::Invalid(
                "the request token is not a version of the secret".into(),
            ));
        }
        _ => {}
    }
    match step {
        Step::Create => create(secret, &versions, token).await,
        Step::Set => Ok(()),
        Step::Test => test(secret, token).await,
        Step::Finish => {
            let current = versions.iter().find(|v| v.has(CURRENT)).map(|v| v.id.as_str());
            secret.make_current(token, current).await?;
            tracing::info!(target: "keygate::audit", event = "rotation", step = "finishSecret", "audit");
            Ok(())
        }
    }
}

async fn create(secret: &dyn KeyVersions, versions: &[KeyVersion], token: &str) -> Result<(), KeyError> {
    if secret.key(token).await.ok().flatten().is_some() {
        return Ok(());
    }
    // The same algorithm as the current key; RS256 when there is no usable current key yet.
    let alg = match versions.iter().find(|v| v.has(CURRENT)) {
        Some(v) => match secret.key(&v.id).await {
            Ok(Some(current)) => current.alg(),
            Ok(None) | Err(KeyError::Invalid(_)) => Alg::RS256,
            Err(e) => return Err(e),
        },
        None => Alg::RS256,
    };
    let next = SigningKey::generate(alg).map_err(|e| KeyError::Invalid(e.to_string()))?;
    secret.put_pending(token, &next).await?;
    tracing::info!(target: "keygate::audit", event = "rotation", step = "createSecret", kid = next.kid(), "audit");
    Ok(())
}

/// The pending key signs a token that verifies with its own public key.
async fn test(secret: &dyn KeyVersions, token: &str) -> Result<(), KeyError> {
    let pending = secret
        .key(token)
        .await?
        .ok_or_else(|| KeyError::Invalid("no pending version to test".into()))?;
    let now = now();
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
    let signed = pending.sign(&claims).map_err(|e| KeyError::Invalid(e.to_string()))?;
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
    .verify(&signed, now)
    .map_err(|e| KeyError::Invalid(format!("the pending key does not verify its own token: {e}")))?;
    Ok(())
}
