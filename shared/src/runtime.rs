//! Start-up: build the configuration and the clients once per process (per Lambda container),
//! then serve. A function binary's `main` is one call to [`lambda_main`].

use crate::adapters::{self, AwsConfig};
use crate::config::{Config, ConfigError, DataDir, MailerKind};
use crate::domain::keys::Alg;
use crate::http::Function;
use crate::ports::{KeySource, KeyVersions, MailError, Mailer, ResetMail, SignupMail, Store};
use crate::services::Keygate;
use async_trait::async_trait;
use std::sync::Arc;

/// Why keygate could not start. One line, naming the variable where there is one.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration error: {0}")]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Other(String),
}

/// Where keygate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A Lambda function: DynamoDB and Secrets Manager are required (for the parts it uses).
    Lambda(Function),
    /// `keygate serve`: the embedded store and local keys in `KEYGATE_DATA_DIR` unless
    /// `KEYGATE_TABLE` / `KEYGATE_SIGNING_SECRET_ID` are set.
    Local,
    /// A CLI command: as `Local`, but it opens signing keys only when it signs (`keys`); it
    /// mails only for `keygate invite`.
    Operator { keys: bool },
}

/// A mailer for functions that send no mail.
struct NoMailer;

#[async_trait]
impl Mailer for NoMailer {
    async fn send_reset(&self, _mail: &ResetMail) -> Result<(), MailError> {
        Err(MailError("this function sends no mail".into()))
    }
    async fn send_signup(&self, _mail: &SignupMail) -> Result<(), MailError> {
        Err(MailError("this function sends no mail".into()))
    }
}

/// The key source of functions and commands that neither sign nor verify (revoke,
/// forgot-password, most CLI commands). The `jwks` and `admin` functions read only the public
/// keys published in the table.
struct NoKeys;

#[async_trait]
impl KeySource for NoKeys {
    async fn signing_key(&self) -> Result<Arc<crate::domain::keys::SigningKey>, crate::ports::KeyError> {
        Err(crate::ports::KeyError::Unavailable("this function has no keys".into()))
    }
    async fn jwks(&self) -> Result<Arc<keygate_sdk::Jwks>, crate::ports::KeyError> {
        Err(crate::ports::KeyError::Unavailable("this function has no keys".into()))
    }
}

fn needs_keys(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Local
            | Mode::Operator { keys: true }
            | Mode::Lambda(Function::Authenticate | Function::Refresh | Function::Share)
    )
}

fn uses_published_keys(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Lambda(Function::Jwks | Function::Admin | Function::Register)
    )
}

fn needs_mail(mode: Mode) -> bool {
    matches!(
        mode,
        Mode::Local | Mode::Operator { .. } | Mode::Lambda(Function::ForgotPasswordRequest | Function::Register)
    )
}

fn required(var: &'static str, v: &Option<String>) -> Result<String, ConfigError> {
    v.clone().ok_or_else(|| ConfigError {
        var,
        reason: "required on Lambda".into(),
    })
}

/// Builds keygate for `mode` from `config`. Makes no network call: AWS clients connect lazily.
pub async fn build(config: Config, mode: Mode) -> Result<Keygate, StartError> {
    let on_lambda = matches!(mode, Mode::Lambda(_));
    if on_lambda {
        required("KEYGATE_TABLE", &config.table)?;
    }
    if on_lambda && needs_keys(mode) {
        required("KEYGATE_SIGNING_SECRET_ID", &config.signing_secret_id)?;
    }
    let wants_aws = config.table.is_some()
        || (needs_keys(mode) && config.signing_secret_id.is_some())
        || (needs_mail(mode) && config.mailer == MailerKind::Ses);
    let sdk = if wants_aws { Some(aws_config().await?) } else { None };

    // The embedded database, when something local needs it: the store without a table, the
    // keys without a secret.
    let local = !on_lambda && (config.table.is_none() || (needs_keys(mode) && config.signing_secret_id.is_none()));
    let data = match &config.data_dir {
        DataDir::Path(dir) if local => {
            let data = open_data_dir(dir)?;
            if matches!(mode, Mode::Local) {
                data.checkpoint_in_background()?;
            }
            Some(data)
        }
        _ => None,
    };
    let store: Arc<dyn Store> = match (&config.table, &sdk, &data) {
        (Some(table), Some(sdk), _) => dynamo_store(sdk, table)?,
        (None, _, Some(data)) => data.store(),
        _ => Arc::new(adapters::memory::MemoryStore::new()),
    };
    let keys: Arc<dyn KeySource> = match (&config.signing_secret_id, &sdk, &data) {
        _ if uses_published_keys(mode) => Arc::new(adapters::published_keys::PublishedKeySource::new(store.clone())),
        (Some(id), Some(sdk), _) if needs_keys(mode) => secret_key_source(sdk, id)?,
        _ if on_lambda || !needs_keys(mode) => Arc::new(NoKeys),
        (None, _, Some(data)) => local_key_source(data.key_versions(), &config).await?,
        _ => Arc::new(
            adapters::local_key::GeneratedKeySource::new(Alg::RS256)
                .map_err(|e| StartError::Other(format!("could not generate a signing key: {e}")))?,
        ),
    };
    let mailer: Arc<dyn Mailer> = if needs_mail(mode) {
        adapters::mail::build_mailer(&config, sdk.as_ref()).await?
    } else {
        Arc::new(NoMailer)
    };
    Ok(Keygate::new(config, store, keys, mailer))
}

/// The embedded database in a data directory: the store and the local keys on it.
#[derive(Clone)]
pub struct DataDirHandle {
    #[cfg(feature = "sqlite")]
    db: adapters::sqlite::Db,
    /// Without the embedded store in this build, no handle can exist.
    #[cfg(not(feature = "sqlite"))]
    never: std::convert::Infallible,
}

impl DataDirHandle {
    /// The embedded store.
    pub fn store(&self) -> Arc<dyn Store> {
        #[cfg(feature = "sqlite")]
        return Arc::new(adapters::sqlite::SqliteStore::new(self.db.clone()));
        #[cfg(not(feature = "sqlite"))]
        match self.never {}
    }

    /// The local signing keys.
    pub fn key_versions(&self) -> Arc<dyn KeyVersions> {
        #[cfg(feature = "sqlite")]
        return Arc::new(adapters::sqlite::SqliteKeys::new(self.db.clone()));
        #[cfg(not(feature = "sqlite"))]
        match self.never {}
    }

    /// A server's database: WAL checkpoints run on their own thread, off the request path.
    pub fn checkpoint_in_background(&self) -> Result<(), StartError> {
        #[cfg(feature = "sqlite")]
        return self
            .db
            .checkpoint_in_background(std::time::Duration::from_millis(250))
            .map_err(|e| StartError::Other(e.to_string()));
        #[cfg(not(feature = "sqlite"))]
        match self.never {}
    }

    /// The embedded store as its concrete type (backups, expiry sweeps).
    #[cfg(feature = "sqlite")]
    pub fn sqlite(&self) -> adapters::sqlite::SqliteStore {
        adapters::sqlite::SqliteStore::new(self.db.clone())
    }
}

/// Opens (creating if absent) the embedded database in `dir`.
pub fn open_data_dir(dir: &std::path::Path) -> Result<DataDirHandle, StartError> {
    #[cfg(feature = "sqlite")]
    return adapters::sqlite::Db::open(dir)
        .map(|db| DataDirHandle { db })
        .map_err(|e| StartError::Other(e.to_string()));
    #[cfg(not(feature = "sqlite"))]
    {
        let _ = dir;
        Err(StartError::Other(
            adapters::NotBuiltIn("embedded store", "sqlite").to_string(),
        ))
    }
}

/// The local keys as a key source, with a current key no older than `KEYGATE_KEY_ROTATION_DAYS`
/// (a first key on a new data directory).
async fn local_key_source(versions: Arc<dyn KeyVersions>, config: &Config) -> Result<Arc<dyn KeySource>, StartError> {
    crate::services::rotation::ensure_current(
        versions.as_ref(),
        config.key_rotation_days * 86_400,
        crate::domain::time::now(),
        None,
    )
    .await
    .map_err(|e| StartError::Other(format!("the local signing key could not be made: {e}")))?;
    Ok(Arc::new(crate::services::rotation::RotatingKeySource::new(versions)))
}

async fn aws_config() -> Result<AwsConfig, StartError> {
    #[cfg(feature = "aws")]
    return Ok(adapters::aws::sdk_config().await);
    #[cfg(not(feature = "aws"))]
    Err(StartError::Other(adapters::NotBuiltIn("AWS", "aws").to_string()))
}

fn dynamo_store(sdk: &AwsConfig, table: &str) -> Result<Arc<dyn Store>, StartError> {
    #[cfg(feature = "dynamodb")]
    return Ok(Arc::new(adapters::dynamodb::DynamoStore::new(sdk, table.to_owned())));
    #[cfg(not(feature = "dynamodb"))]
    {
        let _ = (sdk, table);
        Err(StartError::Other(
            adapters::NotBuiltIn("DynamoDB", "dynamodb").to_string(),
        ))
    }
}

fn secret_key_source(sdk: &AwsConfig, secret_id: &str) -> Result<Arc<dyn KeySource>, StartError> {
    #[cfg(feature = "secrets-manager")]
    return Ok(Arc::new(adapters::secrets_manager::SecretsManagerKeySource::new(
        sdk,
        secret_id.to_owned(),
    )));
    #[cfg(not(feature = "secrets-manager"))]
    {
        let _ = (sdk, secret_id);
        Err(StartError::Other(
            adapters::NotBuiltIn("Secrets Manager", "secrets-manager").to_string(),
        ))
    }
}

/// The secret's versions for the operator, with their creation dates.
fn secret_versions(sdk: &AwsConfig, secret_id: &str) -> Result<Arc<dyn KeyVersions>, StartError> {
    #[cfg(feature = "secrets-manager")]
    return Ok(Arc::new(adapters::secrets_manager::SecretVersions::dated(
        aws_sdk_secretsmanager::Client::new(sdk),
        secret_id.to_owned(),
    )));
    #[cfg(not(feature = "secrets-manager"))]
    {
        let _ = (sdk, secret_id);
        Err(StartError::Other(
            adapters::NotBuiltIn("Secrets Manager", "secrets-manager").to_string(),
        ))
    }
}

/// The signing keys the operator's `keygate keys` works on.
pub struct SigningKeys {
    /// The versions of the secret named by `KEYGATE_SIGNING_SECRET_ID`, else the local keys in
    /// `KEYGATE_DATA_DIR`.
    pub versions: Arc<dyn KeyVersions>,
    /// Where a change republishes the public keys: the table named by `KEYGATE_TABLE`, for the
    /// secret's keys (the local keys are served from their versions directly).
    pub publish_to: Option<Arc<dyn Store>>,
}

/// The configured signing keys, for `keygate keys`. Makes no network call.
pub async fn signing_keys(config: &Config) -> Result<SigningKeys, StartError> {
    if let Some(secret_id) = &config.signing_secret_id {
        let sdk = aws_config().await?;
        let publish_to = match &config.table {
            Some(table) => Some(dynamo_store(&sdk, table)?),
            None => None,
        };
        let versions = secret_versions(&sdk, secret_id)?;
        return Ok(SigningKeys { versions, publish_to });
    }
    let DataDir::Path(dir) = &config.data_dir else {
        return Err(StartError::Other(
            "KEYGATE_DATA_DIR: `:memory:` keeps no keys: name a data directory or set KEYGATE_SIGNING_SECRET_ID".into(),
        ));
    };
    let versions = open_data_dir(dir)?.key_versions();
    Ok(SigningKeys {
        versions,
        publish_to: None,
    })
}

/// One finished step of [`bootstrap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrapped {
    /// The table: created (TTL on), or it existed.
    Table { created: bool },
    /// The signing secret: created with a first key, given one (it held none), or left alone.
    Secret { created: bool, repaired: bool },
    /// How many public keys are now published in the table.
    Published(usize),
    /// How many username skeletons were claimed for accounts created before they were kept.
    SkeletonsClaimed(u64),
}

#[cfg(all(feature = "dynamodb", feature = "secrets-manager"))]
fn other(e: impl std::fmt::Display) -> StartError {
    StartError::Other(e.to_string())
}

/// `keygate bootstrap`: the table named by `KEYGATE_TABLE` and the secret named by
/// `KEYGATE_SIGNING_SECRET_ID` (a first key of `alg`) where absent, the public keys published,
/// old accounts' skeletons claimed. Each step is reported as it finishes.
#[cfg(all(feature = "dynamodb", feature = "secrets-manager"))]
pub async fn bootstrap(config: &Config, alg: Alg, report: &mut dyn FnMut(Bootstrapped)) -> Result<(), StartError> {
    let table = config
        .table
        .as_deref()
        .ok_or_else(|| other("KEYGATE_TABLE: required: the name of the table to create"))?;
    let secret_id = config
        .signing_secret_id
        .as_deref()
        .ok_or_else(|| other("KEYGATE_SIGNING_SECRET_ID: required: the name of the secret to create"))?;
    let sdk = adapters::aws::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let created = adapters::dynamodb::create_table(&dynamo, table).await.map_err(other)?;
    report(Bootstrapped::Table { created });
    let sm = aws_sdk_secretsmanager::Client::new(&sdk);
    let created = adapters::secrets_manager::create_signing_secret(&sm, secret_id, alg)
        .await
        .map_err(other)?;
    let repaired = !created
        && adapters::secrets_manager::repair_signing_secret(&sm, secret_id, alg)
            .await
            .map_err(other)?;
    report(Bootstrapped::Secret { created, repaired });
    let store = adapters::dynamodb::DynamoStore::new(&sdk, table.to_owned());
    let versions = adapters::secrets_manager::SecretVersions::new(sm, secret_id.to_owned());
    let jwks = crate::services::rotation::publish(&versions, &store)
        .await
        .map_err(other)?;
    report(Bootstrapped::Published(jwks.keys.len()));
    report(Bootstrapped::SkeletonsClaimed(
        store.claim_skeletons().await.map_err(other)?,
    ));
    Ok(())
}

/// The whole `main` of a Lambda function: configuration and clients once, then the handler
/// loop. Bad configuration is one line on stderr and exit status 1, never a panic trace.
pub async fn lambda_main(function: Function) {
    return_big_blocks_to_the_os();
    crate::telemetry::init();
    let app = match Config::from_env() {
        Ok(config) => build(config, Mode::Lambda(function)).await,
        Err(e) => Err(e.into()),
    };
    let app = match app {
        Ok(app) => Arc::new(app),
        Err(e) => {
            eprintln!("keygate: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = crate::http::lambda::serve(app, function).await {
        eprintln!("keygate: the Lambda runtime stopped: {e}");
        std::process::exit(1);
    }
}

/// The rotation function's `main`: the secret's versions from Secrets Manager, the public keys
/// published in `KEYGATE_TABLE`.
#[cfg(all(feature = "dynamodb", feature = "secrets-manager"))]
pub async fn rotation_main() {
    crate::telemetry::init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("keygate: configuration error: {e}");
            std::process::exit(1);
        }
    };
    let sdk = adapters::aws::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    let store = match &config.table {
        Some(table) => Some(dynamo_store(&sdk, table).unwrap_or_else(|e| {
            eprintln!("keygate: {e}");
            std::process::exit(1)
        })),
        None => {
            tracing::warn!("KEYGATE_TABLE is not set: the public keys will not be published for the jwks function");
            None
        }
    };
    let secret = move |id: &str| -> Arc<dyn crate::ports::KeyVersions> {
        Arc::new(adapters::secrets_manager::SecretVersions::new(
            client.clone(),
            id.to_owned(),
        ))
    };
    if let Err(e) = crate::rotation::serve(secret, store).await {
        eprintln!("keygate: the Lambda runtime stopped: {e}");
        std::process::exit(1);
    }
}

/// How often `keygate serve` checks the age of its local key and drops expired records.
#[cfg(feature = "sqlite")]
const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

/// The embedded store's housekeeping while `keygate serve` runs: rotates the local signing key
/// when it is `KEYGATE_KEY_ROTATION_DAYS` old, and deletes expired sessions and tokens (what
/// DynamoDB's TTL does on AWS). Several servers on one directory may do it: both steps are
/// safe to race.
/// `None` when nothing is kept in a data directory.
#[cfg(feature = "sqlite")]
pub fn maintain_data_dir(config: &Config) -> Result<Option<tokio::task::JoinHandle<()>>, StartError> {
    let (store, keys) = (config.table.is_none(), config.signing_secret_id.is_none());
    let DataDir::Path(dir) = &config.data_dir else {
        return Ok(None);
    };
    if !store && !keys {
        return Ok(None);
    }
    let rotation_days = config.key_rotation_days;
    let data = open_data_dir(dir)?;
    Ok(Some(tokio::spawn(async move {
        let mut every = tokio::time::interval(MAINTENANCE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        every.tick().await;
        loop {
            every.tick().await;
            let now = crate::domain::time::now();
            if keys {
                let versions = data.key_versions();
                if let Err(e) =
                    crate::services::rotation::ensure_current(versions.as_ref(), rotation_days * 86_400, now, None)
                        .await
                {
                    tracing::error!(error = %e, "the local signing key could not be rotated");
                }
            }
            if store {
                match data.sqlite().sweep(now).await {
                    Ok(gone) => tracing::debug!(gone, "expired records deleted"),
                    Err(e) => tracing::warn!(error = %e, "expired records could not be deleted"),
                }
            }
        }
    })))
}

/// Memory from large allocations (argon2's 19 MiB per password hash) goes back to the system
/// when freed. By default glibc raises its mmap threshold after the first such block is freed,
/// so later ones come from per-thread heaps that keep them: a container that hashed on several
/// blocking threads held 19 MiB for each. A fixed threshold keeps peak memory at one hash's
/// worth per concurrent hash (measured in BENCHMARKS.md).
pub fn return_big_blocks_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called at start, before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
