//! Request-body decoding (JSON, form, Basic, Bearer) on arbitrary bytes and headers.
#![no_main]

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, header};
use keygate_shared::http::Request;
use keygate_shared::http::body::{self, Accept};
use libfuzzer_sys::fuzz_target;

const TYPES: [&str; 5] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-8",
    "text/plain",
    "",
];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    // The first byte picks the content type and the authorization header's source.
    let split = rest.len().min((sel as usize >> 3) * 4);
    let (auth, payload) = rest.split_at(split);
    let mut headers = HeaderMap::new();
    let ct = TYPES[sel as usize % TYPES.len()];
    if !ct.is_empty() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let value = match sel & 0x4 {
        0 => format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(auth)),
        _ => format!("Bearer {}", String::from_utf8_lossy(auth)),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(header::AUTHORIZATION, v);
    }
    let req = Request {
        method: Method::POST,
        path: "/auth/token".into(),
        query: None,
        headers,
        body: Some(Bytes::copy_from_slice(payload)),
        request_id: "fuzz".into(),
        source_ip: None,
    };
    for accept in [Accept::Json, Accept::JsonOrForm] {
        let _ = body::object(&req, accept);
        let _ = body::typed::<serde_json::Value>(&req, accept);
    }
    let _ = body::basic_credentials(&req);
    let _ = body::bearer(&req);
});
