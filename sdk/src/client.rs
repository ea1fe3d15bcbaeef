//! A client that logs in to keygate and keeps a fresh access token, for devices and services
//! that call APIs protected by keygate (like JWThenticator's `request_with_auth`).
//!
//! It logs in with a password or an API key, refreshes shortly before the access token expires
//! (and once after a 401), lets only one refresh run at a time, and logs in afresh when the
//! refresh token is dead.
//!
//! ```no_run
//! # async fn run() -> Result<(), keygate_sdk::client::ClientError> {
//! use keygate_sdk::client::Client;
//! let client = Client::with_api_key("https://auth.example.com", "kgk_...")?;
//! let answer = client.get("https://api.example.com/readings").await?;
//! println!("{} {}", answer.status, String::from_utf8_lossy(&answer.body));
//! # Ok(()) }
//! ```

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::time::{Duration, Instant};

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A URL could not be parsed.
    #[error("invalid URL: {0}")]
    Url(String),
    /// The request could not be sent or the answer read.
    #[error("transport error: {0}")]
    Transport(String),
    /// keygate refused the credentials (status and contract error code).
    #[error("keygate refused the credentials: {status} {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The contract error code (`invalid_grant`, `too_many_attempts`, ...).
        error: String,
    },
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

enum Credentials {
    Password { username: String, password: String },
    ApiKey(String),
}

struct Tokens {
    access: String,
    refresh: Option<String>,
    renew_at: Instant,
}

/// Logs in to keygate and calls APIs with a fresh Bearer token.
pub struct Client {
    base: String,
    http: HyperClient<Https, Full<Bytes>>,
    credentials: Credentials,
    tokens: tokio::sync::Mutex<Option<Tokens>>,
}

const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;

impl Client {
    fn new(base_url: &str, credentials: Credentials) -> Result<Client, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        base.parse::<http::Uri>().map_err(|e| ClientError::Url(e.to_string()))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| ClientError::Transport(format!("no TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let http = HyperClient::builder(TokioExecutor::new()).build(https);
        Ok(Client {
            base,
            http,
            credentials,
            tokens: tokio::sync::Mutex::new(None),
        })
    }

    /// A client that logs in with a username and password (and then uses refresh tokens).
    pub fn with_password(base_url: &str, username: &str, password: &str) -> Result<Client, ClientError> {
        Client::new(
            base_url,
            Credentials::Password {
                username: username.into(),
                password: password.into(),
            },
        )
    }

    /// A client that logs in with an API key (access tokens only; the key is the long-lived
    /// credential).
    pub fn with_api_key(base_url: &str, api_key: &str) -> Result<Client, ClientError> {
        Client::new(base_url, Credentials::ApiKey(api_key.into()))
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Option<&Value>,
    ) -> Result<Answer, ClientError> {
        let uri: http::Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| ClientError::Url(e.to_string()))?;
        let mut req = http::Request::builder().method(method).uri(uri);
        if let Some(h) = req.headers_mut() {
            h.extend(headers);
        }
        let bytes = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(bytes))
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let resp = self
            .http
            .request(req)
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?;
        let (parts, body) = resp.into_parts();
        let body = Limited::new(body, MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| ClientError::Transport(e.to_string()))?
            .to_bytes();
        Ok(Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }

    fn tokens_from(answer: &Answer) -> Result<Tokens, ClientError> {
        let v = answer.json();
        if answer.status != 200 {
            return Err(ClientError::Refused {
                status: answer.status,
                error: v["error"].as_str().unwrap_or("").to_owned(),
            });
        }
        let access = v["access_token"]
            .as_str()
            .ok_or_else(|| ClientError::Transport("no access_token in the answer".into()))?;
        let expires_in = v["expires_in"].as_u64().unwrap_or(60);
        // Renew a little before expiry: a tenth of the lifetime, at most 30 seconds.
        let margin = (expires_in / 10).min(30);
        Ok(Tokens {
            access: access.to_owned(),
            refresh: v["refresh_token"].as_str().map(str::to_owned),
            renew_at: Instant::now() + Duration::from_secs(expires_in.saturating_sub(margin)),
        })
    }

    async fn login(&self) -> Result<Tokens, ClientError> {
        let body = match &self.credentials {
            Credentials::Password { username, password } => {
                serde_json::json!({"grant_type": "password", "username": username, "password": password})
            }
            Credentials::ApiKey(k) => serde_json::json!({"grant_type": "api_key", "api_key": k}),
        };
        let url = format!("{}/auth/token", self.base);
        Client::tokens_from(&self.send(Method::POST, &url, HeaderMap::new(), Some(&body)).await?)
    }

    async fn renew(&self, current: Option<&Tokens>) -> Result<Tokens, ClientError> {
        if let Some(refresh) = current.and_then(|t| t.refresh.as_deref()) {
            let url = format!("{}/auth/refresh", self.base);
            let answer = self
                .send(
                    Method::POST,
                    &url,
                    HeaderMap::new(),
                    Some(&serde_json::json!({"refresh_token": refresh})),
                )
                .await?;
            if answer.status == 200 {
                return Client::tokens_from(&answer);
            }
            // A dead refresh token (revoked, reused, expired): log in afresh.
        }
        self.login().await
    }

    /// A valid access token: the cached one, or a refreshed one shortly before it expires.
    /// Concurrent callers wait for one refresh.
    pub async fn access_token(&self) -> Result<String, ClientError> {
        let mut guard = self.tokens.lock().await;
        if let Some(t) = guard.as_ref()
            && Instant::now() < t.renew_at
        {
            return Ok(t.access.clone());
        }
        let fresh = self.renew(guard.as_ref()).await?;
        let access = fresh.access.clone();
        *guard = Some(fresh);
        Ok(access)
    }

    /// Renews the tokens unless someone already replaced `stale`.
    async fn renew_after_401(&self, stale: &str) -> Result<String, ClientError> {
        let mut guard = self.tokens.lock().await;
        if let Some(t) = guard.as_ref()
            && t.access != stale
        {
            return Ok(t.access.clone());
        }
        let fresh = self.renew(guard.as_ref()).await?;
        let access = fresh.access.clone();
        *guard = Some(fresh);
        Ok(access)
    }

    /// Sends a request with `Authorization: Bearer`; after a 401, renews the token once and
    /// retries.
    pub async fn request(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Answer, ClientError> {
        let token = self.access_token().await?;
        let answer = self.send(method.clone(), url, bearer_header(&token)?, body).await?;
        if answer.status != 401 {
            return Ok(answer);
        }
        let token = self.renew_after_401(&token).await?;
        self.send(method, url, bearer_header(&token)?, body).await
    }

    /// `GET url` with auth.
    pub async fn get(&self, url: &str) -> Result<Answer, ClientError> {
        self.request(Method::GET, url, None).await
    }

    /// `POST url` with a JSON body and auth.
    pub async fn post(&self, url: &str, body: &Value) -> Result<Answer, ClientError> {
        self.request(Method::POST, url, Some(body)).await
    }
}

fn bearer_header(token: &str) -> Result<HeaderMap, ClientError> {
    let mut h = HeaderMap::new();
    let v = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| ClientError::Transport("token is not a header value".into()))?;
    h.insert(header::AUTHORIZATION, v);
    Ok(h)
}
