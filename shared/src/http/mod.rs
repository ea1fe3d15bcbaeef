//! The HTTP layer shared by the Lambda handlers and `keygate serve`: one request type, the
//! route table ([`router`]) and its handlers (`routes/`, one file per area), request parsing
//! (JSON, form, HTTP Basic, the 16 KiB cap), and the contract's responses and errors (mapped
//! in one place, [`error`]).

pub mod body;
pub mod cookie;
pub mod cors;
pub mod error;
pub mod lambda;
pub mod router;
mod routes;
#[cfg(feature = "server")]
pub mod server;

pub use router::{Function, handle};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// A transport-neutral request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The path a route is matched on: for Lambda, without the API Gateway stage or the
    /// custom-domain base path in front of it.
    pub path: String,
    /// The query string as the client sent it, without the `?` (`None` when there is none).
    pub query: Option<String>,
    pub headers: HeaderMap,
    /// `None` when the transport saw more than [`MAX_BODY_BYTES`].
    pub body: Option<Bytes>,
    pub request_id: String,
    /// The client's address as the front door saw it (API Gateway's `sourceIp`, the TCP peer
    /// of `keygate serve`); never read from a client-set header. For audit lines only.
    pub source_ip: Option<std::net::IpAddr>,
}

/// A transport-neutral response with a JSON body (or none).
#[derive(Debug, Clone)]
pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Option<String>,
}

impl Response {
    /// A JSON response.
    pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
        let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        Response {
            status,
            headers,
            body: Some(body),
        }
    }

    /// A response without a body.
    pub fn empty(status: StatusCode) -> Response {
        Response {
            status,
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// Adds `Cache-Control: no-store` (token responses, and anything user-specific).
    pub fn no_store(mut self) -> Response {
        self.headers
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        self.headers
            .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        self
    }

    /// Adds a header, keeping earlier values of the same name (two `Set-Cookie` headers both
    /// go out, as separate header lines or the front door's multi-value form).
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Response {
        self.headers.append(name, value);
        self
    }
}
