//! Configuration from the environment (README, "Configuration"). Every Lambda function, `keygate
//! serve` and the CLI read the same variables. Bad configuration is one clear error naming the
//! variable, never a panic.

use crate::domain::route_policy::RoutePolicy;
use keygate_sdk::VerifyOptions;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;

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
    /// `KEYGATE_MAX_CONNECTIONS`: most connections `keygate serve` keeps open at once.
    pub max_connections: usize,
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

/// The largest `KEYGATE_MAX_CONNECTIONS`: far above what one process's descriptors allow, so
/// a bigger value is a typo, not a plan.
const MAX_CONNECTIONS_LIMIT: usize = 1_000_000;

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

    /// Reads settings through `get` (the environment, or a map in tests), one group at a time;
    /// the first bad value is the error.
    pub fn from_lookup(host: Host, get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env(&get);
        let issuer = issuer(&env)?;
        let tokens = Tokens::read(&env)?;
        let jwks_url = env.or("KEYGATE_JWKS_URL", || format!("{issuer}/.well-known/jwks.json"));
        let mail = Mail::read(&env, host, &issuer)?;
        let admin = Admin::read(&env)?;
        let local = Local::read(&env)?;
        let cors_origins = cors_origins(&env)?;
        let signup = Signup::read(&env, &issuer)?;
        let shares = Shares::read(&env, &issuer)?;
        let route_policy = route_policy(&env)?;
        Ok(Config {
            table: env.get("KEYGATE_TABLE"),
            signing_secret_id: env.get("KEYGATE_SIGNING_SECRET_ID"),
            audience: tokens.audience,
            access_token_ttl: tokens.access_token_ttl,
            refresh_token_ttl: tokens.refresh_token_ttl,
            reset_token_ttl: tokens.reset_token_ttl,
            password_min_length: tokens.password_min_length,
            refresh_grace: tokens.refresh_grace,
            leeway: tokens.leeway,
            jwks_url,
            route_policy,
            mailer: mail.mailer,
            mail_from: mail.mail_from,
            reset_url: mail.reset_url,
            outbox: mail.outbox,
            admin_api: admin.admin_api,
            bootstrap_admin: admin.bootstrap_admin,
            data_dir: local.data_dir,
            key_rotation_days: local.key_rotation_days,
            max_connections: local.max_connections,
            cors_origins,
            registration: signup.registration,
            register_url: signup.register_url,
            invitation_ttl: signup.invitation_ttl,
            share_max_ttl: shares.share_max_ttl,
            share_revocations_url: shares.share_revocations_url,
            share_max_per_account: shares.share_max_per_account,
            issuer,
        })
    }
}

/// The settings as `Config::from_lookup` reads them: unset and empty are alike.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// `var`'s value, when set and not empty.
    fn get(&self, var: &str) -> Option<String> {
        (self.0)(var).filter(|v| !v.is_empty())
    }

    /// `var`'s value, or `default()`.
    fn or(&self, var: &str, default: impl FnOnce() -> String) -> String {
        self.get(var).unwrap_or_else(default)
    }

    /// `var` as a number in `range` (`default` when unset); else an error saying `expected`.
    fn number<T>(
        &self,
        var: &'static str,
        default: T,
        range: RangeInclusive<T>,
        expected: &str,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd,
    {
        match self.get(var) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<T>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => Err(invalid(var, format!("expected {expected}, got {v:?}"))),
            },
        }
    }

    /// `var` as whole seconds from `min` to ten years (`default` when unset).
    fn seconds(&self, var: &'static str, default: i64, min: i64) -> Result<i64, ConfigError> {
        let expected = format!("a whole number of seconds >= {min}");
        self.number(var, default, min..=315_360_000, &expected)
    }

    /// `var` as seconds from 0 to 300 (`default` when unset).
    fn short_seconds(&self, var: &'static str, default: i64) -> Result<i64, ConfigError> {
        match self.seconds(var, default, 0)? {
            n if n > 300 => Err(invalid(var, "at most 300 seconds".into())),
            n => Ok(n),
        }
    }

    /// `var` as one of `choices` (`default` when unset); else an error listing `expected`.
    fn choice<T: Copy>(
        &self,
        var: &'static str,
        default: T,
        choices: &[(&str, T)],
        expected: &str,
    ) -> Result<T, ConfigError> {
        let Some(v) = self.get(var) else {
            return Ok(default);
        };
        match choices.iter().find(|(name, _)| *name == v) {
            Some((_, value)) => Ok(*value),
            None => Err(invalid(var, format!("expected {expected}, got {v:?}"))),
        }
    }

    /// `var` as a link template containing `{token}` (`default` when unset).
    fn token_url(&self, var: &'static str, default: String) -> Result<String, ConfigError> {
        let url = self.get(var).unwrap_or(default);
        if !url.contains("{token}") {
            return Err(invalid(var, "must contain {token}".into()));
        }
        Ok(url)
    }
}

fn invalid(var: &'static str, reason: String) -> ConfigError {
    ConfigError { var, reason }
}

/// `KEYGATE_ISSUER`, without a trailing `/`.
fn issuer(env: &Env) -> Result<String, ConfigError> {
    let issuer = env.or("KEYGATE_ISSUER", || "http://127.0.0.1:3000".into());
    let issuer = issuer.trim_end_matches('/').to_owned();
    if !(issuer.starts_with("https://") || issuer.starts_with("http://")) || issuer.contains(char::is_whitespace) {
        return Err(invalid("KEYGATE_ISSUER", "expected an http(s) URL".into()));
    }
    Ok(issuer)
}

/// The audience, token lifetimes and password length.
struct Tokens {
    audience: String,
    access_token_ttl: i64,
    refresh_token_ttl: i64,
    reset_token_ttl: i64,
    refresh_grace: i64,
    leeway: i64,
    password_min_length: usize,
}

impl Tokens {
    fn read(env: &Env) -> Result<Tokens, ConfigError> {
        Ok(Tokens {
            audience: env.or("KEYGATE_AUDIENCE", || "keygate".into()),
            access_token_ttl: env.seconds("KEYGATE_ACCESS_TOKEN_TTL", 900, 1)?,
            refresh_token_ttl: env.seconds("KEYGATE_REFRESH_TOKEN_TTL", 2_592_000, 1)?,
            reset_token_ttl: env.seconds("KEYGATE_RESET_TOKEN_TTL", 1800, 1)?,
            refresh_grace: env.short_seconds("KEYGATE_REFRESH_GRACE", 0)?,
            leeway: env.short_seconds("KEYGATE_LEEWAY", 30)?,
            password_min_length: env.number(
                "KEYGATE_PASSWORD_MIN_LENGTH",
                15,
                8..=256,
                "a number of characters from 8 to 256",
            )?,
        })
    }
}

/// The mailer and the reset link.
struct Mail {
    mailer: MailerKind,
    outbox: Option<PathBuf>,
    mail_from: Option<String>,
    reset_url: String,
}

impl Mail {
    fn read(env: &Env, host: Host, issuer: &str) -> Result<Mail, ConfigError> {
        let default = match host {
            Host::Lambda => MailerKind::Ses,
            Host::Local => MailerKind::Log,
        };
        let choices = [
            ("ses", MailerKind::Ses),
            ("outbox", MailerKind::Outbox),
            ("log", MailerKind::Log),
        ];
        let mailer = env.choice("KEYGATE_MAILER", default, &choices, "ses, outbox or log")?;
        let outbox = env.get("KEYGATE_OUTBOX").map(PathBuf::from);
        if mailer == MailerKind::Outbox && outbox.is_none() {
            return Err(invalid("KEYGATE_OUTBOX", "required when KEYGATE_MAILER=outbox".into()));
        }
        Ok(Mail {
            mailer,
            outbox,
            mail_from: env.get("KEYGATE_MAIL_FROM"),
            reset_url: env.token_url("KEYGATE_RESET_URL", format!("{issuer}/reset?token={{token}}"))?,
        })
    }
}

/// The admin API switch and the bootstrap admin.
struct Admin {
    admin_api: bool,
    bootstrap_admin: Option<BootstrapAdmin>,
}

impl Admin {
    fn read(env: &Env) -> Result<Admin, ConfigError> {
        Ok(Admin {
            admin_api: env.choice("KEYGATE_ADMIN_API", true, &[("on", true), ("off", false)], "on or off")?,
            bootstrap_admin: env
                .get("KEYGATE_BOOTSTRAP_ADMIN")
                .map(|v| BootstrapAdmin::parse("KEYGATE_BOOTSTRAP_ADMIN", &v))
                .transpose()?,
        })
    }
}

/// What `keygate serve` and the CLI keep on disk.
struct Local {
    data_dir: DataDir,
    key_rotation_days: i64,
    max_connections: usize,
}

impl Local {
    fn read(env: &Env) -> Result<Local, ConfigError> {
        let data_dir = match env.get("KEYGATE_DATA_DIR").as_deref() {
            Some(":memory:") => DataDir::Memory,
            Some(dir) => DataDir::Path(PathBuf::from(dir)),
            None => DataDir::Path(PathBuf::from("keygate-data")),
        };
        Ok(Local {
            data_dir,
            key_rotation_days: env.number(
                "KEYGATE_KEY_ROTATION_DAYS",
                90,
                1..=3650,
                "a number of days from 1 to 3650",
            )?,
            max_connections: env.number(
                "KEYGATE_MAX_CONNECTIONS",
                4096,
                1..=MAX_CONNECTIONS_LIMIT,
                &format!("a number of connections from 1 to {MAX_CONNECTIONS_LIMIT}"),
            )?,
        })
    }
}

/// `KEYGATE_CORS_ORIGINS`: a comma-separated list of origins.
fn cors_origins(env: &Env) -> Result<Vec<String>, ConfigError> {
    env.get("KEYGATE_CORS_ORIGINS")
        .unwrap_or_default()
        .split(',')
        .filter(|o| !o.trim().is_empty())
        .map(parse_origin)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|reason| invalid("KEYGATE_CORS_ORIGINS", reason))
}

/// Self-registration and invitations.
struct Signup {
    registration: Registration,
    register_url: String,
    invitation_ttl: i64,
}

impl Signup {
    fn read(env: &Env, issuer: &str) -> Result<Signup, ConfigError> {
        let choices = [("invite", Registration::Invite), ("open", Registration::Open)];
        Ok(Signup {
            registration: env.choice("KEYGATE_REGISTRATION", Registration::Invite, &choices, "invite or open")?,
            register_url: env.token_url("KEYGATE_REGISTER_URL", format!("{issuer}/register?token={{token}}"))?,
            invitation_ttl: env.seconds("KEYGATE_INVITATION_TTL", 604_800, 60)?,
        })
    }
}

/// Share links.
struct Shares {
    share_max_ttl: i64,
    share_revocations_url: String,
    share_max_per_account: u32,
}

impl Shares {
    fn read(env: &Env, issuer: &str) -> Result<Shares, ConfigError> {
        Ok(Shares {
            share_max_ttl: env.seconds("KEYGATE_SHARE_MAX_TTL", 2_592_000, 60)?,
            share_revocations_url: env.or("KEYGATE_SHARE_REVOCATIONS_URL", || {
                format!("{issuer}/auth/share/revoked")
            }),
            share_max_per_account: env.number(
                "KEYGATE_SHARE_MAX_PER_ACCOUNT",
                1000,
                1..=1_000_000,
                "a whole number from 1 to 1000000",
            )?,
        })
    }
}

/// `KEYGATE_ROUTE_ROLES` (unset: no policy).
fn route_policy(env: &Env) -> Result<RoutePolicy, ConfigError> {
    match env.get("KEYGATE_ROUTE_ROLES") {
        None => Ok(RoutePolicy::default()),
        Some(json) => RoutePolicy::parse(&json).map_err(|reason| invalid("KEYGATE_ROUTE_ROLES", reason)),
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
    fn max_connections_defaults_to_4096_and_refuses_what_is_not_a_count() {
        assert_eq!(cfg(&[]).unwrap().max_connections, 4096);
        assert_eq!(cfg(&[("KEYGATE_MAX_CONNECTIONS", " 20 ")]).unwrap().max_connections, 20);
        assert_eq!(
            cfg(&[("KEYGATE_MAX_CONNECTIONS", "1000000")]).unwrap().max_connections,
            1_000_000
        );
        for bad in ["0", "-1", "many", "4096.5", "1000001", "99999999999999999999999"] {
            let e = cfg(&[("KEYGATE_MAX_CONNECTIONS", bad)]).unwrap_err();
            assert_eq!(e.var, "KEYGATE_MAX_CONNECTIONS", "{bad}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
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
