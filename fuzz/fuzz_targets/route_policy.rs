//! The `KEYGATE_ROUTE_ROLES` parser and its lookups on arbitrary input.
#![no_main]

use keygate_shared::domain::route_policy::{Route, RoutePolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(p) = RoutePolicy::parse(s) {
        let roles = ["admin".to_owned()];
        let mut routes = vec![Route::unknown(s), Route::websocket(s), Route::websocket("$connect")];
        for (method, path) in [
            ("GET", "/admin/{proxy+}"),
            ("GET", "/admin/users"),
            ("POST", "/auth/token"),
            ("GET", "/"),
            ("GET", ""),
            ("GET", s),
        ] {
            routes.extend(Route::template(method, path));
            routes.extend(Route::path(method, path));
        }
        for route in &routes {
            let _ = p.required(route);
            let _ = p.matched(route);
            let _ = p.allows(route, &roles);
            let _ = p.allows(route, &[]);
        }
        let _ = p.has_role_rules();
    }
});
