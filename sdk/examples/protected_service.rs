//! An axum service protected by keygate tokens.
//!
//! ```sh
//! KEYGATE_ISSUER=http://127.0.0.1:3000 ADDR=127.0.0.1:8080 cargo run -p keygate-sdk --example protected_service
//! ```
//! `GET /readings` needs any valid token; `GET /admin/report` needs the `admin` role.

use axum::{Json, Router, routing::get};
use keygate_sdk::VerifyOptions;
use keygate_sdk::guard::{Claims, RequireToken};
use keygate_sdk::remote::RemoteJwks;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("KEYGATE_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:3000".into());
    let jwks_url = std::env::var("KEYGATE_JWKS_URL").unwrap_or_else(|_| format!("{issuer}/.well-known/jwks.json"));
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let options = VerifyOptions {
        issuer,
        audience: "keygate".into(),
        leeway: 30,
        max_lifetime: 900,
    };
    let jwks = Arc::new(RemoteJwks::new(&jwks_url, options)?);
    jwks.hydrate().await?;

    let readings = Router::new()
        .route(
            "/readings",
            get(|Claims(c): Claims| async move {
                Json(serde_json::json!({"sub": c.sub, "roles": c.roles, "readings": [21.5, 21.7]}))
            }),
        )
        .layer(RequireToken::new(jwks.clone()));
    let admin = Router::new()
        .route(
            "/admin/report",
            get(|Claims(c): Claims| async move { Json(serde_json::json!({"report": "ok", "for": c.sub})) }),
        )
        .layer(RequireToken::new(jwks).with_role("admin"));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("protected service listening on http://{}", listener.local_addr()?);
    axum::serve(listener, readings.merge(admin)).await?;
    Ok(())
}
