//! The two-step forgot-password flow: a single-use token delivered by mail, then a new password.

use super::{Error, Keygate, Result, audit};
use crate::domain::time::now;
use crate::domain::{Email, Password, ResetRecord, ResetToken, UsernameKey};
use crate::ports::ResetMail;

/// Who forgot their password.
#[derive(Debug, Clone)]
pub enum Identifier {
    Username(String),
    Email(String),
}

impl Keygate {
    /// Starts a reset. Answers alike (and no sooner than `forgot_floor`) whether or not the
    /// account exists; only an existing, enabled account with an email address gets mail, at
    /// most 3 per 15 minutes.
    pub async fn forgot_password(&self, who: Identifier) -> Result<()> {
        self.after_floor(self.deliver_reset(who)).await
    }

    async fn deliver_reset(&self, who: Identifier) -> Result<()> {
        let now = now();
        let account = match &who {
            Identifier::Username(u) => self.store.account(&UsernameKey::of_any(u)).await?,
            Identifier::Email(e) => match Email::parse(e) {
                Ok(email) => self.store.account_by_email(&email.key()).await?,
                Err(_) => None,
            },
        };
        let Some(account) = account.filter(|a| !a.disabled) else {
            audit::event("forgot_password", "no_delivery");
            return Ok(());
        };
        let Some(to) = account.email.clone() else {
            audit::subject("forgot_password", "no_email", account.user_id.as_str());
            return Ok(());
        };
        if !self.store.allow_reset_delivery(account.key(), now).await? {
            audit::subject("forgot_password", "rate_limited", account.user_id.as_str());
            return Ok(());
        }
        let token = ResetToken::try_generate()?;
        let expires_at = now + self.config.reset_token_ttl;
        self.store
            .put_reset_token(&ResetRecord {
                token_hash: token.hash(),
                username_key: account.key().clone(),
                epoch: account.reset_epoch,
                created_at: now,
                expires_at,
            })
            .await?;
        let exposed = token.expose();
        let mail = ResetMail {
            to: to.as_str().to_owned(),
            username: account.username.as_str().to_owned(),
            reset_url: self.config.reset_url.replace("{token}", &exposed),
            token: exposed,
            expires_at,
        };
        match self.mailer.send_reset(&mail).await {
            Ok(()) => audit::subject("forgot_password", "delivered", account.user_id.as_str()),
            // The answer stays 202: a failing mailer must not reveal that the account exists.
            Err(e) => audit::mail_failed("forgot_password", Some(account.user_id.as_str()), &e),
        }
        Ok(())
    }

    /// Finishes a reset: spends the token, sets the new password, revokes every session and
    /// spends every other outstanding reset token of the account (its reset epoch moves on,
    /// in the same write as the password). A weak password is refused before the token is
    /// looked at, so it stays usable.
    pub async fn reset_password(&self, token: &str, new_password: impl Into<Password>) -> Result<()> {
        let now = now();
        let password = self.new_password(&new_password.into(), None)?;
        let Some(token) = ResetToken::parse(token) else {
            return Err(Error::InvalidResetToken);
        };
        let hash = self.hash(password).await?;
        let Some(record) = self.store.spend_reset_token(&token.hash(), now).await? else {
            audit::event("password_reset", "invalid_token");
            return Err(Error::InvalidResetToken);
        };
        let finished = self
            .store
            .finish_reset(&record.username_key, record.epoch, &hash, now)
            .await?;
        let Some(account) = finished else {
            audit::event("password_reset", "superseded_token");
            return Err(Error::InvalidResetToken);
        };
        self.store.clear_login_failures(&record.username_key).await?;
        audit::subject("password_reset", "success", account.user_id.as_str());
        Ok(())
    }
}
