//! Configuration from the environment (README, "Configuration"). Every Lambda function, `keygate
//! serve` and the CLI read the same variables. Bad configuration is one clear error naming the
//! variable, never a panic.

use crate::domain::route_policy::RoutePolicy;
use keygate_sdk::VerifyOptions;
use std::path::PathBuf;

/// Who may create an account (`KEYGATE_REGISTRATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Accounts come from admins and invitations only (the default).
    Invite,
    /// Anyone may register an e-mail address (`POST /auth/register`).
    Open,
}

/// Which mailer delivers reset mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailerKind {
    /// Amazon SES (v2 API), from `KEYGATE_MAIL_FROM`.
    Ses,
    /// One JSON line per message appended to `KEYGATE_OUTBOX`.
    Outbox,
    /// A log line per message (recipient and expiry only: the token is never logged).
    Log,
}

/// A configuration error: the variable and what is wrong with it. Never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub reason: String,
}

/// keygate's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub table: Option<String>,
    pub signing_secret_id: Option<String>,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: i64,
    pub refresh_token_ttl: i64,
    pub reset_token_ttl: i64,
    pub password_min_length: usize,
    pub refresh_grace: i64,
    pub leeway: i64,
    pub jwks_url: String,
    /// `KEYGATE_ROUTE_ROLES`, parsed at start: the authorizer's route policy, and what
    /// `POST /auth/share` may share (`RoutePolicy::default()` when unset: no policy).
    pub route_policy: RoutePolicy,
    pub mailer: MailerKind,
    pub mail_from: Option<String>,
    /// Contains `{token}`.
    pub reset_url: String,
    pub outbox: Option<PathBuf>,
    pub admin_api: bool,
    /// `KEYGATE_BOOTSTRAP_ADMIN` as (username, password). Debug output hides the password.
    pub bootstrap_admin: Option<BootstrapAdmin>,
    /// `KEYGATE_DATA_DIR`: where `keygate serve` and the CLI keep the embedded store and, without
    /// a signing secret, the keys.
    pub data_dir: DataDir,
    /// `KEYGATE_KEY_ROTATION_DAYS`: age at which the local signing key is rotated.
    pub key_rotation_days: i64,
    /// `KEYGATE_CORS_ORIGINS`: browser origins (`scheme://host[:port]`, lower case) allowed to
    /// call keygate with credentials. Never a wildcard.
    pub cors_origins: Vec<String>,
    /// `KEYGATE_REGISTRATION`.
    pub registration: Registration,
    /// `KEYGATE_REGISTER_URL`: the link of registration and invitation mails; contains `{token}`.
    pub register_url: String,
    /// `KEYGATE_INVITATION_TTL`: lifetime of an invitation or registration token, seconds.
    pub invitation_ttl: i64,
    /// `KEYGATE_SHARE_MAX_TTL`: longest lifetime of a share-link token, seconds.
    pub share_max_ttl: i64,
    /// `KEYGATE_SHARE_REVOCATIONS_URL`: where the authorizer reads revoked share links.
    pub share_revocations_url: String,
    /// `KEYGATE_SHARE_MAX_PER_ACCOUNT`: most unexpired share links (revoked ones included) one
    /// account may hold.
    pub share_max_per_account: u32,
}

/// `origin` as a browser sends it in `Origin` (`scheme://host[:port]`, lower case, no path),
/// or why it is not one.
fn parse_origin(origin: &str) -> Result<String, String> {
    let o = origin.trim().to_ascii_lowercase();
    let (scheme, rest) = if let Some(rest) = o.strip_prefix("https://") {
        ("https://", rest)
    } else if let Some(rest) = o.strip_prefix("http://") {
        ("http://", rest)
    } else {
        return Err(format!("{origin:?} is not an http(s) origin"));
    };
    let host = rest.strip_suffix('/').unwrap_or(rest);
    let valid = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    if !valid {
        return Err(format!(
            "{origin:?} is not an origin (scheme://host[:port], no path, no wildcard)"
        ));
    }
    Ok(format!("{scheme}{host}"))
}

impl Config {
    /// keygate's own origin (the issuer's scheme, host and port).
    pub fn own_origin(&self) -> String {
        let after_scheme = self.issuer.find("://").map_or(0, |i| i + 3);
        let end = self.issuer[after_scheme..]
            .find('/')
            .map_or(self.issuer.len(), |i| after_scheme + i);
        self.issuer[..end].to_ascii_lowercase()
    }

    /// How keygate's own access tokens are verified (the admin API, `/auth/validate`, the
    /// authorizer): this issuer and audience, the leeway, no longer-lived than it issues them.
    pub fn verify_options(&self) -> VerifyOptions {
        VerifyOptions {
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway: self.leeway,
            max_lifetime: self.access_token_ttl,
        }
    }

    /// Whether a browser on `origin` may call keygate with credentials (CORS).
    pub fn cors_allows(&self, origin: &str) -> bool {
        self.cors_origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
    }
}

/// Where the embedded store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataDir {
    /// `:memory:`: nothing is kept (tests).
    Memory,
    /// A directory (created 0700 if absent).
    Path(PathBuf),
}

/// `USERNAME:PASSWORD` of the admin that `keygate serve` ensures at start.
#[derive(Clone)]
pub struct BootstrapAdmin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BootstrapAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapAdmin")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl BootstrapAdmin {
    /// Parses `USERNAME:PASSWORD` (split at the first `:`; usernames cannot contain one).
    pub fn parse(var: &'static str, s: &str) -> Result<BootstrapAdmin, ConfigError> {
        match s.split_once(':') {
            Some((u, p)) if !u.is_empty() && !p.is_empty() => Ok(BootstrapAdmin {
                username: u.to_owned(),
                password: p.to_owned(),
            }),
            _ => Err(ConfigError {
                var,
                reason: "expected USERNAME:PASSWORD".into(),
            }),
        }
    }
}

/// Where keygate runs: on Lambda some defaults differ (the mailer is `ses`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Lambda,
    Local,
}

impl Config {
    /// Reads the process environment. On Lambda (`AWS_LAMBDA_RUNTIME_API` set) the default
    /// mailer is `ses`; locally it is `log`.
    pub fn from_env() -> Result<Config, ConfigError> {
        let host = if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
            Host::Lambda
        } else {
            Host::Local
        };
        Config::from_lookup(host, |k| std::env::var(k).ok())
    }

    /// Reads settings through `get` (the environment, or a map in tests).
    pub fn from_lookup(host: Host, get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        let seconds = |var: &'static str, default: i64, min: i64| -> Result<i64, ConfigError> {
            match get(var) {
                None => Ok(default),
                Some(v) => match v.trim().parse::<i64>() {
                    Ok(n) if n >= min && n <= 315_360_000 => Ok(n),
                    _ => Err(ConfigError {
                        var,
                        reason: format!("expected a whole number of seconds >= {min}, got {v:?}"),
                    }),
                },
            }
        };
        let issuer = get("KEYGATE_ISSUER").unwrap_or_else(|| "http://127.0.0.1:3000".into());
        let issuer = issuer.trim_end_matches('/').to_owned();
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) || issuer.contains(char::is_whitespace) {
            return Err(ConfigError {
                var: "KEYGATE_ISSUER",
                reason: "expected an http(s) URL".into(),
            });
        }
        let audience = get("KEYGATE_AUDIENCE").unwrap_or_else(|| "keygate".into());
        let access_token_ttl = seconds("KEYGATE_ACCESS_TOKEN_TTL", 900, 1)?;
        let refresh_token_ttl = seconds("KEYGATE_REFRESH_TOKEN_TTL", 2_592_000, 1)?;
        let reset_token_ttl = seconds("KEYGATE_RESET_TOKEN_TTL", 1800, 1)?;
        let refresh_grace = seconds("KEYGATE_REFRESH_GRACE", 0, 0)?;
        if refresh_grace > 300 {
            return Err(ConfigError {
                var: "KEYGATE_REFRESH_GRACE",
                reason: "at most 300 seconds".into(),
            });
        }
        let leeway = seconds("KEYGATE_LEEWAY", 30, 0)?;
        if leeway > 300 {
            return Err(ConfigError {
                var: "KEYGATE_LEEWAY",
                reason: "at most 300 seconds".into(),
            });
        }
        let password_min_length = match get("KEYGATE_PASSWORD_MIN_LENGTH") {
            None => 15,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if (8..=256).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        var: "KEYGATE_PASSWORD_MIN_LENGTH",
                        reason: format!("expected a number of characters from 8 to 256, got {v:?}"),
                    });
                }
            },
        };
        let jwks_url = get("KEYGATE_JWKS_URL").unwrap_or_else(|| format!("{issuer}/.well-known/jwks.json"));
        let mailer = match get("KEYGATE_MAILER").as_deref() {
            None => match host {
                Host::Lambda => MailerKind::Ses,
                Host::Local => MailerKind::Log,
            },
            Some("ses") => MailerKind::Ses,
            Some("outbox") => MailerKind::Outbox,
            Some("log") => MailerKind::Log,
            Some(other) => {
                return Err(ConfigError {
                    var: "KEYGATE_MAILER",
                    reason: format!("expected ses, outbox or log, got {other:?}"),
                });
            }
        };
        let outbox = get("KEYGATE_OUTBOX").map(PathBuf::from);
        if mailer == MailerKind::Outbox && outbox.is_none() {
            return Err(ConfigError {
                var: "KEYGATE_OUTBOX",
                reason: "required when KEYGATE_MAILER=outbox".into(),
            });
        }
        let mail_from = get("KEYGATE_MAIL_FROM");
        let reset_url = get("KEYGATE_RESET_URL").unwrap_or_else(|| format!("{issuer}/reset?token={{token}}"));
        if !reset_url.contains("{token}") {
            return Err(ConfigError {
                var: "KEYGATE_RESET_URL",
                reason: "must contain {token}".into(),
            });
        }
        let admin_api = match get("KEYGATE_ADMIN_API").as_deref() {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => {
                return Err(ConfigError {
                    var: "KEYGATE_ADMIN_API",
                    reason: format!("expected on or off, got {other:?}"),
                });
            }
        };
        let bootstrap_admin = get("KEYGATE_BOOTSTRAP_ADMIN")
            .map(|v| BootstrapAdmin::parse("KEYGATE_BOOTSTRAP_ADMIN", &v))
            .transpose()?;
        let data_dir = match get("KEYGATE_DATA_DIR").as_deref() {
            Some(":memory:") => DataDir::Memory,
            Some(dir) => DataDir::Path(PathBuf::from(dir)),
            None => DataDir::Path(PathBuf::from("keygate-data")),
        };
        let key_rotation_days = match get("KEYGATE_KEY_ROTATION_DAYS") {
            None => 90,
            Some(v) => match v.trim().parse::<i64>() {
                Ok(n) if (1..=3650).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        var: "KEYGATE_KEY_ROTATION_DAYS",
                        reason: format!("expected a number of days from 1 to 3650, got {v:?}"),
                    });
                }
            },
        };
        let cors_origins = get("KEYGATE_CORS_ORIGINS")
            .unwrap_or_default()
            .split(',')
            .filter(|o| !o.trim().is_empty())
            .map(parse_origin)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| ConfigError {
                var: "KEYGATE_CORS_ORIGINS",
                reason,
            })?;
        let registration = match get("KEYGATE_REGISTRATION").as_deref() {
            None | Some("invite") => Registration::Invite,
            Some("open") => Registration::Open,
            Some(other) => {
                return Err(ConfigError {
                    var: "KEYGATE_REGISTRATION",
                    reason: format!("expected invite or open, got {other:?}"),
                });
            }
        };
        let register_url = get("KEYGATE_REGISTER_URL").unwrap_or_else(|| format!("{issuer}/register?token={{token}}"));
        if !register_url.contains("{token}") {
            return Err(ConfigError {
                var: "KEYGATE_REGISTER_URL",
                reason: "must contain {token}".into(),
            });
        }
        let invitation_ttl = seconds("KEYGATE_INVITATION_TTL", 604_800, 60)?;
        let share_max_ttl = seconds("KEYGATE_SHARE_MAX_TTL", 2_592_000, 60)?;
        let share_revocations_url =
            get("KEYGATE_SHARE_REVOCATIONS_URL").unwrap_or_else(|| format!("{issuer}/auth/share/revoked"));
        let share_max_per_account = match get("KEYGATE_SHARE_MAX_PER_ACCOUNT") {
            None => 1000,
            Some(v) => match v.trim().parse::<u32>() {
                Ok(n) if (1..=1_000_000).contains(&n) => n,
                _ => {
                    return Err(ConfigError {
                        var: "KEYGATE_SHARE_MAX_PER_ACCOUNT",
                        reason: format!("expected a whole number from 1 to 1000000, got {v:?}"),
                    });
                }
            },
        };
        let route_policy = match get("KEYGATE_ROUTE_ROLES") {
            None => RoutePolicy::default(),
            Some(json) => RoutePolicy::parse(&json).map_err(|reason| ConfigError {
                var: "KEYGATE_ROUTE_ROLES",
                reason,
            })?,
        };
        Ok(Config {
            share_max_ttl,
            share_max_per_account,
            share_revocations_url,
            registration,
            register_url,
            invitation_ttl,
            data_dir,
            key_rotation_days,
            cors_origins,
            table: get("KEYGATE_TABLE"),
            signing_secret_id: get("KEYGATE_SIGNING_SECRET_ID"),
            issuer,
            audience,
            access_token_ttl,
            refresh_token_ttl,
            reset_token_ttl,
            password_min_length,
            refresh_grace,
            leeway,
            jwks_url,
            route_policy,
            mailer,
            mail_from,
            reset_url,
            outbox,
            admin_api,
            bootstrap_admin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(Host::Local, |k| m.get(k).cloned())
    }

    #[test]
    fn defaults_follow_the_contract() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:3000");
        assert_eq!(c.audience, "keygate");
        assert_eq!(
            (c.access_token_ttl, c.refresh_token_ttl, c.reset_token_ttl),
            (900, 2_592_000, 1800)
        );
        assert_eq!((c.password_min_length, c.refresh_grace, c.leeway), (15, 0, 30));
        assert_eq!(c.jwks_url, "http://127.0.0.1:3000/.well-known/jwks.json");
        assert_eq!(c.reset_url, "http://127.0.0.1:3000/reset?token={token}");
        assert_eq!(c.mailer, MailerKind::Log);
        assert!(c.admin_api && c.table.is_none() && c.signing_secret_id.is_none());
        assert_eq!(c.data_dir, DataDir::Path(PathBuf::from("keygate-data")));
        assert_eq!(c.key_rotation_days, 90);
        assert_eq!(
            cfg(&[("KEYGATE_DATA_DIR", ":memory:")]).unwrap().data_dir,
            DataDir::Memory
        );
        for bad in ["0", "-1", "x", "3651"] {
            assert_eq!(
                cfg(&[("KEYGATE_KEY_ROTATION_DAYS", bad)]).unwrap_err().var,
                "KEYGATE_KEY_ROTATION_DAYS"
            );
        }
        let lambda = Config::from_lookup(Host::Lambda, |_| None).unwrap();
        assert_eq!(lambda.mailer, MailerKind::Ses);
    }

    #[test]
    fn errors_name_the_variable_and_hide_secrets() {
        assert_eq!(
            cfg(&[("KEYGATE_ACCESS_TOKEN_TTL", "soon")]).unwrap_err().var,
            "KEYGATE_ACCESS_TOKEN_TTL"
        );
        assert_eq!(
            cfg(&[("KEYGATE_REFRESH_GRACE", "-1")]).unwrap_err().var,
            "KEYGATE_REFRESH_GRACE"
        );
        assert_eq!(cfg(&[("KEYGATE_MAILER", "pigeon")]).unwrap_err().var, "KEYGATE_MAILER");
        for bad in [
            "*",
            "https://*.example.com",
            "https://app.example.com/path",
            "app.example.com",
            "null",
        ] {
            assert_eq!(
                cfg(&[("KEYGATE_CORS_ORIGINS", bad)]).unwrap_err().var,
                "KEYGATE_CORS_ORIGINS",
                "{bad}"
            );
        }
        let c = cfg(&[(
            "KEYGATE_CORS_ORIGINS",
            " https://App.Example.com/ ,http://127.0.0.1:8080",
        )])
        .unwrap();
        assert_eq!(c.cors_origins, ["https://app.example.com", "http://127.0.0.1:8080"]);
        assert!(c.cors_allows("https://app.example.com") && !c.cors_allows("https://evil.example.com"));
        assert_eq!(c.own_origin(), "http://127.0.0.1:3000");
        assert_eq!(c.registration, Registration::Invite);
        assert_eq!(c.register_url, "http://127.0.0.1:3000/register?token={token}");
        assert_eq!(c.invitation_ttl, 604_800);
        assert_eq!(c.share_max_ttl, 2_592_000);
        assert_eq!(c.share_revocations_url, "http://127.0.0.1:3000/auth/share/revoked");
        assert_eq!(c.share_max_per_account, 1000);
        assert_eq!(c.route_policy, RoutePolicy::default());
        for (var, bad) in [
            ("KEYGATE_REGISTRATION", "closed"),
            ("KEYGATE_REGISTER_URL", "https://app/register"),
            ("KEYGATE_INVITATION_TTL", "10"),
            ("KEYGATE_SHARE_MAX_TTL", "soon"),
            ("KEYGATE_SHARE_MAX_PER_ACCOUNT", "0"),
            ("KEYGATE_SHARE_MAX_PER_ACCOUNT", "many"),
            ("KEYGATE_ROUTE_ROLES", "{\"GET /x\": {\"share\": true}}"),
        ] {
            assert_eq!(cfg(&[(var, bad)]).unwrap_err().var, var);
        }
        assert_eq!(
            cfg(&[("KEYGATE_REGISTRATION", "open")]).unwrap().registration,
            Registration::Open
        );
        assert_eq!(cfg(&[("KEYGATE_MAILER", "outbox")]).unwrap_err().var, "KEYGATE_OUTBOX");
        assert_eq!(
            cfg(&[("KEYGATE_ADMIN_API", "maybe")]).unwrap_err().var,
            "KEYGATE_ADMIN_API"
        );
        assert_eq!(cfg(&[("KEYGATE_ISSUER", "ftp://x")]).unwrap_err().var, "KEYGATE_ISSUER");
        let e = cfg(&[("KEYGATE_BOOTSTRAP_ADMIN", "no-colon-secret")]).unwrap_err();
        assert_eq!(e.var, "KEYGATE_BOOTSTRAP_ADMIN");
        assert!(!e.to_string().contains("no-colon-secret"));
        let c = cfg(&[
            ("KEYGATE_BOOTSTRAP_ADMIN", "root:pass:word"),
            ("KEYGATE_ISSUER", "https://auth.example.com/"),
        ])
        .unwrap();
        let admin = c.bootstrap_admin.clone().unwrap();
        assert_eq!(
            (admin.username.as_str(), admin.password.as_str()),
            ("root", "pass:word")
        );
        assert!(!format!("{c:?}").contains("pass:word"));
        assert_eq!(c.issuer, "https://auth.example.com");
    }
}
