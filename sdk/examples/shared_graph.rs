//! A read-only resource for share-link holders: `GET /graphs/{id}[/...]?share=<token>` answers
//! when the token is a keygate share link (`POST /auth/share`) whose resource covers the path,
//! that keygate has not revoked, and whose creator (`shared_by`) owns the graph: a link is the
//! owner lending their own access, so a link someone made for another person's graph shows
//! nothing. Anything else is 404, so that a wrong link tells nothing.
//!
//! Owners come from `GRAPH_OWNERS` (`42=<account id>,7=<account id>`), standing in for the
//! service's own database.
//!
//! ```sh
//! KEYGATE_ISSUER=http://127.0.0.1:3000 ADDR=127.0.0.1:8081 GRAPH_OWNERS=42=<sub> cargo run -p keygate-sdk --example shared_graph
//! ```

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::{Json, Router, routing::get};
use keygate_sdk::VerifyOptions;
use keygate_sdk::remote::{RemoteJwks, RemoteRevocations};
use std::sync::Arc;

struct Verifiers {
    jwks: RemoteJwks,
    revocations: RemoteRevocations,
    /// `KEYGATE_SHARE_MAX_TTL` of the keygate that mints the links.
    max_lifetime: i64,
    /// Graph id -> the id (`sub`) of the account that owns it.
    owners: std::collections::HashMap<String, String>,
}

async fn graph(State(v): State<Arc<Verifiers>>, uri: Uri) -> Result<Json<serde_json::Value>, StatusCode> {
    // The token is base64url and dots: nothing in it is percent-encoded.
    let token = uri
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("share=")))
        .ok_or(StatusCode::NOT_FOUND)?;
    let share = v
        .jwks
        .verify_share(token, now(), v.max_lifetime)
        .await
        .map_err(|_| StatusCode::NOT_FOUND)?;
    if !share.resource.covers(uri.path()) {
        return Err(StatusCode::NOT_FOUND);
    }
    // The owner check: the link's creator must own the graph it reads.
    let graph = uri
        .path()
        .trim_start_matches("/graphs/")
        .split('/')
        .next()
        .unwrap_or_default();
    if v.owners.get(graph) != Some(&share.shared_by) {
        return Err(StatusCode::NOT_FOUND);
    }
    // Fails closed: an unreadable revocation list admits no link.
    match v.revocations.is_revoked(&share.share_id).await {
        Ok(false) => {}
        Ok(true) => return Err(StatusCode::NOT_FOUND),
        Err(_) => return Err(StatusCode::SERVICE_UNAVAILABLE),
    }
    Ok(Json(serde_json::json!({
        "path": uri.path(),
        "shared_by": share.shared_by,
        "nodes": [1, 2, 3],
    })))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer = std::env::var("KEYGATE_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:3000".into());
    let jwks_url = std::env::var("KEYGATE_JWKS_URL").unwrap_or_else(|_| format!("{issuer}/.well-known/jwks.json"));
    let revoked_url =
        std::env::var("KEYGATE_SHARE_REVOCATIONS_URL").unwrap_or_else(|_| format!("{issuer}/auth/share/revoked"));
    let addr = std::env::var("ADDR").unwrap_or_else(|_| "127.0.0.1:8081".into());
    let options = VerifyOptions {
        issuer,
        audience: "keygate".into(),
        leeway: 30,
        max_lifetime: 900,
    };
    let verifiers = Arc::new(Verifiers {
        jwks: RemoteJwks::new(&jwks_url, options)?,
        revocations: RemoteRevocations::new(&revoked_url)?,
        max_lifetime: 2_592_000,
        owners: std::env::var("GRAPH_OWNERS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(graph, owner)| (graph.trim().to_owned(), owner.trim().to_owned()))
            .collect(),
    });
    verifiers.jwks.hydrate().await?;
    let app = Router::new().route("/graphs/{*rest}", get(graph)).with_state(verifiers);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("shared graph service listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
