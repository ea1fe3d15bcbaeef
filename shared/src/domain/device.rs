//! The device authorization grant's rules (RFC 8628, contract section 9): user codes (8 letters
//! of the RFC's 20-letter alphabet, shown `XXXX-XXXX`, typed in any case with or without the
//! dash), the polling interval and its slow-down rule, a grant's states and what a poll answers
//! in each, and the wrong-code limit of a login session.

use super::{Invalid, UnixTime};

/// RFC 8628 section 6.1's alphabet: consonants only (no vowels, so no words; no look-alikes).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code (20^8: about 2^34.6 codes).
pub const USER_CODE_LETTERS: usize = 8;
/// How long a device code lives, seconds.
pub const EXPIRES_IN: i64 = 600;
/// The polling interval a device starts with, seconds.
pub const INTERVAL: i64 = 5;
/// What `slow_down` adds to the interval, seconds (RFC 8628 section 3.5).
pub const SLOW_DOWN_STEP: i64 = 5;
/// Wrong codes a login session may type before no code is accepted from it.
pub const MAX_WRONG_CODES: u32 = 5;
/// How long such a session stays refused, seconds.
pub const WRONG_CODE_LOCK_SECONDS: i64 = 900;

/// A user code, normalized: 8 letters of [`USER_CODE_ALPHABET`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserCode(String);

impl UserCode {
    /// A user code from 8 random bytes (each reduced into the alphabet by rejection, so every
    /// letter is equally likely). `None` when a byte would bias the draw: call again with
    /// fresh bytes.
    pub fn from_random(bytes: &[u8]) -> Option<UserCode> {
        // 256 = 12 * 20 + 16: bytes of 240 and above would favour the first 16 letters.
        let letters: Vec<u8> = bytes
            .iter()
            .filter(|b| **b < 240)
            .take(USER_CODE_LETTERS)
            .map(|b| USER_CODE_ALPHABET[usize::from(*b) % USER_CODE_ALPHABET.len()])
            .collect();
        (letters.len() == USER_CODE_LETTERS).then(|| UserCode(String::from_utf8_lossy(&letters).into_owned()))
    }

    /// Parses what a person typed: case and dashes or spaces do not matter.
    pub fn parse(typed: &str) -> Result<UserCode, Invalid> {
        let letters: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\u{2010}'..='\u{2015}'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let ok = letters.len() == USER_CODE_LETTERS && letters.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
        if ok {
            Ok(UserCode(letters))
        } else {
            Err(Invalid("a code is 8 letters, as XXXX-XXXX"))
        }
    }

    /// The 8 letters, as stored (hashed) and compared.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The code as shown to the person: `XXXX-XXXX`.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceState {
    /// Waiting for the person.
    Pending,
    /// Approved by the account `user_id` (with the scopes shown to it).
    Approved { user_id: String },
    /// Denied by the person.
    Denied,
    /// Its tokens were issued: the code works once.
    Redeemed,
}

/// What a poll of the token endpoint gets (RFC 8628 section 3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollAnswer {
    /// 400 `authorization_pending`.
    Pending,
    /// 400 `slow_down`: the device polled sooner than its interval, which grows to `interval`.
    SlowDown { interval: i64 },
    /// 400 `access_denied`.
    Denied,
    /// 400 `expired_token`.
    Expired,
    /// 400 `invalid_grant`: already redeemed.
    Redeemed,
    /// The tokens, once, for account `user_id`.
    Issue { user_id: String },
}

/// A device authorization as polled: its state, expiry, interval and last poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    pub state: DeviceState,
    pub expires_at: UnixTime,
    pub interval: i64,
    pub last_poll: Option<UnixTime>,
}

impl DeviceGrant {
    /// A new grant at `now`.
    pub fn new(now: UnixTime) -> DeviceGrant {
        DeviceGrant {
            state: DeviceState::Pending,
            expires_at: now + EXPIRES_IN,
            interval: INTERVAL,
            last_poll: None,
        }
    }

    /// What a poll at `now` answers, and the grant afterwards (its last poll, a grown interval,
    /// `Redeemed` after the tokens). A store applies this under a condition on the state it
    /// read, so that approval and polling never race and the tokens come out once.
    pub fn poll(&self, now: UnixTime) -> (PollAnswer, DeviceGrant) {
        let mut next = self.clone();
        if self.state == DeviceState::Redeemed {
            return (PollAnswer::Redeemed, next);
        }
        if now >= self.expires_at {
            return (PollAnswer::Expired, next);
        }
        next.last_poll = Some(now);
        if self.last_poll.is_some_and(|last| now - last < self.interval) {
            next.interval = self.interval + SLOW_DOWN_STEP;
            return (
                PollAnswer::SlowDown {
                    interval: next.interval,
                },
                next,
            );
        }
        match &self.state {
            DeviceState::Pending => (PollAnswer::Pending, next),
            DeviceState::Denied => (PollAnswer::Denied, next),
            DeviceState::Approved { user_id } => {
                next.state = DeviceState::Redeemed;
                (
                    PollAnswer::Issue {
                        user_id: user_id.clone(),
                    },
                    next,
                )
            }
            DeviceState::Redeemed => (PollAnswer::Redeemed, next),
        }
    }

    /// Whether the person may still decide at `now` (pending and unexpired).
    pub fn awaits_decision(&self, now: UnixTime) -> bool {
        self.state == DeviceState::Pending && now < self.expires_at
    }
}

/// A login session's wrong user codes: after [`MAX_WRONG_CODES`], no code (right or wrong) is
/// accepted from that session for [`WRONG_CODE_LOCK_SECONDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WrongCodes {
    pub count: u32,
    pub last: UnixTime,
}

impl WrongCodes {
    /// Whether a code may be tried at `now`.
    pub fn may_try(&self, now: UnixTime) -> bool {
        self.current(now).count < MAX_WRONG_CODES
    }

    /// The counter as it stands at `now`: forgotten once the lock (or the window) has passed.
    pub fn current(&self, now: UnixTime) -> WrongCodes {
        if now - self.last >= WRONG_CODE_LOCK_SECONDS {
            WrongCodes::default()
        } else {
            *self
        }
    }

    /// The counter after one more wrong code at `now`.
    pub fn after_wrong(&self, now: UnixTime) -> WrongCodes {
        let c = self.current(now);
        WrongCodes {
            count: c.count.saturating_add(1),
            last: now,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_consonants_typed_in_any_case_with_or_without_the_dash() {
        let c = UserCode::parse("wdjb-mjht").unwrap();
        assert_eq!((c.as_str(), c.display().as_str()), ("WDJBMJHT", "WDJB-MJHT"));
        for same in ["WDJBMJHT", "wdjbmjht", "WDJB MJHT", " wdjb-MJHT ", "WDJB\u{2013}MJHT"] {
            assert_eq!(UserCode::parse(same).unwrap(), c, "{same:?}");
        }
        for bad in ["WDJB-MJH", "WDJB-MJHTX", "WDJA-MJHT", "WDJB-MJH1", "", "ＷDJB-MJHT"] {
            assert!(UserCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_codes_use_the_whole_alphabet_without_bias() {
        let c = UserCode::from_random(&[0, 1, 2, 3, 19, 20, 239, 100]).unwrap();
        assert_eq!(c.as_str(), "BCDFZBZB");
        assert_eq!(
            UserCode::from_random(&[240, 0, 0, 0, 0, 0, 0, 0]),
            None,
            "a biased byte is skipped"
        );
        let long = [250, 1, 2, 3, 4, 5, 6, 7, 8, 9];
        assert_eq!(UserCode::from_random(&long).unwrap().as_str(), "CDFGHJKL");
        assert!(UserCode::parse(UserCode::from_random(&[7; 8]).unwrap().as_str()).is_ok());
    }

    #[test]
    fn polling_answers_each_state_and_slows_fast_devices() {
        let t = 1_000;
        let g = DeviceGrant::new(t);
        let (a, g) = g.poll(t + 5);
        assert_eq!(a, PollAnswer::Pending);
        let (a, g) = g.poll(t + 7);
        assert_eq!(a, PollAnswer::SlowDown { interval: 10 }, "2 s after the last poll");
        let (a, g) = g.poll(t + 12);
        assert_eq!(a, PollAnswer::SlowDown { interval: 15 }, "5 s is now too soon");
        let (a, g) = g.poll(t + 27);
        assert_eq!(a, PollAnswer::Pending);
        let approved = DeviceGrant {
            state: DeviceState::Approved { user_id: "u1".into() },
            ..g.clone()
        };
        let (a, after) = approved.poll(t + 42);
        assert_eq!(a, PollAnswer::Issue { user_id: "u1".into() });
        assert_eq!(after.state, DeviceState::Redeemed);
        assert_eq!(after.poll(t + 60).0, PollAnswer::Redeemed, "the code works once");
        let denied = DeviceGrant {
            state: DeviceState::Denied,
            ..g.clone()
        };
        assert_eq!(denied.poll(t + 42).0, PollAnswer::Denied);
        assert_eq!(g.poll(t + EXPIRES_IN).0, PollAnswer::Expired);
        assert!(g.awaits_decision(t + 100) && !g.awaits_decision(t + EXPIRES_IN));
    }

    #[test]
    fn five_wrong_codes_lock_a_session_for_fifteen_minutes() {
        let t = 5_000;
        let mut w = WrongCodes::default();
        for i in 0..MAX_WRONG_CODES {
            assert!(w.may_try(t + i64::from(i)));
            w = w.after_wrong(t + i64::from(i));
        }
        assert!(!w.may_try(t + 10), "no code, right or wrong, after five wrong ones");
        assert!(!w.may_try(t + 4 + WRONG_CODE_LOCK_SECONDS - 1));
        assert!(w.may_try(t + 4 + WRONG_CODE_LOCK_SECONDS));
        assert_eq!(w.after_wrong(t + 4 + WRONG_CODE_LOCK_SECONDS).count, 1);
    }
}
