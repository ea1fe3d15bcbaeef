//! Device cookies (contract section 12): minting one at a browser login, and reading one back
//! to choose the failure counter of a password login.

use super::{Keygate, Result};
use crate::domain::device_cookie::{DEVICE_COOKIE_LIFETIME, DEVICE_TYP, DeviceClaims, DeviceId};
use crate::domain::{Account, UnixTime};

impl Keygate {
    /// A new device cookie's value for `account`: a `device+jwt` signed by the current key,
    /// naming a fresh random device for a year. Any instance verifies it with the published
    /// keys; nothing is stored.
    pub(super) async fn mint_device_cookie(&self, account: &Account, now: UnixTime) -> Result<String> {
        let device = DeviceId::try_generate()?;
        let claims = DeviceClaims::new(&self.config.issuer, &account.user_id, &device, now);
        self.keys
            .signing_key()
            .await?
            .sign_typed(DEVICE_TYP, &claims)
            .map_err(super::signing_failed)
    }

    /// The device that `cookie` names for `account`: `None` when there is no cookie, or it is
    /// malformed, forged, expired, signed by a key no longer published, or another account's
    /// (or the username has no account). The signature is checked whatever the account, so an
    /// unknown username costs the same.
    pub(super) async fn device_of(
        &self,
        cookie: Option<&str>,
        account: Option<&Account>,
        now: UnixTime,
    ) -> Result<Option<DeviceId>> {
        let Some(cookie) = cookie else {
            return Ok(None);
        };
        let Ok(claims) = self
            .own_verifier()
            .await?
            .verify_device(cookie, now, DEVICE_COOKIE_LIFETIME)
        else {
            return Ok(None);
        };
        let for_account = account.is_some_and(|a| a.user_id.as_str() == claims.sub);
        Ok(DeviceId::parse(&claims.device_id).filter(|_| for_account))
    }
}
