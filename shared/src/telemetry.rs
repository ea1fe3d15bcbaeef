//! Logging: structured JSON lines (one per event) on Lambda and when stderr is not a terminal;
//! readable text on a terminal. `RUST_LOG` sets the level (default `info`). Nothing logged
//! carries a password, token, key or secret: log fields are ids, usernames and outcomes.

use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;

/// Crates that log request or response payloads at trace level, capped at debug.
const NEVER_TRACE: [&str; 2] = ["lambda_runtime=debug", "lambda_runtime_api_client=debug"];

/// Installs the global subscriber (idempotent: a second call does nothing).
pub fn init() {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Whatever RUST_LOG says: the Lambda runtime logs whole events and answers (passwords,
    // tokens) at trace level, so its crates never log below debug.
    for capped in NEVER_TRACE {
        if let Ok(d) = capped.parse() {
            filter = filter.add_directive(d);
        }
    }
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
