//! The `register` Lambda function: self-registration, invitations and their completion
//! (`/auth/register*`, `/admin/invitations*`; `openapi.yaml`).

#[tokio::main(flavor = "current_thread")]
async fn main() {
    keygate_shared::runtime::lambda_main(keygate_shared::http::Function::Register).await;
}
