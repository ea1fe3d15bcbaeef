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

impl Failures {
    /// Seconds until another attempt is allowed, or `None` if one is allowed now.
    pub fn retry_after(&self, now: UnixTime) -> Option<i64> {
        let wait = backoff(self.count)?;
        let until = self.last_failure_at + wait;
        (now < until).then_some(until - now)
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
