//! Mailers: SES (production), an outbox file (tests, local walkthroughs) and a log line
//! (local default; it never logs the token or the link).

use super::AwsConfig;
use crate::config::{Config, ConfigError, MailerKind};
use crate::domain::time::rfc3339;
use crate::ports::{MailError, Mailer, ResetMail, SignupMail};
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// Appends one JSON line per message to a file: `{"kind","to","token","url","expires_at"}`,
/// `kind` `reset` (which also carries `username` and `reset_url`), `register` or `invitation`.
/// The lines hold live tokens: a file it creates gets mode 0600 whatever the umask (an existing
/// file keeps its mode).
pub struct OutboxMailer {
    path: PathBuf,
    lock: tokio::sync::Mutex<()>,
}

impl OutboxMailer {
    /// A mailer writing to `path` (created with mode 0600 if missing).
    pub fn new(path: PathBuf) -> OutboxMailer {
        OutboxMailer {
            path,
            lock: tokio::sync::Mutex::new(()),
        }
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send_reset(&self, mail: &ResetMail) -> Result<(), MailError> {
        self.append(serde_json::json!({
            "kind": "reset",
            "to": mail.to,
            "username": mail.username,
            "token": mail.token,
            "url": mail.reset_url,
            "reset_url": mail.reset_url,
            "expires_at": rfc3339(mail.expires_at),
        }))
        .await
    }

    async fn send_signup(&self, mail: &SignupMail) -> Result<(), MailError> {
        self.append(serde_json::json!({
            "kind": mail.kind.as_str(),
            "to": mail.to,
            "token": mail.token,
            "url": mail.url,
            "expires_at": rfc3339(mail.expires_at),
        }))
        .await
    }
}

impl OutboxMailer {
    async fn append(&self, message: serde_json::Value) -> Result<(), MailError> {
        let mut line = message.to_string();
        line.push('\n');
        let _guard = self.lock.lock().await;
        let mut f = self
            .open()
            .await
            .map_err(|e| MailError(format!("outbox {}: {e}", self.path.display())))?;
        f.write_all(line.as_bytes())
            .await
            .map_err(|e| MailError(format!("outbox: {e}")))?;
        f.flush().await.map_err(|e| MailError(format!("outbox: {e}")))
    }
}

impl OutboxMailer {
    /// Opens the outbox to append, creating it with mode 0600 if it does not exist.
    async fn open(&self) -> std::io::Result<tokio::fs::File> {
        let mut create = tokio::fs::OpenOptions::new();
        create.append(true).create_new(true);
        #[cfg(unix)]
        create.mode(0o600);
        match create.open(&self.path).await {
            Ok(f) => {
                // The umask may have narrowed the mode; set it exactly, on the open file.
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    f.set_permissions(std::fs::Permissions::from_mode(0o600)).await?;
                }
                Ok(f)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                tokio::fs::OpenOptions::new().append(true).open(&self.path).await
            }
            Err(e) => Err(e),
        }
    }
}

/// Logs that a message would be sent: recipient and expiry only.
pub struct LogMailer;

#[async_trait]
impl Mailer for LogMailer {
    async fn send_reset(&self, mail: &ResetMail) -> Result<(), MailError> {
        tracing::info!(
            to = mail.to.as_str(),
            username = mail.username.as_str(),
            expires_at = rfc3339(mail.expires_at).as_str(),
            "password reset mail (log mailer: the link is not logged; use KEYGATE_MAILER=outbox to capture it)"
        );
        Ok(())
    }

    async fn send_signup(&self, mail: &SignupMail) -> Result<(), MailError> {
        tracing::info!(
            kind = mail.kind.as_str(),
            to = mail.to.as_str(),
            expires_at = rfc3339(mail.expires_at).as_str(),
            "signup mail (log mailer: the link is not logged; use KEYGATE_MAILER=outbox to capture it)"
        );
        Ok(())
    }
}

/// Sends through Amazon SES (v2 API).
#[cfg(feature = "ses")]
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
    from: String,
}

#[cfg(feature = "ses")]
impl SesMailer {
    /// A mailer sending from `from`.
    pub fn new(sdk: &AwsConfig, from: String) -> SesMailer {
        SesMailer {
            client: aws_sdk_sesv2::Client::new(sdk),
            from,
        }
    }
}

#[cfg(feature = "ses")]
#[async_trait]
impl Mailer for SesMailer {
    async fn send_reset(&self, mail: &ResetMail) -> Result<(), MailError> {
        let text = format!(
            "Hello {},\n\nsomeone asked to reset your password. To choose a new one, open:\n\n{}\n\nThe link works once, until {}. If you did not ask for this, ignore this mail.\n",
            mail.username,
            mail.reset_url,
            rfc3339(mail.expires_at)
        );
        self.send(&mail.to, "Reset your password", text).await
    }

    async fn send_signup(&self, mail: &SignupMail) -> Result<(), MailError> {
        let (subject, text) = match mail.kind {
            crate::ports::SignupKind::Register => (
                "Confirm your e-mail address",
                format!(
                    "Hello,\n\nsomeone asked to create an account with this address. To choose a username and password, open:\n\n{}\n\nThe link works once, until {}. If you did not ask for this, ignore this mail.\n",
                    mail.url,
                    rfc3339(mail.expires_at)
                ),
            ),
            crate::ports::SignupKind::Invitation => (
                "You are invited",
                format!(
                    "Hello,\n\nyou are invited to create an account. To choose a username and password, open:\n\n{}\n\nThe link works once, until {}.\n",
                    mail.url,
                    rfc3339(mail.expires_at)
                ),
            ),
        };
        self.send(&mail.to, subject, text).await
    }
}

#[cfg(feature = "ses")]
impl SesMailer {
    async fn send(&self, to: &str, subject: &str, text: String) -> Result<(), MailError> {
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let content = |s: String| Content::builder().data(s).charset("UTF-8").build();
        let subject = content(subject.into()).map_err(|e| MailError(e.to_string()))?;
        let body = content(text).map_err(|e| MailError(e.to_string()))?;
        let message = Message::builder()
            .subject(subject)
            .body(Body::builder().text(body).build())
            .build();
        self.client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| MailError(super::aws::describe(&e)))?;
        Ok(())
    }
}

/// The mailer `config` asks for.
pub async fn build_mailer(config: &Config, sdk: Option<&AwsConfig>) -> Result<Arc<dyn Mailer>, ConfigError> {
    Ok(match config.mailer {
        MailerKind::Log => Arc::new(LogMailer),
        MailerKind::Outbox => {
            let path = config.outbox.clone().ok_or_else(|| ConfigError {
                var: "KEYGATE_OUTBOX",
                reason: "required when KEYGATE_MAILER=outbox".into(),
            })?;
            Arc::new(OutboxMailer::new(path))
        }
        MailerKind::Ses => {
            let from = config.mail_from.clone().ok_or_else(|| ConfigError {
                var: "KEYGATE_MAIL_FROM",
                reason: "required when KEYGATE_MAILER=ses".into(),
            })?;
            ses_mailer(sdk, from).await?
        }
    })
}

#[cfg(feature = "ses")]
async fn ses_mailer(sdk: Option<&AwsConfig>, from: String) -> Result<Arc<dyn Mailer>, ConfigError> {
    let owned;
    let sdk = match sdk {
        Some(s) => s,
        None => {
            owned = super::aws::sdk_config().await;
            &owned
        }
    };
    Ok(Arc::new(SesMailer::new(sdk, from)))
}

#[cfg(not(feature = "ses"))]
async fn ses_mailer(_sdk: Option<&AwsConfig>, _from: String) -> Result<Arc<dyn Mailer>, ConfigError> {
    Err(ConfigError {
        var: "KEYGATE_MAILER",
        reason: super::NotBuiltIn("SES", "ses").to_string(),
    })
}
