//! `keygate bootstrap`: the AWS table and signing secret made ready (`runtime::bootstrap`), each
//! step printed as it finishes.

use super::parse_alg;
use keygate_shared::config::Config;
use keygate_shared::runtime::{self, Bootstrapped};

pub async fn run(config: &Config, alg: &str) -> anyhow::Result<()> {
    let alg = parse_alg(alg)?;
    let table = config.table.as_deref().unwrap_or_default();
    let secret = config.signing_secret_id.as_deref().unwrap_or_default();
    let mut report = |step| match step {
        Bootstrapped::Table { created } => {
            println!("table {table}: {}", if created { "created (TTL on)" } else { "exists" });
        }
        Bootstrapped::Secret { created, repaired } => println!(
            "secret {secret}: {}",
            match (created, repaired) {
                (true, _) => "created with a first key",
                (false, true) => "held no key: a first key is now current",
                (false, false) => "exists",
            }
        ),
        Bootstrapped::Published(keys) => println!("public keys published in {table}: {keys}"),
        Bootstrapped::SkeletonsClaimed(claimed) => {
            println!("username skeletons claimed in {table}: {claimed} (accounts created before they were kept)");
        }
    };
    runtime::bootstrap(config, alg, &mut report).await?;
    Ok(())
}
