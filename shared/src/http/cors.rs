//! Browsers on other origins: CORS answers for the origins in `KEYGATE_CORS_ORIGINS`, and the
//! `Origin` check of the cookie-authenticated routes. With credentials, never a wildcard: the
//! allowed origin is echoed, with `Vary: Origin`.

use super::{Request, Response};
use crate::config::Config;
use http::{HeaderValue, Method, StatusCode, header};

/// The request headers a browser may send (at least those the contract names).
const ALLOW_HEADERS: &str = "authorization, content-type, x-csrf-token";

/// How long a browser may cache a preflight answer, seconds.
const MAX_AGE: &str = "600";

fn origin(req: &Request) -> Option<&str> {
    req.headers.get(header::ORIGIN)?.to_str().ok()
}

/// The request's `Origin` when it is one `KEYGATE_CORS_ORIGINS` lists.
fn allowed<'r>(config: &Config, req: &'r Request) -> Option<&'r str> {
    origin(req).filter(|o| config.cors_allows(o))
}

/// Whether a cookie-authenticated call may proceed: no `Origin` (not a browser's cross-origin
/// call), keygate's own origin, or a listed one.
pub fn origin_ok(config: &Config, req: &Request) -> bool {
    match origin(req) {
        None => true,
        Some(o) => o.eq_ignore_ascii_case(&config.own_origin()) || config.cors_allows(o),
    }
}

/// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) from an
/// allowed origin, for a route answering `methods`. `None` when this is not one: the request
/// then goes on as any other (and an `OPTIONS` gets 405).
pub fn preflight(config: &Config, req: &Request, methods: &'static str) -> Option<Response> {
    if req.method != Method::OPTIONS || !req.headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) {
        return None;
    }
    allowed(config, req)?;
    Some(
        Response::empty(StatusCode::NO_CONTENT)
            .with_header(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods))
            .with_header(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            )
            .with_header(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE)),
    )
}

/// Adds the CORS headers to `response` when the request comes from an allowed origin.
pub fn decorate(config: &Config, req: &Request, response: &mut Response) {
    if config.cors_origins.is_empty() {
        return;
    }
    // Any answer may differ by Origin once CORS is on: caches must key on it.
    response
        .headers
        .append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(value) = allowed(config, req).and_then(|o| HeaderValue::from_str(o).ok()) else {
        return;
    };
    response.headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
    response.headers.insert(
        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
        HeaderValue::from_static("true"),
    );
}
