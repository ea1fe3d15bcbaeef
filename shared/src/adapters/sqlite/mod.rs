//! The embedded store (docs/embedded-store.md): one SQLite database, `keygate.db` in
//! `KEYGATE_DATA_DIR`, shared by every `keygate serve` process and CLI command on that
//! directory.
//!
//! - Each store operation is one transaction. Wherever the DynamoDB store writes conditionally,
//!   this one takes SQLite's write lock first (`BEGIN IMMEDIATE`), reads, decides with the same
//!   domain rules and writes: so the races of the conformance suite (one winner per refresh,
//!   lockout counted across processes) hold across processes too.
//! - WAL journal with `synchronous=NORMAL`: a committed transaction is in the WAL before the call
//!   returns, so it survives the process being killed at any point (not a power cut of the
//!   machine: `synchronous=FULL` would add an fsync per write for that).
//! - SQLite calls block: each connection lives on a thread of its own that runs the store's
//!   operations one after another ([`Db::call`]), never on a runtime thread.
//! - The directory is created 0700 and the database 0600 before SQLite opens it (SQLite gives
//!   its `-wal` and `-shm` files the database's mode), whatever the umask.

mod keys;
mod schema;
mod store;

pub use keys::SqliteKeys;
pub use schema::VERSION as SCHEMA_VERSION;
pub use store::SqliteStore;

use crate::ports::StoreError;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// The database's file name in the data directory.
pub const DB_FILE: &str = "keygate.db";

/// How long a writer waits for another process's write lock before giving up (503).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the data directory could not be opened. The text is one line for the start-up error.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("KEYGATE_DATA_DIR: {dir}: {reason}")]
    Dir { dir: String, reason: String },
    #[error("KEYGATE_DATA_DIR: {file}: {reason}")]
    Database { file: String, reason: String },
}

/// An open embedded database. Cheap to clone.
///
/// Each connection is owned by one thread that runs the operations sent to it in order (a
/// channel of jobs, answered through a oneshot). `keygate serve` uses one connection, so its
/// own writes queue there and never wait in SQLite's busy handler (which sleeps in steps of
/// milliseconds); other processes on the directory are kept out by SQLite's locks.
///
/// Why not tokio's blocking pool with the connection behind a mutex (the first version): under
/// load every operation woke a pool thread that then queued on the mutex, about 27 futex calls
/// and several context switches per refresh (strace), a third of a millisecond of CPU over the
/// in-memory store. The connection's own thread drains its queue without sleeping.
#[derive(Clone)]
pub struct Db {
    workers: Arc<[mpsc::Sender<Job>]>,
    next: Arc<AtomicUsize>,
    path: PathBuf,
}

/// An operation for a connection's thread.
type Job = Box<dyn FnOnce(&mut Connection) + Send>;

/// Starts the thread that owns `conn`. It ends, closing the connection (and checkpointing the
/// WAL if it was the last one), when every sender is gone.
fn spawn_worker(mut conn: Connection) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("keygate-sqlite".into())
        .spawn(move || {
            while let Ok(job) = rx.recv() {
                // A panic is a bug, but it must cost one answer, not the store: the job's
                // oneshot is dropped (the caller gets 503) and the thread takes the next one.
                let run = std::panic::AssertUnwindSafe(|| job(&mut conn));
                if std::panic::catch_unwind(run).is_err() {
                    tracing::error!("embedded store: an operation panicked");
                    // Whatever it left open is rolled back before the next operation.
                    if !conn.is_autocommit() {
                        let _ = conn.execute_batch("ROLLBACK");
                    }
                }
            }
        })?;
    Ok(tx)
}

impl Db {
    /// Opens (creating if absent) the database in `dir` and brings its schema up to date.
    pub fn open(dir: &Path) -> Result<Db, OpenError> {
        Db::open_with_connections(dir, 1)
    }

    /// As [`Db::open`], with `n` connections used in turn. Each behaves as another process on
    /// the directory would: SQLite's locks, not a mutex, decide their races (the conformance
    /// suite uses this to test what several processes do).
    pub fn open_with_connections(dir: &Path, n: usize) -> Result<Db, OpenError> {
        let dir_err = |reason: String| OpenError::Dir {
            dir: dir.display().to_string(),
            reason,
        };
        create_private_dir(dir).map_err(|e| dir_err(format!("cannot create it: {e}")))?;
        let path = dir.join(DB_FILE);
        let db_err = |reason: String| OpenError::Database {
            file: path.display().to_string(),
            reason,
        };
        create_private_file(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => dir_err("is not writable".into()),
            _ => db_err(format!("cannot create it: {e}")),
        })?;
        let mut workers = Vec::with_capacity(n.max(1));
        for _ in 0..n.max(1) {
            let mut conn = Connection::open_with_flags(
                &path,
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(|e| db_err(describe(&e)))?;
            if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(true) {
                return Err(db_err("cannot be written (check its owner and mode)".into()));
            }
            configure(&conn).map_err(|e| db_err(describe(&e)))?;
            schema::migrate(&mut conn).map_err(|e| match e {
                schema::SchemaError::Sqlite(e) => db_err(describe(&e)),
                newer => db_err(newer.to_string()),
            })?;
            workers.push(spawn_worker(conn).map_err(|e| db_err(format!("cannot start its thread: {e}")))?);
        }
        Ok(Db {
            workers: workers.into(),
            next: Arc::default(),
            path,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the next connection, on that connection's thread.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let worker = self
            .workers
            .get(i)
            .ok_or_else(|| StoreError::Unavailable("embedded store: no connection".into()))?;
        let (answer, answered) = tokio::sync::oneshot::channel();
        worker
            .send(Box::new(move |conn: &mut Connection| {
                // The caller may have gone (a dropped request): its answer goes nowhere.
                let _ = answer.send(f(conn));
            }))
            .map_err(|_| StoreError::Unavailable("embedded store: its thread has stopped".into()))?;
        answered
            .await
            .map_err(|_| StoreError::Unavailable("embedded store: the operation failed".into()))?
    }

    /// Runs `f` in one transaction holding the write lock (`BEGIN IMMEDIATE`): what it reads
    /// cannot change before it commits, in this process or another. Rolled back on error.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.call(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Writes a consistent copy of the database to the new file `to`, mode 0600 (SQLite's
    /// online backup: safe while servers use the database).
    pub async fn backup(&self, to: PathBuf) -> Result<(), StoreError> {
        self.call(move |conn| {
            create_private_file(&to).map_err(|e| StoreError::Unavailable(format!("{}: {e}", to.display())))?;
            conn.backup(rusqlite::MAIN_DB, &to, None)?;
            Ok(())
        })
        .await
    }

    /// For a long-running server: moves WAL checkpoints off the request path. By default the
    /// connection whose commit fills the WAL past 1,000 pages copies them into the database
    /// there and then, inside that request and holding the connection every other request
    /// queues on (measured: refresh p99 23 ms on `.ci/bench-serve`, 8.8 ms without). Here this
    /// `Db`'s connections stop checkpointing, and a thread with its own connection runs a
    /// passive checkpoint (it never blocks a writer or reader) every `every`, until the last
    /// clone of this `Db` is dropped. Short-lived CLI commands keep SQLite's default; the WAL
    /// is also checkpointed when the last connection closes.
    pub fn checkpoint_in_background(&self, every: Duration) -> Result<(), OpenError> {
        let db_err = |reason: String| OpenError::Database {
            file: self.path.display().to_string(),
            reason,
        };
        let checkpointer = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| configure(&c).map(|()| c))
        .map_err(|e| db_err(describe(&e)))?;
        for worker in self.workers.iter() {
            let (done, finished) = mpsc::channel();
            worker
                .send(Box::new(move |conn: &mut Connection| {
                    let _ = done.send(
                        conn.pragma_update(None, "wal_autocheckpoint", 0)
                            .map_err(|e| describe(&e)),
                    );
                }))
                .map_err(|_| db_err("its thread has stopped".into()))?;
            finished
                .recv()
                .map_err(|_| db_err("its thread has stopped".into()))?
                .map_err(db_err)?;
        }
        let alive = Arc::downgrade(&self.workers);
        std::thread::Builder::new()
            .name("keygate-checkpoint".into())
            .spawn(move || {
                while alive.strong_count() > 0 {
                    std::thread::sleep(every);
                    if let Err(e) = checkpointer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        tracing::warn!(error = %describe(&e), "embedded store: WAL checkpoint failed");
                    }
                }
            })
            .map_err(|e| db_err(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(())
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Reading the journal mode also checks that the file is a database at all.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "could not switch to WAL (journal mode {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Every statement is prepared once per connection and reused (`prepare_cached`): compiling
    // the SQL again on each call cost a refresh about a third of a millisecond of CPU.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// A SQLite error as one line for an operator.
fn describe(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::NotADatabase) => {
            "is not a keygate database or is damaged (restore it from a backup, or move it away to start empty)".into()
        }
        Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
            "is damaged (restore it from a backup, or move it away to start empty)".into()
        }
        Some(
            rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::PermissionDenied,
        ) => {
            format!("cannot be opened for writing ({e})")
        }
        Some(rusqlite::ErrorCode::DatabaseBusy) => format!("is locked by another process for too long ({e})"),
        _ => e.to_string(),
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        match e {
            rusqlite::Error::FromSqlConversionFailure(..)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
            e => match e.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                    StoreError::Corrupt(e.to_string())
                }
                _ => StoreError::Unavailable(format!("embedded store: {e}")),
            },
        }
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    // The umask may have narrowed the mode further, never widened it; set it exactly.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Creates `path` with mode 0600 if absent, so SQLite (and its `-wal` and `-shm` files, which
/// take the database's mode) never create it world-readable.
#[cfg(unix)]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)),
        // Never open an existing database outside SQLite: closing that descriptor would drop
        // every POSIX lock this process holds on the file, those of its open connections too
        // (SQLite's "how to corrupt", section 2.2). SQLite itself reports a read-only file.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .open(path)
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("keygate-db-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test]
    async fn a_panicking_operation_costs_one_answer_not_the_store() {
        let dir = scratch("panic");
        let db = Db::open(&dir).unwrap();
        let panicked: Result<(), StoreError> = db
            .call(|c| {
                c.execute_batch("BEGIN IMMEDIATE; CREATE TABLE scratch (x)")?;
                panic!("a bug in an operation")
            })
            .await;
        assert!(matches!(panicked, Err(StoreError::Unavailable(_))), "{panicked:?}");
        // The same connection answers the next operation, and what the panicking one left
        // open was rolled back (else this would fail: a transaction within a transaction).
        let tables: i64 = db
            .write(|tx| {
                Ok(
                    tx.query_row("SELECT count(*) FROM sqlite_master WHERE name = 'scratch'", [], |r| {
                        r.get(0)
                    })?,
                )
            })
            .await
            .unwrap();
        assert_eq!(tables, 0);
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
