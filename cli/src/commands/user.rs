//! `keygate user add` and `keygate user unlock`: accounts.

use super::operator;
use crate::UserAdd;
use anyhow::{Context as _, bail};
use keygate_shared::config::Config;
use keygate_shared::services::NewUser;
use std::io::Read as _;

/// Longest password input read from standard input.
const MAX_INPUT: u64 = 64 * 1024;

/// `keygate user add`: the password from standard input, never from the arguments.
pub async fn add(config: Config, u: UserAdd) -> anyhow::Result<()> {
    if !u.password_stdin {
        bail!("the password is read from standard input: pass --password-stdin");
    }
    let password = read_password()?;
    let app = operator(config, false).await?;
    let account = app
        .create_user(NewUser {
            username: u.username,
            password: password.into(),
            email: u.email,
            roles: u.roles,
        })
        .await?;
    println!("{}", keygate_shared::services::new_account_view(&account));
    Ok(())
}

/// One line of standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(MAX_INPUT)
        .read_to_string(&mut input)
        .context("reading stdin")?;
    Ok(input
        .strip_suffix('\n')
        .map(|s| s.strip_suffix('\r').unwrap_or(s))
        .unwrap_or(&input)
        .to_owned())
}

/// `keygate user unlock`.
pub async fn unlock(config: Config, username: &str) -> anyhow::Result<()> {
    operator(config, false).await?.unlock_user(username).await?;
    println!("{username} unlocked");
    Ok(())
}
