//! The `authorizer` Lambda function: an API Gateway Lambda authorizer for HTTP APIs (payload
//! 2.0 and 1.0) and REST APIs (`TOKEN` and `REQUEST`); see `docs/authorizer.md`.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    keygate_shared::authorizer::lambda_main().await;
}
