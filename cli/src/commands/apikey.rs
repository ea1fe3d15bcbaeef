//! `keygate apikey create` and `keygate apikey revoke`: API keys.

use super::{operator, print_json};
use crate::ApiKeyCommand;
use keygate_shared::config::Config;

pub async fn run(config: Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    let app = operator(config, false).await?;
    match command {
        ApiKeyCommand::Create {
            name,
            roles,
            expires_in,
        } => print_json(&app.create_api_key(name.as_str(), &roles, expires_in).await?),
        ApiKeyCommand::Revoke { key_id } => {
            app.delete_api_key(&key_id).await?;
            println!("API key {key_id} revoked");
            Ok(())
        }
    }
}
