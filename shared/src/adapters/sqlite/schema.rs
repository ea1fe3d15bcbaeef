//! The embedded store's schema: numbered migrations, applied in order at open, recorded in
//! SQLite's `user_version`. A database written by a newer keygate (a higher version than this
//! build knows) is refused, never downgraded or half-read.

use crate::domain::{UsernameKey, UsernameSkeleton};
use rusqlite::{Connection, TransactionBehavior, params};

/// The migrations, in order: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`
/// (its SQL, then the step of [`FILLS`] for the same version, if any). Never edit a released
/// migration: add the next one.
const MIGRATIONS: &[&str] = &[
    // 1: accounts, throttling counters, API keys, refresh families, reset tokens, published
    // keys and the local signing keys. Times are Unix seconds; roles are JSON arrays.
    r#"
    CREATE TABLE accounts (
        username_key   TEXT PRIMARY KEY NOT NULL,
        user_id        TEXT NOT NULL UNIQUE,
        username       TEXT NOT NULL,
        email          TEXT,
        email_key      TEXT UNIQUE,
        roles          TEXT NOT NULL,
        disabled       INTEGER NOT NULL,
        password_hash  TEXT NOT NULL,
        session_epoch  INTEGER NOT NULL,
        reset_epoch    INTEGER NOT NULL,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE login_failures (
        username_key    TEXT PRIMARY KEY NOT NULL,
        count           INTEGER NOT NULL,
        last_failure_at INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE api_keys (
        key_id       TEXT PRIMARY KEY NOT NULL,
        name         TEXT NOT NULL,
        roles        TEXT NOT NULL,
        secret_hash  TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        expires_at   INTEGER
    ) STRICT;
    CREATE TABLE families (
        family_id      TEXT PRIMARY KEY NOT NULL,
        username_key   TEXT NOT NULL,
        user_id        TEXT NOT NULL,
        client_id      TEXT NOT NULL,
        session_epoch  INTEGER NOT NULL,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL,
        current_hash   TEXT NOT NULL,
        previous_hash  TEXT,
        rotated_at     INTEGER NOT NULL,
        revoked        INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX families_by_expiry ON families (expires_at);
    CREATE TABLE reset_tokens (
        token_hash    TEXT PRIMARY KEY NOT NULL,
        username_key  TEXT NOT NULL,
        epoch         INTEGER NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE reset_deliveries (
        username_key  TEXT PRIMARY KEY NOT NULL,
        window_start  INTEGER NOT NULL,
        count         INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE published_jwks (
        id    INTEGER PRIMARY KEY CHECK (id = 1),
        jwks  TEXT NOT NULL
    ) STRICT;
    CREATE TABLE signing_keys (
        version_id  TEXT PRIMARY KEY NOT NULL,
        jwk         TEXT NOT NULL,
        stages      TEXT NOT NULL,
        created_at  INTEGER NOT NULL
    ) STRICT;
    "#,
    // 2: invitations and self-registrations (token hashes only), and the per-address counter
    // of registration mails. The counter has a table of its own: `reset_deliveries` is keyed
    // by username keys, and a username may look like any e-mail address.
    r#"
    CREATE TABLE invitations (
        invitation_id  TEXT PRIMARY KEY NOT NULL,
        kind           TEXT NOT NULL CHECK (kind IN ('invitation', 'registration')),
        email          TEXT NOT NULL,
        roles          TEXT NOT NULL,
        token_hash     TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        expires_at     INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX invitations_by_kind ON invitations (kind, created_at);
    CREATE TABLE registration_deliveries (
        email_key     TEXT PRIMARY KEY NOT NULL,
        window_start  INTEGER NOT NULL,
        count         INTEGER NOT NULL
    ) STRICT;
    "#,
    // 3: share links (the tokens are signed JWTs, never stored).
    r#"
    CREATE TABLE shares (
        share_id    TEXT PRIMARY KEY NOT NULL,
        resource    TEXT NOT NULL,
        shared_by   TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        expires_at  INTEGER NOT NULL,
        revoked     INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX shares_by_creator ON shares (shared_by, created_at);
    CREATE INDEX shares_revoked ON shares (revoked, expires_at);
    "#,
    // 4: the confusable skeletons (Unicode TR39) of usernames, one row per skeleton claimed by
    // an account; a new account whose skeleton is claimed is refused. Filled for the accounts
    // already there by `claim_skeletons`: where two of them look alike, both stay and the older
    // holds the claim.
    r#"
    CREATE TABLE username_skeletons (
        skeleton      TEXT PRIMARY KEY NOT NULL,
        username_key  TEXT NOT NULL
    ) STRICT;
    "#,
    // 5: how many times each invitation or registration token was refused for a taken
    // username (at `domain::invitation::MAX_CONFLICTS` it is dead). Touches `invitations` only.
    // `registration_deliveries.email_key` keeps its name and from here on holds
    // `RegistrationCounter::key` (a mailbox, or `@domain`); rows under the old keys (lowercased
    // addresses) lapse with their 15-minute window.
    r#"
    ALTER TABLE invitations ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
    "#,
];

/// A migration step that SQL alone cannot do, run in the same transaction after the SQL of
/// the migration to the version it names.
type Fill = fn(&Connection) -> rusqlite::Result<()>;

/// The steps of [`Fill`], by the version they complete.
const FILLS: &[(i64, Fill)] = &[(4, claim_skeletons)];

/// Version 4: every existing account claims its username's skeleton, oldest first; a skeleton
/// already claimed (two existing accounts that look alike) is left to the first.
fn claim_skeletons(tx: &Connection) -> rusqlite::Result<()> {
    let mut read = tx.prepare("SELECT username_key FROM accounts ORDER BY created_at, username_key")?;
    let keys = read
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut claim = tx.prepare("INSERT OR IGNORE INTO username_skeletons (skeleton, username_key) VALUES (?1, ?2)")?;
    for key in keys {
        let skeleton = UsernameSkeleton::of(&UsernameKey::from_stored(key.clone()));
        claim.execute(params![skeleton.as_str(), key])?;
    }
    Ok(())
}

/// The schema version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Why the database cannot be used by this build.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(
        "the database was written by a newer keygate (schema version {found}; this keygate knows up to {VERSION}): upgrade keygate"
    )]
    Newer { found: i64 },
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Brings the schema to [`VERSION`], each step in one transaction. Several processes may open
/// a new database at once: the version is read again under the write lock.
pub fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if found > VERSION {
            return Err(SchemaError::Newer { found });
        }
        let Some(step) = usize::try_from(found).ok().and_then(|i| MIGRATIONS.get(i)) else {
            return Ok(());
        };
        tx.execute_batch(step)?;
        if let Some((_, fill)) = FILLS.iter().find(|(v, _)| *v == found + 1) {
            fill(&tx)?;
        }
        tx.pragma_update(None, "user_version", found + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut stmt = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_version_1_database_upgrades_and_keeps_its_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO reset_deliveries (username_key, window_start, count) VALUES ('ann', 5, 2)",
            [],
        )
        .unwrap();
        assert!(!tables(&conn).contains(&"invitations".to_owned()));

        migrate(&mut conn).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, VERSION);
        assert_eq!(VERSION, 5);
        let names = tables(&conn);
        assert!(names.contains(&"invitations".to_owned()), "{names:?}");
        assert!(names.contains(&"registration_deliveries".to_owned()), "{names:?}");
        let kept: i64 = conn
            .query_row(
                "SELECT count FROM reset_deliveries WHERE username_key = 'ann'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept, 2);
        // Migrating again is a no-op.
        migrate(&mut conn).unwrap();
    }

    fn insert_account(conn: &Connection, key: &str, created_at: i64) {
        conn.execute(
            "INSERT INTO accounts (username_key, user_id, username, roles, disabled, password_hash,
                session_epoch, reset_epoch, created_at, updated_at)
             VALUES (?1, ?1, ?1, '[]', 0, 'x', 0, 0, ?2, ?2)",
            params![key, created_at],
        )
        .unwrap();
    }

    #[test]
    fn a_version_3_database_claims_the_skeletons_of_its_accounts_and_keeps_look_alikes() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&MIGRATIONS[..3].concat()).unwrap();
        conn.pragma_update(None, "user_version", 3).unwrap();
        // Created before skeletons were kept: `admin`, a Cyrillic `аdmin` after it, and `bob`.
        insert_account(&conn, "admin", 10);
        insert_account(&conn, "\u{430}dmin", 20);
        insert_account(&conn, "bob", 30);

        migrate(&mut conn).unwrap();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, VERSION);
        let accounts: i64 = conn
            .query_row("SELECT count(*) FROM accounts", [], |r| r.get(0))
            .unwrap();
        assert_eq!(accounts, 3, "look-alike accounts both stay");
        let mut stmt = conn
            .prepare("SELECT skeleton, username_key FROM username_skeletons ORDER BY skeleton")
            .unwrap();
        let claims: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let admin = UsernameSkeleton::of(&UsernameKey::of_any("admin"));
        let bob = UsernameSkeleton::of(&UsernameKey::of_any("bob"));
        assert_eq!(
            claims,
            vec![
                (admin.as_str().to_owned(), "admin".to_owned()),
                (bob.as_str().to_owned(), "bob".to_owned())
            ]
        );
        drop(stmt);
        migrate(&mut conn).unwrap();
    }

    #[test]
    fn a_version_3_database_gets_conflict_counters_and_keeps_its_invitations() {
        let mut conn = Connection::open_in_memory().unwrap();
        for step in &MIGRATIONS[..3] {
            conn.execute_batch(step).unwrap();
        }
        conn.pragma_update(None, "user_version", 3).unwrap();
        conn.execute(
            "INSERT INTO invitations (invitation_id, kind, email, roles, token_hash, created_at, expires_at)
             VALUES ('i1', 'invitation', 'a@example.org', '[]', 'h', 1, 2)",
            [],
        )
        .unwrap();

        migrate(&mut conn).unwrap();
        let conflicts: i64 = conn
            .query_row(
                "SELECT conflicts FROM invitations WHERE invitation_id = 'i1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(conflicts, 0);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", VERSION + 1).unwrap();
        assert!(matches!(migrate(&mut conn), Err(SchemaError::Newer { .. })));
    }
}
