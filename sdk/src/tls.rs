//! The TLS client configuration every HTTPS connection of the SDK uses (the JWKS fetch, the
//! login client), built once per process. Certificates are checked against the Amazon Trust
//! Services roots first, built in: API Gateway, CloudFront and public ACM certificates end
//! there, so a keygate issuer on AWS never needs more. Only a peer whose chain ends elsewhere
//! makes the system's roots load (or those that `SSL_CERT_FILE` / `SSL_CERT_DIR` name), once.
//! The roots trusted are the same as a verifier built on the system's roots alone (the Amazon
//! roots are in every system store), without reading and parsing some 150 roots on every cold
//! start.

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::{Arc, OnceLock};

/// The Amazon Trust Services roots (Amazon Root CA 1 to 4 and Starfield Services Root G2), PEM.
pub const AMAZON_ROOTS_PEM: &str = include_str!("amazon-roots.pem");

/// The Amazon Trust Services roots as a root store.
pub fn amazon_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(CertificateDer::pem_slice_iter(AMAZON_ROOTS_PEM.as_bytes()).flatten());
    roots
}

/// The system's roots, or those `SSL_CERT_FILE` and `SSL_CERT_DIR` name when set.
fn system_roots() -> RootCertStore {
    let loaded = rustls_native_certs::load_native_certs();
    for e in &loaded.errors {
        tracing::warn!(error = %e, "a TLS root certificate could not be loaded");
    }
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(loaded.certs);
    tracing::debug!(roots = added, "loaded the system's TLS roots");
    roots
}

/// Amazon's roots first; the system's for a chain that ends elsewhere.
#[derive(Debug)]
struct AmazonFirst {
    amazon: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
    system: OnceLock<Option<Arc<WebPkiServerVerifier>>>,
}

impl AmazonFirst {
    fn system(&self) -> Option<&Arc<WebPkiServerVerifier>> {
        self.system
            .get_or_init(|| {
                WebPkiServerVerifier::builder_with_provider(Arc::new(system_roots()), self.provider.clone())
                    .build()
                    .ok()
            })
            .as_ref()
    }
}

impl ServerCertVerifier for AmazonFirst {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let amazon = self
            .amazon
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now);
        match (amazon, self.system()) {
            (Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)), Some(system)) => {
                system.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            (outcome, _) => outcome,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.amazon.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.amazon.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.amazon.supported_verify_schemes()
    }
}

fn build() -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let amazon = WebPkiServerVerifier::builder_with_provider(Arc::new(amazon_roots()), provider.clone())
        .build()
        .map_err(|e| format!("the built-in Amazon roots: {e}"))?;
    let verifier = AmazonFirst {
        amazon,
        provider: provider.clone(),
        system: OnceLock::new(),
    };
    // `dangerous()` is rustls's only door to a verifier of one's own; this one chains two
    // WebPKI verifiers and checks nothing less than either.
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth())
}

/// The TLS client configuration (one per process; each caller gets a copy sharing its trust).
pub fn client_config() -> Result<ClientConfig, String> {
    static CONFIG: OnceLock<Result<ClientConfig, String>> = OnceLock::new();
    CONFIG.get_or_init(build).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_roots_are_amazons_five() {
        assert_eq!(amazon_roots().len(), 5);
        assert!(client_config().is_ok());
    }
}
