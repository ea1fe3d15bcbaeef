//! Adapters: implementations of the ports. The AWS adapters are behind cargo features, so each
//! Lambda function links only the clients it uses (`dynamodb`, `secrets-manager`, `ses`); the
//! embedded SQLite store (`sqlite`) is for `keygate serve`, the CLI and the tests only.

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod local_key;
pub mod mail;
pub mod memory;
pub mod published_keys;
#[cfg(feature = "secrets-manager")]
pub mod secrets_manager;
#[cfg(feature = "sqlite")]
pub mod sqlite;

/// The loaded AWS SDK configuration (region, credentials, timeouts, retries).
#[cfg(feature = "aws")]
pub type AwsConfig = aws_types::SdkConfig;

/// Stands in for the AWS SDK configuration in builds without AWS clients: it has no values.
#[cfg(not(feature = "aws"))]
#[derive(Debug)]
pub enum AwsConfig {}

/// Why an adapter is not in this build.
#[derive(Debug, thiserror::Error)]
#[error("this build of keygate has no {0} client (cargo feature `{1}`)")]
pub struct NotBuiltIn(pub &'static str, pub &'static str);
