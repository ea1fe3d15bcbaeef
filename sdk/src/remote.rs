//! A JWKS fetched over HTTP(S) (keygate's `/.well-known/jwks.json`), for verifiers that never
//! hold the private key: keygate's Lambda authorizer and your own services. Fetched once, cached for the container's life, and fetched
//! again when a token names an unknown `kid`, at most once a minute; concurrent callers share
//! one fetch. When the JWKS endpoint is down, the cached keys keep verifying.

use crate::{AccessClaims, Jwks, Verifier, VerifyError, VerifyOptions};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Least time between two fetches caused by unknown key ids.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// Time budget of one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);
const MAX_JWKS_BYTES: usize = 64 * 1024;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

fn describe<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// Why no key set could be had.
#[derive(Debug, thiserror::Error)]
#[error("JWKS unavailable: {0}")]
pub struct FetchError(pub String);

/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum RemoteVerifyError {
    /// The token is invalid.
    #[error("{0}")]
    Invalid(#[from] VerifyError),
    /// No key set has ever been fetched.
    #[error("{0}")]
    Unavailable(#[from] FetchError),
}

struct State {
    verifier: Option<Arc<Verifier>>,
    last_fetch: Option<Instant>,
}

/// Verifies tokens against a remote JWKS.
pub struct RemoteJwks {
    url: http::Uri,
    options: VerifyOptions,
    client: Client<Https, Empty<Bytes>>,
    state: tokio::sync::RwLock<State>,
    fetching: tokio::sync::Mutex<()>,
}

impl RemoteJwks {
    /// A verifier for the JWKS at `url`. Makes no call until used (or [`RemoteJwks::hydrate`]).
    /// The error says what is wrong with the URL.
    pub fn new(url: &str, options: VerifyOptions) -> Result<RemoteJwks, String> {
        let uri: http::Uri = url.parse().map_err(|_| "not a URL".to_owned())?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err("expected an http(s) URL".into());
        }
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(provider)
            .map_err(|e| format!("no TLS roots: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        Ok(RemoteJwks {
            url: uri,
            options,
            client,
            state: tokio::sync::RwLock::new(State {
                verifier: None,
                last_fetch: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    async fn fetch(&self) -> Result<Jwks, FetchError> {
        let req = http::Request::get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError(e.to_string()))?;
        let work = async {
            let resp = self.client.request(req).await.map_err(|e| FetchError(describe(&e)))?;
            if !resp.status().is_success() {
                return Err(FetchError(format!("status {}", resp.status())));
            }
            let body = Limited::new(resp.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(|e| FetchError(format!("reading the body: {e}")))?
                .to_bytes();
            serde_json::from_slice::<Jwks>(&body).map_err(|e| FetchError(format!("not a JWKS: {e}")))
        };
        tokio::time::timeout(FETCH_TIMEOUT, work)
            .await
            .map_err(|_| FetchError("timed out".into()))?
    }

    /// Fetches the key set now unless one was fetched within `min_age` (or another caller is
    /// fetching: then waits for its result). Keeps the old key set if the fetch fails.
    async fn refresh(&self, min_age: Duration) -> Result<Arc<Verifier>, FetchError> {
        let _one = self.fetching.lock().await;
        {
            let s = self.state.read().await;
            if let (Some(v), Some(at)) = (&s.verifier, s.last_fetch)
                && at.elapsed() < min_age
            {
                return Ok(v.clone());
            }
        }
        let result = self.fetch().await;
        let mut s = self.state.write().await;
        s.last_fetch = Some(Instant::now());
        match result {
            Ok(jwks) => {
                let v = Arc::new(Verifier::new(self.options.clone(), &jwks));
                s.verifier = Some(v.clone());
                Ok(v)
            }
            Err(e) => match &s.verifier {
                Some(v) => {
                    tracing::warn!(error = %e, "JWKS refetch failed; verifying with the cached keys");
                    Ok(v.clone())
                }
                None => Err(e),
            },
        }
    }

    /// Fetches the key set ahead of the first request.
    pub async fn hydrate(&self) -> Result<(), FetchError> {
        self.refresh(REFETCH_INTERVAL).await.map(|_| ())
    }

    /// Verifies `token` at the current time.
    pub async fn verify_now(&self, token: &str) -> Result<AccessClaims, RemoteVerifyError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.verify(token, now).await
    }

    /// Verifies `token` at `now` (seconds since the Unix epoch).
    pub async fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, RemoteVerifyError> {
        let cached = self.state.read().await.verifier.clone();
        let mut verifier = match cached {
            Some(v) => v,
            None => self.refresh(Duration::ZERO).await?,
        };
        if let Some(kid) = Verifier::peek_kid(token)
            && !verifier.has_kid(&kid)
        {
            verifier = self.refresh(REFETCH_INTERVAL).await?;
        }
        Ok(verifier.verify(token, now)?)
    }
}
