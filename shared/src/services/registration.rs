//! Accounts that people create themselves: self-registration by e-mail (`open` mode) and
//! invitations from admins (both modes), finished by `POST /auth/register/complete`. The token
//! is mailed, single-use, stored as a hash, and spent only by a success, in the same atomic
//! step that creates the account. No answer reveals whether an address has an account.
//! Registration mails are limited per mailbox and per mail domain (`domain::delivery`), and a
//! token refused for a taken username `MAX_CONFLICTS` times is dead.

use super::{Error, Keygate, Result, audit};
use crate::config::Registration;
use crate::domain::delivery::RegistrationCounter;
use crate::domain::invitation::MAX_CONFLICTS;
use crate::domain::time::{now, rfc3339};
use crate::domain::{
    Account, Email, InvitationId, InvitationKind, InvitationRecord, InvitationToken, Password, Roles, TokenHash,
    Username,
};
use crate::ports::{SignupKind, SignupMail, StoreError};
use serde::Serialize;

/// An invitation as operators see it (never its token).
#[derive(Debug, Clone, Serialize)]
pub struct InvitationView {
    pub invitation_id: String,
    pub email: String,
    pub roles: Vec<String>,
    pub expires_at: String,
}

impl InvitationView {
    fn of(r: &InvitationRecord) -> InvitationView {
        InvitationView {
            invitation_id: r.invitation_id.as_str().to_owned(),
            email: r.email.as_str().to_owned(),
            roles: r.roles.names(),
            expires_at: rfc3339(r.expires_at),
        }
    }
}

/// A new invitation: what the admin API answers, and the link for operators who deliver it
/// by hand (`keygate invite`).
#[derive(Debug, Clone)]
pub struct InvitationCreated {
    pub view: InvitationView,
    /// `KEYGATE_REGISTER_URL` with the token in it. Never log it.
    pub url: String,
}

impl Keygate {
    /// `POST /auth/register`: in `open` mode, mails a registration token to an address that has
    /// no account. Answers alike (and no sooner than `forgot_floor`) whether or not it has one.
    pub async fn register(&self, email: &str) -> Result<()> {
        if self.config.registration != Registration::Open {
            return Err(Error::RegistrationClosed);
        }
        let email = Email::parse(email)?;
        self.after_floor(self.deliver_registration(email)).await
    }

    async fn deliver_registration(&self, email: Email) -> Result<()> {
        let now = now();
        if self.store.account_by_email(&email.key()).await?.is_some() {
            audit::event("register", "has_account");
            return Ok(());
        }
        // The mailbox first: mails refused to one mailbox never use up its domain's allowance.
        let limits = [
            (RegistrationCounter::mailbox(&email), "rate_limited"),
            (RegistrationCounter::domain(&email), "domain_rate_limited"),
        ];
        for (counter, refused) in &limits {
            if !self.store.allow_registration_delivery(counter, now).await? {
                audit::event("register", refused);
                return Ok(());
            }
        }
        let roles = Roles::parse(&["user"]).map_err(|e| Error::Unavailable(e.to_string()))?;
        let (_, mail) = self.issue(InvitationKind::Registration, email, roles, now).await?;
        match self.mailer.send_signup(&mail).await {
            Ok(()) => audit::event("register", "delivered"),
            // Still 202: a failing mailer must not tell this address apart from one with an
            // account.
            Err(e) => audit::mail_failed("register", None, &e),
        }
        Ok(())
    }

    /// Stores a new record of `kind` for `email` and returns it with its mail.
    async fn issue(
        &self,
        kind: InvitationKind,
        email: Email,
        roles: Roles,
        now: i64,
    ) -> Result<(InvitationRecord, SignupMail)> {
        let id = InvitationId::try_generate()?;
        let token = InvitationToken::try_generate(id.clone())?;
        let expires_at = now + self.config.invitation_ttl;
        let record = InvitationRecord {
            invitation_id: id,
            kind,
            email,
            roles,
            token_hash: token.hash(),
            created_at: now,
            expires_at,
            conflicts: 0,
        };
        self.store.put_invitation(&record).await?;
        let exposed = token.expose();
        let mail = SignupMail {
            kind: match kind {
                InvitationKind::Registration => SignupKind::Register,
                InvitationKind::Invitation => SignupKind::Invitation,
            },
            to: record.email.as_str().to_owned(),
            url: self.config.register_url.replace("{token}", &exposed),
            token: exposed,
            expires_at,
        };
        Ok((record, mail))
    }

    /// `POST /auth/register/complete`: creates the account a registration or invitation token
    /// was sent for, with that e-mail address (verified by the token) and the invitation's
    /// roles. Unknown, expired or spent tokens: `InvalidSignupToken` (400 `invalid_token`); a
    /// taken username: `Conflict`, and the token stays usable until it has been refused so
    /// [`MAX_CONFLICTS`] times (then it is dead: `InvalidSignupToken`); a weak password is
    /// refused before the token is looked at.
    pub async fn complete_registration(
        &self,
        token: &str,
        username: &str,
        password: impl Into<Password>,
    ) -> Result<Account> {
        let now = now();
        let username = Username::parse(username)?;
        let password = self.new_password(&password.into(), Some(&username))?;
        let Some(token) = InvitationToken::parse(token) else {
            audit::event("register_complete", "invalid_token");
            return Err(Error::InvalidSignupToken);
        };
        let hash = token.hash();
        let record = self
            .store
            .invitation(token.id(), now)
            .await?
            .filter(|r| r.token_hash.ct_eq(&hash));
        let Some(record) = record else {
            audit::event("register_complete", "invalid_token");
            return Err(Error::InvalidSignupToken);
        };
        let account = self
            .new_account(
                username,
                Some(record.email.clone()),
                record.roles.clone(),
                password,
                now,
            )
            .await?;
        match self.store.redeem_invitation(token.id(), &hash, now, &account).await {
            Ok(true) => {}
            Ok(false) => {
                audit::event("register_complete", "invalid_token");
                return Err(Error::InvalidSignupToken);
            }
            Err(StoreError::Conflict(what)) => return Err(self.count_conflict(token.id(), &hash, now, what).await?),
            Err(e) => return Err(e.into()),
        }
        audit::subject("register_complete", "success", account.user_id.as_str());
        Ok(account)
    }

    /// Counts a redemption refused for a taken username or e-mail against its token: the
    /// `Conflict` to answer while the token has conflicts left, `InvalidSignupToken` once it
    /// has none (dead, or killed by concurrent attempts in between).
    async fn count_conflict(&self, id: &InvitationId, hash: &TokenHash, now: i64, what: &str) -> Result<Error> {
        match self.store.count_invitation_conflict(id, hash, now).await? {
            Some(n) => {
                audit::event(
                    "register_complete",
                    if n >= MAX_CONFLICTS {
                        "conflict_token_dead"
                    } else {
                        "conflict"
                    },
                );
                Ok(Error::Conflict(format!("{what} already exists")))
            }
            None => {
                audit::event("register_complete", "invalid_token");
                Ok(Error::InvalidSignupToken)
            }
        }
    }

    /// Invites `email` with `roles` (admin API, `keygate invite`): stores the invitation and
    /// mails its link. 409 if the address already has an account.
    pub async fn invite(&self, email: &str, roles: &[String]) -> Result<InvitationCreated> {
        let now = now();
        let email = Email::parse(email)?;
        let roles = Roles::parse(roles)?;
        if self.store.account_by_email(&email.key()).await?.is_some() {
            audit::admin("invite", "conflict", "email");
            return Err(Error::Conflict("email already exists".into()));
        }
        let (record, mail) = self.issue(InvitationKind::Invitation, email, roles, now).await?;
        if let Err(e) = self.mailer.send_signup(&mail).await {
            // The invitation stands: `keygate invite` prints its link, and the admin may
            // cancel it. The answer says nothing else.
            audit::admin_mail_failed("invite", record.invitation_id.as_str(), &e);
        }
        audit::admin("invite", "success", record.invitation_id.as_str());
        Ok(InvitationCreated {
            view: InvitationView::of(&record),
            url: mail.url,
        })
    }

    /// The pending invitations (not registrations), oldest first.
    pub async fn pending_invitations(&self) -> Result<Vec<InvitationView>> {
        Ok(self
            .store
            .pending_invitations(now())
            .await?
            .iter()
            .map(InvitationView::of)
            .collect())
    }

    /// Cancels an invitation: its token dies. 404 if there is none with this id.
    pub async fn cancel_invitation(&self, invitation_id: &str) -> Result<()> {
        let Some(id) = InvitationId::parse(invitation_id) else {
            return Err(Error::NotFound("no such invitation".into()));
        };
        let pending = self
            .store
            .invitation(&id, now())
            .await?
            .is_some_and(|r| r.kind == InvitationKind::Invitation);
        if !pending || !self.store.delete_invitation(&id).await? {
            return Err(Error::NotFound("no such invitation".into()));
        }
        audit::admin("cancel_invitation", "success", id.as_str());
        Ok(())
    }
}
