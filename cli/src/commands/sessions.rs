//! `keygate sessions revoke`: an account's login sessions.

use super::operator;
use keygate_shared::config::Config;

pub async fn revoke(config: Config, username: &str) -> anyhow::Result<()> {
    operator(config, false).await?.revoke_sessions(username).await?;
    println!("every session of {username} revoked");
    Ok(())
}
