//! The local signing keys (docs/embedded-store.md) as [`KeyVersions`]: each key a version with
//! Secrets Manager's staging labels, in the embedded database (mode 0600), so that
//! `services::rotation` rotates them with the same four steps as the secret on AWS.
//!
//! The first key is made current in one write transaction that checks again that there is none
//! ([`KeyVersions::put_first_current`]): of processes starting at once on an empty directory,
//! one stores its key and the others take it.
//!
//! Moving `AWSCURRENT` is a compare-and-swap under the write lock: of two processes rotating
//! at once, one finishes and the other's pending key is refused, so a key that signed live
//! tokens is never pushed out of the published set by a double rotation. A version that holds
//! no label any more (retired, or pushed out by the next rotation) is deleted with its private
//! key.

use super::Db;
use crate::domain::keys::SigningKey;
use crate::domain::time::now;
use crate::ports::{KeyError, KeyVersion, KeyVersions, StoreError};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, Transaction, params};

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";
const PREVIOUS: &str = "AWSPREVIOUS";

/// The signing keys kept in the embedded database.
#[derive(Clone)]
pub struct SqliteKeys {
    db: Db,
}

impl SqliteKeys {
    /// The keys in an open database.
    pub fn new(db: Db) -> SqliteKeys {
        SqliteKeys { db }
    }
}

fn key_error(e: StoreError) -> KeyError {
    match e {
        StoreError::Corrupt(s) => KeyError::Invalid(s),
        StoreError::Conflict(s) => KeyError::Invalid(s.into()),
        StoreError::Unavailable(s) => KeyError::Unavailable(s),
    }
}

fn stages_of(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

/// Every version's labels, read under the transaction's lock.
fn staged(tx: &Transaction<'_>) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let mut stmt = tx.prepare("SELECT version_id, stages FROM signing_keys")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows.into_iter().map(|(id, s)| (id, stages_of(&s))).collect())
}

/// Writes the labels back, deleting versions left with none (their private keys go with them).
fn save(tx: &Transaction<'_>, versions: &[(String, Vec<String>)]) -> Result<(), StoreError> {
    for (id, stages) in versions {
        if stages.is_empty() {
            tx.prepare_cached("DELETE FROM signing_keys WHERE version_id = ?1")?
                .execute([id])?;
        } else {
            tx.prepare_cached("UPDATE signing_keys SET stages = ?2 WHERE version_id = ?1")?
                .execute(params![id, stages.join(" ")])?;
        }
    }
    Ok(())
}

fn without(stages: &mut Vec<String>, label: &str) {
    stages.retain(|s| s != label);
}

#[async_trait]
impl KeyVersions for SqliteKeys {
    async fn versions(&self) -> Result<Vec<KeyVersion>, KeyError> {
        self.db
            .call(|c| {
                let mut stmt =
                    c.prepare("SELECT version_id, stages, created_at FROM signing_keys ORDER BY created_at")?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok(KeyVersion {
                            id: r.get(0)?,
                            stages: stages_of(&r.get::<_, String>(1)?),
                            created_at: Some(r.get(2)?),
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await
            .map_err(key_error)
    }

    async fn key(&self, version_id: &str) -> Result<Option<SigningKey>, KeyError> {
        let id = version_id.to_owned();
        let jwk: Option<String> = self
            .db
            .call(move |c| {
                Ok(c.prepare_cached("SELECT jwk FROM signing_keys WHERE version_id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?)
            })
            .await
            .map_err(key_error)?;
        jwk.map(|j| SigningKey::from_jwk_json(&j).map_err(|e| KeyError::Invalid(e.to_string())))
            .transpose()
    }

    async fn put_pending(&self, version_id: &str, key: &SigningKey) -> Result<(), KeyError> {
        let (id, jwk, at) = (version_id.to_owned(), key.to_jwk_json(), now());
        self.db
            .write(move |tx| {
                let mut versions = staged(tx)?;
                if versions.iter().any(|(v, _)| *v == id) {
                    return Err(StoreError::Conflict("this key version exists"));
                }
                versions.iter_mut().for_each(|(_, s)| without(s, PENDING));
                save(tx, &versions)?;
                tx.prepare_cached(
                    "INSERT INTO signing_keys (version_id, jwk, stages, created_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id, jwk, PENDING, at])?;
                Ok(())
            })
            .await
            .map_err(key_error)
    }

    async fn make_current(&self, version_id: &str, current: Option<&str>) -> Result<(), KeyError> {
        let (id, expected) = (version_id.to_owned(), current.map(str::to_owned));
        self.db
            .write(move |tx| {
                let mut versions = staged(tx)?;
                let holder = versions
                    .iter()
                    .find(|(_, s)| s.iter().any(|l| l == CURRENT))
                    .map(|(v, _)| v.clone());
                if holder != expected {
                    return Err(StoreError::Conflict("another rotation changed the current key first"));
                }
                if !versions.iter().any(|(v, s)| *v == id && s.iter().any(|l| l == PENDING)) {
                    return Err(StoreError::Conflict("the version is not staged AWSPENDING"));
                }
                for (v, stages) in versions.iter_mut() {
                    without(stages, PREVIOUS);
                    if *v == id {
                        *stages = vec![CURRENT.to_owned()];
                    } else if Some(&*v) == expected.as_ref() {
                        *stages = vec![PREVIOUS.to_owned()];
                    }
                }
                save(tx, &versions)
            })
            .await
            .map_err(key_error)
    }

    async fn put_first_current(&self, version_id: &str, key: &SigningKey) -> Result<bool, KeyError> {
        let (id, jwk, at) = (version_id.to_owned(), key.to_jwk_json(), now());
        self.db
            .write(move |tx| {
                if staged(tx)?.iter().any(|(_, s)| s.iter().any(|l| l == CURRENT)) {
                    return Ok(false);
                }
                tx.prepare_cached(
                    "INSERT INTO signing_keys (version_id, jwk, stages, created_at) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id, jwk, CURRENT, at])?;
                Ok(true)
            })
            .await
            .map_err(key_error)
    }

    async fn retire(&self, version_id: &str) -> Result<(), KeyError> {
        let id = version_id.to_owned();
        self.db
            .write(move |tx| {
                let mut versions = staged(tx)?;
                for (_, stages) in versions.iter_mut().filter(|(v, _)| *v == id) {
                    without(stages, PREVIOUS);
                }
                save(tx, &versions)
            })
            .await
            .map_err(key_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::keys::Alg;

    #[tokio::test]
    async fn of_first_keys_stored_at_once_by_several_connections_one_becomes_current() {
        let dir = std::env::temp_dir().join(format!("keygate-first-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // Each connection behaves as another process on the directory would.
        let keys = SqliteKeys::new(Db::open_with_connections(&dir, 3).unwrap());
        let racers: Vec<_> = (0..6)
            .map(|i| {
                let keys = keys.clone();
                tokio::spawn(async move {
                    let key = SigningKey::generate(Alg::ES256).unwrap();
                    keys.put_first_current(&format!("v{i}"), &key).await.unwrap()
                })
            })
            .collect();
        let mut stored = 0;
        for r in racers {
            stored += usize::from(r.await.unwrap());
        }
        assert_eq!(stored, 1);
        let versions = keys.versions().await.unwrap();
        assert_eq!(versions.len(), 1, "no loser's key is kept");
        assert_eq!(versions[0].stages, [CURRENT]);
        drop(keys);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
