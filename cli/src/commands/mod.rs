//! The `keygate` commands, one file per command group, and what several of them share.

pub mod apikey;
pub mod bootstrap;
pub mod invite;
pub mod keys;
pub mod serve;
pub mod sessions;
pub mod token;
pub mod transfer;
pub mod user;

use anyhow::bail;
use keygate_shared::config::{Config, DataDir};
use keygate_shared::domain::keys::Alg;
use keygate_shared::runtime::{Mode, build};
use keygate_shared::services::Keygate;

/// The error as one line: each cause after the message, unless the message already says it (a
/// `thiserror` message often quotes its source).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if line.is_empty() {
            line = cause;
        } else if !line.contains(&cause) {
            line = format!("{line}: {cause}");
        }
    }
    line
}

/// An `--alg` value.
pub fn parse_alg(s: &str) -> anyhow::Result<Alg> {
    s.parse::<Alg>()
        .map_err(|_| anyhow::anyhow!("--alg: expected RS256, ES256 or EdDSA, got {s:?}"))
}

/// keygate wired to the configured store (and, with `keys`, the signing keys), for operator
/// commands.
pub async fn operator(config: Config, keys: bool) -> anyhow::Result<Keygate> {
    if config.table.is_none() && config.data_dir == DataDir::Memory {
        bail!("KEYGATE_DATA_DIR: `:memory:` keeps nothing: operator commands need a data directory or KEYGATE_TABLE");
    }
    Ok(build(config, Mode::Operator { keys }).await?)
}

/// Prints `value` as one JSON line.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}
