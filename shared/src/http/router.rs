//! The route table: each path as a typed `Route` with the methods it answers, which
//! [`Function`] serves it, and the dispatch of a request to its handler in `routes/`.

use super::error::ApiError;
use super::routes::{admin, auth, password, register, session, share};
use super::{Request, Response, cors};
use crate::services::Keygate;
use http::{Method, header};
use std::time::Instant;

/// A deployable unit: each Lambda function serves its own routes; `Local` (`keygate serve`)
/// serves them all, plus `GET /auth/validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    Authenticate,
    Refresh,
    Revoke,
    Jwks,
    ForgotPasswordRequest,
    ForgotPasswordConfirm,
    Admin,
    Register,
    Share,
    Local,
}

/// A route, parsed once from the path. Path segments are carried as sent (still
/// percent-encoded); a handler that needs a segment decoded decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route<'a> {
    Token,
    Refresh,
    Revoke,
    Jwks,
    Discovery,
    Forgot,
    Reset,
    Validate,
    Session,
    SessionRefresh,
    SessionLogout,
    Register,
    RegisterComplete,
    Shares,
    Share { share_id: &'a str },
    RevokedShares,
    Admin(Admin<'a>),
}

/// A route of the admin API (`/admin/*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admin<'a> {
    Users,
    User {
        username: &'a str,
    },
    RevokeSessions {
        username: &'a str,
    },
    Unlock {
        username: &'a str,
    },
    ApiKeys,
    ApiKey {
        key_id: &'a str,
    },
    /// `/admin/invitations*`: admin routes that send mail, so served by the `register`
    /// function (which holds the mail rights), not by `admin`.
    Invitations,
    Invitation {
        invitation_id: &'a str,
    },
}

impl Function {
    /// Whether this function serves `route`. Only `Local` serves `GET /auth/validate`.
    fn serves(self, route: Route<'_>) -> bool {
        use Route as R;
        match self {
            Function::Local => true,
            Function::Authenticate => matches!(route, R::Token | R::Session),
            Function::Refresh => matches!(route, R::Refresh | R::SessionRefresh),
            Function::Revoke => matches!(route, R::Revoke | R::SessionLogout),
            Function::Jwks => matches!(route, R::Jwks | R::Discovery),
            Function::ForgotPasswordRequest => route == R::Forgot,
            Function::ForgotPasswordConfirm => route == R::Reset,
            Function::Admin => matches!(route, R::Admin(a) if !a.sends_mail()),
            Function::Register => match route {
                R::Register | R::RegisterComplete => true,
                R::Admin(a) => a.sends_mail(),
                _ => false,
            },
            Function::Share => matches!(route, R::Shares | R::Share { .. } | R::RevokedShares),
        }
    }
}

impl<'a> Route<'a> {
    /// The route at `path` (a trailing `/` ignored); `None` for an unknown path (404).
    fn of(path: &'a str) -> Option<Route<'a>> {
        let path = path.trim_end_matches('/');
        Some(match path {
            "/auth/token" => Route::Token,
            "/auth/refresh" => Route::Refresh,
            "/auth/revoke" => Route::Revoke,
            "/.well-known/jwks.json" => Route::Jwks,
            "/.well-known/openid-configuration" => Route::Discovery,
            "/auth/password/forgot" => Route::Forgot,
            "/auth/password/reset" => Route::Reset,
            "/auth/validate" => Route::Validate,
            "/auth/session" => Route::Session,
            "/auth/session/refresh" => Route::SessionRefresh,
            "/auth/session/logout" => Route::SessionLogout,
            "/auth/register" => Route::Register,
            "/auth/register/complete" => Route::RegisterComplete,
            "/auth/share" => Route::Shares,
            "/auth/share/revoked" => Route::RevokedShares,
            p => match p.strip_prefix("/auth/share/") {
                Some(id) if !id.is_empty() && !id.contains('/') => Route::Share { share_id: id },
                Some(_) => return None,
                None => Route::Admin(Admin::of(p.strip_prefix("/admin/")?)?),
            },
        })
    }

    /// The methods this route answers: the `Allow` header of a 405 and of a preflight.
    fn allow(self) -> &'static str {
        match self {
            Route::Jwks | Route::Discovery | Route::Validate | Route::RevokedShares => "GET",
            Route::Shares => "GET, POST",
            Route::Share { .. } => "DELETE",
            Route::Admin(a) => a.allow(),
            _ => "POST",
        }
    }
}

impl<'a> Admin<'a> {
    /// The admin route at `rest`, the path after `/admin/`.
    fn of(rest: &'a str) -> Option<Admin<'a>> {
        let segments: Vec<&str> = rest.split('/').collect();
        Some(match segments.as_slice() {
            ["users"] => Admin::Users,
            ["users", username] => Admin::User { username },
            ["users", username, "revoke-sessions"] => Admin::RevokeSessions { username },
            ["users", username, "unlock"] => Admin::Unlock { username },
            ["api-keys"] => Admin::ApiKeys,
            ["api-keys", key_id] => Admin::ApiKey { key_id },
            ["invitations"] => Admin::Invitations,
            ["invitations", invitation_id] => Admin::Invitation { invitation_id },
            _ => return None,
        })
    }

    fn allow(self) -> &'static str {
        match self {
            Admin::Users | Admin::RevokeSessions { .. } | Admin::Unlock { .. } | Admin::ApiKeys => "POST",
            Admin::User { .. } => "PATCH",
            Admin::ApiKey { .. } | Admin::Invitation { .. } => "DELETE",
            Admin::Invitations => "GET, POST",
        }
    }

    fn sends_mail(self) -> bool {
        matches!(self, Admin::Invitations | Admin::Invitation { .. })
    }
}

/// Longest user agent kept in the logs, in bytes.
const MAX_LOGGED_USER_AGENT: usize = 256;

/// The client's user agent, cut to [`MAX_LOGGED_USER_AGENT`] bytes on a character boundary.
fn user_agent(req: &Request) -> Option<&str> {
    let ua = req.headers.get(header::USER_AGENT)?.to_str().ok()?;
    let mut end = ua.len().min(MAX_LOGGED_USER_AGENT);
    while !ua.is_char_boundary(end) {
        end -= 1;
    }
    Some(&ua[..end])
}

/// Handles one request for `function`. Never panics: every failure is a contract answer.
/// Every line logged while handling it (audit lines included) carries the request's span:
/// request id, method, path, the client's `source_ip` and `user_agent`.
pub async fn handle(app: &Keygate, function: Function, req: Request) -> Response {
    let started = Instant::now();
    let span = tracing::info_span!(
        "request",
        request_id = %req.request_id,
        method = %req.method,
        path = %req.path,
        source_ip = req.source_ip.map(tracing::field::display),
        user_agent = user_agent(&req),
    );
    let response = {
        use tracing::Instrument as _;
        dispatch(app, function, &req).instrument(span.clone()).await
    };
    let mut response = response.unwrap_or_else(ApiError::into_response);
    cors::decorate(&app.config, &req, &mut response);
    span.in_scope(|| {
        tracing::info!(
            status = response.status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "answered"
        );
    });
    response
}

/// The route table's answers before any handler: 404 for a route this function does not serve
/// (or the admin API when it is off), the CORS preflight, 405 for a method the route does not
/// answer.
async fn dispatch(app: &Keygate, function: Function, req: &Request) -> Result<Response, ApiError> {
    let route = Route::of(&req.path)
        .filter(|&r| function.serves(r) && (app.config.admin_api || !matches!(r, Route::Admin(_))))
        .ok_or_else(ApiError::not_found)?;
    let allow = route.allow();
    if let Some(answer) = cors::preflight(&app.config, req, allow) {
        return Ok(answer);
    }
    if !allow.split(", ").any(|m| m == req.method.as_str()) {
        return Err(ApiError::method_not_allowed(allow));
    }
    serve(app, route, req).await
}

/// Calls the handler of `route` (whose method is one it answers).
async fn serve(app: &Keygate, route: Route<'_>, req: &Request) -> Result<Response, ApiError> {
    match route {
        Route::Token => auth::token(app, req).await,
        Route::Refresh => auth::refresh(app, req).await,
        Route::Revoke => auth::revoke(app, req).await,
        Route::Jwks => auth::jwks(app).await,
        Route::Discovery => Ok(auth::discovery(app)),
        Route::Validate => auth::validate(app, req).await,
        Route::Forgot => password::forgot(app, req).await,
        Route::Reset => password::reset(app, req).await,
        Route::Session => session::login(app, req).await,
        Route::SessionRefresh => session::refresh(app, req).await,
        Route::SessionLogout => session::logout(app, req).await,
        Route::Register => register::register(app, req).await,
        Route::RegisterComplete => register::complete(app, req).await,
        Route::Shares if req.method == Method::GET => share::list(app, req).await,
        Route::Shares => share::create(app, req).await,
        Route::Share { share_id } => share::revoke(app, req, share_id).await,
        Route::RevokedShares => share::revoked(app, req).await,
        Route::Admin(route) => serve_admin(app, route, req).await,
    }
}

/// Admits the caller of the admin API, then calls the handler of `route`.
async fn serve_admin(app: &Keygate, route: Admin<'_>, req: &Request) -> Result<Response, ApiError> {
    admin::admit(app, req).await?;
    match route {
        Admin::Users => admin::create_user(app, req).await,
        Admin::User { username } => admin::update_user(app, req, username).await,
        Admin::RevokeSessions { username } => admin::revoke_sessions(app, username).await,
        Admin::Unlock { username } => admin::unlock(app, username).await,
        Admin::ApiKeys => admin::create_api_key(app, req).await,
        Admin::ApiKey { key_id } => admin::delete_api_key(app, key_id).await,
        Admin::Invitations if req.method == Method::GET => admin::invitations(app).await,
        Admin::Invitations => admin::invite(app, req).await,
        Admin::Invitation { invitation_id } => admin::cancel_invitation(app, invitation_id).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_into_routes_with_their_segments() {
        assert_eq!(Route::of("/auth/token/"), Some(Route::Token));
        assert_eq!(Route::of("/auth/share/abc"), Some(Route::Share { share_id: "abc" }));
        assert_eq!(Route::of("/auth/share/a/b"), None);
        assert_eq!(
            Route::of("/admin/users/ann%20b/unlock"),
            Some(Route::Admin(Admin::Unlock { username: "ann%20b" }))
        );
        assert_eq!(Route::of("/admin/users/"), Some(Route::Admin(Admin::Users)));
        assert_eq!(Route::of("/auth/share/"), Some(Route::Shares));
        assert_eq!(
            Route::of("/admin/users//unlock"),
            Some(Route::Admin(Admin::Unlock { username: "" }))
        );
        for unknown in [
            "/admin",
            "/admin/",
            "/admin/nope",
            "/admin/users/a/b",
            "/auth",
            "/auth/shares",
        ] {
            assert_eq!(Route::of(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn invitations_are_served_by_the_register_function_alone() {
        let invitations = Route::Admin(Admin::Invitation { invitation_id: "x" });
        assert!(Function::Register.serves(invitations));
        assert!(!Function::Admin.serves(invitations));
        assert!(Function::Admin.serves(Route::Admin(Admin::Users)));
        assert!(!Function::Register.serves(Route::Admin(Admin::Users)));
        assert!(!Function::Authenticate.serves(Route::Validate));
    }
}
