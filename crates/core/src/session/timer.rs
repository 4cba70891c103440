//! Session timers (RFC 4028): a session whose 2xx carried
//! `Session-Expires` must be refreshed (a re-INVITE or UPDATE) within
//! that interval, or it is over. [`SessionTimer`] reads the interval and
//! the refresher from a 2xx, and on a caller's clock says when the
//! session has gone unrefreshed too long (§10: the interval less a third,
//! at most 32 s, before its end), so that whoever keeps the session can
//! end it with a BYE. A refresh restarts it.
//!
//! The values are read from the full header names (`Session-Expires`,
//! `Min-SE`); a message that uses the compact form `x` is read as one
//! without the header.

use std::time::{Duration, Instant};

use sipjet_message::Message;

/// The smallest interval RFC 4028 §4 allows (90 s).
pub const MIN_SE: u32 = 90;

/// Which side refreshes (`refresher=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    /// The side that sent the INVITE.
    Uac,
    /// The side that answered it.
    Uas,
}

/// A `Session-Expires` value: the interval and the refresher, if named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    /// Seconds.
    pub interval: u32,
    /// `refresher=`, if present.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// The first `Session-Expires` of `m`, if it parses: `delta-seconds`
    /// then parameters, `refresher=uac|uas` among them.
    pub fn of(m: &Message) -> Option<SessionExpires> {
        let v = m.headers_named("Session-Expires").next()?;
        let mut parts = v.split(';');
        let interval: u32 = parts.next()?.trim().parse().ok()?;
        if interval == 0 {
            return None;
        }
        let refresher = parts.find_map(|p| {
            let (k, v) = p.split_once('=')?;
            if !k.trim().eq_ignore_ascii_case("refresher") {
                return None;
            }
            match v.trim().to_ascii_lowercase().as_str() {
                "uac" => Some(Refresher::Uac),
                "uas" => Some(Refresher::Uas),
                _ => None,
            }
        });
        Some(SessionExpires {
            interval,
            refresher,
        })
    }
}

/// The timer of one session.
#[derive(Clone, Debug)]
pub struct SessionTimer {
    interval: Duration,
    refresher: Refresher,
    expires_at: Instant,
}

/// How long before the end of the interval an unrefreshed session is
/// given up on (§10): a third of it, at most 32 s.
fn margin(interval: Duration) -> Duration {
    (interval / 3).min(Duration::from_secs(32))
}

impl SessionTimer {
    /// The timer a 2xx sets up at `now`, if it carries `Session-Expires`.
    /// With no refresher named, the UAS refreshes (§9: a UAS that left it
    /// to the UAC names the UAC).
    pub fn from_answer(answer: &Message, now: Instant) -> Option<SessionTimer> {
        let se = SessionExpires::of(answer)?;
        let interval = Duration::from_secs(u64::from(se.interval.max(MIN_SE)));
        Some(SessionTimer {
            interval,
            refresher: se.refresher.unwrap_or(Refresher::Uas),
            expires_at: now + interval - margin(interval),
        })
    }

    /// The negotiated interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Who refreshes.
    pub fn refresher(&self) -> Refresher {
        self.refresher
    }

    /// When the session is over unless refreshed first.
    pub fn poll_timeout(&self) -> Instant {
        self.expires_at
    }

    /// A refresh at `now` (a 2xx to a re-INVITE or UPDATE): the interval
    /// starts again, as the refresh's answer says when it carries one.
    pub fn refreshed(&mut self, answer: &Message, now: Instant) {
        if let Some(next) = SessionTimer::from_answer(answer, now) {
            *self = next;
        } else {
            self.expires_at = now + self.interval - margin(self.interval);
        }
    }

    /// True when, at `now`, the session went unrefreshed too long.
    pub fn is_expired(&self, now: Instant) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(extra: &str) -> Message {
        Message::parse(
            format!(
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
            )
            .into_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn reads_the_interval_and_the_refresher() {
        assert_eq!(
            SessionExpires::of(&ok("Session-Expires: 1800;refresher=uac\r\n")),
            Some(SessionExpires {
                interval: 1800,
                refresher: Some(Refresher::Uac)
            })
        );
        assert_eq!(
            SessionExpires::of(&ok("Session-Expires: 600 ; REFRESHER = UAS\r\n"))
                .unwrap()
                .refresher,
            Some(Refresher::Uas)
        );
        assert_eq!(SessionExpires::of(&ok("Session-Expires: soon\r\n")), None);
        assert_eq!(SessionExpires::of(&ok("Session-Expires: 0\r\n")), None);
        assert_eq!(SessionExpires::of(&ok("")), None);
    }

    #[test]
    fn expires_a_third_before_the_end_unless_refreshed_on_a_fake_clock() {
        let t0 = Instant::now();
        let s = |n| Duration::from_secs(n);
        assert!(SessionTimer::from_answer(&ok(""), t0).is_none());
        let mut t =
            SessionTimer::from_answer(&ok("Session-Expires: 90;refresher=uac\r\n"), t0).unwrap();
        assert_eq!(t.refresher(), Refresher::Uac);
        // 90 s less a third (30 s).
        assert_eq!(t.poll_timeout(), t0 + s(60));
        assert!(!t.is_expired(t0 + s(59)));
        assert!(t.is_expired(t0 + s(60)));
        // A refresh at 50 s starts it again.
        t.refreshed(&ok(""), t0 + s(50));
        assert_eq!(t.poll_timeout(), t0 + s(110));
        // A long interval loses 32 s, not a third; the refresh's answer
        // may change it.
        t.refreshed(&ok("Session-Expires: 1800\r\n"), t0 + s(100));
        assert_eq!(t.interval(), s(1800));
        assert_eq!(t.refresher(), Refresher::Uas);
        assert_eq!(t.poll_timeout(), t0 + s(100 + 1800 - 32));
        // Below the RFC's minimum: the minimum.
        let short = SessionTimer::from_answer(&ok("Session-Expires: 10\r\n"), t0).unwrap();
        assert_eq!(short.interval(), s(90));
    }
}
