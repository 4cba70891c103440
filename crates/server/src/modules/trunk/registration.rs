//! One outbound registration's life, sans-IO: when to send the next
//! REGISTER and what each answer means, as Asterisk's outbound
//! registration documents it. The runner ([`super::registrations`]) sends
//! and waits; this decides, from the outcome and `now`, so that every
//! timer is tested on a fake clock.
//!
//! - A 2xx registers: the next REGISTER refreshes before the granted
//!   expiry runs out.
//! - A temporary failure (no answer, a transport error, 408, 500, 502,
//!   503, 504) retries after `retry_interval` (or the `Retry-After` of a
//!   500 or 503), at most `max_retries` times in a row.
//! - 403 stops the registration (RFC 3261 §10.2 says not to retry it)
//!   unless `forbidden_retry_interval` is set: then it retries that often,
//!   counted against `max_retries`.
//! - Credentials the registrar refuses (its 401 or 407 to an answered
//!   challenge) stop it when `auth_rejection_permanent` (the default),
//!   else count as a temporary failure.
//! - 423 asks again at once with the registrar's `Min-Expires`.
//! - Any other final refusal stops it unless `fatal_retry_interval` is
//!   set.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// What the runner learnt from one REGISTER.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A final response. `expires` is what a 2xx granted our contact,
    /// `min_expires` and `retry_after` the headers of a 423, 500 or 503.
    Response {
        /// The status code.
        status: u16,
        /// Seconds granted (2xx).
        expires: Option<u32>,
        /// `Min-Expires` (423).
        min_expires: Option<u32>,
        /// `Retry-After` (500, 503).
        retry_after: Option<u32>,
    },
    /// A 401 or 407 that was not answered: the credentials were refused,
    /// or none fit.
    AuthRefused {
        /// 401 or 407.
        status: u16,
    },
    /// No final response: a timeout or a transport failure.
    NoAnswer,
}

/// Where a registration stands, in Asterisk's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Not (or no longer) registered; a REGISTER is due or on its way.
    Unregistered,
    /// Registered; a refresh is scheduled.
    Registered,
    /// Stopped for good: refused, or out of retries.
    Rejected,
}

/// The options of a `type=registration` section that decide retries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `expiration`.
    pub expiration: u32,
    /// `retry_interval`.
    pub retry_interval: Duration,
    /// `forbidden_retry_interval` (zero: a 403 is final).
    pub forbidden_retry_interval: Duration,
    /// `fatal_retry_interval` (zero: other refusals are final).
    pub fatal_retry_interval: Duration,
    /// `auth_rejection_permanent`.
    pub auth_rejection_permanent: bool,
    /// `max_retries`.
    pub max_retries: u32,
}

/// What the runner should log about an outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Registered for this long.
    Registered(Duration),
    /// Failed; the next attempt is in this long (retry `n` of the most).
    Retry {
        /// Why.
        reason: String,
        /// When.
        after: Duration,
        /// Which retry this is.
        retry: u32,
    },
    /// Stopped for good.
    Rejected(String),
}

/// Seconds before expiry that a refresh is sent (Asterisk's buffer).
const REFRESH_BUFFER: u32 = 10;

/// When to refresh a binding granted for `expires` seconds: ten seconds
/// ahead, or halfway for a short one, so that a slow answer still lands
/// before the binding is gone.
pub fn refresh_after(expires: u32) -> Duration {
    let secs = if expires > 2 * REFRESH_BUFFER {
        expires - REFRESH_BUFFER
    } else {
        expires / 2
    };
    Duration::from_secs(u64::from(secs.max(1)))
}

/// One registration's state.
#[derive(Clone, Debug)]
pub struct Registration {
    policy: Policy,
    state: State,
    /// The Expires asked for (raised by a 423).
    expiration: u32,
    retries: u32,
    in_flight: bool,
    next: Option<Instant>,
    expires_at: Option<Instant>,
    last_status: Option<u16>,
    last_reason: Option<String>,
}

impl Registration {
    /// A registration whose first REGISTER is due at `now + delay`.
    pub fn new(policy: Policy, now: Instant, delay: Duration) -> Registration {
        Registration {
            expiration: policy.expiration,
            policy,
            state: State::Unregistered,
            retries: 0,
            in_flight: false,
            next: Some(now + delay),
            expires_at: None,
            last_status: None,
            last_reason: None,
        }
    }

    /// Where it stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// The Expires the next REGISTER asks for.
    pub fn expiration(&self) -> u32 {
        self.expiration
    }

    /// When the next REGISTER is due (none while one is on its way, or
    /// once rejected).
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.in_flight { None } else { self.next }
    }

    /// When the current binding runs out, while registered.
    pub fn expires_at(&self) -> Option<Instant> {
        self.expires_at
    }

    /// The status code of the last final response, if any.
    pub fn last_status(&self) -> Option<u16> {
        self.last_status
    }

    /// Why the last attempt failed, if it did.
    pub fn last_reason(&self) -> Option<&str> {
        self.last_reason.as_deref()
    }

    /// Consecutive failed attempts.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// True when a REGISTER is due at `now`.
    pub fn is_due(&self, now: Instant) -> bool {
        self.next_deadline().is_some_and(|t| t <= now)
    }

    /// A REGISTER leaves now.
    pub fn sending(&mut self) {
        self.in_flight = true;
    }

    /// The REGISTER's outcome, at `now`.
    pub fn on_outcome(&mut self, now: Instant, outcome: Outcome) -> Verdict {
        self.in_flight = false;
        if let Outcome::Response { status, .. } | Outcome::AuthRefused { status } = outcome {
            self.last_status = Some(status);
        }
        if self.state == State::Registered && self.expires_at.is_some_and(|t| t <= now) {
            self.state = State::Unregistered;
            self.expires_at = None;
        }
        match outcome {
            Outcome::Response {
                status: 200..=299,
                expires,
                ..
            } => {
                let granted = expires.unwrap_or(self.expiration);
                if granted == 0 {
                    self.temporary(
                        now,
                        "the registrar kept no binding (expires 0)".into(),
                        None,
                    )
                } else {
                    self.state = State::Registered;
                    self.retries = 0;
                    self.last_reason = None;
                    let granted_for = Duration::from_secs(u64::from(granted));
                    self.expires_at = Some(now + granted_for);
                    self.next = Some(now + refresh_after(granted));
                    Verdict::Registered(granted_for)
                }
            }
            Outcome::Response {
                status: 423,
                min_expires: Some(min),
                ..
            } if min > self.expiration => {
                self.expiration = min;
                self.next = Some(now);
                Verdict::Retry {
                    reason: format!("423: the registrar wants at least {min} s"),
                    after: Duration::ZERO,
                    retry: self.retries,
                }
            }
            Outcome::Response {
                status: status @ (408 | 500 | 502 | 503 | 504),
                retry_after,
                ..
            } => {
                let after = retry_after
                    .filter(|_| matches!(status, 500 | 503))
                    .map(|s| Duration::from_secs(u64::from(s)));
                self.temporary(now, format!("{status} from the registrar"), after)
            }
            Outcome::NoAnswer => self.temporary(now, "no answer from the registrar".into(), None),
            Outcome::Response { status: 403, .. } => {
                let every = self.policy.forbidden_retry_interval;
                self.refused(now, "403 Forbidden".into(), every)
            }
            Outcome::AuthRefused { status } => {
                let reason = format!("{status}: the registrar refused the credentials");
                if self.policy.auth_rejection_permanent {
                    self.refused(now, reason, Duration::ZERO)
                } else {
                    self.temporary(now, reason, None)
                }
            }
            Outcome::Response { status, .. } => {
                let every = self.policy.fatal_retry_interval;
                self.refused(now, format!("{status} from the registrar"), every)
            }
        }
    }

    /// A failure worth retrying at `retry_interval` (or `after`).
    fn temporary(&mut self, now: Instant, reason: String, after: Option<Duration>) -> Verdict {
        let after = after.unwrap_or(self.policy.retry_interval);
        self.retry(now, reason, after)
    }

    /// A refusal: retried every `every`, or final when that is zero.
    fn refused(&mut self, now: Instant, reason: String, every: Duration) -> Verdict {
        if every.is_zero() {
            return self.reject(reason);
        }
        self.retry(now, reason, every)
    }

    fn retry(&mut self, now: Instant, reason: String, after: Duration) -> Verdict {
        self.retries += 1;
        if self.retries > self.policy.max_retries {
            return self.reject(format!(
                "{reason}; giving up after {} retries",
                self.policy.max_retries
            ));
        }
        // A binding that has not expired yet still holds (on_outcome
        // demotes one that has): it shows as registered until then.
        if self.state != State::Registered {
            self.state = State::Unregistered;
        }
        self.next = Some(now + after);
        self.last_reason = Some(reason.clone());
        Verdict::Retry {
            reason,
            after,
            retry: self.retries,
        }
    }

    fn reject(&mut self, reason: String) -> Verdict {
        self.state = State::Rejected;
        self.next = None;
        self.expires_at = None;
        self.last_reason = Some(reason.clone());
        Verdict::Rejected(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy {
            expiration: 3600,
            retry_interval: Duration::from_secs(60),
            forbidden_retry_interval: Duration::ZERO,
            fatal_retry_interval: Duration::ZERO,
            auth_rejection_permanent: true,
            max_retries: 3,
        }
    }

    fn ok(expires: u32) -> Outcome {
        Outcome::Response {
            status: 200,
            expires: Some(expires),
            min_expires: None,
            retry_after: None,
        }
    }

    fn status(status: u16) -> Outcome {
        Outcome::Response {
            status,
            expires: None,
            min_expires: None,
            retry_after: None,
        }
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn first_register_waits_for_the_initial_delay() {
        let t0 = Instant::now();
        let r = Registration::new(policy(), t0, S(3));
        assert!(!r.is_due(t0));
        assert!(!r.is_due(t0 + S(2)));
        assert!(r.is_due(t0 + S(3)));
        assert_eq!(r.state(), State::Unregistered);
    }

    #[test]
    fn registered_and_refreshed_before_expiry() {
        let t0 = Instant::now();
        let mut r = Registration::new(policy(), t0, S(0));
        r.sending();
        assert_eq!(r.next_deadline(), None, "nothing is due while one is out");
        assert_eq!(r.on_outcome(t0, ok(600)), Verdict::Registered(S(600)));
        assert_eq!(r.state(), State::Registered);
        assert_eq!(r.expires_at(), Some(t0 + S(600)));
        assert_eq!(r.next_deadline(), Some(t0 + S(590)));
        assert!(!r.is_due(t0 + S(589)));
        assert!(r.is_due(t0 + S(590)));
        // A short grant is refreshed halfway.
        r.sending();
        assert_eq!(
            r.on_outcome(t0 + S(590), ok(16)),
            Verdict::Registered(S(16))
        );
        assert_eq!(r.next_deadline(), Some(t0 + S(598)));
        assert_eq!(refresh_after(1), S(1));
        assert_eq!(refresh_after(0), S(1));
        assert_eq!(refresh_after(21), S(11));
    }

    #[test]
    fn temporary_failures_retry_until_max_retries() {
        let t0 = Instant::now();
        let mut r = Registration::new(policy(), t0, S(0));
        let mut now = t0;
        for n in 1..=3 {
            r.sending();
            let v = r.on_outcome(
                now,
                if n == 2 {
                    status(503)
                } else {
                    Outcome::NoAnswer
                },
            );
            assert!(
                matches!(v, Verdict::Retry { retry, after, .. } if retry == n && after == S(60)),
                "{v:?}"
            );
            assert_eq!(r.next_deadline(), Some(now + S(60)));
            now += S(60);
        }
        r.sending();
        assert!(matches!(
            r.on_outcome(now, status(504)),
            Verdict::Rejected(_)
        ));
        assert_eq!(r.state(), State::Rejected);
        assert_eq!(r.next_deadline(), None);
        assert!(!r.is_due(now + S(100_000)));
    }

    #[test]
    fn success_resets_the_retry_count() {
        let t0 = Instant::now();
        let mut r = Registration::new(policy(), t0, S(0));
        for _ in 0..3 {
            r.sending();
            r.on_outcome(t0, status(408));
        }
        r.sending();
        r.on_outcome(t0, ok(3600));
        assert_eq!(r.retries(), 0);
        r.sending();
        assert!(matches!(
            r.on_outcome(t0, status(500)),
            Verdict::Retry { retry: 1, .. }
        ));
    }

    #[test]
    fn retry_after_of_503_is_honoured() {
        let t0 = Instant::now();
        let mut r = Registration::new(policy(), t0, S(0));
        r.sending();
        r.on_outcome(
            t0,
            Outcome::Response {
                status: 503,
                expires: None,
                min_expires: None,
                retry_after: Some(7),
            },
        );
        assert_eq!(r.next_deadline(), Some(t0 + S(7)));
    }

    #[test]
    fn forbidden_is_final_unless_forbidden_retry_interval() {
        let t0 = Instant::now();
        let mut r = Registration::new(policy(), t0, S(0));
        r.sending();
        assert_eq!(
            r.on_outcome(t0, status(403)),
            Verdict::Rejected("403 Forbidden".into())
        );
        let mut r = Registration::new(
            Policy {
                forbidden_retry_interval: S(5),
                ..policy()
            },
            t0,
            S(0),
        );
        let mut now = t0;
        for n in 1..=3 {
            r.sending();
            assert!(matches!(
                r.on_outcome(now, status(403)),
                Verdict::Retry { after, retry, .. } if after == S(5) && retry == n
            ));
            assert_eq!(r.next_deadline(), Some(now + S(5)));
            now += S(5);
        }
        r.sending();
        assert!(matches!(
            r.on_outcome(now, status(403)),
            Verdict::Rejected(_)
        ));
    }

    #[test]
    fn refused_credentials_follow_auth_rejection_permanent() {
        let t0 = Instant::now();
        let mut r = Registration::new(policy(), t0, S(0));
        r.sending();
        assert!(matches!(
            r.on_outcome(t0, Outcome::AuthRefused { status: 401 }),
            Verdict::Rejected(_)
        ));
        assert_eq!(r.last_status(), Some(401));
        let mut r = Registration::new(
            Policy {
                auth_rejection_permanent: false,
                ..policy()
            },
            t0,
            S(0),
        );
        r.sending();
        assert!(matches!(
            r.on_outcome(t0, Outcome::AuthRefused { status: 407 }),
            Verdict::Retry { after, .. } if after == S(60)
        ));
    }

    #[test]
    fn interval_too_brief_asks_again_with_min_expires() {
        let t0 = Instant::now();
        let mut r = Registration::new(
            Policy {
                expiration: 60,
                ..policy()
            },
            t0,
            S(0),
        );
        r.sending();
        let brief = Outcome::Response {
            status: 423,
            expires: None,
            min_expires: Some(300),
            retry_after: None,
        };
        assert!(matches!(
            r.on_outcome(t0, brief.clone()),
            Verdict::Retry { .. }
        ));
        assert_eq!(r.expiration(), 300);
        assert!(r.is_due(t0));
        // Asking for no less than it wants and still hearing 423 is final.
        r.sending();
        assert!(matches!(r.on_outcome(t0, brief), Verdict::Rejected(_)));
    }

    #[test]
    fn other_refusals_follow_fatal_retry_interval() {
        let t0 = Instant::now();
        let mut r = Registration::new(policy(), t0, S(0));
        r.sending();
        assert!(matches!(
            r.on_outcome(t0, status(404)),
            Verdict::Rejected(_)
        ));
        let mut r = Registration::new(
            Policy {
                fatal_retry_interval: S(30),
                ..policy()
            },
            t0,
            S(0),
        );
        r.sending();
        r.on_outcome(t0, status(404));
        assert_eq!(r.next_deadline(), Some(t0 + S(30)));
    }

    #[test]
    fn a_failed_refresh_keeps_the_binding_until_it_expires() {
        let t0 = Instant::now();
        let mut r = Registration::new(policy(), t0, S(0));
        r.sending();
        r.on_outcome(t0, ok(100));
        r.sending();
        r.on_outcome(t0 + S(90), Outcome::NoAnswer);
        assert_eq!(
            r.state(),
            State::Registered,
            "the binding lasts until t0+100"
        );
        assert_eq!(r.next_deadline(), Some(t0 + S(150)));
        r.sending();
        r.on_outcome(t0 + S(150), Outcome::NoAnswer);
        assert_eq!(r.state(), State::Unregistered);
        assert_eq!(r.expires_at(), None);
    }

    #[test]
    fn a_grant_of_zero_is_no_registration() {
        let t0 = Instant::now();
        let mut r = Registration::new(policy(), t0, S(0));
        r.sending();
        assert!(matches!(r.on_outcome(t0, ok(0)), Verdict::Retry { .. }));
        assert_eq!(r.state(), State::Unregistered);
    }
}
