//! What the four state machines share: the outputs one step produces, the
//! retransmission schedule, and the enum that dispatches to the machine of
//! each kind.
//!
//! A machine never reads a clock and never sends: each step takes `now`
//! and writes messages to transmit and reports for the TU into an
//! [`Output`]; its pending deadlines are read back with
//! [`Machine::deadlines`]. The deadlines live inside each machine's state,
//! so a state that has no timer cannot keep a stale one.

use std::time::{Duration, Instant};

use sipjet_message::Message;

use crate::client::invite::ClientInvite;
use crate::client::non_invite::ClientNonInvite;
use crate::config::{MAX_TIMER, TimerConfig};
use crate::server::invite::ServerInvite;
use crate::server::non_invite::ServerNonInvite;
use crate::state::{Kind, State};

/// What a machine tells the transaction user after one step.
#[derive(Debug)]
pub(crate) enum Report {
    /// A response for the TU (client transactions).
    Response(Message),
    /// Timer B, F or H fired, or a cancelled INVITE got no final response.
    Timeout,
    /// The transport failed for this transaction.
    TransportError,
}

/// The messages to transmit and the reports one step produced, in order.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) transmits: Vec<Message>,
    pub(crate) reports: Vec<Report>,
}

impl Output {
    pub(crate) fn transmit(&mut self, message: Message) {
        self.transmits.push(message);
    }

    pub(crate) fn report(&mut self, report: Report) {
        self.reports.push(report);
    }
}

/// The pending deadlines of one machine. Slot 0 holds the timer that
/// sends something (A, E, G, the 100 Trying delay), slot 1 the timer that
/// ends a state (B, D, F, H, I, J, K, L, M, the CANCEL wait); no state of
/// any machine runs more than one of each.
pub(crate) type Deadlines = [Option<Instant>; 2];

/// `now + d`, which cannot overflow for the bounded timer values of
/// [`TimerConfig`]; should a caller hand in an `Instant` near the end of
/// time, the deadline is `now` rather than a panic.
pub(crate) fn later(now: Instant, d: Duration) -> Instant {
    now.checked_add(d).unwrap_or(now)
}

/// A retransmission timer (A, E, G): when it fires next and the interval
/// that brought it there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Retransmit {
    pub(crate) at: Instant,
    interval: Duration,
}

impl Retransmit {
    /// The first interval is T1 (§17.1.1.2, §17.1.2.2, §17.2.1).
    pub(crate) fn first(now: Instant, t1: Duration) -> Retransmit {
        Retransmit {
            at: later(now, t1),
            interval: t1,
        }
    }

    /// The interval doubles, up to `cap` when there is one (T2 for E and
    /// G; Timer A has none, Timer B ends it).
    pub(crate) fn doubled(self, now: Instant, cap: Option<Duration>) -> Retransmit {
        let mut interval = self.interval.saturating_mul(2).min(MAX_TIMER);
        if let Some(cap) = cap {
            interval = interval.min(cap);
        }
        Retransmit {
            at: later(now, interval),
            interval,
        }
    }

    /// A fixed interval from now on (Timer E in Proceeding: T2).
    pub(crate) fn fixed(now: Instant, interval: Duration) -> Retransmit {
        Retransmit {
            at: later(now, interval),
            interval,
        }
    }

    pub(crate) fn is_due(&self, now: Instant) -> bool {
        self.at <= now
    }
}

/// True when an optional deadline has passed.
pub(crate) fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|at| at <= now)
}

/// One transaction's state machine.
///
/// The machines that keep a request are boxed, so that the most numerous
/// one, a completed non-INVITE server transaction held for Timer J (a
/// REGISTER answered over UDP, tens of thousands at a time), takes only
/// its own few bytes.
#[derive(Debug)]
#[expect(
    clippy::enum_variant_names,
    reason = "one variant per Kind, named alike"
)]
pub(crate) enum Machine {
    ClientInvite(Box<ClientInvite>),
    ClientNonInvite(Box<ClientNonInvite>),
    ServerInvite(Box<ServerInvite>),
    ServerNonInvite(ServerNonInvite),
}

impl Machine {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Machine::ClientInvite(_) => Kind::ClientInvite,
            Machine::ClientNonInvite(_) => Kind::ClientNonInvite,
            Machine::ServerInvite(_) => Kind::ServerInvite,
            Machine::ServerNonInvite(_) => Kind::ServerNonInvite,
        }
    }

    pub(crate) fn state(&self) -> State {
        match self {
            Machine::ClientInvite(m) => m.state(),
            Machine::ClientNonInvite(m) => m.state(),
            Machine::ServerInvite(m) => m.state(),
            Machine::ServerNonInvite(m) => m.state(),
        }
    }

    pub(crate) fn deadlines(&self) -> Deadlines {
        match self {
            Machine::ClientInvite(m) => m.deadlines(),
            Machine::ClientNonInvite(m) => m.deadlines(),
            Machine::ServerInvite(m) => m.deadlines(),
            Machine::ServerNonInvite(m) => m.deadlines(),
        }
    }

    /// Fires every timer of the machine that is due at `now`.
    pub(crate) fn on_timeout(&mut self, timers: &TimerConfig, now: Instant, out: &mut Output) {
        match self {
            Machine::ClientInvite(m) => m.on_timeout(now, out),
            Machine::ClientNonInvite(m) => m.on_timeout(timers, now, out),
            Machine::ServerInvite(m) => m.on_timeout(timers, now, out),
            Machine::ServerNonInvite(m) => m.on_timeout(now),
        }
    }

    /// §17.1.4 and §17.2.4: a transport failure ends the transaction.
    pub(crate) fn on_transport_error(&mut self, out: &mut Output) {
        if self.state() == State::Terminated {
            return;
        }
        out.report(Report::TransportError);
        self.terminate();
    }

    /// Ends the transaction at once, whatever its state.
    pub(crate) fn terminate(&mut self) {
        match self {
            Machine::ClientInvite(m) => m.terminate(),
            Machine::ClientNonInvite(m) => m.terminate(),
            Machine::ServerInvite(m) => m.terminate(),
            Machine::ServerNonInvite(m) => m.terminate(),
        }
    }

    /// For a completed non-INVITE server transaction: Timer J's deadline
    /// and the final response as sent.
    pub(crate) fn completed_non_invite(&self) -> Option<(Instant, &bytes::Bytes)> {
        match self {
            Machine::ServerNonInvite(m) => m.completed(),
            _ => None,
        }
    }

    pub(crate) fn is_terminated(&self) -> bool {
        self.state() == State::Terminated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retransmit_intervals_double_and_cap() {
        let t0 = Instant::now();
        let t1 = Duration::from_millis(500);
        let t2 = Duration::from_secs(4);
        let mut r = Retransmit::first(t0, t1);
        let mut at = Vec::new();
        for _ in 0..6 {
            at.push(r.at - t0);
            r = r.doubled(r.at, Some(t2));
        }
        let ms: Vec<u128> = at.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1500, 3500, 7500, 11500, 15500]);

        let mut r = Retransmit::first(t0, t1);
        for _ in 0..5 {
            r = r.doubled(r.at, None);
        }
        assert_eq!((r.at - t0).as_millis(), 31500);
        assert!(r.is_due(r.at) && !r.is_due(r.at - Duration::from_millis(1)));
    }

    #[test]
    fn intervals_never_overflow() {
        let t0 = Instant::now();
        let mut r = Retransmit::first(t0, MAX_TIMER);
        for _ in 0..100 {
            r = r.doubled(t0, None);
        }
        assert_eq!(r.at, t0 + MAX_TIMER);
        assert!(due(Some(t0), t0));
        assert!(!due(None, t0));
    }
}
