//! The AWS side of the tests: the real AWS SDK against moto's server, which `.ci/test` starts
//! on 127.0.0.1 and names in `AWS_ENDPOINT_URL`.

use aws_config::SdkConfig;
use std::sync::atomic::{AtomicU64, Ordering};

/// The SDK configuration for moto. Fails loudly when moto is not configured: these tests never
/// skip silently.
pub async fn moto_sdk_config() -> SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1") || endpoint.starts_with("http://localhost"),
        "AWS_ENDPOINT_URL must point at a local moto server (run the tests with .ci/test), got {endpoint:?}"
    );
    for (k, v) in [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        if std::env::var_os(k).is_none() {
            panic!("{k} must be set for the moto tests (.ci/test sets {k}={v})");
        }
    }
    keygate_shared::adapters::aws::sdk_config().await
}

/// A name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}-{}-{t}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A new, empty keygate table in moto.
pub async fn fresh_table() -> (SdkConfig, String) {
    let sdk = moto_sdk_config().await;
    let name = unique_name("keygate");
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    keygate_shared::adapters::dynamodb::create_table(&client, &name)
        .await
        .expect("create table in moto");
    (sdk, name)
}
