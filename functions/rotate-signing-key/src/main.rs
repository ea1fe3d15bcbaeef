//! The `rotate-signing-key` Lambda function: Secrets Manager rotation of the signing key.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    keygate_shared::runtime::rotation_main().await;
}
