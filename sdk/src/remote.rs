//! A JWKS fetched over HTTP(S) (keygate's `/.well-known/jwks.json`), for verifiers that never
//! hold the private key: keygate's Lambda authorizer and your own services. The key set is kept
//! for the answer's `Cache-Control: max-age` (at most [`MAX_CACHE_AGE`], [`DEFAULT_CACHE_AGE`]
//! without one) and fetched again on the first use after that, so a key the issuer stops
//! publishing (a retired, possibly compromised key) stops verifying within that bound. A token
//! naming an unknown `kid` also causes a fetch, at most once a minute; concurrent callers share
//! one fetch. While the JWKS endpoint is unreachable the last key set keeps verifying (with a
//! warning per failed attempt), and a new attempt is made every [`RETRY_AFTER_FAILURE`] at most.

use crate::{AccessClaims, Jwks, ShareClaims, Verifier, VerifyError, VerifyOptions};
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
/// Longest a key set is used before it is fetched again, whatever its `Cache-Control` says.
pub const MAX_CACHE_AGE: Duration = Duration::from_secs(600);
/// How long a key set is used when its answer names no `max-age` (keygate's JWKS sends 300).
pub const DEFAULT_CACHE_AGE: Duration = Duration::from_secs(300);
/// Shortest cache age (`max-age=0`, `no-cache`): at most one fetch a second, never one per token.
pub const MIN_CACHE_AGE: Duration = Duration::from_secs(1);
/// After a failed fetch, the least time before the next attempt; meanwhile the last key set
/// keeps verifying.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(10);
const MAX_JWKS_BYTES: usize = 64 * 1024;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// An error and its chain of sources on one line, for logs (`a: b: c`); keygate's adapters use
/// it for the AWS SDK's errors too.
pub fn describe<E: std::error::Error>(e: &E) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// A delta-seconds value (RFC 9111 section 1.2.2): digits only; too large a number is the
/// largest value.
fn delta_seconds(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse().unwrap_or(u64::MAX))
}

/// How long a fetched key set stays fresh, from its answer's `Cache-Control` (`max-age`, less
/// the `Age` a cache in between reports), bounded to [`MIN_CACHE_AGE`]..=[`MAX_CACHE_AGE`];
/// `no-cache`, `no-store` and an invalid `max-age` give the least; no `max-age` the default.
fn cache_age(headers: &http::HeaderMap) -> Duration {
    let mut max_age = None;
    for value in headers.get_all(http::header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else {
            return MIN_CACHE_AGE;
        };
        for directive in value.split(',') {
            let (name, arg) = match directive.split_once('=') {
                Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                None => (directive.trim(), None),
            };
            if name.eq_ignore_ascii_case("no-cache") || name.eq_ignore_ascii_case("no-store") {
                return MIN_CACHE_AGE;
            }
            if name.eq_ignore_ascii_case("max-age") {
                max_age = Some(arg.and_then(delta_seconds).unwrap_or(0));
            }
        }
    }
    let Some(max_age) = max_age else {
        return DEFAULT_CACHE_AGE;
    };
    let age = headers
        .get(http::header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| delta_seconds(v.trim()))
        .unwrap_or(0);
    Duration::from_secs(max_age.saturating_sub(age)).clamp(MIN_CACHE_AGE, MAX_CACHE_AGE)
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
    /// When the key set must be fetched again.
    stale_at: Option<Instant>,
    /// When a fetch was last attempted, successful or not.
    last_attempt: Option<Instant>,
}

impl State {
    /// The key set, unless it is due for a fetch.
    fn fresh(&self) -> Option<Arc<Verifier>> {
        match (&self.verifier, self.stale_at) {
            (Some(v), Some(at)) if Instant::now() < at => Some(v.clone()),
            _ => None,
        }
    }

    fn stale(&self) -> bool {
        self.fresh().is_none()
    }

    /// Whether an unknown `kid` may cause a fetch now.
    fn may_refetch(&self) -> bool {
        self.last_attempt.is_none_or(|at| at.elapsed() >= REFETCH_INTERVAL)
    }
}

/// The parsed http(s) `url` and a client for it (keygate's TLS roots, HTTP/1.1). The error says
/// what is wrong with the URL.
fn http_client(url: &str) -> Result<(http::Uri, Client<Https, Empty<Bytes>>), String> {
    let uri: http::Uri = url.parse().map_err(|_| "not a URL".to_owned())?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("expected an http(s) URL".into());
    }
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(crate::tls::client_config()?)
        .https_or_http()
        .enable_http1()
        .build();
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https);
    Ok((uri, client))
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
        let (uri, client) = http_client(url)?;
        Ok(RemoteJwks {
            url: uri,
            options,
            client,
            state: tokio::sync::RwLock::new(State {
                verifier: None,
                stale_at: None,
                last_attempt: None,
            }),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key set and how long it stays fresh.
    async fn fetch(&self) -> Result<(Jwks, Duration), FetchError> {
        let req = http::Request::get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| FetchError(e.to_string()))?;
        let work = async {
            let resp = self.client.request(req).await.map_err(|e| FetchError(describe(&e)))?;
            if !resp.status().is_success() {
                return Err(FetchError(format!("status {}", resp.status())));
            }
            let age = cache_age(resp.headers());
            let body = Limited::new(resp.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(|e| FetchError(format!("reading the body: {e}")))?
                .to_bytes();
            let jwks = serde_json::from_slice::<Jwks>(&body).map_err(|e| FetchError(format!("not a JWKS: {e}")))?;
            Ok((jwks, age))
        };
        tokio::time::timeout(FETCH_TIMEOUT, work)
            .await
            .map_err(|_| FetchError("timed out".into()))?
    }

    /// Fetches the key set now if `needed` says so once this caller's turn comes (another caller
    /// may have fetched meanwhile: then its result is used). When the fetch fails, the old key
    /// set keeps serving and the next attempt waits [`RETRY_AFTER_FAILURE`].
    async fn refresh(&self, needed: impl Fn(&State) -> bool) -> Result<Arc<Verifier>, FetchError> {
        let _one = self.fetching.lock().await;
        {
            let s = self.state.read().await;
            if let Some(v) = &s.verifier
                && !needed(&s)
            {
                return Ok(v.clone());
            }
        }
        let result = self.fetch().await;
        let now = Instant::now();
        let mut s = self.state.write().await;
        s.last_attempt = Some(now);
        match result {
            Ok((jwks, age)) => {
                let v = Arc::new(Verifier::new(self.options.clone(), &jwks));
                s.verifier = Some(v.clone());
                s.stale_at = Some(now + age);
                Ok(v)
            }
            Err(e) => match s.verifier.clone() {
                Some(v) => {
                    tracing::warn!(error = %e, "JWKS unreachable; verifying with the last key set fetched");
                    let retry_at = now + RETRY_AFTER_FAILURE;
                    s.stale_at = Some(s.stale_at.map_or(retry_at, |at| at.max(retry_at)));
                    Ok(v)
                }
                None => Err(e),
            },
        }
    }

    /// Fetches the key set ahead of the first request (unless a fresh one is cached).
    pub async fn hydrate(&self) -> Result<(), FetchError> {
        self.refresh(State::stale).await.map(|_| ())
    }

    /// Verifies `token` at the current time.
    pub async fn verify_now(&self, token: &str) -> Result<AccessClaims, RemoteVerifyError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        self.verify(token, now).await
    }

    /// Verifies `token` at `now` (seconds since the Unix epoch). Makes no call while the cached
    /// key set is fresh and knows the token's `kid`.
    pub async fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, RemoteVerifyError> {
        Ok(self.verifier_for(token).await?.verify(token, now)?)
    }

    /// Verifies a share-link token ([`Verifier::verify_share`]) with the same key set and
    /// fetching rules as [`RemoteJwks::verify`].
    pub async fn verify_share(
        &self,
        token: &str,
        now: i64,
        max_lifetime: i64,
    ) -> Result<ShareClaims, RemoteVerifyError> {
        Ok(self.verifier_for(token).await?.verify_share(token, now, max_lifetime)?)
    }

    /// The key set to verify `token` with: the cached one while fresh and knowing its `kid`.
    async fn verifier_for(&self, token: &str) -> Result<Arc<Verifier>, RemoteVerifyError> {
        let fresh = self.state.read().await.fresh();
        let mut verifier = match fresh {
            Some(v) => v,
            None => self.refresh(State::stale).await?,
        };
        if let Some(kid) = Verifier::peek_kid(token)
            && !verifier.has_kid(&kid)
        {
            verifier = self.refresh(State::may_refetch).await?;
        }
        Ok(verifier)
    }
}

/// Longest a revocation answer is trusted without fetching it again (contract section 5).
pub const MAX_REVOCATIONS_AGE: Duration = Duration::from_secs(60);
/// An answer about one share is a few dozen bytes; anything longer is not keygate's.
const MAX_REVOCATIONS_BYTES: usize = 64 * 1024;
/// How many shares' answers are kept at once; past it, expired answers go, then all of them.
const MAX_REVOCATION_ENTRIES: usize = 10_000;

/// Why the revocation state of a share link could not be had.
#[derive(Debug, thiserror::Error)]
#[error("share revocation list unavailable: {0}")]
pub struct RevocationsError(pub String);

/// Whether share links are revoked, asked of keygate one share at a time
/// (`GET /auth/share/revoked?share_id=ID`), each answer cached for its `max-age` but never
/// longer than [`MAX_REVOCATIONS_AGE`]. Asking for one id keeps what a verifier reads bounded:
/// no amount of other accounts' revocations can push an answer past what it reads, so nobody
/// can switch other people's links off by revoking many of their own (issue 23). Fails closed:
/// when keygate cannot be asked, no share is admitted.
pub struct RemoteRevocations {
    url: http::Uri,
    client: Client<Https, Empty<Bytes>>,
    /// Share id -> (revoked, fresh until).
    cache: std::sync::Mutex<std::collections::HashMap<String, (bool, Instant)>>,
}

#[derive(serde::Deserialize)]
struct RevokedList {
    revoked: Vec<String>,
}

impl RemoteRevocations {
    /// The list at `url`. Makes no call until used.
    pub fn new(url: &str) -> Result<RemoteRevocations, String> {
        let (uri, client) = http_client(url)?;
        if uri.query().is_some() {
            return Err("the revocation list URL may not have a query".into());
        }
        Ok(RemoteRevocations {
            url: uri,
            client,
            cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    fn cached(&self, share_id: &str) -> Option<bool> {
        let cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        cache
            .get(share_id)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(revoked, _)| *revoked)
    }

    fn remember(&self, share_id: &str, revoked: bool, until: Instant) {
        let mut cache = self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_REVOCATION_ENTRIES {
            let now = Instant::now();
            cache.retain(|_, (_, at)| now < *at);
            if cache.len() >= MAX_REVOCATION_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(share_id.to_owned(), (revoked, until));
    }

    /// Whether share `share_id` is revoked, from an answer at most [`MAX_REVOCATIONS_AGE`] old.
    pub async fn is_revoked(&self, share_id: &str) -> Result<bool, RevocationsError> {
        if let Some(revoked) = self.cached(share_id) {
            return Ok(revoked);
        }
        let (revoked, age) = self.fetch(share_id).await?;
        self.remember(share_id, revoked, Instant::now() + age.min(MAX_REVOCATIONS_AGE));
        Ok(revoked)
    }

    async fn fetch(&self, share_id: &str) -> Result<(bool, Duration), RevocationsError> {
        // Share ids are 32 hex digits; anything else cannot be revoked, and is never sent.
        if share_id.is_empty() || !share_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Ok((false, MAX_REVOCATIONS_AGE));
        }
        let uri = format!("{}?share_id={share_id}", self.url);
        let req = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| RevocationsError(e.to_string()))?;
        let work = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| RevocationsError(describe(&e)))?;
            if !resp.status().is_success() {
                return Err(RevocationsError(format!("status {}", resp.status())));
            }
            let age = cache_age(resp.headers());
            let body = Limited::new(resp.into_body(), MAX_REVOCATIONS_BYTES)
                .collect()
                .await
                .map_err(|e| RevocationsError(format!("reading the body: {e}")))?
                .to_bytes();
            let list = serde_json::from_slice::<RevokedList>(&body)
                .map_err(|e| RevocationsError(format!("not a revocation list: {e}")))?;
            Ok((list.revoked.iter().any(|id| id == share_id), age))
        };
        tokio::time::timeout(FETCH_TIMEOUT, work)
            .await
            .map_err(|_| RevocationsError("timed out".into()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Jwk;
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
    use base64::Engine as _;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn age(values: &[(&str, &str)]) -> Duration {
        let mut h = http::HeaderMap::new();
        for (k, v) in values {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        cache_age(&h)
    }

    #[test]
    fn cache_age_follows_max_age_within_bounds() {
        let secs = Duration::from_secs;
        assert_eq!(age(&[]), DEFAULT_CACHE_AGE);
        assert_eq!(age(&[("cache-control", "public")]), DEFAULT_CACHE_AGE);
        assert_eq!(age(&[("cache-control", "public, max-age=300")]), secs(300));
        assert_eq!(age(&[("cache-control", "Max-Age=\"42\"")]), secs(42));
        assert_eq!(age(&[("cache-control", "max-age=1")]), secs(1));
        assert_eq!(age(&[("cache-control", "max-age=86400")]), MAX_CACHE_AGE);
        assert_eq!(
            age(&[("cache-control", "max-age=99999999999999999999999")]),
            MAX_CACHE_AGE
        );
        assert_eq!(age(&[("cache-control", "max-age=0")]), MIN_CACHE_AGE);
        assert_eq!(age(&[("cache-control", "max-age=-5")]), MIN_CACHE_AGE);
        assert_eq!(age(&[("cache-control", "max-age=soon")]), MIN_CACHE_AGE);
        assert_eq!(age(&[("cache-control", "no-cache, max-age=300")]), MIN_CACHE_AGE);
        assert_eq!(age(&[("cache-control", "no-store")]), MIN_CACHE_AGE);
        assert_eq!(age(&[("cache-control", "max-age=300"), ("age", "120")]), secs(180));
        assert_eq!(age(&[("cache-control", "max-age=300"), ("age", "900")]), MIN_CACHE_AGE);
    }

    fn jwk(kid: &str) -> Jwk {
        let key = Ed25519KeyPair::generate().unwrap();
        Jwk {
            kty: "OKP".into(),
            kid: kid.into(),
            alg: "EdDSA".into(),
            use_: "sig".into(),
            n: None,
            e: None,
            crv: Some("Ed25519".into()),
            x: Some(B64.encode(key.public_key().as_ref())),
            y: None,
        }
    }

    /// A token naming `kid` with a wrong signature: `BadSignature` when the key set has `kid`,
    /// `UnknownKid` when it has not.
    fn token(kid: &str) -> String {
        let header = serde_json::json!({"alg": "EdDSA", "kid": kid, "typ": "at+jwt"});
        format!("{}.e30.{}", B64.encode(header.to_string()), B64.encode([0u8; 64]))
    }

    /// What the test JWKS server answers: `None` is an outage (503).
    struct Served {
        answer: Mutex<Option<(String, Jwks)>>,
        hits: AtomicUsize,
    }

    async fn jwks_server(cache_control: &str, jwks: Jwks) -> (Arc<Served>, String) {
        let served = Arc::new(Served {
            answer: Mutex::new(Some((cache_control.to_owned(), jwks))),
            hits: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let s = served.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = vec![0u8; 4096];
                let mut got = 0;
                while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf[got..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                }
                s.hits.fetch_add(1, Ordering::SeqCst);
                let answer = s.answer.lock().unwrap().clone();
                let reply = match answer {
                    Some((cc, jwks)) => {
                        let body = serde_json::to_string(&jwks).unwrap();
                        format!(
                            "HTTP/1.1 200 OK\r\ncache-control: {cc}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    }
                    None => "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into(),
                };
                let _ = conn.write_all(reply.as_bytes()).await;
            }
        });
        (served, url)
    }

    fn options() -> VerifyOptions {
        VerifyOptions {
            issuer: "https://iss".into(),
            audience: "api".into(),
            leeway: 30,
            max_lifetime: 900,
        }
    }

    async fn outcome(remote: &RemoteJwks, kid: &str) -> &'static str {
        match remote.verify(&token(kid), 1_800_000_000).await {
            Err(RemoteVerifyError::Invalid(VerifyError::BadSignature)) => "known",
            Err(RemoteVerifyError::Invalid(VerifyError::UnknownKid(_))) => "unknown",
            other => panic!("unexpected: {other:?}"),
        }
    }

    /// Waits past a one-second max-age (a state change, not a timing assertion).
    async fn past_max_age() {
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }

    #[tokio::test]
    async fn a_key_dropped_from_the_jwks_stops_verifying_after_max_age() {
        let (a, b) = (jwk("a"), jwk("b"));
        let (served, url) = jwks_server(
            "max-age=1",
            Jwks {
                keys: vec![a.clone(), b],
            },
        )
        .await;
        let remote = RemoteJwks::new(&url, options()).unwrap();
        assert_eq!(outcome(&remote, "b").await, "known");
        assert_eq!(served.hits.load(Ordering::SeqCst), 1);

        served
            .answer
            .lock()
            .unwrap()
            .replace(("max-age=1".into(), Jwks { keys: vec![a] }));
        past_max_age().await;
        assert_eq!(outcome(&remote, "b").await, "unknown");
        assert_eq!(outcome(&remote, "a").await, "known");
    }

    #[tokio::test]
    async fn the_last_key_set_serves_while_the_jwks_is_unreachable() {
        let (served, url) = jwks_server("max-age=1", Jwks { keys: vec![jwk("a")] }).await;
        let remote = RemoteJwks::new(&url, options()).unwrap();
        remote.hydrate().await.unwrap();
        served.answer.lock().unwrap().take();
        past_max_age().await;
        assert_eq!(outcome(&remote, "a").await, "known");
        assert_eq!(served.hits.load(Ordering::SeqCst), 2, "one failed attempt");
        // The failed attempt is not repeated on every call.
        assert_eq!(outcome(&remote, "a").await, "known");
        assert_eq!(served.hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn unknown_kids_cause_at_most_one_fetch_a_minute() {
        let (served, url) = jwks_server("max-age=600", Jwks { keys: vec![jwk("a")] }).await;
        let remote = RemoteJwks::new(&url, options()).unwrap();
        assert_eq!(outcome(&remote, "a").await, "known");
        for kid in ["x", "y", "z"] {
            assert_eq!(outcome(&remote, kid).await, "unknown");
        }
        assert_eq!(served.hits.load(Ordering::SeqCst), 1);
    }
}
