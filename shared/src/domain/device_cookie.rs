//! Device cookies (OWASP's defence against lockout abuse): a signed name for one browser of one
//! account. A password login that presents a valid one for its account counts its failures on
//! the device's own counter, not the username's, so strangers' guesses, which lock the
//! username, do not lock its owner out.

use super::UnixTime;
use super::account::UserId;
use super::username::UsernameKey;
use serde::Serialize;

/// The `typ` of a device cookie's JWS: never `at+jwt`, so it is never an access token.
pub const DEVICE_TYP: &str = "device+jwt";

/// How long a device cookie names its browser, seconds (a year; the cookie's `Max-Age`).
pub const DEVICE_COOKIE_LIFETIME: i64 = 31_536_000;

/// What a device id's failure counter key starts with: `device:<id>`. Valid usernames cannot
/// contain `:`, so no account's counter is ever it; and the id is 128 random bits that only the
/// cookie carries, so nobody without the cookie can name it (a malformed username of that
/// spelling would have to guess the id).
const BUCKET_PREFIX: &str = "device";

super::secret::id_type!(
    /// Id of one device cookie's browser; 128 bits. Known only to that browser (the cookie is
    /// HttpOnly) and to keygate.
    DeviceId, 16
);

impl DeviceId {
    /// The key of this device's failure counter.
    pub fn failure_bucket(&self) -> UsernameKey {
        UsernameKey::for_counter(BUCKET_PREFIX, self.as_str())
    }
}

/// The claims of a device cookie: issuer, the account's id, the device, and its lifetime. No
/// `aud`: it is addressed to no API, and verifiers that ignore `typ` refuse it for that.
#[derive(Debug, Serialize)]
pub struct DeviceClaims<'a> {
    pub iss: &'a str,
    pub sub: &'a str,
    pub device_id: &'a str,
    pub iat: UnixTime,
    pub exp: UnixTime,
}

impl<'a> DeviceClaims<'a> {
    /// A new device cookie's claims for `account`, issued `now`.
    pub fn new(iss: &'a str, account: &'a UserId, device: &'a DeviceId, now: UnixTime) -> DeviceClaims<'a> {
        DeviceClaims {
            iss,
            sub: account.as_str(),
            device_id: device.as_str(),
            iat: now,
            exp: now + DEVICE_COOKIE_LIFETIME,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_bucket_is_no_username_key() {
        let d = DeviceId::generate();
        let bucket = d.failure_bucket();
        assert_eq!(bucket.as_str(), format!("device:{d}"));
        assert!(
            super::super::Username::parse(bucket.as_str()).is_err(),
            "usernames cannot contain ':'"
        );
        assert_ne!(bucket, DeviceId::generate().failure_bucket());
    }
}
