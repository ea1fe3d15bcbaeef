//! Transport, inbound: each API Gateway authorizer event kind, parsed into one [`Input`] (the
//! kind, the credential, the route to look roles up by and the ARN to answer for).
//!
//! Where each kind carries its token (`docs/authorizer.md`):
//! - HTTP API payload 2.0: `Authorization: Bearer`, else the first `identitySource` value;
//! - HTTP API payload 1.0 and REST `REQUEST`: `Authorization: Bearer`;
//! - REST `TOKEN`: `authorizationToken` (`Bearer <token>` or the bare token);
//! - WebSocket `$connect` (`REQUEST` with `requestContext.eventType` `CONNECT`): the
//!   `access_token` query parameter, or `Sec-WebSocket-Protocol: bearer, <token>`.

use crate::domain::route_policy::Route;
use serde_json::Value;

/// The subprotocol a WebSocket client offers first to carry its token in
/// `Sec-WebSocket-Protocol`; the `$connect` integration echoes it (never the token).
pub const BEARER_PROTOCOL: &str = "bearer";

/// What the event is, which decides the shape of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// HTTP API, payload 2.0: a simple response together with an IAM policy.
    HttpV2,
    /// HTTP API payload 1.0, REST `REQUEST` and `TOKEN`: an IAM policy.
    Policy,
    /// WebSocket API `$connect`: an IAM policy.
    WebSocket,
}

/// The token an event carries, or why none can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Token(String),
    /// No token where this kind carries one.
    Missing,
    /// A token place is malformed or two places disagree: refused without verifying anything.
    Refused(&'static str),
}

/// One authorizer event, whatever its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Input {
    pub kind: Kind,
    pub credential: Credential,
    pub route: Route,
    /// `methodArn` or `routeArn`: the resource an answer is for.
    pub arn: String,
    /// WebSocket: the subprotocol the `$connect` integration must echo (`bearer` when the client
    /// sent its token in `Sec-WebSocket-Protocol`).
    pub protocol: Option<&'static str>,
    /// A share-link token from the `share` query parameter, with the request's method and path
    /// (HTTP API and REST `REQUEST` events; contract section 5).
    pub share: Option<ShareRequest>,
}

/// A request presenting a share link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRequest {
    pub token: String,
    pub method: String,
    /// The request path, without the stage.
    pub path: String,
}

/// The `share` query parameter with the request's method and path, when there is one.
fn share_request(event: &Value, method: Option<&str>, path: Option<&str>) -> Option<ShareRequest> {
    let token = event.pointer("/queryStringParameters/share")?.as_str()?;
    if token.is_empty() || token.contains(',') {
        // Repeated parameters arrive joined with commas (payload 2.0): never a token.
        return None;
    }
    Some(ShareRequest {
        token: token.to_owned(),
        method: method?.to_owned(),
        path: path?.to_owned(),
    })
}

/// The value of the header `name` (case-insensitive: API Gateway may deliver it in any case).
fn header<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event
        .get("headers")?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
}

/// How many values `multiValueHeaders` holds for `name` (0 without it).
fn header_count(event: &Value, name: &str) -> usize {
    event
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .map(|h| {
            h.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_array().map_or(1, Vec::len))
                .sum()
        })
        .unwrap_or(0)
}

fn bearer(value: &str) -> Option<String> {
    keygate_sdk::bearer_token(value).map(str::to_owned)
}

/// The method and concrete path (`/admin/users/alice`) of
/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/path...`.
fn method_and_path(arn: &str) -> Option<(&str, String)> {
    let resource = arn.splitn(6, ':').nth(5)?;
    let mut parts = resource.splitn(4, '/');
    let (_api, _stage) = (parts.next()?, parts.next()?);
    let method = parts.next()?;
    Some((method, format!("/{}", parts.next().unwrap_or(""))))
}

/// The route of a request known only by its ARN (REST `TOKEN`): its method and concrete path.
pub(super) fn route_from_arn(arn: &str) -> Route {
    method_and_path(arn)
        .and_then(|(method, path)| Route::path(method, &path))
        .unwrap_or_else(|| Route::unknown(arn.rsplit('/').next().unwrap_or("")))
}

/// The route of a request API Gateway matched to a route template: the request's `method`
/// (else the ARN's) with the `template` (`/admin/{proxy+}`); without a usable template, the
/// ARN's concrete path.
pub(super) fn route_from_template(method: Option<&str>, template: Option<&str>, arn: &str) -> Route {
    let method = method.or_else(|| method_and_path(arn).map(|(m, _)| m)).unwrap_or("");
    template
        .and_then(|t| Route::template(method, t))
        .unwrap_or_else(|| route_from_arn(arn))
}

/// The token in `Sec-WebSocket-Protocol`: `None` when the client offers no `bearer`
/// subprotocol (the header then names only its own subprotocols); the token of exactly
/// `bearer, <token>`; refused for anything else that offers `bearer`.
pub(super) fn protocol_token(value: &str) -> Option<Result<String, &'static str>> {
    let offered: Vec<&str> = value.split(',').map(str::trim).collect();
    if !offered.contains(&BEARER_PROTOCOL) {
        return None;
    }
    Some(match offered.as_slice() {
        [BEARER_PROTOCOL, token] if !token.is_empty() && *token != BEARER_PROTOCOL => Ok((*token).to_owned()),
        _ => Err("malformed Sec-WebSocket-Protocol (expected \"bearer, <token>\")"),
    })
}

/// The `access_token` query parameter: `None` without it (or empty), refused when repeated.
fn query_token(event: &Value) -> Option<Result<String, &'static str>> {
    let repeated = event
        .pointer("/multiValueQueryStringParameters/access_token")
        .and_then(Value::as_array)
        .is_some_and(|v| v.len() > 1);
    if repeated {
        return Some(Err("access_token given more than once"));
    }
    let value = event.pointer("/queryStringParameters/access_token")?.as_str()?;
    (!value.is_empty()).then(|| Ok(value.to_owned()))
}

/// A WebSocket `$connect` event's token and the subprotocol to echo. Either place may carry
/// the token; both may only if they carry the same one.
fn websocket_credential(event: &Value) -> (Credential, Option<&'static str>) {
    let name = "sec-websocket-protocol";
    let from_header = if header_count(event, name) > 1 {
        Some(Err("Sec-WebSocket-Protocol given more than once"))
    } else {
        header(event, name).and_then(protocol_token)
    };
    let protocol = from_header.as_ref().map(|_| BEARER_PROTOCOL);
    let credential = match (query_token(event), from_header) {
        (Some(Err(why)), _) | (_, Some(Err(why))) => Credential::Refused(why),
        (Some(Ok(q)), Some(Ok(h))) if q != h => {
            Credential::Refused("access_token and Sec-WebSocket-Protocol carry different tokens")
        }
        (Some(Ok(t)), _) | (None, Some(Ok(t))) => Credential::Token(t),
        (None, None) => Credential::Missing,
    };
    (credential, protocol)
}

fn credential(token: Option<String>) -> Credential {
    token.map_or(Credential::Missing, Credential::Token)
}

/// Parses one authorizer event; `None` when it is no authorizer event keygate knows.
pub fn parse(event: &Value) -> Option<Input> {
    let s = |k: &str| event.get(k).and_then(Value::as_str);
    let ctx = |k: &str| {
        event
            .get("requestContext")
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
    };
    if s("version") == Some("2.0") {
        let token = header(event, "authorization").and_then(bearer).or_else(|| {
            let first = event.get("identitySource")?.as_array()?.first()?.as_str()?;
            bearer(first).or_else(|| Some(first.to_owned()))
        });
        let arn = s("routeArn").unwrap_or("").to_owned();
        // The `routeKey` ("GET /admin/{proxy+}", "ANY /reports", "$default") with the request's
        // own method, so that an `ANY` route still meets the keys for its methods.
        let key = s("routeKey").and_then(|k| k.split_once(' '));
        let method = event
            .pointer("/requestContext/http/method")
            .and_then(Value::as_str)
            .or(key.map(|(m, _)| m));
        // `rawPath` carries the stage in front unless it is `$default`.
        let stage = ctx("stage").filter(|st| *st != "$default");
        let path = s("rawPath").map(|p| match stage {
            Some(st) => p
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(st))
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                .map_or(p, |rest| if rest.is_empty() { "/" } else { rest }),
            None => p,
        });
        let share = share_request(event, method, path);
        return Some(Input {
            kind: Kind::HttpV2,
            credential: credential(token),
            route: route_from_template(method, key.map(|(_, t)| t), &arn),
            arn,
            protocol: None,
            share,
        });
    }
    let arn = s("methodArn")?.to_owned();
    match s("type")? {
        "TOKEN" => {
            let raw = s("authorizationToken").unwrap_or("");
            let token = bearer(raw).or_else(|| (!raw.is_empty()).then(|| raw.to_owned()));
            Some(Input {
                kind: Kind::Policy,
                credential: credential(token),
                route: route_from_arn(&arn),
                arn,
                protocol: None,
                share: None,
            })
        }
        "REQUEST" if ctx("eventType") == Some("CONNECT") => {
            // WebSocket `$connect`: the route key, else the ARN's last part (`.../$connect`).
            let (credential, protocol) = websocket_credential(event);
            let key = ctx("routeKey").unwrap_or_else(|| arn.rsplit('/').next().unwrap_or(""));
            Some(Input {
                kind: Kind::WebSocket,
                credential,
                route: Route::websocket(key),
                arn,
                protocol,
                share: None,
            })
        }
        "REQUEST" => {
            // REST and HTTP API payload 1.0: `httpMethod` and the `resource` template (else
            // the template of a `routeKey`, else the ARN's concrete path).
            let token = header(event, "authorization").and_then(bearer);
            let method = s("httpMethod").or_else(|| ctx("httpMethod"));
            let template = s("resource")
                .or_else(|| ctx("resourcePath"))
                .filter(|t| t.starts_with('/'))
                .or_else(|| {
                    let key = s("routeKey").or_else(|| ctx("routeKey"))?;
                    key.split_once(' ').map(|(_, t)| t)
                });
            // `path` is the request's path without the stage (REST and payload 1.0).
            let share = share_request(event, method, s("path"));
            Some(Input {
                kind: Kind::Policy,
                credential: credential(token),
                route: route_from_template(method, template, &arn),
                arn,
                protocol: None,
                share,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn routes_from_arns() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/admin/users";
        assert_eq!(route_from_arn(arn).to_string(), "GET /admin/users");
        let root = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/";
        assert_eq!(route_from_arn(root).to_string(), "GET /");
        let connect = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/$connect";
        assert_eq!(route_from_arn(connect).to_string(), "$connect");
        assert_eq!(route_from_arn("nonsense").to_string(), "nonsense");
        // A template route takes the request's method (an `ANY` route's request is a GET).
        assert_eq!(
            route_from_template(Some("GET"), Some("/admin/{proxy+}"), arn).to_string(),
            "GET /admin/{+}"
        );
        assert_eq!(
            route_from_template(None, Some("/admin/{id}"), arn).to_string(),
            "GET /admin/{}"
        );
        // No usable template (`$default`): the ARN's concrete path.
        assert_eq!(
            route_from_template(Some("GET"), Some("$default"), arn).to_string(),
            "GET /admin/users"
        );
        assert_eq!(bearer("Bearer abc"), Some("abc".into()));
        assert_eq!(bearer("Basic abc"), None);
    }

    fn connect(headers: Value, query: Value) -> Value {
        json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/production/$connect",
            "headers": headers,
            "queryStringParameters": query,
            "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "connectionId": "abc="}
        })
    }

    #[test]
    fn protocol_header_forms() {
        assert_eq!(protocol_token("bearer, t.o.k"), Some(Ok("t.o.k".into())));
        assert_eq!(protocol_token("bearer,t.o.k"), Some(Ok("t.o.k".into())));
        assert_eq!(protocol_token(" bearer ,  t.o.k "), Some(Ok("t.o.k".into())));
        // No `bearer` offered: the header is the client's own subprotocols, no token.
        assert_eq!(protocol_token("graphql-ws"), None);
        assert_eq!(protocol_token("chat, superchat"), None);
        assert_eq!(protocol_token(""), None);
        // `bearer` offered, but not as `bearer, <token>`.
        for bad in [
            "bearer",
            "bearer,",
            "bearer, ",
            "t.o.k, bearer",
            "bearer, t.o.k, chat",
            "chat, bearer, t.o.k",
            "bearer, bearer",
            "bearer, , t.o.k",
        ] {
            assert!(matches!(protocol_token(bad), Some(Err(_))), "{bad}");
        }
        // Subprotocol names are case-sensitive (RFC 6455): `Bearer` is not ours.
        assert_eq!(protocol_token("Bearer, t.o.k"), None);
    }

    #[test]
    fn websocket_connect_token_places() {
        let route = Route::websocket("$connect");
        // The query parameter: nothing to echo.
        let i = parse(&connect(json!({"Host": "x"}), json!({"access_token": "q.t.k"}))).unwrap();
        assert_eq!(
            (i.kind, &i.credential, &i.route, i.protocol),
            (Kind::WebSocket, &Credential::Token("q.t.k".into()), &route, None)
        );
        assert!(i.arn.ends_with("/production/$connect"));
        // The header, in any case: `bearer` to echo.
        for name in [
            "Sec-WebSocket-Protocol",
            "sec-websocket-protocol",
            "SEC-WEBSOCKET-PROTOCOL",
        ] {
            let i = parse(&connect(json!({ name: "bearer, h.t.k" }), json!(null))).unwrap();
            assert_eq!(i.credential, Credential::Token("h.t.k".into()), "{name}");
            assert_eq!(i.protocol, Some("bearer"), "{name}");
        }
        // Both, agreeing: accepted, and the offered `bearer` is still echoed.
        let i = parse(&connect(
            json!({"Sec-WebSocket-Protocol": "bearer, s.a.me"}),
            json!({"access_token": "s.a.me"}),
        ))
        .unwrap();
        assert_eq!(
            (i.credential, i.protocol),
            (Credential::Token("s.a.me".into()), Some("bearer"))
        );
        // Both, disagreeing; a malformed header; a repeated parameter or header: refused.
        let refused = |e: Value| matches!(parse(&e).unwrap().credential, Credential::Refused(_));
        assert!(refused(connect(
            json!({"Sec-WebSocket-Protocol": "bearer, o.n.e"}),
            json!({"access_token": "t.w.o"})
        )));
        assert!(refused(connect(json!({"Sec-WebSocket-Protocol": "bearer"}), json!({}))));
        assert!(refused(connect(
            json!({"Sec-WebSocket-Protocol": "bearer"}),
            json!({"access_token": "q.t.k"})
        )));
        let mut e = connect(json!({}), json!({"access_token": "a.b.c"}));
        e["multiValueQueryStringParameters"] = json!({"access_token": ["a.b.c", "d.e.f"]});
        assert!(refused(e));
        let mut e = connect(json!({"Sec-WebSocket-Protocol": "bearer, a.b.c"}), json!({}));
        e["multiValueHeaders"] = json!({"Sec-WebSocket-Protocol": ["bearer, a.b.c", "bearer, d.e.f"]});
        assert!(refused(e));
        // Missing everywhere; an empty parameter; a header naming only other subprotocols.
        for e in [
            connect(json!({}), json!({})),
            connect(json!(null), json!(null)),
            connect(json!({}), json!({"access_token": ""})),
            connect(json!({"Sec-WebSocket-Protocol": "chat"}), json!({})),
        ] {
            let i = parse(&e).unwrap();
            assert_eq!((i.credential, i.protocol), (Credential::Missing, None), "{e}");
        }
        // A header naming only other subprotocols with a query token: the query token.
        let i = parse(&connect(
            json!({"Sec-WebSocket-Protocol": "chat"}),
            json!({"access_token": "q.t.k"}),
        ))
        .unwrap();
        assert_eq!((i.credential, i.protocol), (Credential::Token("q.t.k".into()), None));
        // Neither `Authorization` nor the token of another kind counts for `$connect`.
        let i = parse(&connect(json!({"Authorization": "Bearer a.b.c"}), json!({}))).unwrap();
        assert_eq!(i.credential, Credential::Missing);
        // Without a route key, the ARN's last part.
        let mut e = connect(json!({}), json!({"access_token": "a.b.c"}));
        e["requestContext"].as_object_mut().unwrap().remove("routeKey");
        assert_eq!(parse(&e).unwrap().route, route);
    }

    #[test]
    fn other_kinds_are_unchanged() {
        let rest = json!({
            "type": "REQUEST",
            "methodArn": "arn:aws:execute-api:us-east-1:123456789012:r3st4p1id/prod/GET/reports/daily",
            "resource": "/reports/daily",
            "httpMethod": "GET",
            "headers": {"authorization": "Bearer a.b.c", "Sec-WebSocket-Protocol": "bearer, x.y.z"},
            "queryStringParameters": {"access_token": "q.q.q"},
            "requestContext": {"httpMethod": "GET"}
        });
        let i = parse(&rest).unwrap();
        assert_eq!(
            (i.kind, i.credential, i.protocol),
            (Kind::Policy, Credential::Token("a.b.c".into()), None)
        );
        assert_eq!(i.route.to_string(), "GET /reports/daily");
        let token = json!({"type": "TOKEN", "methodArn": "arn:aws:execute-api:r:a:api/prod/GET/x", "authorizationToken": "a.b.c"});
        assert_eq!(parse(&token).unwrap().credential, Credential::Token("a.b.c".into()));
        let token =
            json!({"type": "TOKEN", "methodArn": "arn:aws:execute-api:r:a:api/prod/GET/x", "authorizationToken": ""});
        assert_eq!(parse(&token).unwrap().credential, Credential::Missing);
        let v2 = json!({"version": "2.0", "routeArn": "arn", "routeKey": "GET /x", "identitySource": ["Bearer i.d.s"]});
        let i = parse(&v2).unwrap();
        assert_eq!(
            (i.kind, i.credential),
            (Kind::HttpV2, Credential::Token("i.d.s".into()))
        );
        assert_eq!(parse(&json!({"type": "OTHER", "methodArn": "x"})), None);
        assert_eq!(parse(&json!({"type": "TOKEN"})), None);
        assert_eq!(parse(&json!([])), None);
    }
}
