//! `KEYGATE_ROUTE_ROLES`: which roles each route needs (`docs/authorizer.md`).
//!
//! Keys are `"METHOD /path"` in API Gateway's route syntax (`{name}` stands for one path segment,
//! `{name+}` for one or more, and only as the last segment) or `"*"` as the default. A request is
//! described by a [`Route`]: its method with either the route template API Gateway matched
//! (HTTP API `routeKey`, REST `resource`) or the concrete path (REST `TOKEN` events). Among the
//! keys that cover the request, the most specific path wins (a literal segment beats `{name}`,
//! which beats `{name+}`, from left to right, as in API Gateway's own routing), then an exact
//! method beats `ANY`; a request no key covers uses `"*"`.
//!
//! A WebSocket API's `$connect` route (the only route an authorizer guards there) is the key
//! `"$connect"`, matched by its route key alone.
//!
//! A value is either the list of roles (`["reader"]`) or an object that also says whether share
//! links may use the route: `{"roles": ["reader"], "share": true}` (contract section 12). With
//! no policy at all (`KEYGATE_ROUTE_ROLES` unset) every valid token may use every route, so a
//! share link may use every `GET`/`HEAD` route; once a policy is set, only routes marked
//! shareable admit share links, and only when the creator's roles satisfy the route's.

use super::Role;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;

/// The methods a key may name; `ANY` and `*` match every method.
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY", "*"];

/// One segment of a route template or of a concrete path (a concrete path has only literals).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    /// `{name}`: exactly one segment.
    Param,
    /// `{name+}`: one or more segments (always the last).
    Greedy,
}

impl Segment {
    /// Literal beats `{name}` beats `{name+}`.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param => 1,
            Segment::Greedy => 0,
        }
    }
}

/// Parses a route template (`/admin/{proxy+}`, `/users/{id}/keys`, `/`). Parameter names are
/// not kept: `/users/{id}` and `/users/{name}` are the same route.
fn parse_template(path: &str) -> Result<Vec<Segment>, &'static str> {
    let rest = path.strip_prefix('/').ok_or("the path must start with /")?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let parts: Vec<&str> = rest.split('/').collect();
    let mut segments = Vec::with_capacity(parts.len());
    for (i, part) in parts.iter().enumerate() {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        };
        let segment = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            Some(inner) => match inner.strip_suffix('+') {
                Some(name) if name_ok(name) => {
                    if i + 1 != parts.len() {
                        return Err("{name+} may only be the last segment");
                    }
                    Segment::Greedy
                }
                _ if name_ok(inner) => Segment::Param,
                _ => return Err("a path variable is {name} or {name+}"),
            },
            None if part.is_empty() => return Err("empty path segment"),
            None if part.contains(['{', '}']) || part.contains(char::is_whitespace) => {
                return Err("a path segment is a literal, {name} or {name+}");
            }
            None => Segment::Literal((*part).to_owned()),
        };
        segments.push(segment);
    }
    Ok(segments)
}

/// Whether `pattern` matches every request `target` matches (for a concrete path: whether it
/// matches the path).
fn covers(pattern: &[Segment], target: &[Segment]) -> bool {
    match (pattern.split_first(), target.split_first()) {
        (None, None) => true,
        (Some((Segment::Greedy, _)), Some(_)) => true,
        (Some((Segment::Param, p)), Some((t, rest))) => *t != Segment::Greedy && covers(p, rest),
        (Some((Segment::Literal(a), p)), Some((Segment::Literal(b), rest))) => a == b && covers(p, rest),
        _ => false,
    }
}

/// The WebSocket route keys a key may name: an authorizer only ever guards `$connect`.
const WEBSOCKET_ROUTES: &[&str] = &["$connect"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// An HTTP method with a route template or a concrete path.
    Http(String, Vec<Segment>),
    /// A WebSocket route key (`$connect`).
    WebSocket(String),
    /// Nothing to match by: only `"*"` applies.
    Unknown,
}

/// A request as an authorizer event describes it, to look its roles up: its method with the route
/// template API Gateway matched it to, or with its concrete path; or a WebSocket route key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route(Target, String);

fn http_method(method: &str) -> Option<String> {
    let m = method.to_ascii_uppercase();
    (METHODS.contains(&m.as_str()) && m != "ANY" && m != "*").then_some(m)
}

impl Route {
    /// A request `method` that API Gateway matched to the route template `template` (HTTP API
    /// `routeKey`, REST `resource`: `/admin/{proxy+}`); `None` when the method is not an HTTP
    /// method or the template is not a template.
    pub fn template(method: &str, template: &str) -> Option<Route> {
        let method = http_method(method)?;
        let segments = parse_template(template).ok()?;
        Some(Route::new(method, segments))
    }

    /// A request `method` on the concrete `path` (`/admin/users/alice`, from a REST `TOKEN`
    /// event's `methodArn`); empty segments are ignored. `None` when the method is not an HTTP
    /// method.
    pub fn path(method: &str, path: &str) -> Option<Route> {
        let method = http_method(method)?;
        let segments = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| Segment::Literal(s.to_owned()))
            .collect();
        Some(Route::new(method, segments))
    }

    /// A request with nothing to match by (a malformed event): only `"*"` applies. `what` names
    /// it in logs.
    pub fn unknown(what: &str) -> Route {
        Route(Target::Unknown, what.to_owned())
    }

    /// A WebSocket API request on the route `key` (`$connect`): a key `"$connect"` applies, else
    /// `"*"`.
    pub fn websocket(key: &str) -> Route {
        Route(Target::WebSocket(key.to_owned()), key.to_owned())
    }

    fn new(method: String, segments: Vec<Segment>) -> Route {
        let mut shown = format!("{method} ");
        if segments.is_empty() {
            shown.push('/');
        }
        for s in &segments {
            match s {
                Segment::Literal(l) => {
                    shown.push('/');
                    shown.push_str(l);
                }
                Segment::Param => shown.push_str("/{}"),
                Segment::Greedy => shown.push_str("/{+}"),
            }
        }
        Route(Target::Http(method, segments), shown)
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    key: String,
    /// A WebSocket route key (`$connect`): then `method` and `segments` are unused.
    websocket: bool,
    /// `None`: `ANY`.
    method: Option<String>,
    segments: Vec<Segment>,
    roles: Vec<String>,
    /// Whether share links may use the route.
    share: bool,
}

/// One value of the policy's JSON: the list form, or the object form with the share flag.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Entry {
    Roles(Vec<String>),
    Object(EntryObject),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryObject {
    roles: Vec<String>,
    #[serde(default)]
    share: bool,
}

impl Entry {
    fn into_parts(self) -> (Vec<String>, bool) {
        match self {
            Entry::Roles(roles) => (roles, false),
            Entry::Object(o) => (o.roles, o.share),
        }
    }
}

/// Route keys mapped to the roles of which a token must hold at least one (`[]`: any valid
/// token). Without a matching entry (and no `"*"`), any valid token passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutePolicy {
    rules: Vec<Rule>,
    /// `"*"`: its roles and share flag.
    default: Option<(Vec<String>, bool)>,
    /// Whether a policy was given at all (`RoutePolicy::default()` is "no policy": every valid
    /// token, share links included, may use every route).
    configured: bool,
}

impl RoutePolicy {
    /// Parses the JSON of `KEYGATE_ROUTE_ROLES`. The error says what is wrong, for a start-up
    /// message. Two keys for the same route (`GET /u/{id}` and `GET /u/{name}`, `ANY` and `*`)
    /// are refused rather than one silently winning.
    pub fn parse(json: &str) -> Result<RoutePolicy, String> {
        let raw: HashMap<String, Entry> = serde_json::from_str(json).map_err(|_| {
            "expected {\"ROUTE\": [\"role\", ...]} or {\"ROUTE\": {\"roles\": [\"role\", ...], \"share\": true}}"
                .to_owned()
        })?;
        let mut policy = RoutePolicy {
            configured: true,
            ..RoutePolicy::default()
        };
        let mut raw: Vec<(String, Entry)> = raw.into_iter().collect();
        raw.sort_by(|a, b| a.0.cmp(&b.0));
        for (route, entry) in raw {
            let route = &route;
            let (roles, share) = entry.into_parts();
            for r in &roles {
                Role::parse(r).map_err(|e| format!("route {route:?}: {e}"))?;
            }
            if route == "*" {
                policy.default = Some((roles, share));
                continue;
            }
            if WEBSOCKET_ROUTES.contains(&route.as_str()) {
                policy.rules.push(Rule {
                    key: route.clone(),
                    websocket: true,
                    method: None,
                    segments: Vec::new(),
                    roles,
                    share,
                });
                continue;
            }
            let bad = |why: &str| format!("route {route:?} is not \"METHOD /path\", \"$connect\" or \"*\": {why}");
            let (method, path) = route.split_once(' ').ok_or_else(|| bad("no space"))?;
            if !METHODS.contains(&method) {
                return Err(bad("unknown method"));
            }
            let segments = parse_template(path).map_err(bad)?;
            let method = (method != "ANY" && method != "*").then(|| method.to_owned());
            if let Some(other) = policy
                .rules
                .iter()
                .find(|r| !r.websocket && r.method == method && r.segments == segments)
            {
                return Err(format!("routes {:?} and {route:?} are the same route", other.key));
            }
            policy.rules.push(Rule {
                key: route.clone(),
                websocket: false,
                method,
                segments,
                roles,
                share,
            });
        }
        Ok(policy)
    }

    /// Whether any route needs a role (then a policy must not be cached across routes).
    pub fn has_role_rules(&self) -> bool {
        self.rules.iter().any(|r| !r.roles.is_empty()) || self.default.as_ref().is_some_and(|d| !d.0.is_empty())
    }

    fn rule(&self, route: &Route) -> Option<&Rule> {
        let (method, target) = match &route.0 {
            Target::Http(method, target) => (method, target),
            Target::WebSocket(key) => return self.rules.iter().find(|r| r.websocket && r.key == *key),
            Target::Unknown => return None,
        };
        self.rules
            .iter()
            .filter(|r| !r.websocket && r.method.as_deref().is_none_or(|m| m == method) && covers(&r.segments, target))
            .max_by(|a, b| {
                let ranks = |r: &Rule| r.segments.iter().map(Segment::rank).collect::<Vec<_>>();
                match ranks(a).cmp(&ranks(b)) {
                    Ordering::Equal => a.method.is_some().cmp(&b.method.is_some()),
                    other => other,
                }
            })
    }

    /// The key that decides `route`: the matching entry, else `"*"` (if there is one).
    pub fn matched(&self, route: &Route) -> Option<&str> {
        match self.rule(route) {
            Some(r) => Some(&r.key),
            None => self.default.as_ref().map(|_| "*"),
        }
    }

    /// The roles `route` needs (at least one of them); empty for any valid token.
    pub fn required(&self, route: &Route) -> &[String] {
        self.entry(route).map_or(&[], |(roles, _)| roles)
    }

    /// The roles and share flag of the entry that decides `route` (the matching key, else `"*"`).
    fn entry(&self, route: &Route) -> Option<(&[String], bool)> {
        match self.rule(route) {
            Some(r) => Some((&r.roles, r.share)),
            None => self.default.as_ref().map(|(roles, share)| (roles.as_slice(), *share)),
        }
    }

    /// Whether a share link made by an account holding `creator_roles` may be used for `route`:
    /// without a policy, always (any valid token may use every route then); with one, only when
    /// the deciding entry is marked shareable and `creator_roles` satisfy it, so a link grants
    /// nothing its creator lacks. Routes no entry covers, with no `"*"`, admit no share link.
    pub fn admits_share(&self, route: &Route, creator_roles: &[String]) -> bool {
        if !self.configured {
            return true;
        }
        match self.entry(route) {
            Some((need, true)) => need.is_empty() || need.iter().any(|r| creator_roles.contains(r)),
            _ => false,
        }
    }

    /// Whether `roles` satisfy `route`.
    pub fn allows(&self, route: &Route, roles: &[String]) -> bool {
        let need = self.required(route);
        need.is_empty() || need.iter().any(|r| roles.contains(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    fn tpl(method: &str, template: &str) -> Route {
        Route::template(method, template).unwrap()
    }

    fn path(method: &str, p: &str) -> Route {
        Route::path(method, p).unwrap()
    }

    const ISSUE_13: &str = r#"{"GET /admin/{proxy+}": ["admin"], "*": []}"#;

    #[test]
    fn a_rest_resource_template_matches_its_key() {
        // Issue 13: the REST REQUEST event's `resource` is the template itself.
        let p = RoutePolicy::parse(ISSUE_13).unwrap();
        let r = tpl("GET", "/admin/{proxy+}");
        assert_eq!(p.matched(&r), Some("GET /admin/{proxy+}"));
        assert!(!p.allows(&r, &roles(&["user"])));
        assert!(p.allows(&r, &roles(&["admin"])));
        // Parameter names do not matter.
        assert!(!p.allows(&tpl("GET", "/admin/{path+}"), &roles(&["user"])));
    }

    #[test]
    fn greedy_proxy_matches_one_or_more_segments() {
        let p = RoutePolicy::parse(ISSUE_13).unwrap();
        for concrete in ["/admin/users", "/admin/users/alice", "/admin/a/b/c/d"] {
            assert!(!p.allows(&path("GET", concrete), &roles(&["user"])), "{concrete}");
            assert!(p.allows(&path("GET", concrete), &roles(&["admin"])), "{concrete}");
        }
        // `{proxy+}` needs at least one segment: `/admin` itself is another route.
        assert_eq!(p.matched(&path("GET", "/admin")), Some("*"));
        // A more specific template under it is covered by it.
        assert_eq!(p.matched(&tpl("GET", "/admin/users/{id}")), Some("GET /admin/{proxy+}"));
        assert_eq!(p.matched(&tpl("GET", "/admin/{a}/{b+}")), Some("GET /admin/{proxy+}"));
    }

    #[test]
    fn a_template_must_not_match_a_longer_literal() {
        let p = RoutePolicy::parse(r#"{"GET /admin": ["admin"], "GET /admin/{proxy+}": ["admin"], "*": []}"#).unwrap();
        for other in [
            "/administrator",
            "/admin-panel",
            "/ADMIN/users",
            "/adminx/users",
            "/",
            "/x/admin",
        ] {
            assert_eq!(p.matched(&path("GET", other)), Some("*"), "{other}");
            assert!(p.allows(&path("GET", other), &roles(&["user"])), "{other}");
        }
        assert_eq!(p.matched(&tpl("GET", "/administrator/{proxy+}")), Some("*"));
        assert_eq!(p.matched(&path("GET", "/admin")), Some("GET /admin"));
    }

    #[test]
    fn a_param_matches_exactly_one_segment() {
        let p = RoutePolicy::parse(r#"{"DELETE /users/{id}": ["admin"], "*": ["member"]}"#).unwrap();
        assert_eq!(p.matched(&path("DELETE", "/users/bob")), Some("DELETE /users/{id}"));
        assert_eq!(p.matched(&tpl("DELETE", "/users/{name}")), Some("DELETE /users/{id}"));
        assert_eq!(p.matched(&tpl("DELETE", "/users/bob")), Some("DELETE /users/{id}"));
        for other in ["/users", "/users/bob/keys", "/users/bob/keys/1"] {
            assert_eq!(p.matched(&path("DELETE", other)), Some("*"), "{other}");
        }
        // A greedy template may stand for more than one segment: `{id}` does not cover it.
        assert_eq!(p.matched(&tpl("DELETE", "/users/{proxy+}")), Some("*"));
        assert!(!p.allows(&path("DELETE", "/users/bob/keys"), &roles(&["admin"])));
    }

    #[test]
    fn an_exact_method_beats_any_and_methods_do_not_leak() {
        let p =
            RoutePolicy::parse(r#"{"ANY /reports": ["ops", "admin"], "GET /reports": [], "*": ["member"]}"#).unwrap();
        assert_eq!(p.matched(&path("GET", "/reports")), Some("GET /reports"));
        assert_eq!(p.matched(&tpl("get", "/reports")), Some("GET /reports"));
        assert!(p.allows(&path("GET", "/reports"), &[]));
        assert_eq!(p.matched(&path("POST", "/reports")), Some("ANY /reports"));
        assert!(!p.allows(&path("POST", "/reports"), &roles(&["member"])));
        assert!(p.allows(&path("DELETE", "/reports"), &roles(&["ops"])));
        // A GET rule says nothing about POST.
        let g = RoutePolicy::parse(ISSUE_13).unwrap();
        assert_eq!(g.matched(&path("POST", "/admin/users")), Some("*"));
    }

    #[test]
    fn the_most_specific_path_wins_before_the_method() {
        let p = RoutePolicy::parse(
            r#"{"ANY /admin/{proxy+}": ["admin"], "GET /{proxy+}": [], "GET /admin/health": [], "GET /admin/{id}": ["ops"]}"#,
        )
        .unwrap();
        assert_eq!(
            p.matched(&path("GET", "/admin/users/alice")),
            Some("ANY /admin/{proxy+}")
        );
        assert_eq!(p.matched(&path("GET", "/admin/health")), Some("GET /admin/health"));
        assert_eq!(p.matched(&path("GET", "/admin/bob")), Some("GET /admin/{id}"));
        assert_eq!(p.matched(&path("GET", "/reports")), Some("GET /{proxy+}"));
        // No `"*"`: an uncovered route needs nothing.
        assert_eq!(p.matched(&path("POST", "/reports")), None);
        assert!(p.allows(&path("POST", "/reports"), &[]));
    }

    #[test]
    fn star_is_the_fallback() {
        let strict = RoutePolicy::parse(r#"{"*": ["member"]}"#).unwrap();
        assert!(strict.has_role_rules());
        assert!(!strict.allows(&path("GET", "/x"), &[]));
        assert!(strict.allows(&path("GET", "/x"), &roles(&["member"])));
        assert!(!strict.allows(&Route::unknown("$connect"), &[]));
        assert!(!strict.allows(&Route::websocket("$connect"), &[]));
        let open = RoutePolicy::parse(ISSUE_13).unwrap();
        assert!(open.allows(&Route::unknown("$default"), &[]));
        assert!(!RoutePolicy::default().has_role_rules());
        assert!(RoutePolicy::default().allows(&path("GET", "/x"), &[]));
        assert_eq!(RoutePolicy::default().matched(&path("GET", "/x")), None);
        assert!(
            !RoutePolicy::parse(r#"{"ANY /x": [], "*": []}"#)
                .unwrap()
                .has_role_rules()
        );
    }

    #[test]
    fn websocket_connect_has_its_own_key() {
        let p = RoutePolicy::parse(r#"{"$connect": ["reader"], "ANY /{proxy+}": ["admin"], "*": ["admin"]}"#).unwrap();
        let connect = Route::websocket("$connect");
        assert_eq!(connect.to_string(), "$connect");
        assert_eq!(p.matched(&connect), Some("$connect"));
        assert!(p.allows(&connect, &roles(&["reader"])));
        assert!(!p.allows(&connect, &roles(&["writer"])));
        // The WebSocket key covers no HTTP route, and no HTTP key covers `$connect`.
        assert_eq!(p.matched(&path("GET", "/$connect")), Some("ANY /{proxy+}"));
        assert_eq!(p.matched(&Route::unknown("$connect")), Some("*"));
        // Without a `"$connect"` key, `"*"` decides; without either, any valid token passes.
        let star = RoutePolicy::parse(r#"{"GET /admin/{proxy+}": ["admin"], "*": ["member"]}"#).unwrap();
        assert_eq!(star.matched(&connect), Some("*"));
        assert!(!star.allows(&connect, &roles(&["reader"])));
        assert!(RoutePolicy::parse(ISSUE_13).unwrap().allows(&connect, &[]));
        let open = RoutePolicy::parse(r#"{"$connect": []}"#).unwrap();
        assert!(!open.has_role_rules());
        assert!(open.allows(&connect, &[]));
        assert!(p.has_role_rules());
    }

    #[test]
    fn routes_and_paths_from_events() {
        assert_eq!(Route::template("GET", "$default"), None);
        assert_eq!(Route::template("$connect", "/"), None);
        assert_eq!(Route::path("", "/x"), None);
        assert_eq!(Route::path("ANY", "/x"), None);
        assert_eq!(path("GET", "/").to_string(), "GET /");
        assert_eq!(path("GET", "/admin//users/").to_string(), "GET /admin/users");
        assert_eq!(tpl("GET", "/admin/{id}/{proxy+}").to_string(), "GET /admin/{}/{+}");
        // Braces in a concrete path are only characters.
        let p = RoutePolicy::parse(r#"{"GET /a/{id}": ["admin"]}"#).unwrap();
        assert_eq!(p.matched(&path("GET", "/a/{proxy+}")), Some("GET /a/{id}"));
    }

    #[test]
    fn share_links_use_only_routes_marked_shareable_that_their_creator_could_use() {
        // Issue 23: a share link for /admin/users must not pass where its creator's token fails.
        let p = RoutePolicy::parse(
            r#"{"GET /graphs/{id}": {"roles": ["reader"], "share": true}, "GET /admin/{proxy+}": ["admin"],
                "GET /public/{proxy+}": {"roles": [], "share": true}, "GET /notes/{id}": {"roles": ["reader"]},
                "*": ["member"]}"#,
        )
        .unwrap();
        let reader = roles(&["reader"]);
        assert!(p.admits_share(&path("GET", "/graphs/42"), &reader));
        assert!(!p.admits_share(&path("GET", "/graphs/42"), &roles(&["user"])));
        assert!(!p.admits_share(&path("GET", "/admin/users"), &roles(&["admin"])));
        assert!(
            !p.admits_share(&path("GET", "/notes/1"), &reader),
            "share defaults to false"
        );
        assert!(
            !p.admits_share(&path("GET", "/other"), &roles(&["member"])),
            "the list form of * is not shareable"
        );
        assert!(p.admits_share(&path("GET", "/public/a/b"), &[]));
        assert!(!p.admits_share(&Route::unknown("x"), &reader));
        // The roles of the object form are the route's roles, for tokens too.
        assert!(!p.allows(&path("GET", "/graphs/42"), &roles(&["user"])));
        assert!(p.allows(&path("GET", "/graphs/42"), &reader));
        // `*` may be shareable too; a policy with no `*` admits no share on uncovered routes.
        let star = RoutePolicy::parse(r#"{"*": {"roles": [], "share": true}}"#).unwrap();
        assert!(star.admits_share(&path("GET", "/anything"), &[]));
        let none = RoutePolicy::parse(r#"{"GET /a": []}"#).unwrap();
        assert!(!none.admits_share(&path("GET", "/b"), &[]));
        assert!(!RoutePolicy::parse("{}").unwrap().admits_share(&path("GET", "/b"), &[]));
        // No policy: every route, as for any valid token.
        assert!(RoutePolicy::default().admits_share(&path("GET", "/admin/users"), &[]));
    }

    #[test]
    fn bad_policies_are_refused() {
        for bad in [
            "[]",
            "{\"GET\": []}",
            "{\"FETCH /x\": []}",
            "{\"get /x\": []}",
            "{\"GET x\": []}",
            "{\"GET /x/\": []}",
            "{\"GET //x\": []}",
            "{\"GET /x y\": []}",
            "{\"GET /{proxy+}/x\": []}",
            "{\"GET /{}\": []}",
            "{\"GET /{+}\": []}",
            "{\"GET /a{id}\": []}",
            "{\"GET /{id\": []}",
            "{\"$default\": []}",
            "{\"$disconnect\": []}",
            "{\"GET $connect\": []}",
            "{\"GET /u/{id}\": [], \"GET /u/{name}\": []}",
            "{\"ANY /x\": [], \"* /x\": []}",
            "{\"*\": [\"has space\"]}",
            "{\"*\": \"admin\"}",
            "{\"*\": {\"share\": true}}",
            "{\"*\": {\"roles\": [], \"share\": \"yes\"}}",
            "{\"*\": {\"roles\": [], \"shared\": true}}",
            "nope",
        ] {
            assert!(RoutePolicy::parse(bad).is_err(), "{bad}");
        }
        for good in [
            r#"{"GET /": []}"#,
            r#"{"* /x": ["a"]}"#,
            r#"{"OPTIONS /a.b/{c_d-e.f}": []}"#,
            r#"{"GET /g/{id}": {"roles": ["reader"], "share": true}, "*": {"roles": []}}"#,
            "{}",
        ] {
            assert!(RoutePolicy::parse(good).is_ok(), "{good}");
        }
    }
}
