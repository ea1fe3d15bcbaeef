//! The AWS SDK configuration shared by every AWS adapter: deliberate timeouts and retries, so
//! an unreachable dependency becomes a 503 within the function's time budget. `AWS_ENDPOINT_URL`
//! (a local emulator) is honoured by the SDK itself.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// Loads the SDK configuration: region and credentials from the standard chain; connect
/// timeout 1 s, 2 s per attempt, 5 s per operation, at most 3 attempts.
pub async fn sdk_config() -> SdkConfig {
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build();
    aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(timeouts)
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .load()
        .await
}

/// A short description of an SDK error for logs (never contains request payloads).
pub fn describe<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
