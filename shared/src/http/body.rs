//! Request parsing: JSON or form bodies into typed requests, and HTTP Basic credentials.

use super::Request;
use super::error::ApiError;
use base64::Engine as _;
use http::header;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// Which body encodings a route accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accept {
    /// JSON or `application/x-www-form-urlencoded`.
    JsonOrForm,
    /// JSON only.
    Json,
}

fn content_type(req: &Request) -> Option<String> {
    let v = req.headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(v.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// The body as a JSON object, or `None` when the body is empty.
pub fn object(req: &Request, accept: Accept) -> Result<Option<Map<String, Value>>, ApiError> {
    let Some(body) = req.body.as_ref() else {
        return Err(ApiError::too_large());
    };
    if body.len() > super::MAX_BODY_BYTES {
        return Err(ApiError::too_large());
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match content_type(req).as_deref() {
        Some("application/json") => match serde_json::from_slice::<Unique>(body) {
            Ok(Unique(Value::Object(m))) => Ok(Some(m)),
            Ok(_) => Err(ApiError::invalid_request("the body must be a JSON object")),
            // The visitor's only error: every other failure is the parser's.
            Err(e) if e.is_data() => Err(ApiError::invalid_request(DUPLICATE_MEMBER)),
            Err(_) => Err(ApiError::invalid_request("the body is not valid JSON")),
        },
        Some("application/x-www-form-urlencoded") if accept == Accept::JsonOrForm => {
            let mut m = Map::new();
            for (k, v) in form_urlencoded::parse(body) {
                if m.insert(k.into_owned(), Value::String(v.into_owned())).is_some() {
                    return Err(ApiError::invalid_request("a form parameter appears more than once"));
                }
            }
            Ok(Some(m))
        }
        _ => Err(ApiError::invalid_request(match accept {
            Accept::Json => "the content type must be application/json",
            Accept::JsonOrForm => "the content type must be application/json or application/x-www-form-urlencoded",
        })),
    }
}

const DUPLICATE_MEMBER: &str = "a member name appears more than once in a JSON object";

/// A JSON value parsed with every object's member names unique, at any depth (the contract's
/// rule; `serde_json::Value` keeps the last of duplicates). Names compare after unescaping, so
/// `"p\u0061ssword"` is `"password"`. One pass, as cheap as parsing into `Value`; the nesting
/// depth stays bounded by the parser's recursion limit.
struct Unique(Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Unique, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::from(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(Unique(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        use serde::de::Error as _;
        let mut members = Map::new();
        while let Some(name) = map.next_key::<String>()? {
            if members.contains_key(&name) {
                return Err(A::Error::custom(DUPLICATE_MEMBER));
            }
            let Unique(v) = map.next_value()?;
            members.insert(name, v);
        }
        Ok(Value::Object(members))
    }
}

/// The body parsed into `T`; an empty body is an error.
pub fn typed<T: DeserializeOwned>(req: &Request, accept: Accept) -> Result<T, ApiError> {
    let Some(m) = object(req, accept)? else {
        return Err(ApiError::invalid_request("a request body is required"));
    };
    from_object(m)
}

/// Deserializes an already parsed body object into `T`.
pub fn from_object<T: DeserializeOwned>(m: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(m)).map_err(|e| {
        // serde's message names the field and the expected type, never the value.
        let msg = e.to_string();
        let msg = msg.split(" at line").next().unwrap_or("").to_owned();
        ApiError::invalid_request(format!("invalid request body: {msg}"))
    })
}

/// For `#[serde(default, deserialize_with = "body::present")]` on an optional member: it is a
/// value or absent, and `null` is refused like any other wrong type (openapi.yaml types no
/// member as nullable, and the server is exactly as strict). Unknown members stay ignored.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A request body type whose members are all optional: each `name: T` becomes a member
/// `name: Option<T>` read with [`present`] (a value or absent, never `null`). Attributes and
/// doc comments on the type and on each member are kept.
macro_rules! optional_members {
    ($(#[$attr:meta])* struct $name:ident { $($(#[$member_attr:meta])* $member:ident: $ty:ty,)* }) => {
        #[derive(serde::Deserialize)]
        $(#[$attr])*
        struct $name {
            $(
                $(#[$member_attr])*
                #[serde(default, deserialize_with = "crate::http::body::present")]
                $member: Option<$ty>,
            )*
        }
    };
}
pub(crate) use optional_members;

/// Deserializes an optional integer that JSON may write as `106` or `106.0` (JSON Schema's
/// `integer` is a mathematical integer, so openapi.yaml cannot tell them apart).
pub fn integer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error as _;
    let n = <serde_json::Number as serde::Deserialize>::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        // Every integral value below 2^63 in magnitude converts exactly.
        Some(f) if f.fract() == 0.0 && f.abs() < 2f64.powi(63) => Ok(Some(f as i64)),
        _ => Err(D::Error::custom("expected an integer")),
    }
}

/// Credentials from `Authorization: Basic base64(user:password)` (RFC 7617), if present.
/// A present but malformed header is an error.
pub fn basic_credentials(req: &Request) -> Result<Option<(String, String)>, ApiError> {
    let Some(v) = req.headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::invalid_request("malformed Authorization header"))?;
    let Some((scheme, rest)) = v.split_once(' ') else {
        return Err(ApiError::invalid_request("malformed Authorization header"));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| ApiError::invalid_request("malformed Basic credentials"))?;
    let text = String::from_utf8(decoded).map_err(|_| ApiError::invalid_request("malformed Basic credentials"))?;
    match text.split_once(':') {
        Some((u, p)) => Ok(Some((u.to_owned(), p.to_owned()))),
        None => Err(ApiError::invalid_request("malformed Basic credentials")),
    }
}

/// The token of `Authorization: Bearer <token>`, if present.
pub fn bearer(req: &Request) -> Option<&str> {
    keygate_sdk::bearer_token(req.headers.get(header::AUTHORIZATION)?.to_str().ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, Method};

    fn req(ct: Option<&str>, body: &str) -> Request {
        let mut headers = HeaderMap::new();
        if let Some(ct) = ct {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        Request {
            method: Method::POST,
            path: "/auth/token".into(),
            query: None,
            headers,
            body: Some(Bytes::from(body.to_owned())),
            request_id: "t".into(),
            source_ip: None,
        }
    }

    #[test]
    fn json_and_form_bodies() {
        let m = object(
            &req(Some("application/json; charset=utf-8"), r#"{"a":"b"}"#),
            Accept::JsonOrForm,
        )
        .unwrap()
        .unwrap();
        assert_eq!(m["a"], "b");
        let m = object(
            &req(Some("application/x-www-form-urlencoded"), "a=b%20c&d=%2B"),
            Accept::JsonOrForm,
        )
        .unwrap()
        .unwrap();
        assert_eq!((m["a"].as_str(), m["d"].as_str()), (Some("b c"), Some("+")));
        assert!(object(&req(None, ""), Accept::Json).unwrap().is_none());
    }

    #[test]
    fn bad_bodies() {
        for (ct, body) in [
            (Some("application/json"), "{"),
            (Some("application/json"), "[1]"),
            (Some("text/plain"), "a=b"),
            (None, "{}"),
            (Some("application/x-www-form-urlencoded"), "a=1&a=2"),
        ] {
            let e = object(&req(ct, body), Accept::JsonOrForm).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, "invalid_request"), "{ct:?} {body}");
        }
        assert_eq!(
            object(&req(Some("application/x-www-form-urlencoded"), "a=b"), Accept::Json)
                .unwrap_err()
                .code,
            "invalid_request"
        );
        let big = req(Some("application/json"), &"x".repeat(16 * 1024 + 1));
        assert_eq!(object(&big, Accept::Json).unwrap_err().status.as_u16(), 413);
        let mut none = req(Some("application/json"), "{}");
        none.body = None;
        assert_eq!(object(&none, Accept::Json).unwrap_err().code, "request_too_large");
    }

    #[test]
    fn json_member_names_are_unique_at_every_depth() {
        let json = |body: &str| object(&req(Some("application/json"), body), Accept::Json);
        for dup in [
            r#"{"password":"a","password":"b"}"#,
            r#"{"p\u0061ssword":"a","password":"b"}"#,
            r#"{"a":{"b":1,"b":2}}"#,
            r#"{"a":[{"x":1},{"y":{"z":1,"\u007a":2}}]}"#,
            r#"[{"a":1,"a":1}]"#,
        ] {
            let e = json(dup).unwrap_err();
            assert_eq!((e.status.as_u16(), e.code), (400, "invalid_request"), "{dup}");
            assert_eq!(e.description, DUPLICATE_MEMBER, "{dup}");
        }
        // The same name in sibling objects, and every JSON type, parse as before.
        let m = json(r#"{"a":{"x":1},"b":{"x":[1,-2,3.5,true,null,"s"]},"c":"\u0041"}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            Value::Object(m),
            serde_json::json!({"a": {"x": 1}, "b": {"x": [1, -2, 3.5, true, null, "s"]}, "c": "A"})
        );
        assert_eq!(json(r#"{"n":18446744073709551615}"#).unwrap().unwrap()["n"], u64::MAX);
        assert_eq!(
            json("{\"a\":1} x").unwrap_err().description,
            "the body is not valid JSON"
        );
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(json(&format!("{{\"a\":{deep}}}")).unwrap_err().code, "invalid_request");
    }

    #[test]
    fn optional_members_are_present_or_absent_never_null() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "present")]
            s: Option<String>,
        }
        let s = |v: Value| serde_json::from_value::<T>(v).map(|t| t.s);
        assert_eq!(s(serde_json::json!({"s": "x"})).unwrap().as_deref(), Some("x"));
        assert_eq!(s(serde_json::json!({"other": null})).unwrap(), None);
        assert!(s(serde_json::json!({"s": null})).is_err());
    }

    #[test]
    fn integers_written_either_way() {
        #[derive(serde::Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "integer")]
            n: Option<i64>,
        }
        let n = |v: Value| serde_json::from_value::<T>(v).map(|t| t.n);
        assert_eq!(n(serde_json::json!({"n": 106})).unwrap(), Some(106));
        assert_eq!(n(serde_json::json!({"n": 106.0})).unwrap(), Some(106));
        assert_eq!(n(serde_json::json!({})).unwrap(), None);
        for bad in [
            serde_json::json!({"n": 1.5}),
            serde_json::json!({"n": "1"}),
            serde_json::json!({"n": 1e300}),
        ] {
            assert!(n(bad).is_err());
        }
    }

    #[test]
    fn basic_and_bearer() {
        let mut r = req(None, "");
        r.headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YW5uOnB3OndpdGg6Y29sb25z"),
        );
        assert_eq!(
            basic_credentials(&r).unwrap(),
            Some(("ann".into(), "pw:with:colons".into()))
        );
        r.headers
            .insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert!(basic_credentials(&r).is_err());
        r.headers
            .insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer abc"));
        assert_eq!(basic_credentials(&r).unwrap(), None);
        assert_eq!(bearer(&r), Some("abc"));
    }
}
