//! `keygate keys` and `keygate keygen`: the signing keys, on the secret named by
//! KEYGATE_SIGNING_SECRET_ID or else the local keys in KEYGATE_DATA_DIR, through the one set of
//! rotation rules (`services::rotation`). A running `keygate serve` on that directory picks a
//! change to the local keys up within seconds.

use super::{parse_alg, print_json};
use crate::KeysCommand;
use anyhow::bail;
use keygate_shared::config::Config;
use keygate_shared::domain::keys::SigningKey;
use keygate_shared::runtime;
use keygate_shared::services::rotation::{self, Rotation};

pub async fn run(command: KeysCommand, config: &Config) -> anyhow::Result<()> {
    let secret = config.signing_secret_id.as_deref();
    if let (KeysCommand::Retire { .. }, Some(_), None) = (&command, secret, &config.table) {
        bail!("KEYGATE_TABLE: required: retiring a key republishes the public keys in the table");
    }
    let keys = runtime::signing_keys(config).await?;
    let (versions, publish_to) = (keys.versions.as_ref(), keys.publish_to.as_deref());
    match command {
        KeysCommand::List => {
            for key in rotation::list_keys(versions).await? {
                print_json(&key)?;
            }
        }
        KeysCommand::Rotate => match rotation::rotate_command(versions, publish_to).await? {
            Rotation::Started { version } => {
                println!(
                    "rotation of {} started (new version {version})",
                    secret.unwrap_or_default()
                );
            }
            Rotation::Finished { kid } => {
                println!("new current key {kid}; the previous one stays published until the next rotation");
            }
        },
        KeysCommand::Retire { kid } => {
            let jwks = rotation::retire(versions, &kid, publish_to).await?;
            match (secret, &config.table) {
                (Some(_), Some(table)) => println!(
                    "key {kid} retired; public keys published in {table}: {}",
                    jwks.keys.len()
                ),
                _ => println!("key {kid} retired; published keys: {}", jwks.keys.len()),
            }
        }
    }
    Ok(())
}

/// `keygate keygen`: a new private JWK on standard output.
pub fn keygen(alg: &str) -> anyhow::Result<()> {
    let key = SigningKey::generate(parse_alg(alg)?)?;
    println!("{}", key.to_jwk_json());
    Ok(())
}
