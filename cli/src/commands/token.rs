//! `keygate token issue`: an access token for scripts.

use super::operator;
use keygate_shared::config::Config;

pub async fn issue(config: Config, username: &str) -> anyhow::Result<()> {
    println!("{}", operator(config, true).await?.issue_token(username).await?);
    Ok(())
}
