//! Signing keys from Secrets Manager. The secret's value is a private JWK; its versions are
//! staged `AWSCURRENT` (signs), `AWSPENDING` and `AWSPREVIOUS` (published, so verifiers know a
//! key before it signs and after it stops). Read once per container and again at most every
//! [`REFRESH_AFTER`], never per request; if a re-read fails, the cached keys keep serving.

use crate::domain::keys::{Alg, SigningKey};
use crate::ports::{KeyCommandError, KeyError, KeySource, KeyState, KeyVersion, KeyVersions, PublishedKey};
use async_trait::async_trait;
use aws_types::SdkConfig;
use keygate_sdk::Jwks;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long cached keys are used before a re-read.
pub const REFRESH_AFTER: Duration = Duration::from_secs(300);

/// A cached value, re-read after [`REFRESH_AFTER`] by one caller at a time; when the re-read
/// fails, the stale value keeps serving.
struct Slot<T> {
    value: tokio::sync::RwLock<Option<(Arc<T>, Instant)>>,
    refresh: tokio::sync::Mutex<()>,
}

impl<T> Slot<T> {
    fn new() -> Slot<T> {
        Slot {
            value: tokio::sync::RwLock::new(None),
            refresh: tokio::sync::Mutex::new(()),
        }
    }

    async fn fresh(&self) -> Option<Arc<T>> {
        match self.value.read().await.as_ref() {
            Some((v, at)) if at.elapsed() < REFRESH_AFTER => Some(v.clone()),
            _ => None,
        }
    }

    async fn get<F: Future<Output = Result<T, KeyError>>>(
        &self,
        fetch: impl FnOnce() -> F,
    ) -> Result<Arc<T>, KeyError> {
        if let Some(v) = self.fresh().await {
            return Ok(v);
        }
        let _one_at_a_time = self.refresh.lock().await;
        if let Some(v) = self.fresh().await {
            return Ok(v);
        }
        match fetch().await {
            Ok(v) => {
                let v = Arc::new(v);
                *self.value.write().await = Some((v.clone(), Instant::now()));
                Ok(v)
            }
            Err(e) => match self.value.read().await.as_ref() {
                Some((stale, _)) => {
                    tracing::warn!(error = %e, "could not re-read the signing keys; serving the cached ones");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }
}

/// A [`KeySource`] over one Secrets Manager secret. Signing reads only the `AWSCURRENT` version
/// (one call per container); the key set reads every staged version.
pub struct SecretsManagerKeySource {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
    signing: Slot<SigningKey>,
    jwks: Slot<Jwks>,
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
            signing: Slot::new(),
            jwks: Slot::new(),
        }
    }

    /// The key of one version, or of `AWSCURRENT` when `version_id` is `None`.
    async fn value(&self, version_id: Option<&str>) -> Result<SigningKey, KeyError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .set_version_id(version_id.map(str::to_owned))
            // Explicit (AWS defaults to it too; moto needs it named after a rotation).
            .set_version_stage(version_id.is_none().then(|| "AWSCURRENT".to_owned()))
            .send()
            .await
            .map_err(unavailable)?;
        let s = out
            .secret_string()
            .ok_or_else(|| KeyError::Invalid("the secret has no string value".into()))?;
        SigningKey::from_jwk_json(s).map_err(|e| KeyError::Invalid(format!("secret {}: {e}", self.secret_id)))
    }

    async fn fetch_jwks(&self) -> Result<Jwks, KeyError> {
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
                match self.value(Some(id)).await {
                    Ok(k) => current = Some(k),
                    // The placeholder of a secret whose first rotation has not finished: its
                    // pending key is still published, so verifiers know it before it signs.
                    Err(KeyError::Invalid(e)) => tracing::warn!(error = %e, "the current secret version holds no key"),
                    Err(e) => return Err(e),
                }
            } else if stages.iter().any(|s| s == "AWSPENDING" || s == "AWSPREVIOUS") {
                match self.value(Some(id)).await {
                    Ok(k) => others.push(k),
                    // A broken pending or previous version must not stop signing.
                    Err(e) => tracing::warn!(error = %e, "skipping an unusable signing key version"),
                }
            }
        }
        let mut keys: Vec<keygate_sdk::Jwk> = Vec::new();
        for k in current.iter().chain(&others) {
            if !keys.iter().any(|j| j.kid == k.kid()) {
                keys.push(k.public_jwk());
            }
        }
        if keys.is_empty() {
            return Err(KeyError::Invalid(format!(
                "secret {} holds no signing key",
                self.secret_id
            )));
        }
        Ok(Jwks { keys })
    }
}

#[async_trait]
impl KeySource for SecretsManagerKeySource {
    async fn signing_key(&self) -> Result<Arc<SigningKey>, KeyError> {
        self.signing.get(|| self.value(None)).await
    }

    async fn jwks(&self) -> Result<Arc<Jwks>, KeyError> {
        self.jwks.get(|| self.fetch_jwks()).await
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

/// The signing-key secret's versions, for the rotation protocol (`services::rotation`) and
/// `keygate bootstrap`.
pub struct SecretVersions {
    client: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl SecretVersions {
    /// The versions of `secret_id` (name or ARN).
    pub fn new(client: aws_sdk_secretsmanager::Client, secret_id: String) -> SecretVersions {
        SecretVersions { client, secret_id }
    }
}

#[async_trait]
impl KeyVersions for SecretVersions {
    async fn versions(&self) -> Result<Vec<KeyVersion>, KeyError> {
        let described = self
            .client
            .describe_secret()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(described
            .version_ids_to_stages()
            .map(|m| {
                m.iter()
                    .map(|(id, stages)| KeyVersion {
                        id: id.clone(),
                        stages: stages.clone(),
                        created_at: None,
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn key(&self, version_id: &str) -> Result<Option<SigningKey>, KeyError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .version_id(version_id)
            .send()
            .await;
        match out {
            Ok(v) => {
                let s = v
                    .secret_string()
                    .ok_or_else(|| KeyError::Invalid("the secret version has no string value".into()))?;
                SigningKey::from_jwk_json(s)
                    .map(Some)
                    .map_err(|e| KeyError::Invalid(e.to_string()))
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

    async fn put_pending(&self, version_id: &str, key: &SigningKey) -> Result<(), KeyError> {
        self.client
            .put_secret_value()
            .secret_id(&self.secret_id)
            .client_request_token(version_id)
            .secret_string(key.to_jwk_json())
            .version_stages("AWSPENDING")
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn make_current(&self, version_id: &str, current: Option<&str>) -> Result<(), KeyError> {
        self.client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage("AWSCURRENT")
            .move_to_version_id(version_id)
            .set_remove_from_version_id(current.map(str::to_owned))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn retire(&self, version_id: &str) -> Result<(), KeyError> {
        self.client
            .update_secret_version_stage()
            .secret_id(&self.secret_id)
            .version_stage("AWSPREVIOUS")
            .remove_from_version_id(version_id)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Gives a secret that holds no usable key (a stack whose first rotation failed, or a secret
/// created by hand with a placeholder) a first key as its `AWSCURRENT` version. Returns whether
/// it did; a secret whose current version is a key is left alone.
pub async fn repair_signing_secret(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    alg: Alg,
) -> Result<bool, KeyError> {
    let current = SecretsManagerKeySource::from_client(client.clone(), secret_id.to_owned())
        .value(None)
        .await;
    match current {
        Ok(_) => Ok(false),
        Err(KeyError::Invalid(_)) => {
            let key = SigningKey::generate(alg).map_err(|e| KeyError::Invalid(e.to_string()))?;
            // PutSecretValue without stages makes the new version AWSCURRENT.
            client
                .put_secret_value()
                .secret_id(secret_id)
                .secret_string(key.to_jwk_json())
                .send()
                .await
                .map_err(unavailable)?;
            Ok(true)
        }
        Err(e) => Err(e),
    }
}

/// A readable key version holding one of the three staging labels.
struct StagedVersion {
    version_id: String,
    key: PublishedKey,
}

/// The staged versions of the secret, current first, then pending, then previous; a key that
/// two versions hold is listed once, with its first state. An unreadable pending or previous
/// version is skipped (it is not published either); an unreadable current one is an error.
async fn staged_versions(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Vec<StagedVersion>, KeyError> {
    let source = SecretsManagerKeySource::from_client(client.clone(), secret_id.to_owned());
    let mut listed = Vec::new();
    let mut next_token = None;
    loop {
        let page = client
            .list_secret_version_ids()
            .secret_id(secret_id)
            .set_next_token(next_token.clone())
            .send()
            .await
            .map_err(unavailable)?;
        for v in page.versions() {
            if let (Some(id), Some(state)) = (v.version_id(), KeyState::of(v.version_stages())) {
                let created_at = v.created_date().map(|d| crate::domain::time::rfc3339(d.secs()));
                listed.push((id.to_owned(), state, created_at));
            }
        }
        // An empty token also ends the list (moto sends one); a repeated one would loop.
        let next = page.next_token().filter(|t| !t.is_empty()).map(str::to_owned);
        if next.is_none() || next == next_token {
            break;
        }
        next_token = next;
    }
    listed.sort_by_key(|(_, state, _)| *state);
    let mut staged: Vec<StagedVersion> = Vec::new();
    for (version_id, state, created_at) in listed {
        let key = match source.value(Some(&version_id)).await {
            Ok(k) => k,
            Err(e) if state != KeyState::Current => {
                tracing::warn!(error = %e, "skipping an unusable signing key version");
                continue;
            }
            Err(e) => return Err(e),
        };
        if staged.iter().any(|s| s.key.kid == key.kid()) {
            continue;
        }
        staged.push(StagedVersion {
            version_id,
            key: PublishedKey {
                kid: key.kid().to_owned(),
                alg: key.alg().as_str(),
                state,
                created_at,
            },
        });
    }
    Ok(staged)
}

/// The keys the secret publishes (current, pending, previous), for `keygate keys list`.
pub async fn list_signing_keys(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Vec<PublishedKey>, KeyError> {
    Ok(staged_versions(client, secret_id)
        .await?
        .into_iter()
        .map(|s| s.key)
        .collect())
}

/// Starts the secret's rotation (`RotateSecret`: Secrets Manager runs the rotation function's
/// steps). Returns the new version's id.
pub async fn start_rotation(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<String, KeyCommandError> {
    match client.rotate_secret().secret_id(secret_id).send().await {
        Ok(out) => Ok(out.version_id().unwrap_or_default().to_owned()),
        Err(e) => match e.as_service_error() {
            // Refusals (a rotation in progress, no rotation function, no such secret) say why.
            Some(s) => Err(KeyCommandError::Refused(format!(
                "Secrets Manager refused the rotation: {}",
                s.meta().message().unwrap_or("no reason given")
            ))),
            None => Err(unavailable(e).into()),
        },
    }
}

/// Retires a `previous` key believed compromised: removes `AWSPREVIOUS` from its version, so it
/// is no longer published, then republishes the key set in `store`. Refused for the current or
/// pending key, and for a kid the secret does not publish. Returns the key set now published.
pub async fn retire_signing_key(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    kid: &str,
    store: &dyn crate::ports::JwksStore,
) -> Result<Jwks, KeyCommandError> {
    let staged = staged_versions(client, secret_id).await?;
    let Some(version) = staged.iter().find(|s| s.key.kid == kid) else {
        return Err(KeyCommandError::Refused(format!(
            "no published key has kid {kid:?} (see `keygate keys list`)"
        )));
    };
    match version.key.state {
        KeyState::Current => {
            return Err(KeyCommandError::Refused(format!(
                "{kid} is the current signing key: rotate first, then retire it as the previous key"
            )));
        }
        KeyState::Pending => {
            return Err(KeyCommandError::Refused(format!(
                "{kid} is the pending key of a rotation in progress: let the rotation finish, or cancel it"
            )));
        }
        KeyState::Previous => {}
    }
    SecretVersions::new(client.clone(), secret_id.to_owned())
        .retire(&version.version_id)
        .await?;
    let jwks = SecretsManagerKeySource::from_client(client.clone(), secret_id.to_owned())
        .jwks()
        .await?;
    store
        .put_published_jwks(&jwks)
        .await
        .map_err(|e| KeyError::Unavailable(e.to_string()))?;
    if jwks.find(kid).is_some() {
        return Err(KeyCommandError::Refused(format!(
            "{kid} is still published: another version of the secret holds it"
        )));
    }
    Ok((*jwks).clone())
}
