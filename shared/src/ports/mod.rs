//! The ports: what the services need from the outside world, one file per capability.
//! Adapters implement them (`adapters::memory`, `adapters::sqlite` and `adapters::dynamodb` for
//! the store capabilities, `adapters::local_key` and `adapters::secrets_manager` for
//! [`KeySource`], `adapters::sqlite` for [`KeyVersions`], `adapters::mail` for [`Mailer`]).
//!
//! Every operation that must not race is atomic in each implementation (a conditional write in
//! DynamoDB, one critical section in the embedded stores); the store conformance suite
//! (`tests/tests/store_conformance.rs`) runs the same cases against all three. [`Store`] is every
//! store capability at once: a marker supertrait with no methods of its own.

mod accounts;
mod api_keys;
mod inventory;
mod invitations;
mod jwks;
mod keys;
mod lockout;
mod mail;
mod resets;
mod sessions;
mod shares;

pub use accounts::AccountStore;
pub use api_keys::ApiKeyStore;
pub use inventory::Inventory;
pub use invitations::InvitationStore;
pub use jwks::JwksStore;
pub use keys::{KeyCommandError, KeyError, KeySource, KeyState, KeyVersion, KeyVersions, PublishedKey};
pub use lockout::LockoutStore;
pub use mail::{MailError, Mailer, ResetMail, SignupKind, SignupMail};
pub use resets::{RESET_DELIVERY_LIMIT, RESET_DELIVERY_WINDOW_SECONDS, ResetStore};
pub use sessions::SessionStore;
pub use shares::ShareStore;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness condition failed (username, its confusable skeleton or email taken, id
    /// reused). The text names what was taken ([`CONFUSABLE`] for a look-alike username).
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// The backing service is unreachable, throttling or failing. Maps to 503.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (corrupt item). Maps to 503 and is logged.
    #[error("corrupt stored item: {0}")]
    Corrupt(String),
}

/// What [`StoreError::Conflict`] names when a new username's confusable skeleton
/// ([`UsernameSkeleton`](crate::domain::UsernameSkeleton)) is an existing account's.
pub const CONFUSABLE: &str = "a username that looks the same";

/// Declares [`Store`] as the sum of the capabilities named once, with its blanket impl.
macro_rules! capabilities {
    ($($capability:ident),+ $(,)?) => {
        /// Every store capability: accounts, login throttling, API keys, refresh-token families,
        /// reset tokens, published keys, invitations, share links and the inventory. No methods
        /// of its own; every type with all the capabilities is one (`Arc<dyn Store>` is what
        /// `runtime` wires).
        pub trait Store: $($capability +)+ {}

        impl<T: $($capability +)+ ?Sized> Store for T {}
    };
}

capabilities!(
    AccountStore,
    LockoutStore,
    ApiKeyStore,
    SessionStore,
    ResetStore,
    JwksStore,
    InvitationStore,
    ShareStore,
    Inventory,
);
