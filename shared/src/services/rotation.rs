//! The signing-key rotation protocol (Secrets Manager's four steps), written against the
//! [`KeyVersions`] port, and the publication of the public keys. The same steps rotate the
//! embedded store's local keys ([`rotate_now`], [`ensure_current`]), which
//! [`RotatingKeySource`] serves.
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
use crate::ports::{
    JwksStore, KeyCommandError, KeyError, KeySource, KeyState, KeyVersion, KeyVersions, PublishedKey, Store,
};
use keygate_sdk::{AccessClaims, Jwks, Verifier, VerifyOptions};
use std::sync::Arc;

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
pub async fn publish(secret: &dyn KeyVersions, store: &dyn JwksStore) -> Result<Jwks, KeyError> {
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

/// Rotates now, all four steps in a row, under a fresh version id (the embedded store's keys:
/// `keygate keys rotate`, and `keygate serve` when the current key is due). Returns the new
/// current key's kid. If another process finished a rotation first, this one's pending key is
/// refused and the error says so.
pub async fn rotate_now(secret: &dyn KeyVersions, publish_to: Option<&dyn Store>) -> Result<String, KeyError> {
    let token = crate::domain::UserId::generate().as_str().to_owned();
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        rotate(secret, step, &token, publish_to).await?;
    }
    let key = secret
        .key(&token)
        .await?
        .ok_or_else(|| KeyError::Invalid("the new key version disappeared".into()))?;
    Ok(key.kid().to_owned())
}

/// Makes sure there is a current key no older than `max_age` seconds at `now`: a first key on a
/// new data directory, a rotation when the current one is due. Several processes may call it at
/// once: the loser of a race takes the winner's key. Returns the new kid when it made one.
pub async fn ensure_current(
    secret: &dyn KeyVersions,
    max_age: i64,
    now: i64,
    publish_to: Option<&dyn Store>,
) -> Result<Option<String>, KeyError> {
    let due = |versions: &[KeyVersion]| match versions.iter().find(|v| v.has(CURRENT)) {
        None => true,
        Some(v) => v.created_at.is_some_and(|t| now - t >= max_age),
    };
    let mut attempt = 0;
    loop {
        let versions = secret.versions().await?;
        if !versions.iter().any(|v| v.has(CURRENT)) {
            return first_key(secret, publish_to).await;
        }
        if !due(&versions) {
            return Ok(None);
        }
        match rotate_now(secret, publish_to).await {
            Ok(kid) => {
                tracing::info!(target: "keygate::audit", event = "key_rotation", kid = %kid, "audit");
                return Ok(Some(kid));
            }
            // Another process staged or finished its own key between our steps: if it has
            // finished, its key is fresh (the loop's check); if not, try again shortly.
            Err(e) if attempt < 5 => {
                attempt += 1;
                tracing::info!(reason = %e, attempt, "another process is rotating the signing key");
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// The first key, made current at once: nothing was signed before it, so there is nothing to
/// announce first. Not through the rotation steps: processes starting together would each
/// stage a key of their own, and a loser's pending key would stay published beside the
/// winner's.
async fn first_key(secret: &dyn KeyVersions, publish_to: Option<&dyn Store>) -> Result<Option<String>, KeyError> {
    let key = SigningKey::generate(Alg::RS256).map_err(|e| KeyError::Invalid(e.to_string()))?;
    let version = crate::domain::UserId::generate().as_str().to_owned();
    if !secret.put_first_current(&version, &key).await? {
        return Ok(None);
    }
    if let Some(store) = publish_to {
        publish(secret, store).await?;
    }
    tracing::info!(target: "keygate::audit", event = "key_rotation", kid = %key.kid(), "audit");
    Ok(Some(key.kid().to_owned()))
}

/// The published keys with their states, current first, for `keygate keys list`.
pub async fn list_keys(secret: &dyn KeyVersions) -> Result<Vec<PublishedKey>, KeyError> {
    Ok(staged(secret).await?.into_iter().map(|(_, k)| k).collect())
}

async fn staged(secret: &dyn KeyVersions) -> Result<Vec<(String, PublishedKey)>, KeyError> {
    let mut versions: Vec<(KeyVersion, KeyState)> = secret
        .versions()
        .await?
        .into_iter()
        .filter_map(|v| KeyState::of(&v.stages).map(|s| (v, s)))
        .collect();
    versions.sort_by_key(|(_, s)| *s);
    let mut out: Vec<(String, PublishedKey)> = Vec::new();
    for (v, state) in versions {
        let key = match secret.key(&v.id).await {
            Ok(Some(k)) => k,
            Ok(None) => continue,
            Err(e) if state != KeyState::Current => {
                tracing::warn!(error = %e, "skipping an unusable signing key version");
                continue;
            }
            Err(e) => return Err(e),
        };
        if out.iter().any(|(_, k)| k.kid == key.kid()) {
            continue;
        }
        out.push((
            v.id,
            PublishedKey {
                kid: key.kid().to_owned(),
                alg: key.alg().as_str(),
                state,
                created_at: v.created_at.map(crate::domain::time::rfc3339),
            },
        ));
    }
    Ok(out)
}

/// Retires a `previous` key believed compromised: it is no longer published nor trusted. Refused
/// for the current and pending keys and for a kid that is not published.
pub async fn retire(
    secret: &dyn KeyVersions,
    kid: &str,
    publish_to: Option<&dyn Store>,
) -> Result<Jwks, KeyCommandError> {
    let staged = staged(secret).await?;
    let Some((version_id, key)) = staged.iter().find(|(_, k)| k.kid == kid) else {
        return Err(KeyCommandError::Refused(format!(
            "no published key has kid {kid:?} (see `keygate keys list`)"
        )));
    };
    match key.state {
        KeyState::Current => {
            return Err(KeyCommandError::Refused(format!(
                "{kid} is the current signing key: rotate first, then retire it as the previous key"
            )));
        }
        KeyState::Pending => {
            return Err(KeyCommandError::Refused(format!(
                "{kid} is the pending key of a rotation in progress: let the rotation finish first"
            )));
        }
        KeyState::Previous => {}
    }
    secret.retire(version_id).await?;
    let jwks = match publish_to {
        Some(store) => publish(secret, store).await?,
        None => public_keys(secret).await?,
    };
    if jwks.find(kid).is_some() {
        return Err(KeyCommandError::Refused(format!(
            "{kid} is still published: another version of the secret holds it"
        )));
    }
    tracing::info!(target: "keygate::audit", event = "key_retired", kid = %kid, "audit");
    Ok(jwks)
}

/// What `keygate keys rotate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The key store's own rotation started (Secrets Manager runs the rotation function): the
    /// new version's id.
    Started { version: String },
    /// The four steps ran here (the embedded store's keys): the new current key's kid.
    Finished { kid: String },
}

/// Rotates for an operator: starts the key store's own rotation where it has one, else runs the
/// four steps now ([`rotate_now`]), publishing in `publish_to`.
pub async fn rotate_command(
    secret: &dyn KeyVersions,
    publish_to: Option<&dyn Store>,
) -> Result<Rotation, KeyCommandError> {
    if let Some(version) = secret.start_rotation().await? {
        return Ok(Rotation::Started { version });
    }
    match rotate_now(secret, publish_to).await {
        Ok(kid) => Ok(Rotation::Finished { kid }),
        // Mostly a race lost to another process's rotation: the reason says which.
        Err(e) => Err(KeyCommandError::Refused(format!("the rotation failed: {e}"))),
    }
}

/// How often a [`RotatingKeySource`] looks for a rotation made by another process.
pub const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

struct Loaded {
    /// Version ids and labels the keys were loaded for.
    seen: Vec<(String, Vec<String>)>,
    signing: Arc<SigningKey>,
    jwks: Arc<Jwks>,
    checked: std::time::Instant,
}

/// A [`KeySource`] over versioned keys (the embedded store's): signs with the current key and
/// publishes current, pending and previous. It re-reads the labels every [`RECHECK_EVERY`], so
/// a rotation by another process on the same data directory reaches this one within seconds,
/// and parses keys again only when the labels changed.
pub struct RotatingKeySource {
    versions: Arc<dyn KeyVersions>,
    loaded: tokio::sync::Mutex<Option<Loaded>>,
}

impl RotatingKeySource {
    /// A key source over `versions`.
    pub fn new(versions: Arc<dyn KeyVersions>) -> RotatingKeySource {
        RotatingKeySource {
            versions,
            loaded: tokio::sync::Mutex::new(None),
        }
    }

    async fn current(&self) -> Result<(Arc<SigningKey>, Arc<Jwks>), KeyError> {
        let mut loaded = self.loaded.lock().await;
        if let Some(l) = loaded.as_ref()
            && l.checked.elapsed() < RECHECK_EVERY
        {
            return Ok((l.signing.clone(), l.jwks.clone()));
        }
        let seen: Vec<(String, Vec<String>)> = self
            .versions
            .versions()
            .await?
            .into_iter()
            .map(|v| (v.id, v.stages))
            .collect();
        if let Some(l) = loaded.as_mut()
            && l.seen == seen
        {
            l.checked = std::time::Instant::now();
            return Ok((l.signing.clone(), l.jwks.clone()));
        }
        let current = seen
            .iter()
            .find(|(_, s)| s.iter().any(|l| l == CURRENT))
            .ok_or_else(|| KeyError::Invalid("there is no current signing key".into()))?;
        let signing = self
            .versions
            .key(&current.0)
            .await?
            .ok_or_else(|| KeyError::Invalid("the current signing key disappeared".into()))?;
        let jwks = public_keys(self.versions.as_ref()).await?;
        let l = loaded.insert(Loaded {
            seen,
            signing: Arc::new(signing),
            jwks: Arc::new(jwks),
            checked: std::time::Instant::now(),
        });
        Ok((l.signing.clone(), l.jwks.clone()))
    }
}

#[async_trait::async_trait]
impl KeySource for RotatingKeySource {
    async fn signing_key(&self) -> Result<Arc<SigningKey>, KeyError> {
        Ok(self.current().await?.0)
    }

    async fn jwks(&self) -> Result<Arc<Jwks>, KeyError> {
        Ok(self.current().await?.1)
    }
}
