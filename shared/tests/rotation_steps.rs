//! The rotation protocol's steps (`services::rotation`) on a secret kept in memory and staged
//! like Secrets Manager's: the first rotation of a placeholder, later rotations, bad requests.

use async_trait::async_trait;
use keygate_shared::adapters::memory::MemoryStore;
use keygate_shared::domain::keys::{Alg, SigningKey};
use keygate_shared::ports::{JwksStore, KeyError, KeyVersion, KeyVersions};
use keygate_shared::services::rotation::{Step, public_keys, rotate};

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";
const PREVIOUS: &str = "AWSPREVIOUS";
use std::sync::Mutex;

/// A secret kept in memory, staged like Secrets Manager's.
#[derive(Default)]
struct FakeSecret {
    versions: Mutex<Vec<(KeyVersion, String)>>,
}

impl FakeSecret {
    fn with_current(value: &str) -> FakeSecret {
        let s = FakeSecret::default();
        s.versions.lock().unwrap().push((
            KeyVersion {
                id: "v0".into(),
                stages: vec![CURRENT.into()],
                created_at: None,
            },
            value.into(),
        ));
        s
    }
}

#[async_trait]
impl KeyVersions for FakeSecret {
    async fn versions(&self) -> Result<Vec<KeyVersion>, KeyError> {
        Ok(self.versions.lock().unwrap().iter().map(|(v, _)| v.clone()).collect())
    }
    async fn key(&self, id: &str) -> Result<Option<SigningKey>, KeyError> {
        let vs = self.versions.lock().unwrap();
        match vs.iter().find(|(v, _)| v.id == id) {
            None => Ok(None),
            Some((_, s)) => SigningKey::from_jwk_json(s)
                .map(Some)
                .map_err(|e| KeyError::Invalid(e.to_string())),
        }
    }
    async fn put_pending(&self, id: &str, key: &SigningKey) -> Result<(), KeyError> {
        let mut vs = self.versions.lock().unwrap();
        for (v, _) in vs.iter_mut() {
            v.stages.retain(|s| s != PENDING);
        }
        vs.push((
            KeyVersion {
                id: id.into(),
                stages: vec![PENDING.into()],
                created_at: None,
            },
            key.to_jwk_json(),
        ));
        Ok(())
    }
    async fn make_current(&self, id: &str, current: Option<&str>) -> Result<(), KeyError> {
        let mut vs = self.versions.lock().unwrap();
        for (v, _) in vs.iter_mut() {
            v.stages.retain(|s| s != PREVIOUS);
            if Some(v.id.as_str()) == current {
                v.stages.retain(|s| s != CURRENT);
                v.stages.push(PREVIOUS.into());
            }
            if v.id == id {
                v.stages.retain(|s| s != PENDING);
                v.stages.push(CURRENT.into());
            }
        }
        Ok(())
    }
    async fn retire(&self, id: &str) -> Result<(), KeyError> {
        let mut vs = self.versions.lock().unwrap();
        for (v, _) in vs.iter_mut().filter(|(v, _)| v.id == id) {
            v.stages.retain(|s| s != PREVIOUS);
        }
        Ok(())
    }
}

async fn all_steps(secret: &FakeSecret, store: &MemoryStore, token: &str) {
    for step in [Step::Create, Step::Set, Step::Test, Step::Finish] {
        rotate(secret, step, token, Some(store)).await.unwrap();
    }
}

#[tokio::test]
async fn a_placeholder_secret_with_a_table_gets_a_published_first_key() {
    let secret = FakeSecret::with_current("q8Zr2mVx4LkP9sTe1WnB7cYh3JdF6gUa");
    let store = MemoryStore::new();
    rotate(&secret, Step::Create, "t1", Some(&store)).await.unwrap();
    let published = store.published_jwks().await.unwrap().unwrap();
    assert_eq!(published.keys.len(), 1, "the pending key, before it signs");
    for step in [Step::Set, Step::Test, Step::Finish] {
        rotate(&secret, step, "t1", Some(&store)).await.unwrap();
    }
    let current = secret.key("t1").await.unwrap().unwrap();
    assert_eq!(current.alg(), Alg::RS256);
    let published = store.published_jwks().await.unwrap().unwrap();
    assert_eq!(published.keys.len(), 1, "the placeholder is never published");
    assert_eq!(published.keys[0].kid, current.kid());
}

#[tokio::test]
async fn a_second_rotation_keeps_the_previous_key_published_and_the_algorithm() {
    let first = SigningKey::generate(Alg::ES256).unwrap();
    let secret = FakeSecret::with_current(&first.to_jwk_json());
    let store = MemoryStore::new();
    all_steps(&secret, &store, "t1").await;
    let published = store.published_jwks().await.unwrap().unwrap();
    assert_eq!(published.keys.len(), 2);
    assert!(published.find(first.kid()).is_some());
    assert_eq!(secret.key("t1").await.unwrap().unwrap().alg(), Alg::ES256);
    // Every step again is a no-op.
    all_steps(&secret, &store, "t1").await;
    assert_eq!(store.published_jwks().await.unwrap().unwrap(), published);
}

#[tokio::test]
async fn steps_for_an_unknown_version_fail_and_change_nothing() {
    let secret = FakeSecret::with_current(&SigningKey::generate(Alg::RS256).unwrap().to_jwk_json());
    for step in [Step::Set, Step::Test, Step::Finish] {
        assert!(rotate(&secret, step, "nope", None).await.is_err());
    }
    assert_eq!(secret.versions().await.unwrap().len(), 1);
    assert!(Step::parse("dropSecret").is_none());
}

#[tokio::test]
async fn a_secret_with_no_key_at_all_cannot_be_published() {
    let secret = FakeSecret::with_current("placeholder");
    assert!(matches!(public_keys(&secret).await, Err(KeyError::Invalid(_))));
}
