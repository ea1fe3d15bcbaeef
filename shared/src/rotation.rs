//! The rotation function's transport (`functions/rotate-signing-key`): a Secrets Manager rotation
//! event becomes one call of `services::rotation::rotate`; its failure becomes the Lambda error
//! Secrets Manager retries on.

use crate::ports::{KeyError, KeyVersions, Store};
use crate::services::rotation::{Step, rotate};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde::Deserialize;
use std::sync::Arc;

/// A rotation event, as Secrets Manager sends it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    pub step: String,
    pub secret_id: String,
    pub client_request_token: String,
}

/// Why a rotation step failed.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error("unknown rotation step {0:?}")]
    UnknownStep(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl From<RotationError> for Diagnostic {
    fn from(e: RotationError) -> Diagnostic {
        Diagnostic {
            error_type: "RotationError".into(),
            error_message: e.to_string(),
        }
    }
}

/// Serves rotation events: `secret` opens the secret an event names; public keys are published
/// in `store` when there is one.
pub async fn serve(
    secret: impl Fn(&str) -> Arc<dyn KeyVersions> + Send + Sync + 'static,
    store: Option<Arc<dyn Store>>,
) -> Result<(), lambda_runtime::Error> {
    let secret = Arc::new(secret);
    let handler = service_fn(move |event: LambdaEvent<RotationEvent>| {
        let (secret, store) = (secret.clone(), store.clone());
        async move {
            let ev = event.payload;
            let result = match Step::parse(&ev.step) {
                Some(step) => rotate(
                    secret(&ev.secret_id).as_ref(),
                    step,
                    &ev.client_request_token,
                    store.as_deref(),
                )
                .await
                .map_err(RotationError::from),
                None => Err(RotationError::UnknownStep(ev.step.clone())),
            };
            result.map_err(|e| {
                tracing::error!(step = ev.step.as_str(), error = %e, "rotation step failed");
                Diagnostic::from(e)
            })
        }
    });
    lambda_runtime::run(handler).await
}
