//! `keygate`: the local server and the operator's tools (`docs/cli.md`).

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use commands::{apikey, bootstrap, invite, keys, serve, sessions, token, transfer, user};
use keygate_shared::config::Config;
use keygate_shared::domain::ApiKeyName;
use std::process::ExitCode;

mod commands;

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

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    keygate_shared::telemetry::init();
    let done = match Config::from_env().context("configuration error") {
        Ok(config) => run(cli.command, config).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keygate: {}", commands::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve { addr, admin, data_dir } => serve::run(config, &addr, data_dir, admin).await,
        Command::Bootstrap { alg } => bootstrap::run(&config, &alg).await,
        Command::User(UserCommand::Add(u)) => user::add(config, u).await,
        Command::User(UserCommand::Unlock { username }) => user::unlock(config, &username).await,
        Command::ApiKey(cmd) => apikey::run(config, cmd).await,
        Command::Sessions(SessionsCommand::Revoke { username }) => sessions::revoke(config, &username).await,
        Command::Invite { email, roles } => invite::run(config, &email, &roles).await,
        Command::Token(TokenCommand::Issue { username }) => token::issue(config, &username).await,
        Command::Keys(cmd) => keys::run(cmd, &config).await,
        Command::Export => transfer::export(config).await,
        Command::Import => transfer::import(config).await,
        Command::Backup { file } => transfer::backup(&config, file).await,
        Command::Keygen { alg } => keys::keygen(&alg),
    }
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
