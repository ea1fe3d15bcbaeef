//! The Lambda authorizer on arbitrary JSON events (every payload shape): an answer or
//! `Unauthorized`, never a panic. The JWKS URL points nowhere (nothing listens on port 9), so
//! no token verifies and the fetch fails fast.
#![no_main]

use keygate_shared::authorizer::Authorizer;
use keygate_shared::config::{Config, Host};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
});

static AUTHORIZER: LazyLock<Authorizer> = LazyLock::new(|| {
    let config = Config::from_lookup(Host::Lambda, |k| match k {
        "KEYGATE_ISSUER" => Some("https://auth.example.com".into()),
        "KEYGATE_JWKS_URL" => Some("http://127.0.0.1:9/jwks".into()),
        "KEYGATE_ROUTE_ROLES" => Some(r#"{"ANY /admin/{proxy+}": ["admin"], "*": []}"#.into()),
        _ => None,
    })
    .expect("config");
    Authorizer::from_config(&config).expect("authorizer")
});

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(answer) = RT.block_on(AUTHORIZER.authorize(&event)) {
        // Nothing verifies without keys: every answer denies.
        let denied = answer["isAuthorized"] == false || answer["policyDocument"]["Statement"][0]["Effect"] == "Deny";
        assert!(denied, "{answer}");
    }
});
