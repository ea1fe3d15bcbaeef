//! API Gateway HTTP API events from arbitrary JSON, including `isBase64Encoded` bodies that are
//! not base64: decoded into a request or answered, never a panic.
#![no_main]

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice::<ApiGatewayV2httpRequest>(data) {
        match keygate_shared::http::lambda::from_event(event, "fuzz".into()) {
            Ok(req) => assert!(
                req.body
                    .as_ref()
                    .is_none_or(|b| b.len() <= keygate_shared::http::MAX_BODY_BYTES)
            ),
            Err(answer) => assert_eq!(answer.status, 400),
        }
    }
});
