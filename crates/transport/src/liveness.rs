//! When a connection has outstayed its welcome or owes a keep-alive ping:
//! the clocks that the receive loops of byte streams (`stream`) and of
//! WebSocket (`ws`) both keep, written once.
//!
//! [`Liveness`] is sans-IO: it is told what arrived and when, and answers
//! when to look again and what is due then, so the limits are tested by
//! moving instants rather than by waiting. The loops own the socket;
//! [`within_limits`] waits for their next read against the clocks and
//! does what falls due meanwhile.
//!
//! - idle: nothing received or sent for `idle_timeout`;
//! - first message: an accepted connection must deliver a whole message by
//!   its deadline; pings do not count;
//! - message: a message begun must be complete within `message_timeout`
//!   (byte streams only: a WebSocket message arrives whole);
//! - keep-alive: on connections this side opened, a ping every interval
//!   (RFC 5626 §4.4.1), and a warning when the last one went unanswered.

use std::time::Duration;

use tokio::time::Instant;

use crate::connection::{Closed, Connection, Payload};
use crate::limits::{Limits, deadline};
use crate::shared::Shared;

/// The limit a connection broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expired {
    /// No whole message by the first message deadline.
    FirstMessage,
    /// A message did not complete within `message_timeout`.
    Message,
    /// Nothing received or sent for `idle_timeout`.
    Idle,
}

/// What is due when the loop wakes up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Due {
    /// Close the connection.
    Close(Expired),
    /// Send a keep-alive ping; `unanswered` when the previous ping got no
    /// pong.
    Ping { unanswered: bool },
}

/// The clocks of one connection.
#[derive(Debug)]
pub(crate) struct Liveness {
    idle_timeout: Duration,
    message_timeout: Duration,
    keepalive: Option<Duration>,
    last_received: Instant,
    first_message_by: Option<Instant>,
    /// When the unfinished message at the front of the receive buffer
    /// began.
    message_started: Option<Instant>,
    next_ping: Option<Instant>,
    awaiting_pong: bool,
}

impl Liveness {
    /// The clocks of a connection that starts at `now`; `keepalive` is the
    /// ping interval (none, or zero: no pings), `first_message_by` the
    /// deadline of an accepted connection's first message.
    pub(crate) fn new(
        limits: &Limits,
        keepalive: Option<Duration>,
        first_message_by: Option<Instant>,
        now: Instant,
    ) -> Liveness {
        let keepalive = keepalive.filter(|p| !p.is_zero());
        Liveness {
            idle_timeout: limits.idle_timeout,
            message_timeout: limits.message_timeout,
            keepalive,
            last_received: now,
            first_message_by,
            message_started: None,
            next_ping: keepalive.map(|p| deadline(now, p)),
            awaiting_pong: false,
        }
    }

    /// Something came in at `now`: bytes, or a WebSocket message of any
    /// kind.
    pub(crate) fn received(&mut self, now: Instant) {
        self.last_received = now;
    }

    /// A whole SIP message came in: the first message deadline is met.
    pub(crate) fn message(&mut self) {
        self.first_message_by = None;
    }

    /// A pong came in.
    pub(crate) fn pong(&mut self) {
        self.awaiting_pong = false;
    }

    /// After a byte stream's buffer was framed: `unfinished` when bytes of
    /// a message remain in it, `framed` when anything (message, ping or
    /// pong) was taken from it this time. A peer that keeps completing
    /// messages is not slow even when its reads never end on a message
    /// boundary: the clock restarts with each thing framed.
    pub(crate) fn framed(&mut self, unfinished: bool, framed: bool) {
        self.message_started = match self.message_started {
            _ if !unfinished => None,
            Some(started) if !framed => Some(started),
            _ => Some(self.last_received),
        };
    }

    /// A limit broken at `now` that no traffic can mend: the first message
    /// deadline, or a message too slow. (A connection with traffic is not
    /// idle; that is for [`Liveness::due`].)
    pub(crate) fn overdue(&self, now: Instant) -> Option<Expired> {
        if self.first_message_by.is_some_and(|by| now >= by) {
            return Some(Expired::FirstMessage);
        }
        if self
            .message_started
            .is_some_and(|s| now >= deadline(s, self.message_timeout))
        {
            return Some(Expired::Message);
        }
        None
    }

    /// When to look again: the earliest deadline or ping. `last_sent` is
    /// when this side last wrote, which keeps a connection from being
    /// idle too.
    pub(crate) fn wake(&self, last_sent: Instant) -> Instant {
        let idle = deadline(self.last_received.max(last_sent), self.idle_timeout);
        [
            self.first_message_by,
            self.message_started
                .map(|s| deadline(s, self.message_timeout)),
            self.next_ping,
        ]
        .into_iter()
        .flatten()
        .fold(idle, Instant::min)
    }

    /// What is due at `now`: a limit broken (first message, message, idle,
    /// in that order), else a ping. A ping is taken as sent: the next one
    /// is due an interval after `now`, and a pong is awaited.
    pub(crate) fn due(&mut self, now: Instant, last_sent: Instant) -> Option<Due> {
        if let Some(expired) = self.overdue(now) {
            return Some(Due::Close(expired));
        }
        if now >= deadline(self.last_received.max(last_sent), self.idle_timeout) {
            return Some(Due::Close(Expired::Idle));
        }
        let period = self.keepalive?;
        if self.next_ping.is_some_and(|at| now >= at) {
            self.next_ping = Some(deadline(now, period));
            let unanswered = std::mem::replace(&mut self.awaiting_pong, true);
            return Some(Due::Ping { unanswered });
        }
        None
    }
}

/// Waits for `read` (the next bytes, or the next WebSocket message)
/// within the connection's limits: sends the pings that fall due
/// meanwhile, and gives up with the reason (logged) when a limit is broken
/// first. What `read` brings counts as received.
pub(crate) async fn within_limits<T>(
    read: impl Future<Output = T>,
    liveness: &mut Liveness,
    shared: &Shared,
    conn: &Connection,
) -> Result<T, Closed> {
    let mut read = std::pin::pin!(read);
    loop {
        if let Some(expired) = liveness.overdue(Instant::now()) {
            return Err(close(shared, conn, expired));
        }
        let wake = liveness.wake(conn.last_sent());
        tokio::select! {
            got = &mut read => {
                liveness.received(Instant::now());
                return Ok(got);
            }
            () = tokio::time::sleep_until(wake) => act(liveness, shared, conn).await?,
        }
    }
}

/// Does what is due at wake-up: `Err` with the reason when the
/// connection must close (logged here), a ping when one is due.
async fn act(liveness: &mut Liveness, shared: &Shared, conn: &Connection) -> Result<(), Closed> {
    match liveness.due(Instant::now(), conn.last_sent()) {
        None => Ok(()),
        Some(Due::Close(expired)) => Err(close(shared, conn, expired)),
        Some(Due::Ping { unanswered }) => {
            if unanswered {
                tracing::warn!(peer = %conn.remote, connection = %conn.id,
                    protocol = %conn.protocol, "no keep-alive pong since the last ping");
            }
            conn.send(Payload::Ping, shared.limits.message_timeout)
                .await
                .map_err(Closed::from)
        }
    }
}

/// Logs why the connection closes, naming the limit, and says so.
fn close(shared: &Shared, conn: &Connection, expired: Expired) -> Closed {
    let limits = &shared.limits;
    match expired {
        Expired::FirstMessage => {
            tracing::warn!(peer = %conn.remote, connection = %conn.id,
                limit = "first_message_timeout", value = ?limits.first_message_timeout,
                "closing an accepted connection that sent no message in time");
            Closed::FirstMessageTimeout
        }
        Expired::Message => {
            tracing::warn!(peer = %conn.remote, connection = %conn.id,
                limit = "message_timeout", value = ?limits.message_timeout,
                "closing the connection: a message did not complete in time");
            Closed::MessageTimeout
        }
        Expired::Idle => {
            tracing::info!(peer = %conn.remote, connection = %conn.id,
                limit = "idle_timeout", value = ?limits.idle_timeout,
                "closing an idle connection");
            Closed::Idle
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn limits() -> Limits {
        Limits {
            idle_timeout: ms(1000),
            message_timeout: ms(300),
            ..Limits::default()
        }
    }

    /// Clocks started at `t0`, with no first message deadline and no
    /// pings.
    fn plain(t0: Instant) -> Liveness {
        Liveness::new(&limits(), None, None, t0)
    }

    #[test]
    fn idle_counts_from_the_last_traffic_either_way() {
        let t0 = Instant::now();
        let mut l = plain(t0);
        assert_eq!(l.wake(t0), t0 + ms(1000));
        assert_eq!(l.due(t0 + ms(999), t0), None);
        assert_eq!(l.due(t0 + ms(1000), t0), Some(Due::Close(Expired::Idle)));

        // A write keeps it open as a read does.
        assert_eq!(l.wake(t0 + ms(600)), t0 + ms(1600));
        assert_eq!(l.due(t0 + ms(1000), t0 + ms(600)), None);
        l.received(t0 + ms(900));
        assert_eq!(l.wake(t0 + ms(600)), t0 + ms(1900));
        assert_eq!(l.due(t0 + ms(1899), t0 + ms(600)), None);
        assert_eq!(
            l.due(t0 + ms(1900), t0 + ms(600)),
            Some(Due::Close(Expired::Idle))
        );
    }

    #[test]
    fn a_trickling_message_is_cut_off() {
        let t0 = Instant::now();
        let mut l = plain(t0);
        // Part of a message, then more of it, never the end.
        for at in [0, 100, 200] {
            l.received(t0 + ms(at));
            l.framed(true, false);
            assert_eq!(l.overdue(t0 + ms(at)), None);
        }
        assert_eq!(l.wake(t0 + ms(200)), t0 + ms(300));
        assert_eq!(l.overdue(t0 + ms(299)), None);
        assert_eq!(l.overdue(t0 + ms(300)), Some(Expired::Message));
        assert_eq!(l.due(t0 + ms(300), t0), Some(Due::Close(Expired::Message)));
    }

    #[test]
    fn a_busy_peer_is_not_mistaken_for_a_trickling_one() {
        let t0 = Instant::now();
        let mut l = plain(t0);
        // Every read ends halfway through a message, for far longer than
        // the message timeout, but every read also completes one.
        l.received(t0);
        l.framed(true, false);
        for i in 1..20 {
            let at = t0 + ms(200 * i);
            assert_eq!(l.overdue(at), None, "read {i}");
            l.received(at);
            l.framed(true, true);
            assert_eq!(l.wake(at), at + ms(300));
        }
        // The stream ends on a boundary: no message is under way.
        l.received(t0 + ms(4000));
        l.framed(false, true);
        assert_eq!(l.overdue(t0 + ms(4400)), None);
        assert_eq!(l.wake(t0 + ms(4000)), t0 + ms(5000));
    }

    #[test]
    fn the_first_message_deadline_is_met_by_a_message_only() {
        let t0 = Instant::now();
        let by = t0 + ms(500);
        let mut l = Liveness::new(&limits(), None, Some(by), t0);
        assert_eq!(l.wake(t0), by);
        // Pings and pongs are traffic, not messages.
        l.received(t0 + ms(400));
        l.framed(false, true);
        assert_eq!(l.overdue(by), Some(Expired::FirstMessage));
        assert_eq!(l.due(by, t0), Some(Due::Close(Expired::FirstMessage)));

        let mut l = Liveness::new(&limits(), None, Some(by), t0);
        l.received(t0 + ms(400));
        l.message();
        l.framed(false, true);
        assert_eq!(l.overdue(by), None);
        assert_eq!(l.due(by, t0), None);
        assert_eq!(l.wake(t0), t0 + ms(1400));
    }

    #[test]
    fn pings_are_due_each_interval_and_a_missing_pong_is_noticed() {
        let t0 = Instant::now();
        let mut l = Liveness::new(&limits(), Some(ms(100)), None, t0);
        assert_eq!(l.wake(t0), t0 + ms(100));
        assert_eq!(l.due(t0 + ms(99), t0), None);
        assert_eq!(
            l.due(t0 + ms(100), t0),
            Some(Due::Ping { unanswered: false })
        );
        // Taken as sent: the next one an interval later.
        assert_eq!(l.due(t0 + ms(100), t0 + ms(100)), None);
        assert_eq!(l.wake(t0 + ms(100)), t0 + ms(200));
        assert_eq!(
            l.due(t0 + ms(200), t0 + ms(100)),
            Some(Due::Ping { unanswered: true })
        );
        l.pong();
        // Late: the next ping is an interval after this one.
        assert_eq!(
            l.due(t0 + ms(350), t0 + ms(200)),
            Some(Due::Ping { unanswered: false })
        );
        assert_eq!(l.wake(t0 + ms(350)), t0 + ms(450));
    }

    #[test]
    fn no_pings_without_an_interval() {
        let t0 = Instant::now();
        for keepalive in [None, Some(Duration::ZERO)] {
            let mut l = Liveness::new(&limits(), keepalive, None, t0);
            assert_eq!(l.wake(t0), t0 + ms(1000));
            assert_eq!(l.due(t0 + ms(999), t0), None);
        }
    }

    #[test]
    fn a_broken_limit_comes_before_a_ping() {
        let t0 = Instant::now();
        let mut l = Liveness::new(&limits(), Some(ms(1000)), None, t0);
        assert_eq!(l.due(t0 + ms(1000), t0), Some(Due::Close(Expired::Idle)));
    }

    #[test]
    fn extreme_durations_do_not_overflow() {
        let t0 = Instant::now();
        let huge = Limits {
            idle_timeout: Duration::MAX,
            message_timeout: Duration::MAX,
            ..Limits::default()
        };
        let mut l = Liveness::new(&huge, Some(Duration::MAX), None, t0);
        l.framed(true, false);
        assert!(l.wake(t0) > t0 + Duration::from_secs(86_400));
        assert_eq!(l.due(t0 + Duration::from_secs(86_400), t0), None);
    }
}
