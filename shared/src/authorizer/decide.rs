//! The decision, whatever the event kind: verify the credential with the key set, then look the
//! route's roles up. Each decision is an audit line (`keygate::audit`, event `authorize`).

use super::event::{Credential, Input};
use crate::domain::route_policy::RoutePolicy;
use crate::domain::time::now;
use keygate_sdk::AccessClaims;
use keygate_sdk::remote::{RemoteJwks, RemoteVerifyError};

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
pub async fn decide(input: &Input, jwks: &RemoteJwks, policy: &RoutePolicy) -> Decision {
    let verified = match &input.credential {
        Credential::Token(t) => jwks.verify(t, now()).await.map_err(|e| e.to_string()),
        Credential::Missing => Err(RemoteVerifyError::Invalid(keygate_sdk::VerifyError::Malformed).to_string()),
        Credential::Refused(why) => Err((*why).to_owned()),
    };
    let claims = match verified {
        Ok(c) => Some(c),
        Err(reason) => {
            tracing::info!(target: "keygate::audit", event = "authorize", outcome = "invalid_token", route = %input.route, reason = %reason, "audit");
            None
        }
    };
    let allowed = claims.as_ref().is_some_and(|c| policy.allows(&input.route, &c.roles));
    if let Some(c) = &claims {
        let outcome = if allowed { "allow" } else { "deny" };
        let rule = policy.matched(&input.route).unwrap_or("");
        tracing::info!(target: "keygate::audit", event = "authorize", outcome, subject = c.sub.as_str(), route = %input.route, rule, "audit");
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
