//! The decision, whatever the event kind: verify the credential with the key set, then look the
//! route's roles up. Each decision is an audit line (`keygate::audit`, event `authorize`).

use super::event::{Credential, Input};
use crate::domain::route_policy::RoutePolicy;
use crate::domain::time::now;
use crate::services::audit;
use keygate_sdk::remote::{RemoteJwks, RemoteRevocations, RemoteVerifyError};
use keygate_sdk::{AccessClaims, ShareClaims};

/// What the authorizer decided for one input.
#[derive(Debug)]
pub struct Decision {
    /// The verified token's claims; `None` for a missing, refused or invalid token.
    pub claims: Option<AccessClaims>,
    /// Whether the claims hold a role the route needs (never without claims).
    pub allowed: bool,
    /// The resource an answer covers: the input's own ARN when some route needs a role, else
    /// every route of the stage, so that API Gateway may cache one answer for the whole API.
    pub resource: String,
    /// A share link that admits this one request (no access token was presented).
    pub share: Option<ShareClaims>,
}

/// What the share path needs besides the key set.
pub struct ShareCheck<'a> {
    pub revocations: &'a RemoteRevocations,
    /// `KEYGATE_SHARE_MAX_TTL`.
    pub max_lifetime: i64,
}

/// The share link of `input`, when it admits the request: `GET` or `HEAD`, a valid share token
/// whose resource covers the path, on a route the policy marks shareable and whose roles the
/// creator held (contract section 12), not revoked (fail closed when that cannot be read).
async fn share_decision(
    input: &Input,
    jwks: &RemoteJwks,
    policy: &RoutePolicy,
    check: &ShareCheck<'_>,
) -> Option<ShareClaims> {
    let req = input.share.as_ref()?;
    let refuse = |reason: &str| {
        audit::authorize_invalid_share(&input.route, reason);
        None
    };
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return refuse("share links are read-only (GET, HEAD)");
    }
    let claims = match jwks.verify_share(&req.token, now(), check.max_lifetime).await {
        Ok(c) => c,
        Err(e) => return refuse(&e.to_string()),
    };
    if !claims.resource.covers(&req.path) {
        return refuse("the path is not under the shared resource");
    }
    if !policy.admits_share(&input.route, &claims.shared_by_roles) {
        return refuse("the route admits no share link its creator's roles allow");
    }
    match check.revocations.is_revoked(&claims.share_id).await {
        Ok(false) => {}
        Ok(true) => return refuse("revoked"),
        Err(e) => {
            tracing::warn!(error = %e, "refusing share links");
            return refuse("revocation list unavailable");
        }
    }
    audit::authorize_share(claims.share_id.as_str(), claims.shared_by.as_str(), &input.route);
    Some(claims)
}

/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/*`: every route of the stage.
pub(super) fn wildcard(arn: &str) -> String {
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

/// Decides `input` with the key set `jwks` and the route policy `policy`.
pub async fn decide(input: &Input, jwks: &RemoteJwks, policy: &RoutePolicy, shares: &ShareCheck<'_>) -> Decision {
    // Without an access token, a share link may admit this one request (never another route:
    // the answer names the request's own ARN).
    if input.credential == Credential::Missing && input.share.is_some() {
        let share = share_decision(input, jwks, policy, shares).await;
        return Decision {
            claims: None,
            allowed: share.is_some(),
            resource: input.arn.clone(),
            share,
        };
    }
    let verified = match &input.credential {
        Credential::Token(t) => jwks.verify(t, now()).await.map_err(|e| e.to_string()),
        Credential::Missing => Err(RemoteVerifyError::Invalid(keygate_sdk::VerifyError::Malformed).to_string()),
        Credential::Refused(why) => Err((*why).to_owned()),
    };
    let claims = match verified {
        Ok(c) => Some(c),
        Err(reason) => {
            audit::authorize_invalid_token(&input.route, &reason);
            None
        }
    };
    let allowed = claims.as_ref().is_some_and(|c| policy.allows(&input.route, &c.roles));
    if let Some(c) = &claims {
        let outcome = if allowed { "allow" } else { "deny" };
        let rule = policy.matched(&input.route).unwrap_or("");
        audit::authorize(outcome, c.sub.as_str(), &input.route, rule);
    }
    // Without route roles one answer fits every route, so API Gateway may cache it for the
    // whole API; with route roles it is valid for this route only.
    let resource = if policy.has_role_rules() {
        input.arn.clone()
    } else {
        wildcard(&input.arn)
    };
    Decision {
        claims,
        allowed,
        resource,
        share: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_from_arns() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/GET/admin/users";
        assert_eq!(
            wildcard(arn),
            "arn:aws:execute-api:us-east-1:123456789012:abcdef123/prod/*"
        );
        let connect = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/production/$connect";
        assert_eq!(
            wildcard(connect),
            "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/production/*"
        );
        assert_eq!(wildcard("nonsense"), "nonsense");
    }
}
