//! The audit trail: one structured line (target `keygate::audit`, message `audit`) per
//! security-relevant event. Events and outcomes are `&'static str` names; a subject is an id
//! (a user id, a key id, a share id, a log fingerprint) or a fixed word, never a payload.

use crate::domain::route_policy::Route;
use std::fmt::Display;

/// `event` ended in `outcome`, about no one in particular.
pub fn event(event: &'static str, outcome: &'static str) {
    tracing::info!(target: "keygate::audit", event, outcome, "audit");
}

/// `event` ended in `outcome` for `subject`.
pub fn subject(event: &'static str, outcome: &'static str, subject: &str) {
    tracing::info!(target: "keygate::audit", event, outcome, subject, "audit");
}

/// An operator's `action` (event `admin`) ended in `outcome` on `object`.
pub fn admin(action: &'static str, outcome: &'static str, object: &str) {
    tracing::info!(target: "keygate::audit", event = "admin", action, outcome, object, "audit");
}

/// The mail of `event` (outcome `mail_failed`, at error level) could not be sent, for
/// `subject` when there is one.
pub fn mail_failed(event: &'static str, subject: Option<&str>, error: &dyn Display) {
    match subject {
        Some(subject) => {
            tracing::error!(target: "keygate::audit", event, outcome = "mail_failed", subject, error = %error, "audit")
        }
        None => tracing::error!(target: "keygate::audit", event, outcome = "mail_failed", error = %error, "audit"),
    }
}

/// The mail of an operator's `action` on `object` could not be sent (at error level).
pub fn admin_mail_failed(action: &'static str, object: &str, error: &dyn Display) {
    tracing::error!(target: "keygate::audit", event = "admin", action, outcome = "mail_failed", object, error = %error, "audit");
}

/// A retired refresh token was presented again (at warning level): its session is revoked.
pub fn refresh_reuse_detected() {
    tracing::warn!(target: "keygate::audit", event = "refresh", outcome = "reuse_detected", "a retired refresh token was presented again; its session is revoked");
}

/// The authorizer refused an access token on `route`, and why.
pub fn authorize_invalid_token(route: &Route, reason: &dyn Display) {
    tracing::info!(target: "keygate::audit", event = "authorize", outcome = "invalid_token", route = %route, reason = %reason, "audit");
}

/// The authorizer refused a share link on `route`, and why.
pub fn authorize_invalid_share(route: &Route, reason: &str) {
    tracing::info!(target: "keygate::audit", event = "authorize", outcome = "invalid_share", route = %route, reason, "audit");
}

/// The authorizer decided (`allow` or `deny`) for the token of `subject` on `route`, by `rule`.
pub fn authorize(outcome: &'static str, subject: &str, route: &Route, rule: &str) {
    tracing::info!(target: "keygate::audit", event = "authorize", outcome, subject, route = %route, rule, "audit");
}

/// The authorizer admitted the share link `share_id`, made by `shared_by`, on `route`.
pub fn authorize_share(share_id: &str, shared_by: &str, route: &Route) {
    tracing::info!(target: "keygate::audit", event = "authorize", outcome = "allow_share", subject = share_id, shared_by, route = %route, "audit");
}
