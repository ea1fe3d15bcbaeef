//! The Lambda transport: API Gateway HTTP API (payload format 2.0) events in, proxy responses
//! out. keygate decodes the event itself (rather than through `lambda_http`) so that a body
//! flagged `isBase64Encoded` that is not valid base64 is a 400, not a panic.

use super::{Function, MAX_BODY_BYTES, Request, Response, handle};
use crate::services::Keygate;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use aws_lambda_events::encodings::Body;
use base64::Engine as _;
use bytes::Bytes;
use lambda_runtime::{LambdaEvent, service_fn};
use std::sync::Arc;

/// Converts an HTTP API event into a request. `Err` carries the answer for an undecodable body.
pub fn from_event(event: ApiGatewayV2httpRequest, request_id: String) -> Result<Request, Box<Response>> {
    let method = event.request_context.http.method.clone();
    let source_ip = event
        .request_context
        .http
        .source_ip
        .as_deref()
        .and_then(|ip| ip.parse().ok());
    let path = event
        .raw_path
        .or(event.request_context.http.path)
        .unwrap_or_else(|| "/".into());
    let raw = event.body.unwrap_or_default();
    let bytes = if event.is_base64_encoded {
        if raw.len() > MAX_BODY_BYTES * 2 {
            None
        } else {
            match base64::engine::general_purpose::STANDARD.decode(raw.as_bytes()) {
                Ok(b) => Some(Bytes::from(b)),
                Err(_) => {
                    return Err(Box::new(
                        super::error::ApiError::invalid_request("the body is not valid base64").into_response(),
                    ));
                }
            }
        }
    } else {
        Some(Bytes::from(raw))
    };
    let body = bytes.filter(|b| b.len() <= MAX_BODY_BYTES);
    Ok(Request {
        method,
        path,
        headers: event.headers,
        body,
        request_id,
        source_ip,
    })
}

/// Converts a response into the proxy response API Gateway expects.
pub fn to_event(r: Response) -> ApiGatewayV2httpResponse {
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(r.status.as_u16());
    out.headers = r.headers;
    out.body = r.body.map(Body::Text);
    out.is_base64_encoded = false;
    out
}

/// Serves `function` on the Lambda Runtime API until the runtime stops.
pub async fn serve(app: Arc<Keygate>, function: Function) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ApiGatewayV2httpRequest>| {
        let app = app.clone();
        async move {
            let request_id = event.context.request_id.clone();
            let response = match from_event(event.payload, request_id) {
                Ok(req) => handle(&app, function, req).await,
                Err(resp) => *resp,
            };
            Ok::<_, std::convert::Infallible>(to_event(response))
        }
    }))
    .await
}
