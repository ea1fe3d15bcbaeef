//! The rotation protocol's steps (`services::rotation`) on a secret kept in memory and staged
//! like Secrets Manager's: the first rotation of a placeholder, later rotations, bad requests.

use async_trait::async_trait;
use keygate_shared::adapters::memory::MemoryStore;
use keygate_shared::domain::keys::{Alg, SigningKey};
use keygate_shared::ports::{JwksStore, KeyCommandError, KeyError, KeyVersion, KeyVersions};
use keygate_shared::services::rotation::{Rotation, Step, public_keys, retire, rotate, rotate_command};

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";
const PREVIOUS: &str = "AWSPREVIOUS";
use std::sync::Mutex;

/// A secret kept in memory, staged like Secrets Manager's.
#[derive(Default)]
struct FakeSecret {
    versions: Mutex<Vec<(KeyVersion, String)>>,
    /// The version id a rotation run elsewhere would make (Secrets Manager's `RotateSecret`).
    rotated_elsewhere: Option<String>,
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

    /// Adds a version holding `key` with `stages`.
    fn push(&self, id: &str, stages: &[&str], key: &SigningKey) {
        self.versions.lock().unwrap().push((
            KeyVersion {
                id: id.into(),
                stages: stages.iter().map(|s| (*s).to_owned()).collect(),
                created_at: None,
            },
            key.to_jwk_json(),
        ));
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
    async fn start_rotation(&self) -> Result<Option<String>, KeyCommandError> {
        Ok(self.rotated_elsewhere.clone())
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

#[tokio::test]
async fn keys_rotate_runs_the_four_steps_on_a_key_store_without_its_own_rotation() {
    let first = SigningKey::generate(Alg::ES256).unwrap();
    let secret = FakeSecret::with_current(&first.to_jwk_json());
    let store = MemoryStore::new();
    let Rotation::Finished { kid } = rotate_command(&secret, Some(&store)).await.unwrap() else {
        panic!("the steps ran here");
    };
    let published = store.published_jwks().await.unwrap().unwrap();
    assert_eq!(published.keys[0].kid, kid, "the new key is current");
    assert!(published.find(first.kid()).is_some(), "the old one stays published");
}

#[tokio::test]
async fn keys_rotate_only_starts_the_rotation_of_a_key_store_that_has_its_own() {
    let secret = FakeSecret {
        rotated_elsewhere: Some("v1".into()),
        ..FakeSecret::with_current(&SigningKey::generate(Alg::RS256).unwrap().to_jwk_json())
    };
    let started = rotate_command(&secret, None).await.unwrap();
    assert_eq!(started, Rotation::Started { version: "v1".into() });
    assert_eq!(secret.versions().await.unwrap().len(), 1, "no step ran here");
}

#[tokio::test]
async fn retire_takes_only_a_previous_key_that_no_other_version_holds() {
    let keys: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate(Alg::RS256).unwrap()).collect();
    let secret = FakeSecret::with_current(&keys[0].to_jwk_json());
    secret.push("v1", &[PENDING], &keys[1]);
    secret.push("v2", &[PREVIOUS], &keys[2]);
    secret.push("v3", &[PREVIOUS], &keys[2]);
    let refusal = |r: Result<_, KeyCommandError>| match r {
        Err(KeyCommandError::Refused(why)) => why,
        other => panic!("{:?}", other.map(|_| ())),
    };
    let current = refusal(retire(&secret, keys[0].kid(), None).await);
    assert!(current.contains("current signing key"), "{current}");
    let pending = refusal(retire(&secret, keys[1].kid(), None).await);
    assert!(pending.contains("pending key"), "{pending}");
    assert!(refusal(retire(&secret, "no-such-kid", None).await).contains("no published key"));
    let held = refusal(retire(&secret, keys[2].kid(), None).await);
    assert!(held.contains("still published"), "{held}");
    let jwks = retire(&secret, keys[2].kid(), None).await.unwrap();
    assert!(jwks.find(keys[2].kid()).is_none());
    assert_eq!(jwks.keys.len(), 2);
}
