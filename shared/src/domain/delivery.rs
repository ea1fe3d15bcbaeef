//! Mail delivery limits: the fixed-window rule every store applies to its delivery counters,
//! and the keys that registration mails are counted under (the mailbox, not the spelling of
//! the address, and the mail domain).

use super::{Email, UnixTime};

/// The length of a delivery window, in seconds (15 minutes).
pub const WINDOW_SECONDS: i64 = 900;

/// At most `max` mails per [`WINDOW_SECONDS`] on one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
}

/// Reset mails per account.
pub const RESET_PER_ACCOUNT: Limit = Limit { max: 3 };
/// Registration mails per mailbox ([`Mailbox`]).
pub const REGISTRATION_PER_MAILBOX: Limit = Limit { max: 3 };
/// Registration mails per mail domain ([`MailDomain`]).
pub const REGISTRATION_PER_DOMAIN: Limit = Limit { max: 20 };

/// A stored delivery counter: when its window started and how many mails it counted since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: UnixTime,
    pub count: u32,
}

impl Limit {
    /// Counts one mail at `now` against the stored counter (`None`: no counter yet): the counter
    /// to store if the mail is within the limit, `None` if it is over it (nothing changes). A
    /// window that started [`WINDOW_SECONDS`] or more before `now` is over: the mail starts a
    /// new one.
    pub fn count(self, stored: Option<Window>, now: UnixTime) -> Option<Window> {
        let current = stored.filter(|w| now < w.start + WINDOW_SECONDS);
        let Window { start, count } = current.unwrap_or(Window { start: now, count: 0 });
        (count < self.max).then_some(Window {
            start,
            count: count + 1,
        })
    }

    /// The latest window start at which a stored counter is over at `now`, so that the mail
    /// starts a new window (the rule of [`Limit::count`] as a bound on the stored start, for
    /// stores that check it in a conditional write).
    pub fn fresh_if_started_at_most(now: UnixTime) -> UnixTime {
        now - WINDOW_SECONDS
    }
}

/// The mailbox an address delivers to, as registration limits count it: the domain
/// case-insensitively and without trailing dots, a `+tag` subaddress folded into its mailbox
/// (RFC 5233), the rest of the local part as written (`Alice+x@Example.COM.` is
/// `Alice@example.com`; `alice@example.com` is another mailbox). Its text always holds one `@`
/// with text before it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mailbox(String);

/// The domain of an address as [`Mailbox`] compares it: lowercased, trailing dots removed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailDomain(String);

/// Splits a parsed address at its one `@` (`Email::parse` guarantees it).
fn parts(email: &Email) -> (&str, &str) {
    email.as_str().split_once('@').unwrap_or((email.as_str(), ""))
}

impl MailDomain {
    /// The domain of `email`.
    pub fn of(email: &Email) -> MailDomain {
        MailDomain(parts(email).1.trim_end_matches('.').to_lowercase())
    }
    /// The domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Mailbox {
    /// The mailbox of `email`. A local part that starts with `+` has no mailbox name before
    /// its tag and is kept whole.
    pub fn of(email: &Email) -> Mailbox {
        let local = parts(email).0;
        let local = match local.split_once('+') {
            Some((name, _tag)) if !name.is_empty() => name,
            _ => local,
        };
        Mailbox(format!("{local}@{}", MailDomain::of(email).as_str()))
    }
    /// The mailbox as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A counter of registration mails: one per mailbox and one per mail domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegistrationCounter {
    Mailbox(Mailbox),
    Domain(MailDomain),
}

impl RegistrationCounter {
    /// The counter of `email`'s mailbox.
    pub fn mailbox(email: &Email) -> RegistrationCounter {
        RegistrationCounter::Mailbox(Mailbox::of(email))
    }
    /// The counter of `email`'s mail domain.
    pub fn domain(email: &Email) -> RegistrationCounter {
        RegistrationCounter::Domain(MailDomain::of(email))
    }
    /// The limit of this counter.
    pub fn limit(&self) -> Limit {
        match self {
            RegistrationCounter::Mailbox(_) => REGISTRATION_PER_MAILBOX,
            RegistrationCounter::Domain(_) => REGISTRATION_PER_DOMAIN,
        }
    }
    /// The storage key: the mailbox (`name@domain`), or `@domain` for a domain. A mailbox key
    /// always has text before its `@`, so the two never collide.
    pub fn key(&self) -> String {
        match self {
            RegistrationCounter::Mailbox(m) => m.as_str().to_owned(),
            RegistrationCounter::Domain(d) => format!("@{}", d.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(s: &str) -> Email {
        Email::parse(s).unwrap()
    }

    #[test]
    fn mailboxes_fold_the_domain_and_the_tag_but_keep_the_local_part() {
        let m = |s: &str| Mailbox::of(&email(s)).as_str().to_owned();
        assert_eq!(m("Alice+x@Example.COM."), "Alice@example.com");
        assert_eq!(m("alice@example.com"), "alice@example.com");
        assert_eq!(m("bob+1@EXAMPLE.com."), m("bob@example.com"));
        assert_eq!(m("bob+a+b@example.com.."), "bob@example.com");
        assert_ne!(m("Alice@example.com"), m("alice@example.com"));
        assert_eq!(m("+tag@example.com"), "+tag@example.com");
        assert_eq!(
            MailDomain::of(&email("x@Mail.Example.ORG.")).as_str(),
            "mail.example.org"
        );
    }

    #[test]
    fn mailbox_and_domain_keys_never_collide() {
        for s in ["a@example.com", "+@example.com", "x+y@example.com", "q@example.com."] {
            let (mailbox, domain) = (
                RegistrationCounter::mailbox(&email(s)).key(),
                RegistrationCounter::domain(&email(s)).key(),
            );
            assert!(!mailbox.starts_with('@') && mailbox.contains('@'), "{mailbox}");
            assert_eq!(domain, "@example.com");
        }
        assert_eq!(RegistrationCounter::mailbox(&email("a@b.c")).limit().max, 3);
        assert_eq!(RegistrationCounter::domain(&email("a@b.c")).limit().max, 20);
    }

    #[test]
    fn a_window_counts_up_to_its_limit_then_starts_again() {
        let limit = Limit { max: 2 };
        let w1 = limit.count(None, 100).unwrap();
        assert_eq!(w1, Window { start: 100, count: 1 });
        let w2 = limit.count(Some(w1), 500).unwrap();
        assert_eq!(w2, Window { start: 100, count: 2 });
        assert_eq!(limit.count(Some(w2), 100 + WINDOW_SECONDS - 1), None);
        assert_eq!(
            limit.count(Some(w2), 100 + WINDOW_SECONDS),
            Some(Window {
                start: 100 + WINDOW_SECONDS,
                count: 1
            })
        );
        assert_eq!(Limit::fresh_if_started_at_most(100 + WINDOW_SECONDS), 100);
    }
}
