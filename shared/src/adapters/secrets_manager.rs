//! Signing keys from Secrets Manager. The secret's value is a private JWK; its versions are
//! staged `AWSCURRENT` (signs), `AWSPENDING` and `AWSPREVIOUS` (published, so verifiers know a
//! key before it signs and after it stops). Read once per container and again at most every
//! [`REFRESH_AFTER`], never per request; if a re-read fails, the cached keys keep serving.

use crate::domain::keys::{Alg, SigningKey};
use crate::ports::{KeyError, KeySource};
use async_trait::async_trait;
use aws_config::SdkConfig;
use keygate_sdk::Jwks;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long cached keys are used before a re-read.
pub const REFRESH_AFTER: Duration = Duration::from_secs(300);

struct Cached {
    signing: Arc<SigningKey>,
    jwks: Arc<Jwks>,
    fetched: Instant,
}

/// A [`KeySource`] over one Secrets Manager secret.
pub struct SecretsManagerKeySource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    cache: tokio::sync::RwLock<Option<Arc<Cached>>>,
    refresh: tokio::sync::Mutex<()>,
}

fn unavailable<E: std::error::Error>(e: E) -> KeyError {
    KeyError::Unavailable(super::aws::describe(&e))
}

impl SecretsManagerKeySource {
    /// A key source for `secret_id` (name or ARN). Makes no call until first used.
    pub fn new(sdk: &SdkConfig, secret_id: String) -> SecretsManagerKeySource {
        Self::from_client(aws_sdk_secretsmanager::Client::new(sdk), secret_id)
    }

    /// A key source using an existing client.
    pub fn from_client(client: aws_sdk_secretsmanager::Client, secret_id: String) -> SecretsManagerKeySource {
        SecretsManagerKeySource {
            client,
            secret_id,
            cache: tokio::sync::RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    async fn value(&self, version_id: &str) -> Result<SigningKey, KeyError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_id(version_id)
            .send()
            .await
            .map_err(unavailable)?;
        let s = out
            .secret_string()
            .ok_or_else(|| KeyError::Invalid("the secret has no string value".into()))?;
        SigningKey::from_jwk_json(s).map_err(|e| KeyError::Invalid(format!("secret {}: {e}", self.secret_id)))
    }

    async fn fetch(&self) -> Result<Cached, KeyError> {
        let list = self
            .client
            .list_secret_version_ids()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(unavailable)?;
        let mut current = None;
        let mut others = Vec::new();
        for v in list.versions() {
            let stages = v.version_stages();
            let Some(id) = v.version_id() else { continue };
            if stages.iter().any(|s| s == "AWSCURRENT") {
                current = Some(self.value(id).await?);
            } else if stages.iter().any(|s| s == "AWSPENDING" || s == "AWSPREVIOUS") {
                match self.value(id).await {
                    Ok(k) => others.push(k),
                    // A broken pending or previous version must not stop signing.
                    Err(e) => tracing::warn!(error = %e, "skipping an unusable signing key version"),
                }
            }
        }
        let signing =
            current.ok_or_else(|| KeyError::Invalid(format!("secret {} has no AWSCURRENT version", self.secret_id)))?;
        let mut keys = vec![signing.public_jwk()];
        for k in &others {
            if k.kid() != signing.kid() && !keys.iter().any(|j| j.kid == k.kid()) {
                keys.push(k.public_jwk());
            }
        }
        Ok(Cached {
            signing: Arc::new(signing),
            jwks: Arc::new(Jwks { keys }),
            fetched: Instant::now(),
        })
    }

    async fn cached(&self) -> Result<Arc<Cached>, KeyError> {
        if let Some(c) = self.cache.read().await.as_ref()
            && c.fetched.elapsed() < REFRESH_AFTER
        {
            return Ok(c.clone());
        }
        let _one_at_a_time = self.refresh.lock().await;
        let stale = self.cache.read().await.clone();
        if let Some(c) = &stale
            && c.fetched.elapsed() < REFRESH_AFTER
        {
            return Ok(c.clone());
        }
        match self.fetch().await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *self.cache.write().await = Some(fresh.clone());
                Ok(fresh)
            }
            Err(e) => match stale {
                Some(c) => {
                    tracing::warn!(error = %e, "could not re-read the signing keys; serving the cached ones");
                    Ok(c)
                }
                None => Err(e),
            },
        }
    }
}

#[async_trait]
impl KeySource for SecretsManagerKeySource {
    async fn signing_key(&self) -> Result<Arc<SigningKey>, KeyError> {
        Ok(self.cached().await?.signing.clone())
    }

    async fn jwks(&self) -> Result<Arc<Jwks>, KeyError> {
        Ok(self.cached().await?.jwks.clone())
    }
}

/// Creates the signing secret with a first generated key, unless it exists. Returns whether it
/// was created.
pub async fn create_signing_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    alg: Alg,
) -> Result<bool, KeyError> {
    match client.describe_secret().secret_id(name).send().await {
        Ok(_) => return Ok(false),
        Err(e) => {
            let not_found = e
                .as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception());
            if !not_found {
                return Err(unavailable(e));
            }
        }
    }
    let key = SigningKey::generate(alg).map_err(|e| KeyError::Invalid(e.to_string()))?;
    let created = client
        .create_secret()
        .name(name)
        .description("keygate's private signing key (a private JWK)")
        .secret_string(key.to_jwk_json())
        .send()
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_exists_exception()) => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

/// Publishes the public keys of the secret's current, pending and previous versions in the
/// store, where the `jwks` and `admin` functions read them.
pub async fn publish_jwks(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    store: &dyn crate::ports::Store,
) -> Result<Jwks, KeyError> {
    let jwks = SecretsManagerKeySource::from_client(client.clone(), secret_id.to_owned())
        .jwks()
        .await?;
    store
        .put_published_jwks(&jwks)
        .await
        .map_err(|e| KeyError::Unavailable(e.to_string()))?;
    Ok((*jwks).clone())
}
