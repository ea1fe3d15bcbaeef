//! `keygate keys` on the embedded store's local keys (docs/cli.md): the same
//! rotation steps as the signing secret on AWS (`services::rotation`), on the keys kept in
//! `KEYGATE_DATA_DIR`. A running `keygate serve` on that directory picks the change up within
//! seconds.

use crate::KeysCommand;
use keygate_shared::config::{Config, DataDir};
use keygate_shared::services::rotation;

pub async fn run(command: KeysCommand, config: &Config) -> Result<(), String> {
    let DataDir::Path(dir) = &config.data_dir else {
        return Err(
            "KEYGATE_DATA_DIR: `:memory:` keeps no keys: name a data directory or set KEYGATE_SIGNING_SECRET_ID".into(),
        );
    };
    let data = keygate_shared::runtime::open_data_dir(dir).map_err(|e| e.to_string())?;
    let versions = data.key_versions();
    match command {
        KeysCommand::List => {
            for key in rotation::list_keys(versions.as_ref())
                .await
                .map_err(|e| e.to_string())?
            {
                println!("{}", serde_json::to_string(&key).map_err(|e| e.to_string())?);
            }
        }
        KeysCommand::Rotate => {
            let kid = rotation::rotate_now(versions.as_ref(), None)
                .await
                .map_err(|e| format!("the rotation failed: {e}"))?;
            println!("new current key {kid}; the previous one stays published until the next rotation");
        }
        KeysCommand::Retire { kid } => {
            let jwks = rotation::retire(versions.as_ref(), &kid, None)
                .await
                .map_err(|e| e.to_string())?;
            println!("key {kid} retired; published keys: {}", jwks.keys.len());
        }
    }
    Ok(())
}
