//! The mail port: password-reset, registration and invitation messages and their delivery.

use crate::domain::UnixTime;
use async_trait::async_trait;

/// A password-reset message.
#[derive(Clone)]
pub struct ResetMail {
    pub to: String,
    pub username: String,
    /// The reset token. Never log it.
    pub token: String,
    /// `KEYGATE_RESET_URL` with the token filled in. Never log it.
    pub reset_url: String,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for ResetMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetMail")
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Which signup mail: a self-registration's confirmation, or an admin's invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupKind {
    Register,
    Invitation,
}

impl SignupKind {
    /// The outbox's `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignupKind::Register => "register",
            SignupKind::Invitation => "invitation",
        }
    }
}

/// A registration or invitation message: a single-use link to `/auth/register/complete`.
#[derive(Clone)]
pub struct SignupMail {
    pub kind: SignupKind,
    pub to: String,
    /// The registration or invitation token. Never log it.
    pub token: String,
    /// `KEYGATE_REGISTER_URL` with the token filled in. Never log it.
    pub url: String,
    pub expires_at: UnixTime,
}

impl std::fmt::Debug for SignupMail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupMail")
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A mail delivery failure.
#[derive(Debug, thiserror::Error)]
#[error("mail delivery failed: {0}")]
pub struct MailError(pub String);

/// Sends password-reset, registration and invitation mail.
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Delivers one reset message.
    async fn send_reset(&self, mail: &ResetMail) -> Result<(), MailError>;
    /// Delivers one registration or invitation message.
    async fn send_signup(&self, mail: &SignupMail) -> Result<(), MailError>;
}
