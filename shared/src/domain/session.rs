//! A browser session: a refresh-token family whose token lives in an HttpOnly cookie, and the
//! CSRF token bound to it.
//!
//! The CSRF token is derived from the family id (SHA-256 under a fixed label), so it stays the
//! same for the session's life, survives refresh-token rotation and signing-key rotation, and
//! needs no storage. The family id is 128 random bits that travel only inside the session
//! cookie, which scripts cannot read and other sites cannot send (`SameSite=Strict`): a page
//! on another origin can neither learn nor guess it. Requests are also refused when their
//! `Origin` is foreign (the HTTP layer checks it before this token).

use super::secret::FamilyId;
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use subtle::ConstantTimeEq;

/// The CSRF token of one browser session. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct CsrfToken(String);

impl CsrfToken {
    /// The session's token: base64url of SHA-256("keygate session csrf v1", 0, family id).
    pub fn for_family(family: &FamilyId) -> CsrfToken {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(b"keygate session csrf v1\0");
        ctx.update(family.as_str().as_bytes());
        CsrfToken(B64.encode(ctx.finish().as_ref()))
    }

    /// Whether `presented` (an `X-CSRF-Token` header) is this token, in constant time.
    pub fn matches(&self, presented: &str) -> bool {
        self.0.len() == presented.len() && bool::from(self.0.as_bytes().ct_eq(presented.as_bytes()))
    }

    /// The token, for the login answer's body.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for CsrfToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfToken(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_bound_to_one_session_and_hidden_in_debug() {
        let (a, b) = (FamilyId::generate(), FamilyId::generate());
        let t = CsrfToken::for_family(&a);
        assert_eq!(t, CsrfToken::for_family(&a), "stable for the session's life");
        assert!(t.matches(t.expose()));
        assert!(!t.matches(CsrfToken::for_family(&b).expose()));
        assert!(!t.matches(""));
        assert!(!t.matches(&t.expose()[1..]));
        assert_eq!(t.expose().len(), 43);
        assert!(!format!("{t:?}").contains(t.expose()));
    }
}
