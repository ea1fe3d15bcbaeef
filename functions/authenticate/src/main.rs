//! The `authenticate` Lambda function (its routes: `openapi.yaml`).

#[tokio::main(flavor = "current_thread")]
async fn main() {
    keygate_shared::runtime::lambda_main(keygate_shared::http::Function::Authenticate).await;
}
