//! Pure rules and types. Nothing here knows of AWS, HTTP or the clock's source: time comes in
//! as [`UnixTime`] arguments.

pub mod account;
pub mod api_key_name;
pub mod client;
pub mod delivery;
pub mod device;
pub mod device_cookie;
pub mod factor;
pub mod hash;
pub mod invitation;
pub mod keys;
pub mod lockout;
pub mod oidc;
pub mod password;
pub mod refresh;
pub mod roles;
pub mod route_policy;
pub mod secret;
pub mod session;
pub mod share;
pub mod time;
pub mod username;

pub use account::{Account, AccountUpdate, ApiKeyRecord, Email, EmailKey, ResetRecord, UserId};
pub use api_key_name::ApiKeyName;
pub use client::{
    Client, ClientAuth, ClientAuthMethod, ClientCredentials, ClientId, DEFAULT_CLIENT_ID, RefreshRefusal, Scope,
};
pub use invitation::{InvitationId, InvitationKind, InvitationRecord, InvitationToken};
pub use lockout::Failures;
pub use password::{LoginPassword, NewPassword, PasswordError, PasswordHash, PasswordHasher, PasswordPolicy};
pub use refresh::{Decision, Family, FamilyId, Preview, RotateOutcome};
pub use roles::{Role, Roles};
pub use secret::{ApiKey, KeyId, Password, RefreshToken, ResetToken, TokenHash};
pub use time::UnixTime;
pub use username::{Username, UsernameKey, UsernameSkeleton};

/// A value that failed to parse into a domain type. The message is safe to show to clients:
/// it never contains the rejected value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);
