//! Signing keys as private JWKs (RFC 7517): RS256 (default), ES256, EdDSA. (Being written.)

/// A private signing key.
pub struct SigningKey;
