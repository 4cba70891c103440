//! The timer values of RFC 3261 §17 (Table 4 of Appendix A) and of
//! RFC 6026 §8.

use std::time::Duration;

/// Longest value any timer is allowed to take. Longer values are cut to
/// this, so that adding a timer to `now` never overflows an `Instant`.
pub(crate) const MAX_TIMER: Duration = Duration::from_secs(24 * 60 * 60);

/// Every timer of the transaction layer.
///
/// [`TimerConfig::default`] holds the values RFC 3261 recommends for the
/// public Internet; [`TimerConfig::with_t1`] derives the `64*T1` timers
/// from another T1 (a private network with a known round-trip time, or a
/// test that wants short timers).
///
/// ```
/// use std::time::Duration;
/// use sipjet_transaction::TimerConfig;
///
/// let lan = TimerConfig::with_t1(Duration::from_millis(100));
/// assert_eq!(lan.timer_b, Duration::from_millis(6400));
/// assert_eq!(lan.t2, Duration::from_secs(4));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate; the first retransmission interval (500 ms).
    pub t1: Duration,
    /// Cap of the retransmission interval of non-INVITE requests and of
    /// INVITE final responses (4 s).
    pub t2: Duration,
    /// Longest time a message stays in the network (5 s).
    pub t4: Duration,
    /// INVITE client transaction timeout in Calling (64*T1).
    pub timer_b: Duration,
    /// Wait for final-response retransmissions after the ACK is sent,
    /// unreliable transports only (32 s).
    pub timer_d: Duration,
    /// Non-INVITE client transaction timeout (64*T1).
    pub timer_f: Duration,
    /// Wait for the ACK to a non-2xx final response (64*T1).
    pub timer_h: Duration,
    /// Wait for ACK retransmissions in Confirmed, unreliable only (T4).
    pub timer_i: Duration,
    /// Wait for non-INVITE request retransmissions, unreliable only (64*T1).
    pub timer_j: Duration,
    /// Wait for non-INVITE response retransmissions, unreliable only (T4).
    pub timer_k: Duration,
    /// INVITE server transaction in Accepted: how long 2xx-related
    /// retransmissions are absorbed (64*T1, RFC 6026).
    pub timer_l: Duration,
    /// INVITE client transaction in Accepted: how long further 2xx are
    /// passed to the TU (64*T1, RFC 6026).
    pub timer_m: Duration,
    /// After a CANCEL is sent for an INVITE that has no final response,
    /// how long the INVITE client transaction waits for one before it
    /// gives up (64*T1, RFC 3261 §9.1).
    pub cancel_timeout: Duration,
    /// An INVITE server transaction sends `100 Trying` itself when the TU
    /// has not answered within this (200 ms, §17.2.1); zero sends it as
    /// soon as the INVITE arrives.
    pub trying_delay: Duration,
}

impl TimerConfig {
    /// The recommended values with another T1: every `64*T1` timer is
    /// derived from it; T2, T4 and the timers based on them keep their
    /// defaults.
    pub fn with_t1(t1: Duration) -> Self {
        let t4 = Duration::from_secs(5);
        let long = t1.saturating_mul(64);
        TimerConfig {
            t1,
            t2: Duration::from_secs(4),
            t4,
            timer_b: long,
            timer_d: Duration::from_secs(32),
            timer_f: long,
            timer_h: long,
            timer_i: t4,
            timer_j: long,
            timer_k: t4,
            timer_l: long,
            timer_m: long,
            cancel_timeout: long,
            trying_delay: Duration::from_millis(200),
        }
    }

    /// The same values, each cut to [`MAX_TIMER`]; T1 and T2 are at least
    /// a millisecond, so that a retransmission timer always moves forward.
    pub(crate) fn bounded(self) -> Self {
        let b = |d: Duration| d.min(MAX_TIMER);
        let interval = |d: Duration| d.clamp(Duration::from_millis(1), MAX_TIMER);
        TimerConfig {
            t1: interval(self.t1),
            t2: interval(self.t2),
            t4: b(self.t4),
            timer_b: b(self.timer_b),
            timer_d: b(self.timer_d),
            timer_f: b(self.timer_f),
            timer_h: b(self.timer_h),
            timer_i: b(self.timer_i),
            timer_j: b(self.timer_j),
            timer_k: b(self.timer_k),
            timer_l: b(self.timer_l),
            timer_m: b(self.timer_m),
            cancel_timeout: b(self.cancel_timeout),
            trying_delay: b(self.trying_delay),
        }
    }
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig::with_t1(Duration::from_millis(500))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_those_of_rfc3261() {
        let t = TimerConfig::default();
        assert_eq!(t.t1, Duration::from_millis(500));
        assert_eq!(t.t2, Duration::from_secs(4));
        assert_eq!(t.t4, Duration::from_secs(5));
        for long in [
            t.timer_b,
            t.timer_f,
            t.timer_h,
            t.timer_j,
            t.timer_l,
            t.timer_m,
            t.cancel_timeout,
        ] {
            assert_eq!(long, Duration::from_secs(32));
        }
        assert_eq!(t.timer_d, Duration::from_secs(32));
        assert_eq!((t.timer_i, t.timer_k), (t.t4, t.t4));
        assert_eq!(t.trying_delay, Duration::from_millis(200));
    }

    #[test]
    fn bounded_cuts_absurd_values() {
        let t = TimerConfig::with_t1(Duration::MAX).bounded();
        assert_eq!(t.t1, MAX_TIMER);
        assert_eq!(t.timer_b, MAX_TIMER);
        assert_eq!(t.t2, Duration::from_secs(4));
        let t = TimerConfig::with_t1(Duration::ZERO).bounded();
        assert_eq!(t.t1, Duration::from_millis(1));
        assert_eq!(t.timer_b, Duration::ZERO);
    }
}
