//! The handlers, one file per area of the API: each reads its request (body, headers, path
//! segments the route table hands it), calls one use case, and builds the contract's answer.
//! The answers and request helpers they share are here.

pub(crate) mod admin;
pub(crate) mod auth;
pub(crate) mod password;
pub(crate) mod register;
pub(crate) mod session;
pub(crate) mod share;

use super::Response;
use super::error::ApiError;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// `200 OK` with a JSON body that no cache keeps (token responses, anything user-specific).
fn ok(value: &impl Serialize) -> Response {
    Response::json(StatusCode::OK, value).no_store()
}

/// `201 Created` with the created thing as JSON, kept by no cache.
fn created(value: &impl Serialize) -> Response {
    Response::json(StatusCode::CREATED, value).no_store()
}

/// `202 Accepted` with `{"status": "accepted"}`: a request taken whose outcome is not told.
fn accepted() -> Response {
    Response::json(StatusCode::ACCEPTED, &serde_json::json!({"status": "accepted"})).no_store()
}

/// `204 No Content`.
fn no_content() -> Response {
    Response::empty(StatusCode::NO_CONTENT)
}

/// `200 OK` with a public JSON document that caches may keep (`cache_control`).
fn public(value: &impl Serialize, cache_control: &'static str) -> Response {
    Response::json(StatusCode::OK, value).with_header(header::CACHE_CONTROL, HeaderValue::from_static(cache_control))
}

/// The value of a required body member, or `invalid_request` naming it.
fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, ApiError> {
    v.as_deref()
        .ok_or_else(|| ApiError::invalid_request(format!("{name} is required")))
}
