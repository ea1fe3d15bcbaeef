//! `KEYGATE_ROUTE_ROLES`: which roles each route needs (contract section 5).

use super::Role;
use std::collections::HashMap;

/// Route keys mapped to the roles of which a token must hold at least one (`[]`: any valid
/// token). Keys are HTTP API route keys (`"GET /admin/{proxy+}"`), `"METHOD /resource/path"`
/// for REST, or `"*"` as the default. Without an entry (and no `"*"`), any valid token passes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoutePolicy {
    routes: HashMap<String, Vec<String>>,
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY", "*"];

impl RoutePolicy {
    /// Parses the JSON of `KEYGATE_ROUTE_ROLES`. The error says what is wrong, for a start-up
    /// message.
    pub fn parse(json: &str) -> Result<RoutePolicy, String> {
        let raw: HashMap<String, Vec<String>> =
            serde_json::from_str(json).map_err(|e| format!("expected {{\"ROUTE\": [\"role\", ...]}}: {e}"))?;
        for (route, roles) in &raw {
            if route != "*" {
                let (method, path) = route
                    .split_once(' ')
                    .ok_or_else(|| format!("route {route:?} is not \"METHOD /path\" or \"*\""))?;
                if !METHODS.contains(&method) || !path.starts_with('/') || path.contains(char::is_whitespace) {
                    return Err(format!("route {route:?} is not \"METHOD /path\" or \"*\""));
                }
            }
            for r in roles {
                Role::parse(r).map_err(|e| format!("route {route:?}: {e}"))?;
            }
        }
        Ok(RoutePolicy { routes: raw })
    }

    /// Whether any route needs a role (then a policy must not be cached across routes).
    pub fn has_role_rules(&self) -> bool {
        self.routes.values().any(|r| !r.is_empty())
    }

    /// The roles `route` needs: the exact entry, else `"ANY /path"`, else `"*"`; empty for any
    /// valid token.
    pub fn required(&self, route: &str) -> &[String] {
        let any = route.split_once(' ').map(|(_, p)| format!("ANY {p}"));
        self.routes
            .get(route)
            .or_else(|| any.and_then(|a| self.routes.get(&a)))
            .or_else(|| self.routes.get("*"))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Whether `roles` satisfy `route`.
    pub fn allows(&self, route: &str, roles: &[String]) -> bool {
        let need = self.required(route);
        need.is_empty() || need.iter().any(|r| roles.contains(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches() {
        let p = RoutePolicy::parse(r#"{"GET /admin/{proxy+}": ["admin"], "ANY /reports": ["ops", "admin"], "*": []}"#)
            .unwrap();
        assert!(p.has_role_rules());
        assert!(p.allows("GET /admin/{proxy+}", &["admin".into()]));
        assert!(!p.allows("GET /admin/{proxy+}", &["reader".into()]));
        assert!(p.allows("POST /reports", &["ops".into()]));
        assert!(p.allows("GET /anything", &[]));
        assert!(!RoutePolicy::default().has_role_rules());
        assert!(RoutePolicy::default().allows("GET /x", &[]));
        let strict = RoutePolicy::parse(r#"{"*": ["member"]}"#).unwrap();
        assert!(!strict.allows("GET /x", &[]));
        for bad in [
            "[]",
            "{\"GET\": []}",
            "{\"FETCH /x\": []}",
            "{\"GET x\": []}",
            "{\"*\": [\"has space\"]}",
            "{\"*\": \"admin\"}",
            "nope",
        ] {
            assert!(RoutePolicy::parse(bad).is_err(), "{bad}");
        }
    }
}
