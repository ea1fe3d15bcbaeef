//! The Lambda front doors: every event that can front an HTTP function (API Gateway REST APIs,
//! HTTP APIs with payload 1.0 or 2.0, Application Load Balancers, Lambda function URLs) becomes
//! one [`Request`] through `lambda_http`, and each answer goes back in the shape its front door
//! reads. The only file that knows Lambda HTTP events (the HTTP API of openapi.yaml).
//!
//! A check runs before `lambda_http` converts an event, on what that conversion would panic on:
//! a body flagged `isBase64Encoded` that is not base64, or a `Host` header no URI can be built
//! from, gets 400 `invalid_request`. Routes match the path without the stage or the
//! custom-domain base path that API Gateway puts in front of it.

use super::error::ApiError;
use super::{Function, MAX_BODY_BYTES, Request, Response, handle};
use crate::services::Keygate;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, header};
use lambda_http::request::{LambdaRequest, RequestContext};
use lambda_http::{Adapter, Body, IntoResponse, LambdaEvent, RequestExt as _, Service, TransformResponse, service_fn};
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};
use std::convert::Infallible;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

type Shaped = TransformResponse<'static, Reply, Infallible>;

/// A response on its way to `lambda_http`, which shapes it for the front door. Its body goes as
/// it is: no body stays none (`lambda_http` would send `""` for an empty text body).
pub struct Reply(Response);

impl IntoResponse for Reply {
    fn into_response(self) -> Pin<Box<dyn Future<Output = http::Response<Body>> + Send>> {
        let r = self.0;
        let mut out = http::Response::new(r.body.map_or(Body::Empty, Body::Text));
        *out.status_mut() = r.status;
        *out.headers_mut() = r.headers;
        Box::pin(std::future::ready(out))
    }
}

/// The `Ok` side of a result type, to name the answer `lambda_http` shapes.
pub trait Outcome {
    type Ok;
}

impl<T, E> Outcome for Result<T, E> {
    type Ok = T;
}

/// An answer in the shape of the front door that sent the event (multi-value headers for REST
/// APIs, HTTP API payload 1.0 and ALB; `cookies` for payload 2.0 and function URLs).
pub type Answer = <<Shaped as Future>::Output as Outcome>::Ok;

/// The Lambda service in front of `handler`: checks each event, converts it with `lambda_http`
/// and shapes the answer for its front door.
#[derive(Clone)]
pub struct FrontDoor<H> {
    handler: H,
}

impl<H> FrontDoor<H> {
    pub fn new(handler: H) -> FrontDoor<H> {
        FrontDoor { handler }
    }
}

impl<H, F> Service<LambdaEvent<LambdaRequest>> for FrontDoor<H>
where
    H: Fn(Request) -> F + Clone + Send + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    type Response = Answer;
    type Error = Infallible;
    type Future = Shaped;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, event: LambdaEvent<LambdaRequest>) -> Shaped {
        let LambdaEvent { mut payload, context } = event;
        let refusal = check(&mut payload).err();
        let handler = self.handler.clone();
        // A refused event still goes through `lambda_http` (without what it was refused for),
        // so that the 400 is shaped for its front door like any other answer.
        let mut adapter = Adapter::from(service_fn(move |req: lambda_http::Request| {
            let handler = handler.clone();
            async move {
                let response = match refusal {
                    Some(why) => ApiError::invalid_request(why).into_response(),
                    None => handler(to_request(req)).await,
                };
                Ok::<_, Infallible>(Reply(response))
            }
        }));
        adapter.call(LambdaEvent::new(payload, context))
    }
}

/// Refuses what `lambda_http`'s conversion would panic on, and removes it from the event:
/// a body flagged base64 that is not base64, and a URI it cannot build (from a `Host` or
/// `X-Forwarded-Proto` header that is not valid, which an ALB passes on from the client). A
/// payload 2.0 `rawQueryString` is the query as the client sent it: characters a URI cannot
/// hold (a raw `"`, `<`, `{`) are escaped rather than refused.
fn check(event: &mut LambdaRequest) -> Result<(), &'static str> {
    let refusal = match event {
        LambdaRequest::ApiGatewayV1(e) => refusal(
            e.body.as_deref(),
            e.is_base64_encoded,
            &e.headers,
            e.request_context.domain_name.as_deref(),
            e.path.as_deref(),
        ),
        LambdaRequest::ApiGatewayV2(e) => {
            if let Some(q) = &mut e.raw_query_string {
                escape_query(q);
            }
            refusal(
                e.body.as_deref(),
                e.is_base64_encoded,
                &e.headers,
                e.request_context.domain_name.as_deref(),
                e.raw_path.as_deref(),
            )
        }
        LambdaRequest::Alb(e) => refusal(
            e.body.as_deref(),
            e.is_base64_encoded,
            &e.headers,
            None,
            e.path.as_deref(),
        ),
        _ => None,
    };
    match refusal {
        None => Ok(()),
        Some(why) => {
            neutralize(event);
            Err(why)
        }
    }
}

fn refusal(
    body: Option<&str>,
    base64_encoded: bool,
    headers: &HeaderMap,
    domain: Option<&str>,
    path: Option<&str>,
) -> Option<&'static str> {
    let engine = &base64::engine::general_purpose::STANDARD;
    if base64_encoded && body.is_some_and(|b| engine.decode(b).is_err()) {
        return Some("the body is not valid base64");
    }
    if !uri_builds(headers, domain, path.unwrap_or_default()) {
        return Some("the Host header or the request path is not valid");
    }
    None
}

/// Whether the URI `lambda_http` builds from these parts parses: it unwraps `url`'s parse and
/// then `http`'s, so both are tried here on the same string.
fn uri_builds(headers: &HeaderMap, domain: Option<&str>, path: &str) -> bool {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(domain);
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|p| p.to_str().ok())
        .unwrap_or("https");
    let uri = match host {
        Some(host) => format!("{scheme}://{host}{path}"),
        None => format!("http://localhost{path}"),
    };
    url::Url::parse(&uri).is_ok_and(|u| http::Uri::try_from(u.as_str()).is_ok())
}

/// Leaves nothing in a refused event that the conversion could panic on.
fn neutralize(event: &mut LambdaRequest) {
    let (body, encoded, headers, path) = match event {
        LambdaRequest::ApiGatewayV1(e) => {
            e.request_context.domain_name = None;
            (&mut e.body, &mut e.is_base64_encoded, &mut e.headers, &mut e.path)
        }
        LambdaRequest::ApiGatewayV2(e) => {
            e.request_context.domain_name = None;
            e.raw_query_string = None;
            (&mut e.body, &mut e.is_base64_encoded, &mut e.headers, &mut e.raw_path)
        }
        LambdaRequest::Alb(e) => (&mut e.body, &mut e.is_base64_encoded, &mut e.headers, &mut e.path),
        _ => return,
    };
    *body = None;
    *encoded = false;
    *path = None;
    headers.remove(header::HOST);
    headers.remove("x-forwarded-proto");
}

/// Bytes a query may not hold as they are (RFC 3986 section 3.4); `%` stays, so escapes stay.
const NOT_QUERY: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

fn escape_query(query: &mut String) {
    // Not `Cow::Borrowed` = unchanged: an input that is one escaped byte (" ") comes back as
    // the borrowed "%20" (the fuzzer found it: `lambda_http` then panicked on the raw space).
    *query = utf8_percent_encode(query, NOT_QUERY).to_string();
}

/// The request `lambda_http` made from an event, as the router reads it.
pub fn to_request(req: lambda_http::Request) -> Request {
    let path = path_of(&req);
    let source_ip = source_ip(&req);
    let request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let query = req.uri().query().filter(|q| !q.is_empty()).map(str::to_owned);
    let (parts, body) = req.into_parts();
    let body = match body {
        Body::Text(t) => Bytes::from(t),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    };
    Request {
        method: parts.method,
        path,
        query,
        headers: parts.headers,
        body: Some(body).filter(|b| b.len() <= MAX_BODY_BYTES),
        request_id,
        source_ip,
    }
}

/// The path to route on, from the event's path, the route API Gateway matched and its stage.
fn path_of(req: &lambda_http::Request) -> String {
    let (template, stage) = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => (c.resource_path.as_deref(), c.stage.as_deref()),
        Some(RequestContext::ApiGatewayV2(c)) => (
            c.route_key
                .as_deref()
                .and_then(|k| k.split_once(' '))
                .map(|(_, path)| path),
            c.stage.as_deref(),
        ),
        _ => (None, None),
    };
    let params = req.path_parameters_ref();
    route_path(
        req.raw_http_path(),
        template,
        |name| params.and_then(|p| p.first(name)),
        stage,
    )
}

/// `raw` without what API Gateway puts before the API's own path: a custom domain's base path
/// (REST and HTTP APIs keep it in the path) or a named stage (HTTP APIs keep it, REST APIs do
/// not). `template` is the route API Gateway matched (REST `resource`, the path of an HTTP API
/// `routeKey`), `param` its path parameters (decoded). The template tells where the API's own
/// path starts; without one (a `$default` route) only a leading named stage is dropped.
fn route_path<'a>(
    raw: &str,
    template: Option<&str>,
    param: impl Fn(&str) -> Option<&'a str>,
    stage: Option<&str>,
) -> String {
    let segments = split(raw);
    let start = template
        .filter(|t| t.starts_with('/'))
        .and_then(|t| start_of(&segments, &split(t), param))
        .or_else(|| {
            let stage = stage.filter(|s| *s != "$default")?;
            (segments.first() == Some(&stage)).then_some(1)
        })
        .unwrap_or(0);
    if start == 0 {
        return raw.to_owned();
    }
    let mut path = String::with_capacity(raw.len());
    for s in &segments[start..] {
        path.push('/');
        path.push_str(s);
    }
    if path.is_empty() || raw.ends_with('/') {
        path.push('/');
    }
    path
}

fn split(path: &str) -> Vec<&str> {
    let inner = path.trim_matches('/');
    if inner.is_empty() {
        Vec::new()
    } else {
        inner.split('/').collect()
    }
}

/// Where the segments matching `template` start in `segments`, if they do.
fn start_of<'a>(segments: &[&str], template: &[&str], param: impl Fn(&str) -> Option<&'a str>) -> Option<usize> {
    let greedy = template
        .last()
        .and_then(|t| t.strip_prefix('{'))
        .and_then(|t| t.strip_suffix("+}"));
    let Some(name) = greedy else {
        let start = segments.len().checked_sub(template.len())?;
        return fits(&segments[start..], template).then_some(start);
    };
    // `{name+}` takes one segment or more: the rest of the path is its value.
    let value = param(name)?;
    let fixed = &template[..template.len() - 1];
    let last = segments.len().checked_sub(fixed.len() + 1)?;
    (0..=last).find(|&i| {
        let rest = segments[i + fixed.len()..].join("/");
        fits(&segments[i..i + fixed.len()], fixed) && same(&rest, value)
    })
}

fn fits(segments: &[&str], template: &[&str]) -> bool {
    segments.len() == template.len()
        && segments
            .iter()
            .zip(template)
            .all(|(s, t)| if t.starts_with('{') { !s.is_empty() } else { same(s, t) })
}

/// Whether a raw path piece reads as `decoded`, percent-encoded or not.
fn same(raw: &str, decoded: &str) -> bool {
    raw == decoded
        || percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .is_ok_and(|d| d == decoded)
}

/// The client's address as the front door saw it. An ALB appends the address its connection
/// came from to `X-Forwarded-For`, so the last entry is the ALB's (earlier ones are the client's
/// to write).
fn source_ip(req: &lambda_http::Request) -> Option<IpAddr> {
    let ip = match req.request_context_ref()? {
        RequestContext::ApiGatewayV1(c) => c.identity.source_ip.as_deref(),
        RequestContext::ApiGatewayV2(c) => c.http.source_ip.as_deref(),
        RequestContext::Alb(_) => req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim),
        _ => None,
    };
    ip?.parse().ok()
}

/// Serves `function` on the Lambda Runtime API until the runtime stops.
pub async fn serve(app: Arc<Keygate>, function: Function) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(FrontDoor::new(move |req| {
        let app = app.clone();
        async move { handle(&app, function, req).await }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::route_path;

    /// Found by the `lambda_event` fuzz target: a function-URL event whose `rawQueryString` is a
    /// single space. `lambda_http` panicked building its URI; the front door answers instead.
    #[test]
    fn a_query_of_one_space_is_answered_not_a_panic() {
        use lambda_http::Service as _;
        let event = serde_json::json!({
            "version": "2.0", "routeKey": "$default", "rawPath": "/auth/token", "rawQueryString": " ",
            "headers": {"host": "k3yg4t3.lambda-url.us-east-1.on.aws", "x-forwarded-proto": "https"},
            "requestContext": {"accountId": "anonymous", "apiId": "k3yg4t3", "domainName": "k3yg4t3.lambda-url.us-east-1.on.aws",
                "http": {"method": "POST", "path": "/auth/token", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.7", "userAgent": "curl"},
                "requestId": "r", "routeKey": "$default", "stage": "$default", "time": "t", "timeEpoch": 0},
            "body": "", "isBase64Encoded": false
        });
        let event: lambda_http::request::LambdaRequest = serde_json::from_value(event).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let mut door =
            super::FrontDoor::new(|_req: super::Request| async { super::Response::empty(http::StatusCode::OK) });
        let answered = rt
            .block_on(door.call(lambda_http::LambdaEvent::new(event, lambda_http::Context::default())))
            .unwrap();
        let answered = serde_json::to_value(answered).unwrap();
        assert!(matches!(answered["statusCode"].as_i64(), Some(200 | 400)), "{answered}");
    }

    fn route(raw: &str, template: Option<&str>, params: &[(&str, &str)], stage: Option<&str>) -> String {
        route_path(
            raw,
            template,
            |n| params.iter().find(|(k, _)| *k == n).map(|(_, v)| *v),
            stage,
        )
    }

    #[test]
    fn a_rest_path_keeps_its_route_and_loses_a_base_path() {
        assert_eq!(
            route("/auth/token", Some("/auth/token"), &[], Some("prod")),
            "/auth/token"
        );
        assert_eq!(
            route("/identity/auth/token", Some("/auth/token"), &[], Some("prod")),
            "/auth/token"
        );
        assert_eq!(
            route("/v1/nested/auth/token/", Some("/auth/token"), &[], Some("prod")),
            "/auth/token/"
        );
    }

    #[test]
    fn a_rest_stage_named_like_the_route_is_not_stripped() {
        // REST paths never carry the stage: a stage called `auth` must not eat `/auth`.
        assert_eq!(
            route("/auth/token", Some("/auth/token"), &[], Some("auth")),
            "/auth/token"
        );
        assert_eq!(
            route(
                "/auth/token",
                Some("/{proxy+}"),
                &[("proxy", "auth/token")],
                Some("auth")
            ),
            "/auth/token"
        );
    }

    #[test]
    fn a_greedy_route_finds_where_the_api_path_starts() {
        let p = [("proxy", ".well-known/jwks.json")];
        assert_eq!(
            route("/.well-known/jwks.json", Some("/{proxy+}"), &p, None),
            "/.well-known/jwks.json"
        );
        assert_eq!(
            route("/keys/.well-known/jwks.json", Some("/{proxy+}"), &p, None),
            "/.well-known/jwks.json"
        );
        let a = [("proxy", "users/a b")];
        assert_eq!(
            route("/base/admin/users/a%20b", Some("/admin/{proxy+}"), &a, None),
            "/admin/users/a%20b"
        );
        let n = [("name", "bob")];
        assert_eq!(
            route(
                "/x/admin/users/bob/revoke-sessions",
                Some("/admin/users/{name}/revoke-sessions"),
                &n,
                None
            ),
            "/admin/users/bob/revoke-sessions"
        );
    }

    #[test]
    fn an_http_api_drops_its_named_stage() {
        assert_eq!(
            route("/prod/auth/token", Some("/auth/token"), &[], Some("prod")),
            "/auth/token"
        );
        assert_eq!(route("/prod/auth/token", None, &[], Some("prod")), "/auth/token");
        assert_eq!(route("/auth/token", None, &[], Some("$default")), "/auth/token");
        assert_eq!(route("/prod", None, &[], Some("prod")), "/");
    }

    #[test]
    fn a_template_that_does_not_fit_changes_nothing() {
        assert_eq!(route("/auth/token", Some("/auth/refresh"), &[], None), "/auth/token");
        assert_eq!(
            route("/auth/token", Some("/{proxy+}"), &[("proxy", "other")], None),
            "/auth/token"
        );
        assert_eq!(
            route("/auth/token", Some("$default"), &[], Some("$default")),
            "/auth/token"
        );
        assert_eq!(route("//auth/token", None, &[], None), "//auth/token");
    }
}
