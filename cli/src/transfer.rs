//! `keygate export`, `keygate import` and `keygate backup`: moving accounts and API keys between
//! stores as JSON lines (`services::transfer`), and copying the embedded database while it runs.

use keygate_shared::config::{Config, DataDir};
use keygate_shared::services::Keygate;
use keygate_shared::services::transfer::{self, ImportReport, LineError};
use std::io::{BufRead as _, Write as _};

/// Longest line accepted on import (an account line is well under 1 KB).
const MAX_LINE: usize = 64 * 1024;

pub async fn export(app: Keygate) -> Result<(), String> {
    let lines = transfer::export(app.store.as_ref()).await.map_err(|e| e.to_string())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut accounts, mut keys) = (0, 0);
    for line in &lines {
        match line {
            transfer::Line::Account { .. } => accounts += 1,
            transfer::Line::ApiKey { .. } => keys += 1,
            transfer::Line::Header { .. } => {}
        }
        let text = serde_json::to_string(line).map_err(|e| e.to_string())?;
        writeln!(out, "{text}").map_err(|e| format!("writing stdout: {e}"))?;
    }
    out.flush().map_err(|e| format!("writing stdout: {e}"))?;
    eprintln!("keygate: exported {accounts} accounts and {keys} API keys");
    Ok(())
}

pub async fn import(app: Keygate) -> Result<(), String> {
    let mut report = ImportReport::default();
    let stdin = std::io::stdin().lock();
    for (n, line) in stdin.lines().enumerate() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
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
            Err(LineError::Store(e)) => return Err(format!("line {}: the store failed: {e}", n + 1)),
            Err(e) => eprintln!("keygate: line {}: refused: {e}", n + 1),
        }
    }
    println!("{}", serde_json::to_string(&report).map_err(|e| e.to_string())?);
    if report.duplicates_refused + report.invalid_refused > 0 {
        return Err(format!(
            "{} lines refused (see above); the others were imported",
            report.duplicates_refused + report.invalid_refused
        ));
    }
    Ok(())
}

pub async fn backup(config: &Config, file: std::path::PathBuf) -> Result<(), String> {
    let DataDir::Path(dir) = &config.data_dir else {
        return Err("KEYGATE_DATA_DIR: `:memory:` has nothing to back up".into());
    };
    if file.exists() {
        return Err(format!("{}: exists; choose a new file", file.display()));
    }
    let data = keygate_shared::runtime::open_data_dir(dir).map_err(|e| e.to_string())?;
    data.sqlite()
        .db()
        .backup(file.clone())
        .await
        .map_err(|e| format!("backup to {}: {e}", file.display()))?;
    private(&file).map_err(|e| format!("{}: {e}", file.display()))?;
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
