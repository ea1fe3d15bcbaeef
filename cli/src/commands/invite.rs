//! `keygate invite`: an invitation mailed, and printed with its link.

use super::operator;
use keygate_shared::config::Config;

pub async fn run(config: Config, email: &str, roles: &[String]) -> anyhow::Result<()> {
    let created = operator(config, false).await?.invite(email, roles).await?;
    let mut out = serde_json::to_value(&created.view)?;
    out["url"] = created.url.into();
    println!("{out}");
    Ok(())
}
