//! A key generated at start, for `keygate serve` and tests.

use crate::domain::keys::{Alg, KeyMaterialError, SigningKey};
use crate::ports::{KeyError, KeySource};
use async_trait::async_trait;
use keygate_sdk::Jwks;
use std::sync::Arc;

/// One in-memory signing key; its public half is the whole JWKS.
pub struct GeneratedKeySource {
    key: Arc<SigningKey>,
    jwks: Arc<Jwks>,
}

impl GeneratedKeySource {
    /// Generates a key for `alg`.
    pub fn new(alg: Alg) -> Result<GeneratedKeySource, KeyMaterialError> {
        Ok(Self::from_key(SigningKey::generate(alg)?))
    }

    /// Uses the given key.
    pub fn from_key(key: SigningKey) -> GeneratedKeySource {
        let jwks = Arc::new(Jwks {
            keys: vec![key.public_jwk()],
        });
        GeneratedKeySource {
            key: Arc::new(key),
            jwks,
        }
    }
}

#[async_trait]
impl KeySource for GeneratedKeySource {
    async fn signing_key(&self) -> Result<Arc<SigningKey>, KeyError> {
        Ok(self.key.clone())
    }

    async fn jwks(&self) -> Result<Arc<Jwks>, KeyError> {
        Ok(self.jwks.clone())
    }
}
