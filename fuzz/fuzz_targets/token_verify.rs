//! Access-token verification and the opaque token formats, on arbitrary input: never a panic,
//! and nothing but a token keygate signed verifies.
#![no_main]

use keygate_sdk::{Jwks, Verifier, VerifyOptions};
use keygate_shared::domain::keys::{Alg, SigningKey};
use keygate_shared::domain::secret::{ApiKey, RefreshToken, ResetToken};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static VERIFIERS: LazyLock<Vec<Verifier>> = LazyLock::new(|| {
    [Alg::RS256, Alg::ES256, Alg::EdDSA]
        .into_iter()
        .filter_map(|alg| SigningKey::generate(alg).ok())
        .map(|k| {
            let options = VerifyOptions {
                issuer: "https://auth.example.com".into(),
                audience: "keygate".into(),
                leeway: 30,
                max_lifetime: 900,
            };
            Verifier::new(
                options,
                &Jwks {
                    keys: vec![k.public_jwk()],
                },
            )
        })
        .collect()
});

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = Verifier::peek_kid(s);
    for v in VERIFIERS.iter() {
        // No key of ours signed the input: it can never verify.
        assert!(v.verify(s, 1_800_000_000).is_err());
    }
    let _ = RefreshToken::parse(s).map(|t| t.hash());
    let _ = ResetToken::parse(s).map(|t| t.hash());
    let _ = ApiKey::parse(s).map(|t| t.hash());
});
