//! Logging: structured JSON lines (one per event) on Lambda and when stderr is not a terminal;
//! readable text on a terminal. `RUST_LOG` sets the levels, as `level` or
//! `target=level,...` (default `info`). Nothing logged carries a password, token, key or secret:
//! log fields are ids, usernames and outcomes.

use std::io::IsTerminal;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Crates that log whole request or response payloads (passwords, tokens) at trace level: they
/// never log below debug, whatever `RUST_LOG` says.
const NEVER_TRACE: [&str; 2] = ["lambda_runtime", "lambda_runtime_api_client"];

/// The filter for a `RUST_LOG` value (`None` or unparsable: `info`), with [`NEVER_TRACE`] capped.
pub fn filter(rust_log: Option<&str>) -> Targets {
    let asked: Targets = rust_log
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    let default = asked.default_level().unwrap_or(LevelFilter::OFF);
    let capped = |target: &str, level: LevelFilter| {
        if NEVER_TRACE.iter().any(|c| target.starts_with(c)) {
            level.min(LevelFilter::DEBUG)
        } else {
            level
        }
    };
    let mut out = Targets::new().with_default(default);
    for (target, level) in asked.iter() {
        out = out.with_target(target, capped(target, level));
    }
    for c in NEVER_TRACE {
        if !asked.iter().any(|(t, _)| t == c) {
            out = out.with_target(c, default.min(LevelFilter::DEBUG));
        }
    }
    out
}

/// Installs the global subscriber (idempotent: a second call does nothing).
pub fn init() {
    let filter = filter(std::env::var("RUST_LOG").ok().as_deref());
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = if on_lambda || !std::io::stderr().is_terminal() {
        let json = fmt
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true);
        tracing_subscriber::registry().with(json.with_filter(filter)).try_init()
    } else {
        tracing_subscriber::registry()
            .with(fmt.compact().with_filter(filter))
            .try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(f: &Targets, target: &str, level: Level) -> bool {
        f.would_enable(target, &level)
    }

    #[test]
    fn rust_log_sets_levels_but_the_lambda_runtime_never_traces() {
        let f = filter(None);
        assert!(enabled(&f, "keygate::audit", Level::INFO) && !enabled(&f, "keygate", Level::DEBUG));
        let f = filter(Some("trace"));
        assert!(enabled(&f, "aws_smithy_runtime", Level::TRACE));
        assert!(enabled(&f, "lambda_runtime::layers", Level::DEBUG));
        assert!(!enabled(&f, "lambda_runtime::layers::api_response", Level::TRACE));
        assert!(!enabled(&f, "lambda_runtime_api_client", Level::TRACE));
        let f = filter(Some("warn,lambda_runtime::layers=trace"));
        assert!(!enabled(&f, "lambda_runtime::layers::api_response", Level::TRACE));
        assert!(!enabled(&f, "keygate", Level::INFO));
        let f = filter(Some("not a filter ==="));
        assert!(enabled(&f, "keygate", Level::INFO));
    }
}
