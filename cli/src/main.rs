//! `keygate`: the local server and the operator's tools (`docs/cli.md`).

use clap::{Args, Parser, Subcommand};
use keygate_shared::config::{BootstrapAdmin, Config, DataDir};
use keygate_shared::domain::ApiKeyName;
use keygate_shared::domain::keys::{Alg, SigningKey};
use keygate_shared::runtime::{Mode, build};
use keygate_shared::services::{Keygate, NewUser};
use std::io::Read as _;
use std::process::ExitCode;
use std::sync::Arc;

mod local_keys;
mod transfer;

/// keygate: JWT authentication for APIs on AWS.
///
/// Every command reads the KEYGATE_* environment variables (see the README). The operator
/// commands work on the DynamoDB table named by KEYGATE_TABLE and the signing secret named by
/// KEYGATE_SIGNING_SECRET_ID (standard AWS credential chain) when those are set, else on the
/// embedded store and keys in KEYGATE_DATA_DIR (default ./keygate-data), the ones `keygate
/// serve` uses, also while it runs.
#[derive(Parser)]
#[command(name = "keygate", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every route on one port: the embedded store and keys in KEYGATE_DATA_DIR unless
    /// KEYGATE_TABLE / KEYGATE_SIGNING_SECRET_ID are set.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:3000")]
        addr: String,
        /// The data directory (overrides KEYGATE_DATA_DIR; `:memory:` keeps nothing).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<String>,
        /// Ensure this admin account exists at start (USERNAME:PASSWORD); overrides
        /// KEYGATE_BOOTSTRAP_ADMIN.
        #[arg(long, value_name = "USERNAME:PASSWORD")]
        admin: Option<String>,
    },
    /// Create the DynamoDB table (TTL on) and the signing secret with a first key, where absent.
    Bootstrap {
        /// Algorithm of the first signing key.
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage API keys.
    #[command(subcommand, name = "apikey")]
    ApiKey(ApiKeyCommand),
    /// Manage login sessions.
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Issue tokens for scripts.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Invite someone by e-mail: creates an invitation (with these roles), mails its link
    /// through KEYGATE_MAILER, and prints it as JSON with "url", the link, for delivery by hand.
    Invite {
        email: String,
        /// A role the new account gets (repeatable).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// Manage the signing keys (the secret named by KEYGATE_SIGNING_SECRET_ID, else the local
    /// keys in KEYGATE_DATA_DIR).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print every account and API key (hashes only) as JSON lines, for `keygate import`.
    Export,
    /// Read `keygate export` lines from standard input into the configured store; existing
    /// usernames, emails and key ids are refused, never overwritten. Prints the counts.
    Import,
    /// Write a consistent copy of the embedded store (and its local keys) to FILE, while servers
    /// run. Restore by stopping keygate and putting the copy in place of keygate.db.
    Backup { file: std::path::PathBuf },
    /// Print a new private signing key (a private JWK). Treat the output as a secret.
    Keygen {
        /// RS256 (default), ES256 or EdDSA.
        #[arg(long, default_value = "RS256")]
        alg: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input, never from the arguments.
    Add(UserAdd),
    /// Clear the login lockout of a username (after failed passwords), so its owner can log in
    /// at once.
    Unlock { username: String },
}

#[derive(Args)]
struct UserAdd {
    username: String,
    #[arg(long)]
    email: Option<String>,
    /// A role (repeatable).
    #[arg(long = "role", value_name = "ROLE")]
    roles: Vec<String>,
    /// Read the password from standard input (one line; the trailing newline is removed).
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Subcommand)]
enum ApiKeyCommand {
    /// Create an API key and print it (shown this once) as JSON.
    Create {
        /// The key's label: 1-128 printable characters.
        name: ApiKeyName,
        /// A role (repeatable).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Lifetime in seconds (no expiry by default).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<i64>,
    },
    /// Revoke (delete) an API key; it stops working at once.
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum SessionsCommand {
    /// Revoke every login session (refresh token) of an account.
    Revoke { username: String },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print an access token for an account.
    Issue { username: String },
}

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Print one JSON line per published key: kid, alg, state (current, pending, previous),
    /// created_at.
    List,
    /// Rotate: a new current key, the old one published as previous (AWS: starts the secret's
    /// rotation; Secrets Manager runs the rotation function).
    Rotate,
    /// Stop publishing and trusting a previous key at once (a key believed compromised).
    /// Refused for the current or pending key. AWS: needs KEYGATE_TABLE too, to republish.
    Retire { kid: String },
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("keygate: {msg}");
    ExitCode::FAILURE
}

fn parse_alg(s: &str) -> Result<Alg, String> {
    s.parse::<Alg>()
        .map_err(|_| format!("--alg: expected RS256, ES256 or EdDSA, got {s:?}"))
}

/// keygate wired to the configured store and keys, for operator commands.
async fn operator(config: Config, keys: bool) -> Result<Keygate, String> {
    if config.table.is_none() && config.data_dir == DataDir::Memory {
        return Err(
            "KEYGATE_DATA_DIR: `:memory:` keeps nothing: operator commands need a data directory or KEYGATE_TABLE"
                .into(),
        );
    }
    build(config, Mode::Operator { keys }).await.map_err(|e| e.to_string())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    keygate_shared::telemetry::init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(format!("configuration error: {e}")),
    };
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

async fn run(command: Command, mut config: Config) -> Result<(), String> {
    match command {
        Command::Serve { addr, admin, data_dir } => {
            if let Some(dir) = data_dir {
                config.data_dir = match dir.as_str() {
                    ":memory:" => DataDir::Memory,
                    _ => DataDir::Path(dir.into()),
                };
            }
            if let Some(a) = admin {
                config.bootstrap_admin = Some(BootstrapAdmin::parse("--admin", &a).map_err(|e| e.to_string())?);
            }
            serve(config, &addr).await
        }
        Command::Bootstrap { alg } => {
            let alg = parse_alg(&alg)?;
            let table = config
                .table
                .clone()
                .ok_or("KEYGATE_TABLE: required: the name of the table to create")?;
            let secret = config
                .signing_secret_id
                .clone()
                .ok_or("KEYGATE_SIGNING_SECRET_ID: required: the name of the secret to create")?;
            let sdk = keygate_shared::adapters::aws::sdk_config().await;
            let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
            let created = keygate_shared::adapters::dynamodb::create_table(&dynamo, &table)
                .await
                .map_err(|e| e.to_string())?;
            println!("table {table}: {}", if created { "created (TTL on)" } else { "exists" });
            let sm = aws_sdk_secretsmanager::Client::new(&sdk);
            let created = keygate_shared::adapters::secrets_manager::create_signing_secret(&sm, &secret, alg)
                .await
                .map_err(|e| e.to_string())?;
            let repaired = !created
                && keygate_shared::adapters::secrets_manager::repair_signing_secret(&sm, &secret, alg)
                    .await
                    .map_err(|e| e.to_string())?;
            println!(
                "secret {secret}: {}",
                match (created, repaired) {
                    (true, _) => "created with a first key",
                    (false, true) => "held no key: a first key is now current",
                    (false, false) => "exists",
                }
            );
            let store = keygate_shared::adapters::dynamodb::DynamoStore::new(&sdk, table.clone());
            let versions = keygate_shared::adapters::secrets_manager::SecretVersions::new(sm.clone(), secret.clone());
            let jwks = keygate_shared::services::rotation::publish(&versions, &store)
                .await
                .map_err(|e| e.to_string())?;
            println!("public keys published in {table}: {}", jwks.keys.len());
            let claimed = store.claim_skeletons().await.map_err(|e| e.to_string())?;
            println!("username skeletons claimed in {table}: {claimed} (accounts created before they were kept)");
            Ok(())
        }
        Command::User(UserCommand::Add(u)) => {
            if !u.password_stdin {
                return Err("the password is read from standard input: pass --password-stdin".into());
            }
            let mut input = String::new();
            std::io::stdin()
                .take(64 * 1024)
                .read_to_string(&mut input)
                .map_err(|e| format!("reading stdin: {e}"))?;
            let password = input
                .strip_suffix('\n')
                .map(|s| s.strip_suffix('\r').unwrap_or(s))
                .unwrap_or(&input)
                .to_owned();
            let app = operator(config, false).await?;
            let account = app
                .create_user(NewUser {
                    username: u.username,
                    password: password.into(),
                    email: u.email,
                    roles: u.roles,
                })
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::json!({"user_id": account.user_id.as_str(), "username": account.username.as_str(), "roles": account.roles.names()})
            );
            Ok(())
        }
        Command::User(UserCommand::Unlock { username }) => {
            let app = operator(config, false).await?;
            app.unlock_user(&username).await.map_err(|e| e.to_string())?;
            println!("{username} unlocked");
            Ok(())
        }
        Command::ApiKey(ApiKeyCommand::Create {
            name,
            roles,
            expires_in,
        }) => {
            let app = operator(config, false).await?;
            let created = app
                .create_api_key(name.as_str(), &roles, expires_in)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string(&created).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::ApiKey(ApiKeyCommand::Revoke { key_id }) => {
            let app = operator(config, false).await?;
            app.delete_api_key(&key_id).await.map_err(|e| e.to_string())?;
            println!("API key {key_id} revoked");
            Ok(())
        }
        Command::Sessions(SessionsCommand::Revoke { username }) => {
            let app = operator(config, false).await?;
            app.revoke_sessions(&username).await.map_err(|e| e.to_string())?;
            println!("every session of {username} revoked");
            Ok(())
        }
        Command::Invite { email, roles } => {
            let app = operator(config, false).await?;
            let created = app.invite(&email, &roles).await.map_err(|e| e.to_string())?;
            let mut out = serde_json::to_value(&created.view).map_err(|e| e.to_string())?;
            out["url"] = created.url.into();
            println!("{out}");
            Ok(())
        }
        Command::Token(TokenCommand::Issue { username }) => {
            let app = operator(config, true).await?;
            println!("{}", app.issue_token(&username).await.map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Keys(cmd) if config.signing_secret_id.is_some() => keys(cmd, &config).await,
        Command::Keys(cmd) => local_keys::run(cmd, &config).await,
        Command::Export => transfer::export(operator(config, false).await?).await,
        Command::Import => transfer::import(operator(config, false).await?).await,
        Command::Backup { file } => transfer::backup(&config, file).await,
        Command::Keygen { alg } => {
            let key = SigningKey::generate(parse_alg(&alg)?).map_err(|e| e.to_string())?;
            println!("{}", key.to_jwk_json());
            Ok(())
        }
    }
}

/// `keygate keys`: on the Secrets Manager secret (the embedded store's keys are not handled here).
async fn keys(command: KeysCommand, config: &Config) -> Result<(), String> {
    use keygate_shared::adapters::secrets_manager as sm;
    let secret = config
        .signing_secret_id
        .clone()
        .ok_or("KEYGATE_SIGNING_SECRET_ID: required: `keygate keys` works on the signing secret in Secrets Manager")?;
    let sdk = keygate_shared::adapters::aws::sdk_config().await;
    let client = aws_sdk_secretsmanager::Client::new(&sdk);
    match command {
        KeysCommand::List => {
            for key in sm::list_signing_keys(&client, &secret)
                .await
                .map_err(|e| e.to_string())?
            {
                println!("{}", serde_json::to_string(&key).map_err(|e| e.to_string())?);
            }
        }
        KeysCommand::Rotate => {
            let version = sm::start_rotation(&client, &secret).await.map_err(|e| e.to_string())?;
            println!("rotation of {secret} started (new version {version})");
        }
        KeysCommand::Retire { kid } => {
            let table = config
                .table
                .clone()
                .ok_or("KEYGATE_TABLE: required: retiring a key republishes the public keys in the table")?;
            let store = keygate_shared::adapters::dynamodb::DynamoStore::new(&sdk, table.clone());
            let jwks = sm::retire_signing_key(&client, &secret, &kid, &store)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "key {kid} retired; public keys published in {table}: {}",
                jwks.keys.len()
            );
        }
    }
    Ok(())
}

async fn serve(config: Config, addr: &str) -> Result<(), String> {
    keygate_shared::runtime::return_big_blocks_to_the_os();
    let admin = config.bootstrap_admin.clone();
    let dir = match &config.data_dir {
        DataDir::Path(dir) => Some(dir.clone()),
        DataDir::Memory => None,
    };
    let place = match &dir {
        Some(dir) => format!("in {}", dir.display()),
        None => "in memory: nothing is kept".into(),
    };
    let store = match &config.table {
        Some(table) => format!("DynamoDB table {table}"),
        None => format!("embedded store {place}"),
    };
    let key = match &config.signing_secret_id {
        Some(_) => "Secrets Manager key".to_owned(),
        None => format!("local keys {place}"),
    };
    let issuer = config.issuer.clone();
    let maintenance = keygate_shared::runtime::maintain_data_dir(&config).map_err(|e| e.to_string())?;
    let app = Arc::new(build(config, Mode::Local).await.map_err(|e| e.to_string())?);
    // A long-running server reads its signing key at start: a missing or invalid key is a clear
    // start-up error here (Lambda functions read it on first use, to keep their init fast).
    app.keys
        .signing_key()
        .await
        .map_err(|e| format!("the signing key could not be loaded: {e}"))?;
    if let Some(a) = admin {
        app.ensure_admin(&a.username, &a.password)
            .await
            .map_err(|e| format!("--admin / KEYGATE_BOOTSTRAP_ADMIN: {e}"))?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("--addr {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    eprintln!("keygate listening on http://{local} ({store}, {key}; issuer {issuer})");
    let served = keygate_shared::http::server::serve(app, listener).await;
    if let Some(task) = maintenance {
        task.abort();
    }
    served.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apikey_create_takes_the_api_key_name_rule() {
        let create = |name: &str| Cli::try_parse_from(["keygate", "apikey", "create", name]).map(drop);
        assert!(create(&"é".repeat(128)).is_ok());
        for bad in ["x".repeat(129), String::new(), "a\nb".into()] {
            assert!(create(&bad).is_err(), "{bad:?}");
        }
    }
}
