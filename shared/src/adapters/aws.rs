//! The AWS SDK configuration shared by every AWS adapter: deliberate timeouts and retries, so
//! an unreachable dependency becomes a 503 within the function's time budget.
//!
//! The Lambda functions build it by hand from what Lambda puts in the environment (region,
//! the execution role's credentials, and `AWS_ENDPOINT_URL` for a local emulator): no profile
//! files, no credential chain, no STS client, so less code and a faster start. The CLI (feature
//! `aws-sso`) uses aws-config's whole chain instead: profiles, SSO, `credential_process`.

use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use std::time::Duration;

/// Connect timeout 1 s, 2 s per attempt, 5 s per operation.
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .build()
}

/// Standard retries (exponential backoff with jitter, throttling-aware), at most 3 attempts.
fn retries() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

/// Loads the SDK configuration with aws-config's default chain (CLI).
#[cfg(feature = "aws-sso")]
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(retries())
        .load()
        .await
}

/// Builds the SDK configuration from the Lambda environment: `AWS_REGION` (or
/// `AWS_DEFAULT_REGION`), `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, and
/// `AWS_ENDPOINT_URL` when set. Makes no call.
#[cfg(not(feature = "aws-sso"))]
pub async fn sdk_config() -> SdkConfig {
    lambda_config(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// [`sdk_config`] from the Lambda environment, with the variables looked up by `var`.
pub fn lambda_config(var: impl Fn(&str) -> Option<String>) -> SdkConfig {
    use aws_credential_types::Credentials;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_smithy_runtime_api::client::behavior_version::BehaviorVersion;
    use aws_types::region::Region;

    let mut b = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .timeout_config(timeouts())
        .retry_config(retries());
    if let Some(region) = var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")) {
        b = b.region(Region::new(region));
    }
    if let (Some(id), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
        let creds = Credentials::new(id, secret, var("AWS_SESSION_TOKEN"), None, "LambdaEnvironment");
        b = b.credentials_provider(SharedCredentialsProvider::new(creds));
    }
    if let Some(url) = var("AWS_ENDPOINT_URL") {
        b = b.endpoint_url(url);
    }
    b.build()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lambda_environment_configures_region_credentials_and_endpoint() {
        let env = [
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_SESSION_TOKEN", "session"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ];
        let c = lambda_config(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()));
        assert_eq!(c.region().map(|r| r.as_ref()), Some("eu-west-1"));
        assert_eq!(c.endpoint_url(), Some("http://127.0.0.1:4566"));
        assert!(c.credentials_provider().is_some());
        assert_eq!(c.retry_config().map(|r| r.max_attempts()), Some(3));
        assert_eq!(
            c.timeout_config().and_then(|t| t.operation_timeout()),
            Some(Duration::from_secs(5))
        );
        let none = lambda_config(|_| None);
        assert!(none.region().is_none() && none.credentials_provider().is_none() && none.endpoint_url().is_none());
    }
}
