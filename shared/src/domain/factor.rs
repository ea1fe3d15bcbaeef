//! Second factors' rules (contract section 8): TOTP (RFC 6238: HMAC-SHA-1, 6 digits, 30-second
//! steps, one step either side, a step at or before the last accepted one refused) and recovery
//! codes (10, single use, 60 bits each, stored only as hashes). Pure: the secret's bytes come
//! in, time comes in as [`UnixTime`].

use super::secret::TokenHash;
use super::{Invalid, UnixTime};
use aws_lc_rs::hmac;
use subtle::ConstantTimeEq;

/// Bytes of a TOTP secret: 160 bits, RFC 4226's recommended length.
pub const TOTP_SECRET_BYTES: usize = 20;
/// Seconds per TOTP step.
pub const TOTP_STEP_SECONDS: i64 = 30;
/// Digits of a TOTP code.
pub const TOTP_DIGITS: u32 = 6;
/// Recovery codes per set.
pub const RECOVERY_CODES: usize = 10;
/// Characters of a recovery code (each of 32: 5 bits, so 60 bits a code).
pub const RECOVERY_CODE_CHARS: usize = 12;
/// Crockford's base32 alphabet: no I, L, O or U, so nothing reads as another character.
const RECOVERY_ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A TOTP secret. Its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret([u8; TOTP_SECRET_BYTES]);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A secret from 20 random bytes.
    pub fn from_bytes(bytes: [u8; TOTP_SECRET_BYTES]) -> TotpSecret {
        TotpSecret(bytes)
    }

    /// The raw bytes (to encrypt for storage). Never log them.
    pub fn expose(&self) -> &[u8; TOTP_SECRET_BYTES] {
        &self.0
    }

    /// Base32 without padding (RFC 4648), as authenticator apps take it.
    pub fn base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// The `otpauth://` URI an authenticator app scans (Google Authenticator's key URI format):
    /// label `issuer:account`, with the issuer again as a parameter.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
        let issuer_enc = utf8_percent_encode(issuer, NON_ALPHANUMERIC);
        let account_enc = utf8_percent_encode(account, NON_ALPHANUMERIC);
        format!(
            "otpauth://totp/{issuer_enc}:{account_enc}?secret={}&issuer={issuer_enc}&algorithm=SHA1&digits={TOTP_DIGITS}&period={TOTP_STEP_SECONDS}",
            self.base32()
        )
    }

    /// The code of time step `step` (RFC 4226 section 5.3's dynamic truncation).
    pub fn code_at(&self, step: i64) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let mac = hmac::sign(&key, &step.to_be_bytes());
        let mac = mac.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let word = u32::from_be_bytes([mac[offset], mac[offset + 1], mac[offset + 2], mac[offset + 3]]) & 0x7fff_ffff;
        word % 10u32.pow(TOTP_DIGITS)
    }

    /// The step a typed `code` is for at `now` (the current step, or one either side), if it is
    /// one of theirs and later than `last_accepted`: the caller stores it as the new last step,
    /// on condition that the stored one is still `last_accepted` (so one code works once, even
    /// twice at the same instant). Codes are compared in constant time.
    pub fn accept(&self, code: &str, now: UnixTime, last_accepted: Option<i64>) -> Option<i64> {
        let code = code.trim();
        if code.len() != TOTP_DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now.div_euclid(TOTP_STEP_SECONDS);
        let mut found = None;
        for step in [current - 1, current, current + 1] {
            let expected = format!("{:0width$}", self.code_at(step), width = TOTP_DIGITS as usize);
            let same: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
            if same && found.is_none() {
                found = Some(step);
            }
        }
        found.filter(|step| last_accepted.is_none_or(|last| *step > last))
    }
}

/// One recovery code, normalized: 12 characters of Crockford's base32.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

impl RecoveryCode {
    /// A code from 12 random bytes (each byte's low 5 bits: exactly uniform over 32 letters).
    pub fn from_random(bytes: &[u8; RECOVERY_CODE_CHARS]) -> RecoveryCode {
        RecoveryCode(
            bytes
                .iter()
                .map(|b| char::from(RECOVERY_ALPHABET[usize::from(b & 0x1f)]))
                .collect(),
        )
    }

    /// Parses what a person typed: case, dashes and spaces do not matter, and `I`/`L` read as
    /// `1`, `O` as `0` (Crockford's decoding).
    pub fn parse(typed: &str) -> Result<RecoveryCode, Invalid> {
        let code: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| match c.to_ascii_uppercase() {
                'I' | 'L' => '1',
                'O' => '0',
                other => other,
            })
            .collect();
        let ok = code.len() == RECOVERY_CODE_CHARS && code.bytes().all(|b| RECOVERY_ALPHABET.contains(&b));
        if ok {
            Ok(RecoveryCode(code))
        } else {
            Err(Invalid("a recovery code is 12 letters and digits, as XXXX-XXXX-XXXX"))
        }
    }

    /// The code as shown once to the person: `XXXX-XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}-{}", &self.0[..4], &self.0[4..8], &self.0[8..])
    }

    /// What the store keeps: its hash (60 random bits, looked up by hash; never the code).
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 key.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(*b"12345678901234567890")
    }

    #[test]
    fn codes_match_rfc_6238_appendix_b() {
        // The appendix gives 8 digits; 6 are their last six (the same truncation, mod 10^6).
        let s = rfc_secret();
        for (time, eight) in [
            (59, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(s.code_at(time / TOTP_STEP_SECONDS), eight % 1_000_000, "T = {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_only_once() {
        let s = rfc_secret();
        let now = 1_111_111_111;
        let step = now / TOTP_STEP_SECONDS;
        let code = |st: i64| format!("{:06}", s.code_at(st));
        assert_eq!(s.accept(&code(step), now, None), Some(step));
        assert_eq!(s.accept(&code(step - 1), now, None), Some(step - 1));
        assert_eq!(s.accept(&code(step + 1), now, None), Some(step + 1));
        assert_eq!(s.accept(&code(step - 2), now, None), None, "two steps back");
        assert_eq!(s.accept(&code(step + 2), now, None), None);
        // Replay: a step at or before the last accepted one.
        assert_eq!(s.accept(&code(step), now, Some(step)), None);
        assert_eq!(s.accept(&code(step - 1), now, Some(step - 1)), None);
        assert_eq!(s.accept(&code(step), now, Some(step - 1)), Some(step));
        for bad in ["", "12345", "1234567", "12345a", "１２３４５６"] {
            assert_eq!(s.accept(bad, now, None), None, "{bad:?}");
        }
        assert_eq!(s.accept(&format!(" {} ", code(step)), now, None), Some(step));
    }

    #[test]
    fn the_secret_shows_as_base32_and_an_otpauth_uri_and_never_in_debug() {
        let s = rfc_secret();
        assert_eq!(s.base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(s.base32().len() * 5, 160);
        assert_eq!(
            s.otpauth_uri("Acme ID", "ann@example.com"),
            "otpauth://totp/Acme%20ID:ann%40example%2Ecom?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20ID&algorithm=SHA1&digits=6&period=30"
        );
        assert_eq!(format!("{s:?}"), "TotpSecret(<redacted>)");
    }

    #[test]
    fn recovery_codes_carry_sixty_bits_and_read_back_as_typed() {
        let c = RecoveryCode::from_random(&[0, 1, 2, 31, 32, 255, 10, 11, 12, 13, 14, 15]);
        assert_eq!(c.display(), "012Z-0ZAB-CDEF");
        for typed in ["012Z-0ZAB-CDEF", "012z0zabcdef", "O12Z 0ZAB CDEF", "012z-ozab-cdef"] {
            assert_eq!(RecoveryCode::parse(typed).unwrap(), c, "{typed:?}");
        }
        assert_eq!(
            RecoveryCode::parse("1l1I-0000-0000").unwrap().display(),
            "1111-0000-0000"
        );
        for bad in ["012Z-0ZAB-CDE", "012Z-0ZAB-CDEFG", "012Z-0ZAB-CDEU", ""] {
            assert!(RecoveryCode::parse(bad).is_err(), "{bad:?}");
        }
        assert!(RecoveryCode::parse("012Z-0ZAB-CDEF").unwrap().hash().ct_eq(&c.hash()));
        assert_eq!(format!("{c:?}"), "RecoveryCode(<redacted>)");
        assert_eq!(RECOVERY_CODE_CHARS * 5, 60, "at least 50 bits (contract section 8)");
    }
}
