//! A client that logs in to keygate and keeps a fresh access token, for devices and services
//! that call APIs protected by keygate (like JWThenticator's `request_with_auth`).
//!
//! It logs in with a password or an API key, refreshes shortly before the access token expires
//! (and once after a 401), lets only one refresh run at a time (the others wait for its outcome,
//! and no lock is held while it talks to keygate), and gives every request a timeout
//! ([`Client::timeout`], 10 seconds by default). A refresh that answers `invalid_grant` ends the
//! session and the client logs in afresh; any other failure (503, 429, a timeout, a broken
//! connection) keeps the session: the still-valid access token keeps serving, and the next call
//! tries the refresh again.
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
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// What went wrong.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// A URL could not be parsed.
    #[error("invalid URL: {0}")]
    Url(String),
    /// The request could not be sent or the answer read.
    #[error("transport error: {0}")]
    Transport(String),
    /// No complete answer within the client's timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// keygate refused the credentials (status and keygate's error code).
    #[error("keygate refused the credentials: {status} {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// keygate's error code (`invalid_grant`, `too_many_attempts`, ...).
        error: String,
    },
    /// keygate could not answer now (429 or 5xx, e.g. `temporarily_unavailable`); the session,
    /// if any, is kept and the next call tries again.
    #[error("keygate is unavailable: {status} {error}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// keygate's error code, if the answer had one.
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
    expires_at: Instant,
}

/// A renewal's outcome, shared with the callers that waited for it.
type Outcome = Result<String, ClientError>;

#[derive(Default)]
struct State {
    tokens: Option<Tokens>,
    /// The renewal in flight, if any (its number, and where its outcome will appear).
    renewing: Option<(u64, watch::Receiver<Option<Outcome>>)>,
    renewals: u64,
}

/// Logs in to keygate and calls APIs with a fresh Bearer token.
pub struct Client {
    base: String,
    http: HyperClient<Https, Full<Bytes>>,
    credentials: Credentials,
    timeout: Duration,
    /// Held only for instants, never across network I/O.
    state: Mutex<State>,
}

const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
/// The default time for one request, from sending to the whole answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the caller of [`Client::token`] wants.
#[derive(Clone, Copy)]
enum Want<'a> {
    /// A token that is not due for renewal (or, should renewal fail, one not yet expired).
    Fresh,
    /// Any token but this one, which an API refused.
    Not(&'a str),
}

enum Step {
    Ready(String),
    Wait(watch::Receiver<Option<Outcome>>),
    Renew(u64, Option<String>, watch::Sender<Option<Outcome>>),
}

/// Clears the in-flight mark if the renewing caller is dropped midway, so that a waiter takes
/// over; the mark is cleared before the sender drops and wakes the waiters.
struct Renewal<'a> {
    client: &'a Client,
    id: u64,
    tx: watch::Sender<Option<Outcome>>,
}

impl Drop for Renewal<'_> {
    fn drop(&mut self) {
        let mut st = self.client.state();
        if st.renewing.as_ref().is_some_and(|(id, _)| *id == self.id) {
            st.renewing = None;
        }
    }
}

/// What a renewal did to the session.
enum Renewed {
    /// New tokens.
    Tokens(Tokens),
    /// The refresh token is dead (`invalid_grant`) and logging in afresh failed too.
    Ended(ClientError),
    /// A failure that leaves the session as it was (503, 429, timeout, transport).
    Kept(ClientError),
}

impl Client {
    fn new(base_url: &str, credentials: Credentials) -> Result<Client, ClientError> {
        let base = base_url.trim_end_matches('/').to_owned();
        base.parse::<http::Uri>().map_err(|e| ClientError::Url(e.to_string()))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(crate::tls::client_config().map_err(ClientError::Transport)?)
            .https_or_http()
            .enable_http1()
            .build();
        let http = HyperClient::builder(TokioExecutor::new()).build(https);
        Ok(Client {
            base,
            http,
            credentials,
            timeout: DEFAULT_TIMEOUT,
            state: Mutex::new(State::default()),
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

    /// Sets the time each request (to keygate or to an API) may take, from sending to the whole
    /// answer; past it the call fails with [`ClientError::Timeout`]. Default [`DEFAULT_TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
        let exchange = async {
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
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }

    /// The error a non-200 answer from keygate's token endpoints stands for.
    fn error_of(answer: &Answer) -> ClientError {
        let error = answer.json()["error"].as_str().unwrap_or("").to_owned();
        let status = answer.status;
        if status == 429 || status >= 500 {
            ClientError::Unavailable { status, error }
        } else {
            ClientError::Refused { status, error }
        }
    }

    fn tokens_from(answer: &Answer) -> Result<Tokens, ClientError> {
        if answer.status != 200 {
            return Err(Client::error_of(answer));
        }
        let v = answer.json();
        let access = v["access_token"]
            .as_str()
            .ok_or_else(|| ClientError::Transport("no access_token in the answer".into()))?;
        let expires_in = v["expires_in"].as_u64().unwrap_or(60);
        // Renew a little before expiry: a tenth of the lifetime, at most 30 seconds.
        let margin = (expires_in / 10).min(30);
        let now = Instant::now();
        Ok(Tokens {
            access: access.to_owned(),
            refresh: v["refresh_token"].as_str().map(str::to_owned),
            renew_at: now + Duration::from_secs(expires_in.saturating_sub(margin)),
            expires_at: now + Duration::from_secs(expires_in),
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

    /// Refreshes with `refresh` if there is one; logs in afresh only without one or when the
    /// refresh token is dead (`invalid_grant`).
    async fn renew(&self, refresh: Option<&str>) -> Renewed {
        if let Some(refresh) = refresh {
            let url = format!("{}/auth/refresh", self.base);
            let body = serde_json::json!({"refresh_token": refresh});
            let answer = match self.send(Method::POST, &url, HeaderMap::new(), Some(&body)).await {
                Ok(a) => a,
                Err(e) => return Renewed::Kept(e),
            };
            if answer.status == 200 {
                return match Client::tokens_from(&answer) {
                    Ok(t) => Renewed::Tokens(t),
                    Err(e) => Renewed::Kept(e),
                };
            }
            if answer.json()["error"] != "invalid_grant" {
                return Renewed::Kept(Client::error_of(&answer));
            }
            // The session is over (revoked, reused, expired): log in afresh.
            return match self.login().await {
                Ok(t) => Renewed::Tokens(t),
                Err(e) => Renewed::Ended(e),
            };
        }
        match self.login().await {
            Ok(t) => Renewed::Tokens(t),
            Err(e) => Renewed::Kept(e),
        }
    }

    /// A token as `want` says: the cached one, or the outcome of one renewal shared by every
    /// caller that needed it meanwhile.
    async fn token(&self, want: Want<'_>) -> Result<String, ClientError> {
        loop {
            let step = {
                let mut st = self.state();
                let ready = st.tokens.as_ref().filter(|t| match want {
                    Want::Fresh => Instant::now() < t.renew_at,
                    Want::Not(stale) => t.access != stale,
                });
                if let Some(t) = ready {
                    Step::Ready(t.access.clone())
                } else if let Some((_, rx)) = &st.renewing {
                    Step::Wait(rx.clone())
                } else {
                    st.renewals += 1;
                    let id = st.renewals;
                    let (tx, rx) = watch::channel(None);
                    st.renewing = Some((id, rx));
                    let refresh = st.tokens.as_ref().and_then(|t| t.refresh.clone());
                    Step::Renew(id, refresh, tx)
                }
            };
            match step {
                Step::Ready(access) => return Ok(access),
                Step::Wait(mut rx) => {
                    let outcome = rx.wait_for(Option::is_some).await.ok().and_then(|o| o.clone());
                    // None: the renewing caller was dropped midway; take over.
                    if let Some(outcome) = outcome {
                        return self.settle(outcome, want);
                    }
                }
                Step::Renew(id, refresh, tx) => {
                    let renewal = Renewal { client: self, id, tx };
                    let renewed = self.renew(refresh.as_deref()).await;
                    let outcome = {
                        let mut st = self.state();
                        st.renewing = None;
                        match renewed {
                            Renewed::Tokens(t) => {
                                let access = t.access.clone();
                                st.tokens = Some(t);
                                Ok(access)
                            }
                            Renewed::Ended(e) => {
                                st.tokens = None;
                                Err(e)
                            }
                            Renewed::Kept(e) => Err(e),
                        }
                    };
                    renewal.tx.send_replace(Some(outcome.clone()));
                    return self.settle(outcome, want);
                }
            }
        }
    }

    /// After a failed renewal, an access token that has not expired yet still serves (unless
    /// it is the one an API just refused).
    fn settle(&self, outcome: Outcome, want: Want<'_>) -> Outcome {
        let Err(e) = outcome else { return outcome };
        match (want, self.state().tokens.as_ref()) {
            (Want::Fresh, Some(t)) if Instant::now() < t.expires_at => Ok(t.access.clone()),
            _ => Err(e),
        }
    }

    /// A valid access token: the cached one, or a refreshed one shortly before it expires.
    /// Concurrent callers wait for one refresh.
    pub async fn access_token(&self) -> Result<String, ClientError> {
        self.token(Want::Fresh).await
    }

    /// Sends a request with `Authorization: Bearer`; after a 401, renews the token once and
    /// retries.
    pub async fn request(&self, method: Method, url: &str, body: Option<&Value>) -> Result<Answer, ClientError> {
        let token = self.access_token().await?;
        let answer = self.send(method.clone(), url, bearer_header(&token)?, body).await?;
        if answer.status != 401 {
            return Ok(answer);
        }
        let token = self.token(Want::Not(&token)).await?;
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
