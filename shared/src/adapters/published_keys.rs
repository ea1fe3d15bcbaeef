//! The published public key set, read from the store: what the `jwks` and `admin` functions use,
//! so that they never read the private signing key. Cached for a minute.

use crate::domain::keys::SigningKey;
use crate::ports::{JwksStore, KeyError, KeySource};
use async_trait::async_trait;
use keygate_sdk::Jwks;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a read of the published keys is used.
pub const CACHE_FOR: Duration = Duration::from_secs(60);

/// A [`KeySource`] that publishes and verifies but cannot sign.
pub struct PublishedKeySource {
    store: Arc<dyn JwksStore>,
    cache: tokio::sync::RwLock<Option<(Arc<Jwks>, Instant)>>,
}

impl PublishedKeySource {
    /// Reads the key set that the rotation function (or `keygate bootstrap`) published in `store`.
    pub fn new(store: Arc<dyn JwksStore>) -> PublishedKeySource {
        PublishedKeySource {
            store,
            cache: tokio::sync::RwLock::new(None),
        }
    }
}

#[async_trait]
impl KeySource for PublishedKeySource {
    async fn signing_key(&self) -> Result<Arc<SigningKey>, KeyError> {
        Err(KeyError::Unavailable(
            "this function verifies only; it has no signing key".into(),
        ))
    }

    async fn jwks(&self) -> Result<Arc<Jwks>, KeyError> {
        if let Some((j, at)) = self.cache.read().await.as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return Ok(j.clone());
        }
        let mut cache = self.cache.write().await;
        if let Some((j, at)) = cache.as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return Ok(j.clone());
        }
        match self.store.published_jwks().await {
            Ok(Some(jwks)) => {
                let jwks = Arc::new(jwks);
                *cache = Some((jwks.clone(), Instant::now()));
                Ok(jwks)
            }
            Ok(None) => Err(KeyError::Invalid(
                "no public keys are published yet (run the rotation or keygate bootstrap)".into(),
            )),
            Err(e) => match cache.as_ref() {
                Some((j, _)) => {
                    tracing::warn!(error = %e, "could not re-read the published keys; serving the cached ones");
                    Ok(j.clone())
                }
                None => Err(KeyError::Unavailable(e.to_string())),
            },
        }
    }
}
