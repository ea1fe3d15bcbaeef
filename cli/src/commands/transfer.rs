//! `keygate export`, `keygate import` and `keygate backup`: moving accounts and API keys between
//! stores as JSON lines (`services::transfer`), and copying the embedded database while it runs.

use super::operator;
use anyhow::{Context as _, bail};
use keygate_shared::config::{Config, DataDir};
use keygate_shared::services::transfer::{self, ImportReport, LineError};
use std::io::{BufRead as _, Write as _};

/// Longest line accepted on import (an account line is well under 1 KB).
const MAX_LINE: usize = 64 * 1024;

pub async fn export(config: Config) -> anyhow::Result<()> {
    let app = operator(config, false).await?;
    let lines = transfer::export(app.store.as_ref()).await?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut accounts, mut keys) = (0, 0);
    for line in &lines {
        match line {
            transfer::Line::Account { .. } => accounts += 1,
            transfer::Line::ApiKey { .. } => keys += 1,
            transfer::Line::Header { .. } => {}
        }
        let text = serde_json::to_string(line)?;
        writeln!(out, "{text}").context("writing stdout")?;
    }
    out.flush().context("writing stdout")?;
    eprintln!("keygate: exported {accounts} accounts and {keys} API keys");
    Ok(())
}

pub async fn import(config: Config) -> anyhow::Result<()> {
    let app = operator(config, false).await?;
    let mut report = ImportReport::default();
    let stdin = std::io::stdin().lock();
    for (n, line) in stdin.lines().enumerate() {
        let line = line.context("reading stdin")?;
        if line.trim().is_empty() {
            continue;
        }
        if line.len() > MAX_LINE {
            report.invalid_refused += 1;
            eprintln!("keygate: line {}: refused: longer than {MAX_LINE} bytes", n + 1);
            continue;
        }
        match transfer::import_line(app.store.as_ref(), &line, &mut report).await {
            Ok(()) => {}
            Err(LineError::Store(e)) => bail!("line {}: the store failed: {e}", n + 1),
            Err(e) => eprintln!("keygate: line {}: refused: {e}", n + 1),
        }
    }
    super::print_json(&report)?;
    let refused = report.duplicates_refused + report.invalid_refused;
    if refused > 0 {
        bail!("{refused} lines refused (see above); the others were imported");
    }
    Ok(())
}

pub async fn backup(config: &Config, file: std::path::PathBuf) -> anyhow::Result<()> {
    let DataDir::Path(dir) = &config.data_dir else {
        bail!("KEYGATE_DATA_DIR: `:memory:` has nothing to back up");
    };
    if file.exists() {
        bail!("{}: exists; choose a new file", file.display());
    }
    let data = keygate_shared::runtime::open_data_dir(dir)?;
    data.sqlite()
        .db()
        .backup(file.clone())
        .await
        .with_context(|| format!("backup to {}", file.display()))?;
    private(&file).with_context(|| format!("{}", file.display()))?;
    println!(
        "backed up {} to {}",
        data.sqlite().db().path().display(),
        file.display()
    );
    Ok(())
}

/// The copy holds password hashes and private keys: owner-only, like the original.
#[cfg(unix)]
fn private(file: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn private(_file: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}
