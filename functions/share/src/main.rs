//! The `share` Lambda function: share links (`/auth/share*`; `openapi.yaml`).

#[tokio::main(flavor = "current_thread")]
async fn main() {
    keygate_shared::runtime::lambda_main(keygate_shared::http::Function::Share).await;
}
