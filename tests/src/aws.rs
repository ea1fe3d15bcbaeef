//! The AWS side of the tests: the real AWS SDK against moto's server, which `.ci/test` starts
//! on 127.0.0.1 and names in `AWS_ENDPOINT_URL`.

use aws_config::SdkConfig;
use std::sync::atomic::{AtomicU64, Ordering};

/// Fails the running test with one line, `needs moto: run .ci/test (...)`, and no panic trace:
/// `resume_unwind` skips the panic hook (its location line and `RUST_BACKTRACE`'s backtrace) but
/// still unwinds, so the test FAILS; it never passes or skips without moto.
pub fn needs_moto(why: &str) -> ! {
    let line = format!("needs moto: run .ci/test ({why})");
    eprintln!("{line}");
    std::panic::resume_unwind(Box::new(line))
}

/// moto's address from `AWS_ENDPOINT_URL`, once it answers; else the test fails with one line
/// ([`needs_moto`]).
pub fn moto_endpoint() -> String {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    if endpoint.is_empty() {
        needs_moto("AWS_ENDPOINT_URL is not set")
    }
    let Some(host_port) = endpoint
        .strip_prefix("http://")
        .map(|rest| rest.trim_end_matches('/'))
        .filter(|hp| hp.starts_with("127.0.0.1:") || hp.starts_with("localhost:"))
    else {
        needs_moto(&format!(
            "AWS_ENDPOINT_URL must be a local moto server, http://127.0.0.1:PORT, not {endpoint:?}"
        ))
    };
    let answers = std::net::ToSocketAddrs::to_socket_addrs(host_port)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok());
    if !answers {
        needs_moto(&format!("nothing answers at AWS_ENDPOINT_URL={endpoint}"))
    }
    endpoint
}

/// The SDK configuration for moto. Fails with one line when moto is not configured or not
/// running ([`needs_moto`]): these tests never skip silently.
pub async fn moto_sdk_config() -> SdkConfig {
    moto_endpoint();
    for (k, v) in [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ] {
        if std::env::var_os(k).is_none() {
            needs_moto(&format!("{k} is not set; .ci/test sets {k}={v}"));
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
