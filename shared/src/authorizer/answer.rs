//! Transport, outbound: a [`Decision`] as the answer its event kind expects.
//!
//! - HTTP API payload 2.0: `{"isAuthorized", "context"}` (simple responses) together with
//!   `principalId` and `policyDocument`, so the same function serves APIs configured for simple
//!   or IAM-policy responses; a missing or invalid token is `isAuthorized: false`.
//! - Every other kind: an IAM policy; a missing or invalid token fails the invocation with
//!   [`Unauthorized`] (API Gateway's 401), a valid token without the route's role gets `Deny`.
//! - WebSocket `$connect` also passes, in the context, the subprotocol its integration must echo
//!   (`protocol`: `bearer`, or empty).

use super::decide::Decision;
use super::event::{Input, Kind};
use keygate_sdk::AccessClaims;
use serde_json::{Value, json};

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

/// The context of a request admitted by a share link (contract section 5).
fn share_context(s: &keygate_sdk::ShareClaims) -> Value {
    json!({
        "sub": format!("share:{}", s.share_id),
        "share_id": s.share_id,
        "shared_by": s.shared_by,
        "resource": s.resource.as_str(),
        "scope": "share:read",
        "roles": "",
    })
}

/// The answer to `input` for `decision`.
pub fn answer(input: &Input, decision: Decision) -> Result<Value, Unauthorized> {
    if let Some(s) = &decision.share {
        let principal = format!("share:{}", s.share_id);
        let mut answer = policy(&principal, "Allow", &decision.resource, share_context(s));
        if input.kind == Kind::HttpV2 {
            answer["isAuthorized"] = Value::Bool(true);
        }
        return Ok(answer);
    }
    let effect = if decision.allowed { "Allow" } else { "Deny" };
    match input.kind {
        Kind::HttpV2 => {
            let ctx = decision.claims.as_ref().map(context).unwrap_or_else(|| json!({}));
            let principal = decision
                .claims
                .as_ref()
                .map(|c| c.sub.clone())
                .unwrap_or_else(|| "anonymous".into());
            let mut answer = policy(&principal, effect, &decision.resource, ctx);
            answer["isAuthorized"] = Value::Bool(decision.allowed);
            Ok(answer)
        }
        Kind::Policy => {
            let c = decision.claims.ok_or(Unauthorized)?;
            Ok(policy(&c.sub, effect, &decision.resource, context(&c)))
        }
        Kind::WebSocket => {
            let c = decision.claims.ok_or(Unauthorized)?;
            let mut ctx = context(&c);
            ctx["protocol"] = json!(input.protocol.unwrap_or(""));
            Ok(policy(&c.sub, effect, &decision.resource, ctx))
        }
    }
}
