//! The browser's cookies: the session cookie and the device cookie (contract section 12), their
//! names and attributes, and reading them from a request. Only this file knows cookie syntax;
//! services get the values inside as strings.

use super::Request;
use http::{HeaderValue, header};

/// The session cookie's name. The `__Host-` prefix makes browsers refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`: no subdomain can set or overwrite it.
pub const SESSION_COOKIE: &str = "__Host-keygate-session";

/// The device cookie's name (`__Host-` as for the session cookie). Its value names one browser
/// for one account; a login that presents it counts its failures on that device.
pub const DEVICE_COOKIE: &str = "__Host-keygate-device";

/// How long the device cookie lives, seconds (a year).
pub const DEVICE_MAX_AGE: i64 = crate::domain::device_cookie::DEVICE_COOKIE_LIFETIME;

/// The value of the cookie `wanted` from the request's `Cookie` headers (RFC 6265 section 5.4:
/// `name=value` pairs separated by `;`; API Gateway's payload 2.0 `cookies` arrive joined the
/// same way). The first cookie with that name; `None` if there is none or it is empty.
fn named<'r>(req: &'r Request, wanted: &str) -> Option<&'r str> {
    req.headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// The session cookie's value, if the request has one.
pub fn session(req: &Request) -> Option<&str> {
    named(req, SESSION_COOKIE)
}

/// The device cookie's value, if the request has one.
pub fn device(req: &Request) -> Option<&str> {
    named(req, DEVICE_COOKIE)
}

/// `Set-Cookie` for a device cookie holding `value`, for a year.
pub fn set_device(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{DEVICE_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={DEVICE_MAX_AGE}"
    ))
    .ok()
}

/// `Set-Cookie` for a session holding `token`, alive for `max_age` seconds.
pub fn set_session(token: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        max_age.max(0)
    ))
    .ok()
}

/// `Set-Cookie` that deletes the session cookie.
pub fn clear_session() -> HeaderValue {
    HeaderValue::from_static("__Host-keygate-session=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, Method};

    fn req(cookies: &[&str]) -> Request {
        let mut headers = HeaderMap::new();
        for c in cookies {
            headers.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        Request {
            method: Method::POST,
            path: "/auth/session/refresh".into(),
            query: None,
            headers,
            body: Some(Default::default()),
            request_id: "t".into(),
            source_ip: None,
        }
    }

    #[test]
    fn the_session_cookie_is_found_among_others_and_nowhere_else() {
        assert_eq!(
            session(&req(&["a=1; __Host-keygate-session=kgr_x; b=2"])),
            Some("kgr_x")
        );
        assert_eq!(session(&req(&["a=1", "__Host-keygate-session=kgr_y"])), Some("kgr_y"));
        assert_eq!(
            session(&req(&["a=1;__Host-keygate-session=kgr_z"])),
            Some("kgr_z"),
            "payload 2.0 joins with ;"
        );
        assert_eq!(
            session(&req(&["keygate-session=kgr_x; __host-keygate-session=kgr_x"])),
            None
        );
        assert_eq!(session(&req(&["__Host-keygate-session="])), None);
        assert_eq!(session(&req(&[])), None);
    }

    #[test]
    fn the_cookie_has_every_attribute_the_contract_names() {
        let v = set_session("kgr_t", 60).unwrap();
        let v = v.to_str().unwrap();
        for attr in [
            "__Host-keygate-session=kgr_t",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Max-Age=60",
        ] {
            assert!(v.split("; ").any(|a| a == attr), "{attr} in {v}");
        }
        assert!(!v.contains("Domain"));
        assert!(clear_session().to_str().unwrap().ends_with("Max-Age=0"));
        assert!(set_session("bad\ntoken", 1).is_none());
    }

    #[test]
    fn the_device_cookie_is_read_apart_from_the_session_cookie_and_lives_a_year() {
        let r = req(&["__Host-keygate-session=kgr_x; __Host-keygate-device=a.b.c"]);
        assert_eq!((session(&r), device(&r)), (Some("kgr_x"), Some("a.b.c")));
        assert_eq!(device(&req(&["__Host-keygate-session=kgr_x"])), None);
        let v = set_device("a.b.c").unwrap();
        let v = v.to_str().unwrap();
        for attr in [
            "__Host-keygate-device=a.b.c",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Strict",
            "Max-Age=31536000",
        ] {
            assert!(v.split("; ").any(|a| a == attr), "{attr} in {v}");
        }
        assert!(!v.contains("Domain"));
    }
}
