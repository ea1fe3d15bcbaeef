//! The API Gateway Lambda authorizer (`docs/authorizer.md`). It verifies access tokens with the
//! public JWKS only (`KEYGATE_JWKS_URL`): it never holds the private key.
//!
//! Event shapes:
//! - HTTP API, payload 2.0 (`"version": "2.0"`): answers `{"isAuthorized", "context"}` (simple
//!   responses) together with `principalId` and `policyDocument`, so the same function serves
//!   APIs configured for simple or IAM-policy responses.
//! - HTTP API payload 1.0 and REST `REQUEST`, and REST `TOKEN`: answers an IAM policy; an
//!   invalid token fails the invocation with `Unauthorized` (API Gateway's 401), a valid token
//!   without the route's role gets `Deny`.

use crate::config::{Config, ConfigError};
use crate::domain::route_policy::{Route, RoutePolicy};
use crate::domain::time::now;
use keygate_sdk::remote::{RemoteJwks, RemoteVerifyError};
use keygate_sdk::{AccessClaims, VerifyOptions};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::sync::Arc;

/// The authorizer: the route policy and the remote key set, built once per container.
pub struct Authorizer {
    policy: RoutePolicy,
    jwks: RemoteJwks,
}

/// The invocation fails with this message when API Gateway should answer 401.
#[derive(Debug, thiserror::Error)]
#[error("Unauthorized")]
pub struct Unauthorized;

impl From<Unauthorized> for lambda_runtime::Diagnostic {
    fn from(_: Unauthorized) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic {
            error_type: "Unauthorized".into(),
            error_message: "Unauthorized".into(),
        }
    }
}

enum Shape {
    HttpV2,
    Policy,
}

struct Input {
    shape: Shape,
    token: Option<String>,
    route: Route,
    arn: String,
}

fn header(event: &Value, name: &str) -> Option<String> {
    let headers = event.get("headers")?.as_object()?;
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.as_str())
        .map(str::to_owned)
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
fn route_from_arn(arn: &str) -> Route {
    method_and_path(arn)
        .and_then(|(method, path)| Route::path(method, &path))
        .unwrap_or_else(|| Route::unknown(arn.rsplit('/').next().unwrap_or("")))
}

/// The route of a request API Gateway matched to a route template: the request's `method`
/// (else the ARN's) with the `template` (`/admin/{proxy+}`); without a usable template, the
/// ARN's concrete path.
fn route_from_template(method: Option<&str>, template: Option<&str>, arn: &str) -> Route {
    let method = method.or_else(|| method_and_path(arn).map(|(m, _)| m)).unwrap_or("");
    template
        .and_then(|t| Route::template(method, t))
        .unwrap_or_else(|| route_from_arn(arn))
}

/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/*`: every route of the stage.
fn wildcard(arn: &str) -> String {
    match arn.rsplit_once(':') {
        Some((prefix, resource)) => {
            let mut parts = resource.splitn(3, '/');
            let api = parts.next().unwrap_or("*");
            let stage = parts.next().unwrap_or("*");
            format!("{prefix}:{api}/{stage}/*")
        }
        None => arn.to_owned(),
    }
}

fn parse(event: &Value) -> Option<Input> {
    let s = |k: &str| event.get(k).and_then(Value::as_str);
    let ctx = |k: &str| {
        event
            .get("requestContext")
            .and_then(|c| c.get(k))
            .and_then(Value::as_str)
    };
    if s("version") == Some("2.0") {
        let token = header(event, "authorization").and_then(|v| bearer(&v)).or_else(|| {
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
        return Some(Input {
            shape: Shape::HttpV2,
            token,
            route: route_from_template(method, key.map(|(_, t)| t), &arn),
            arn,
        });
    }
    let arn = s("methodArn")?.to_owned();
    match s("type")? {
        "TOKEN" => {
            let raw = s("authorizationToken").unwrap_or("");
            let token = bearer(raw).or_else(|| (!raw.is_empty()).then(|| raw.to_owned()));
            Some(Input {
                shape: Shape::Policy,
                token,
                route: route_from_arn(&arn),
                arn,
            })
        }
        "REQUEST" => {
            // REST and HTTP API payload 1.0: `httpMethod` and the `resource` template (else
            // the template of a `routeKey`, else the ARN's concrete path).
            let token = header(event, "authorization").and_then(|v| bearer(&v));
            let method = s("httpMethod").or_else(|| ctx("httpMethod"));
            let template = s("resource")
                .or_else(|| ctx("resourcePath"))
                .filter(|t| t.starts_with('/'))
                .or_else(|| {
                    let key = s("routeKey").or_else(|| ctx("routeKey"))?;
                    key.split_once(' ').map(|(_, t)| t)
                });
            Some(Input {
                shape: Shape::Policy,
                token,
                route: route_from_template(method, template, &arn),
                arn,
            })
        }
        _ => None,
    }
}

fn context(c: &AccessClaims) -> Value {
    json!({
        "sub": c.sub,
        "roles": c.roles.join(","),
        "scope": c.scope,
        "client_id": c.client_id,
        "username": c.preferred_username.clone().unwrap_or_default(),
    })
}

fn policy(principal: &str, effect: &str, resource: &str, ctx: Value) -> Value {
    json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]
        },
        "context": ctx,
    })
}

impl Authorizer {
    /// Builds the authorizer from the configuration: parses `KEYGATE_ROUTE_ROLES` and the JWKS
    /// URL now, so that a bad value stops the function at start.
    pub fn from_config(config: &Config) -> Result<Authorizer, ConfigError> {
        let policy = match &config.route_roles {
            Some(json) => RoutePolicy::parse(json).map_err(|reason| ConfigError {
                var: "KEYGATE_ROUTE_ROLES",
                reason,
            })?,
            None => RoutePolicy::default(),
        };
        let options = VerifyOptions {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            leeway: config.leeway,
            max_lifetime: config.access_token_ttl,
        };
        let jwks = RemoteJwks::new(&config.jwks_url, options).map_err(|reason| ConfigError {
            var: "KEYGATE_JWKS_URL",
            reason,
        })?;
        Ok(Authorizer { policy, jwks })
    }

    /// Answers one authorizer event.
    pub async fn authorize(&self, event: &Value) -> Result<Value, Unauthorized> {
        let Some(input) = parse(event) else {
            tracing::warn!("not an API Gateway authorizer event");
            return Err(Unauthorized);
        };
        let verified = match &input.token {
            Some(t) => self.jwks.verify(t, now()).await,
            None => Err(RemoteVerifyError::Invalid(keygate_sdk::VerifyError::Malformed)),
        };
        let claims = match verified {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::info!(target: "keygate::audit", event = "authorize", outcome = "invalid_token", route = %input.route, reason = %e, "audit");
                None
            }
        };
        let allowed = claims
            .as_ref()
            .is_some_and(|c| self.policy.allows(&input.route, &c.roles));
        if let Some(c) = &claims {
            let outcome = if allowed { "allow" } else { "deny" };
            let rule = self.policy.matched(&input.route).unwrap_or("");
            tracing::info!(target: "keygate::audit", event = "authorize", outcome, subject = c.sub.as_str(), route = %input.route, rule, "audit");
        }
        // Without route roles one answer fits every route, so API Gateway may cache it for the
        // whole API; with route roles it is valid for this route only.
        let resource = if self.policy.has_role_rules() {
            input.arn.clone()
        } else {
            wildcard(&input.arn)
        };
        match input.shape {
            Shape::HttpV2 => {
                let ctx = claims.as_ref().map(context).unwrap_or_else(|| json!({}));
                let principal = claims
                    .as_ref()
                    .map(|c| c.sub.clone())
                    .unwrap_or_else(|| "anonymous".into());
                let mut answer = policy(&principal, if allowed { "Allow" } else { "Deny" }, &resource, ctx);
                answer["isAuthorized"] = Value::Bool(allowed);
                Ok(answer)
            }
            Shape::Policy => {
                let c = claims.ok_or(Unauthorized)?;
                Ok(policy(
                    &c.sub,
                    if allowed { "Allow" } else { "Deny" },
                    &resource,
                    context(&c),
                ))
            }
        }
    }
}

/// The authorizer function's `main`.
pub async fn lambda_main() {
    crate::telemetry::init();
    let authorizer = match Config::from_env().and_then(|c| Authorizer::from_config(&c)) {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("keygate: configuration error: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = authorizer.jwks.hydrate().await {
        // Not fatal: the first request tries again.
        tracing::warn!(error = %e, "could not prefetch the JWKS");
    }
    let handler = service_fn(move |event: LambdaEvent<Value>| {
        let a = authorizer.clone();
        async move { a.authorize(&event.payload).await }
    });
    if let Err(e) = lambda_runtime::run(handler).await {
        eprintln!("keygate: the Lambda runtime stopped: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_wildcards_from_arns() {
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
        assert_eq!(
            wildcard(arn),
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*"
        );
        assert_eq!(bearer("Bearer abc"), Some("abc".into()));
        assert_eq!(bearer("Basic abc"), None);
    }
}
