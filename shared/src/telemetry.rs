//! Logging: structured JSON lines (one per event) on Lambda and when stderr is not a terminal;
//! readable text on a terminal. `RUST_LOG` sets the level (default `info`). Nothing logged
//! carries a password, token, key or secret: log fields are ids, usernames and outcomes.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber (idempotent: a second call does nothing).
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if on_lambda || !std::io::stderr().is_terminal() {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init()
    } else {
        builder.compact().try_init()
    };
}
