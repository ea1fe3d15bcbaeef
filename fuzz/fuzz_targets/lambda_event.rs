//! Every Lambda HTTP front door (API Gateway REST and HTTP APIs, ALB, function URLs) on arbitrary
//! JSON events, including `isBase64Encoded` bodies that are not base64 and `Host` headers no URI
//! can be built from: converted by `lambda_http` and answered, or refused with 400, never a panic.
#![no_main]

use http::StatusCode;
use keygate_shared::http::lambda::FrontDoor;
use keygate_shared::http::{MAX_BODY_BYTES, Request, Response};
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service as _};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime")
});

async fn answer(req: Request) -> Response {
    assert!(req.body.as_ref().is_none_or(|b| b.len() <= MAX_BODY_BYTES));
    Response::empty(StatusCode::OK)
}

fuzz_target!(|data: &[u8]| {
    if let Ok(event) = serde_json::from_slice::<LambdaRequest>(data) {
        let mut door = FrontDoor::new(answer);
        let answered = RT
            .block_on(door.call(LambdaEvent::new(event, Context::default())))
            .expect("infallible");
        let answered = serde_json::to_value(answered).expect("an answer serializes");
        assert!(matches!(answered["statusCode"].as_i64(), Some(200 | 400)));
    }
});
