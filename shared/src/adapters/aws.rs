//! The AWS SDK configuration shared by every AWS adapter: deliberate timeouts and retries, so
//! an unreachable dependency becomes a 503 within the function's time budget.
//!
//! The Lambda functions build it by hand from what Lambda puts in the environment (region,
//! the execution role's credentials, and `AWS_ENDPOINT_URL` for a local emulator): no profile
//! files, no credential chain, no STS client, so less code and a faster start. Their HTTPS
//! client trusts the Amazon Trust Services roots, where every AWS endpoint's chain ends, plus
//! what `SSL_CERT_FILE` / `SSL_CERT_DIR` name (an emulator's CA, a TLS-inspecting proxy), instead
//! of reading and parsing the system's 150 roots on every cold start (BENCHMARKS.md, "Cold
//! start with TLS"). The CLI (feature `aws-sso`) uses aws-config's whole chain instead:
//! profiles, SSO, `credential_process`, and the system's roots.

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
    b.http_client(https_client(&var)).build()
}

/// The SDK's HTTPS client (rustls on aws-lc-rs): the Amazon roots and [`configured_roots`].
fn https_client(var: &impl Fn(&str) -> Option<String>) -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, TlsContext, TrustStore, rustls_provider::CryptoMode};

    let mut trust = TrustStore::empty().with_pem_certificate(keygate_sdk::tls::AMAZON_ROOTS_PEM);
    for der in configured_roots(var) {
        trust.add_pem_certificate(pem(&der));
    }
    let builder = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
    match TlsContext::builder().with_trust_store(trust).build() {
        Ok(tls) => builder.tls_context(tls).build_https(),
        Err(e) => {
            tracing::warn!(error = %describe(&e), "TLS roots: falling back to the system's");
            builder.build_https()
        }
    }
}

/// The certificates `SSL_CERT_FILE` (a PEM file) and `SSL_CERT_DIR` (directories of PEM files,
/// `:`-separated) name, as OpenSSL reads them, keeping only those rustls takes as trust anchors
/// (the SDK's client refuses a set with any other). Unreadable ones are logged and skipped.
fn configured_roots(var: &impl Fn(&str) -> Option<String>) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use std::path::PathBuf;
    let file = var("SSL_CERT_FILE").map(PathBuf::from);
    let dirs: Vec<PathBuf> = var("SSL_CERT_DIR")
        .map(|d| {
            std::env::split_paths(&d)
                .filter(|p| !p.as_os_str().is_empty())
                .collect()
        })
        .unwrap_or_default();
    let mut certs = Vec::new();
    let sources = file
        .iter()
        .map(|f| (Some(f.as_path()), None))
        .chain(dirs.iter().map(|d| (None, Some(d.as_path()))));
    for (file, dir) in sources {
        let loaded = rustls_native_certs::load_certs_from_paths(file, dir);
        for e in &loaded.errors {
            tracing::warn!(error = %e, "SSL_CERT_FILE / SSL_CERT_DIR: a certificate was not loaded");
        }
        certs.extend(loaded.certs);
    }
    let usable = |c: &rustls::pki_types::CertificateDer<'static>| rustls::RootCertStore::empty().add(c.clone()).is_ok();
    certs.into_iter().filter(usable).collect()
}

/// One certificate as PEM.
fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// A short description of an SDK error for logs (never contains request payloads): the error
/// and its sources on one line, as keygate-sdk writes them.
pub use keygate_sdk::remote::describe;

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
        assert!(c.http_client().is_some() && none.http_client().is_some());
    }

    #[test]
    fn ssl_cert_file_adds_roots_and_a_bad_one_adds_none() {
        let dir = std::env::temp_dir().join(format!("keygate-roots-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("roots.pem");
        let not_pem = dir.join("not.pem");
        std::fs::write(&good, keygate_sdk::tls::AMAZON_ROOTS_PEM).unwrap();
        std::fs::write(
            &not_pem,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let roots = |vars: &[(&str, &str)]| {
            configured_roots(&|k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())).len()
        };
        let good_s = good.display().to_string();
        let dir_s = dir.display().to_string();
        assert_eq!(roots(&[]), 0);
        assert_eq!(roots(&[("SSL_CERT_FILE", &good_s)]), 5);
        assert_eq!(roots(&[("SSL_CERT_FILE", "/nonexistent/roots.pem")]), 0);
        assert_eq!(roots(&[("SSL_CERT_FILE", &not_pem.display().to_string())]), 0);
        // The directory holds the good file (5) and the bad one (none).
        assert_eq!(roots(&[("SSL_CERT_DIR", &dir_s)]), 5);
        // Each root is handed to the SDK as PEM that parses back to the same certificate.
        let der = configured_roots(&|k: &str| (k == "SSL_CERT_FILE").then(|| good_s.clone())).remove(0);
        use rustls::pki_types::pem::PemObject;
        assert_eq!(
            rustls::pki_types::CertificateDer::from_pem_slice(pem(&der).as_bytes()).unwrap(),
            der
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
