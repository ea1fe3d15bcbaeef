//! `keygate serve`: every route on one port, on the configured store and keys.

use anyhow::Context as _;
use keygate_shared::config::{BootstrapAdmin, Config, DataDir};
use keygate_shared::runtime::{Mode, build};
use std::sync::Arc;

/// `--data-dir` and `--admin` over the environment's values, then serves until stopped.
pub async fn run(
    mut config: Config,
    addr: &str,
    data_dir: Option<String>,
    admin: Option<String>,
) -> anyhow::Result<()> {
    if let Some(dir) = data_dir {
        config.data_dir = match dir.as_str() {
            ":memory:" => DataDir::Memory,
            _ => DataDir::Path(dir.into()),
        };
    }
    if let Some(a) = admin {
        config.bootstrap_admin = Some(BootstrapAdmin::parse("--admin", &a)?);
    }
    serve(config, addr).await
}

/// Where the store and the keys are, for the start-up line.
fn described(config: &Config) -> (String, String) {
    let place = match &config.data_dir {
        DataDir::Path(dir) => format!("in {}", dir.display()),
        DataDir::Memory => "in memory: nothing is kept".into(),
    };
    let store = match &config.table {
        Some(table) => format!("DynamoDB table {table}"),
        None => format!("embedded store {place}"),
    };
    let key = match &config.signing_secret_id {
        Some(_) => "Secrets Manager key".to_owned(),
        None => format!("local keys {place}"),
    };
    (store, key)
}

async fn serve(config: Config, addr: &str) -> anyhow::Result<()> {
    keygate_shared::runtime::return_big_blocks_to_the_os();
    let admin = config.bootstrap_admin.clone();
    let (store, key) = described(&config);
    let issuer = config.issuer.clone();
    let maintenance = keygate_shared::runtime::maintain_data_dir(&config)?;
    let app = Arc::new(build(config, Mode::Local).await?);
    // A long-running server reads its signing key at start: a missing or invalid key is a clear
    // start-up error here (Lambda functions read it on first use, to keep their init fast).
    app.keys
        .signing_key()
        .await
        .context("the signing key could not be loaded")?;
    if let Some(a) = admin {
        app.ensure_admin(&a.username, &a.password)
            .await
            .context("--admin / KEYGATE_BOOTSTRAP_ADMIN")?;
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("--addr {addr}"))?;
    let local = listener.local_addr()?;
    eprintln!("keygate listening on http://{local} ({store}, {key}; issuer {issuer})");
    let served = keygate_shared::http::server::serve(app, listener).await;
    if let Some(task) = maintenance {
        task.abort();
    }
    Ok(served?)
}
