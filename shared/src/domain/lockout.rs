//! Login throttling: after [`THRESHOLD`] consecutive failures for one username, attempts are
//! refused for a backoff that doubles with each further failure, capped at [`CAP_SECONDS`].

use super::UnixTime;

/// Consecutive failures allowed before attempts are refused.
pub const THRESHOLD: u32 = 5;
/// The first backoff, in seconds.
pub const BASE_SECONDS: i64 = 30;
/// The longest backoff, in seconds (15 minutes).
pub const CAP_SECONDS: i64 = 900;
/// How long a failure counter is kept after its last failure (storage TTL).
pub const FORGET_AFTER_SECONDS: i64 = 86_400;

/// Consecutive login failures recorded for one normalized username.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub last_failure_at: UnixTime,
}

/// The backoff after `count` consecutive failures, if any.
pub fn backoff(count: u32) -> Option<i64> {
    if count < THRESHOLD {
        return None;
    }
    let doublings = (count - THRESHOLD).min(16);
    Some((BASE_SECONDS << doublings).min(CAP_SECONDS))
}

/// The answer to a request to attempt a login: the attempt is counted, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The attempt is allowed and already counted as a (provisional) failure: the new counter.
    /// A successful login then clears it.
    Allowed(Failures),
    /// Refused: retry after this many seconds (at least 1). Nothing was counted.
    Throttled { retry_after: i64 },
}

impl Failures {
    /// Seconds until another attempt is allowed, or `None` if one is allowed now.
    pub fn retry_after(&self, now: UnixTime) -> Option<i64> {
        let wait = backoff(self.count)?;
        let until = self.last_failure_at + wait;
        (now < until).then_some(until - now)
    }

    /// The latest `last_failure_at` at which a counter of `count` failures allows an attempt at
    /// `now` (the allow rule of [`Failures::retry_after`] written as a bound on the stored time,
    /// for stores that check it in a conditional write).
    pub fn allowed_if_last_failure_at_most(count: u32, now: UnixTime) -> UnixTime {
        now - backoff(count).unwrap_or(0)
    }

    /// When this counter is forgotten: [`FORGET_AFTER_SECONDS`] after its last failure (the
    /// storage TTL of a counter written at its last failure).
    pub fn forgotten_at(&self) -> UnixTime {
        self.last_failure_at + FORGET_AFTER_SECONDS
    }

    /// The counter that stands at `now` for a stored one: `stored`, unless absent or forgotten by
    /// then ([`Failures::forgotten_at`]), when it counts as zero.
    pub fn remembered(stored: Option<Failures>, now: UnixTime) -> Failures {
        stored.filter(|f| now < f.forgotten_at()).unwrap_or_default()
    }

    /// Reserves an attempt at `now` against this counter: if one is allowed, the counter with the
    /// attempt counted as a failure; otherwise how long to wait.
    pub fn reserve(&self, now: UnixTime) -> Attempt {
        match self.retry_after(now) {
            Some(retry_after) => Attempt::Throttled { retry_after },
            None => Attempt::Allowed(Failures {
                count: self.count.saturating_add(1),
                last_failure_at: now,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(4), None);
        assert_eq!(backoff(5), Some(30));
        assert_eq!(backoff(6), Some(60));
        assert_eq!(backoff(9), Some(480));
        assert_eq!(backoff(10), Some(900));
        assert_eq!(backoff(1000), Some(900));
    }

    #[test]
    fn reserve_allows_five_then_one_per_backoff() {
        let mut f = Failures::default();
        for n in 1..=THRESHOLD {
            assert_eq!(
                f.reserve(1000),
                Attempt::Allowed(Failures {
                    count: n,
                    last_failure_at: 1000
                })
            );
            f = Failures {
                count: n,
                last_failure_at: 1000,
            };
        }
        assert_eq!(f.reserve(1000), Attempt::Throttled { retry_after: 30 });
        assert_eq!(f.reserve(1029), Attempt::Throttled { retry_after: 1 });
        let Attempt::Allowed(g) = f.reserve(1030) else {
            panic!("allowed after the backoff")
        };
        assert_eq!((g.count, g.last_failure_at), (6, 1030));
        assert_eq!(g.reserve(1031), Attempt::Throttled { retry_after: 59 });
    }

    #[test]
    fn the_stored_time_bound_matches_retry_after() {
        for count in [0, 4, 5, 6, 12] {
            for now in [1000, 1029, 1030, 1089, 1090, 1900, 2000] {
                let f = Failures {
                    count,
                    last_failure_at: 1000,
                };
                assert_eq!(
                    f.retry_after(now).is_none(),
                    f.last_failure_at <= Failures::allowed_if_last_failure_at_most(count, now),
                    "count {count}, now {now}"
                );
            }
        }
    }

    #[test]
    fn a_counter_is_forgotten_a_day_after_its_last_failure() {
        let f = Failures {
            count: 7,
            last_failure_at: 1000,
        };
        assert_eq!(Failures::remembered(Some(f), 1000 + FORGET_AFTER_SECONDS - 1), f);
        assert_eq!(
            Failures::remembered(Some(f), 1000 + FORGET_AFTER_SECONDS),
            Failures::default()
        );
        assert_eq!(Failures::remembered(None, 1000), Failures::default());
    }

    #[test]
    fn retry_after_counts_down() {
        let f = Failures {
            count: 5,
            last_failure_at: 1000,
        };
        assert_eq!(f.retry_after(1000), Some(30));
        assert_eq!(f.retry_after(1029), Some(1));
        assert_eq!(f.retry_after(1030), None);
        assert_eq!(
            Failures {
                count: 4,
                last_failure_at: 1000
            }
            .retry_after(1000),
            None
        );
    }
}
