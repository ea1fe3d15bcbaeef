//! The `admin` Lambda function: the operator API under `/admin/*` (`openapi.yaml`).

#[tokio::main(flavor = "current_thread")]
async fn main() {
    keygate_shared::runtime::lambda_main(keygate_shared::http::Function::Admin).await;
}
