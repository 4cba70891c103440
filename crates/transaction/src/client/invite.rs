//! The INVITE client transaction (RFC 3261 §17.1.1, figure 5 as replaced
//! by RFC 6026 §7.2).
//!
//! Calling → Proceeding on 1xx → Completed on 300–699 (the transaction
//! sends the ACK) or Accepted on 2xx (the TU sends the ACK, and every
//! further 2xx, retransmitted or from another fork, goes to the TU until
//! Timer M fires).

use std::time::Instant;

use sipjet_message::Message;

use crate::client::ack::ack_for;
use crate::config::TimerConfig;
use crate::machine::{Deadlines, Output, Report, Retransmit, due, later};
use crate::state::State;

#[derive(Debug)]
enum Phase {
    /// Timer A retransmits (unreliable transports only); Timer B ends.
    Calling {
        retransmit: Option<Retransmit>,
        timer_b: Instant,
    },
    Proceeding,
    /// The ACK has been sent; Timer D bounds the wait for
    /// retransmissions of the final response.
    Completed {
        timer_d: Instant,
    },
    /// RFC 6026: Timer M bounds the wait for further 2xx.
    Accepted {
        timer_m: Instant,
    },
    Terminated,
}

/// One INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientInvite {
    /// Until a final response: what Timer A retransmits and the ACK of a
    /// non-2xx is built from. Dropped then, as nothing needs it while the
    /// transaction waits (Timer D or M, up to 32 s). Boxed, like `ack`,
    /// so that the transaction is small while it waits.
    request: Option<Box<Message>>,
    reliable: bool,
    phase: Phase,
    /// The ACK for the non-2xx final response, kept so that a
    /// retransmitted response gets the same ACK again.
    ack: Option<Box<Message>>,
    /// §9.1: once a CANCEL is sent, the INVITE waits this long for its
    /// final response and then gives up.
    cancel_deadline: Option<Instant>,
}

impl ClientInvite {
    /// Sends the INVITE and enters Calling.
    pub(crate) fn start(
        request: Message,
        reliable: bool,
        timers: &TimerConfig,
        now: Instant,
        out: &mut Output,
    ) -> ClientInvite {
        out.transmit(request.clone());
        ClientInvite {
            request: Some(Box::new(request)),
            reliable,
            phase: Phase::Calling {
                retransmit: (!reliable).then(|| Retransmit::first(now, timers.t1)),
                timer_b: later(now, timers.timer_b),
            },
            ack: None,
            cancel_deadline: None,
        }
    }

    pub(crate) fn state(&self) -> State {
        match self.phase {
            Phase::Calling { .. } => State::Calling,
            Phase::Proceeding => State::Proceeding,
            Phase::Completed { .. } => State::Completed,
            Phase::Accepted { .. } => State::Accepted,
            Phase::Terminated => State::Terminated,
        }
    }

    pub(crate) fn deadlines(&self) -> Deadlines {
        match self.phase {
            Phase::Calling {
                retransmit,
                timer_b,
            } => [
                retransmit.map(|r| r.at),
                Some(self.cancel_deadline.map_or(timer_b, |c| c.min(timer_b))),
            ],
            Phase::Proceeding => [None, self.cancel_deadline],
            Phase::Completed { timer_d } => [None, Some(timer_d)],
            Phase::Accepted { timer_m } => [None, Some(timer_m)],
            Phase::Terminated => [None, None],
        }
    }

    /// A response whose branch and CSeq method matched this transaction.
    pub(crate) fn on_response(
        &mut self,
        response: Message,
        timers: &TimerConfig,
        now: Instant,
        out: &mut Output,
    ) {
        let Some(code) = response.status() else {
            return;
        };
        match (&self.phase, code) {
            (Phase::Calling { .. } | Phase::Proceeding, 100..=199) => {
                self.phase = Phase::Proceeding;
                out.report(Report::Response(response));
            }
            (Phase::Calling { .. } | Phase::Proceeding, 200..=299) => {
                self.request = None;
                self.phase = Phase::Accepted {
                    timer_m: later(now, timers.timer_m),
                };
                out.report(Report::Response(response));
            }
            (Phase::Calling { .. } | Phase::Proceeding, _) => {
                match self
                    .request
                    .take()
                    .map(|request| ack_for(&request, &response))
                {
                    Some(Ok(ack)) => {
                        out.transmit(ack.clone());
                        self.ack = Some(Box::new(ack));
                    }
                    Some(Err(e)) => tracing::warn!(status = code, "no ACK sent: {e}"),
                    None => {}
                }
                out.report(Report::Response(response));
                // Timer D is zero on a reliable transport: no retransmission
                // of the response can arrive.
                self.phase = if self.reliable {
                    Phase::Terminated
                } else {
                    Phase::Completed {
                        timer_d: later(now, timers.timer_d),
                    }
                };
            }
            (Phase::Completed { .. }, 300..=699) => {
                tracing::trace!(status = code, "final response retransmitted; ACK again");
                if let Some(ack) = &self.ack {
                    out.transmit(Message::clone(ack));
                }
            }
            // A 2xx after a non-2xx final is no retransmission: the TU must
            // still acknowledge (and may end) the session it creates.
            (Phase::Completed { .. }, 200..=299) | (Phase::Accepted { .. }, 200..=299) => {
                out.report(Report::Response(response));
            }
            _ => tracing::trace!(status = code, state = %self.state(), "late response absorbed"),
        }
    }

    /// The TU sent a CANCEL for this INVITE (§9.1).
    pub(crate) fn on_cancel_sent(&mut self, timers: &TimerConfig, now: Instant) {
        if matches!(self.phase, Phase::Calling { .. } | Phase::Proceeding)
            && self.cancel_deadline.is_none()
        {
            self.cancel_deadline = Some(later(now, timers.cancel_timeout));
        }
    }

    pub(crate) fn on_timeout(&mut self, now: Instant, out: &mut Output) {
        match &mut self.phase {
            Phase::Calling {
                retransmit,
                timer_b,
            } => {
                if *timer_b <= now || due(self.cancel_deadline, now) {
                    out.report(Report::Timeout);
                    self.phase = Phase::Terminated;
                } else if let Some(r) = retransmit.filter(|r| r.is_due(now)) {
                    tracing::trace!("Timer A: INVITE retransmitted");
                    if let Some(request) = &self.request {
                        out.transmit(Message::clone(request));
                    }
                    *retransmit = Some(r.doubled(now, None));
                }
            }
            Phase::Proceeding => {
                if due(self.cancel_deadline, now) {
                    out.report(Report::Timeout);
                    self.phase = Phase::Terminated;
                }
            }
            Phase::Completed { timer_d: at } | Phase::Accepted { timer_m: at } => {
                if *at <= now {
                    self.phase = Phase::Terminated;
                }
            }
            Phase::Terminated => {}
        }
    }

    pub(crate) fn terminate(&mut self) {
        self.phase = Phase::Terminated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{ms, reply, request};
    use sipjet_message::{HeaderName, Method};

    fn start(reliable: bool) -> (ClientInvite, Output, Instant) {
        let mut out = Output::default();
        let t0 = Instant::now();
        let m = ClientInvite::start(
            request(Method::Invite, "z9hG4bKci"),
            reliable,
            &TimerConfig::default(),
            t0,
            &mut out,
        );
        (m, out, t0)
    }

    #[test]
    fn calling_retransmits_on_timer_a_and_gives_up_on_timer_b() {
        let (mut m, mut out, t0) = start(false);
        assert_eq!(out.transmits.len(), 1);
        let mut sent = vec![0];
        while m.state() == State::Calling {
            let [a, b] = m.deadlines();
            let next = a.into_iter().chain(b).min().unwrap();
            let before = out.transmits.len();
            m.on_timeout(next, &mut out);
            if out.transmits.len() > before {
                sent.push((next - t0).as_millis());
            }
        }
        assert_eq!(sent, [0, 500, 1500, 3500, 7500, 15500, 31500]);
        assert!(matches!(out.reports[..], [Report::Timeout]));
        assert_eq!(m.state(), State::Terminated);
        assert_eq!(m.deadlines(), [None, None]);
    }

    #[test]
    fn reliable_transport_has_no_timer_a() {
        let (m, _, t0) = start(true);
        assert_eq!(m.deadlines(), [None, Some(t0 + ms(32_000))]);
    }

    #[test]
    fn a_timer_that_is_not_due_does_nothing() {
        let (mut m, mut out, t0) = start(false);
        m.on_timeout(t0 + ms(499), &mut out);
        assert_eq!(out.transmits.len(), 1);
        assert_eq!(m.state(), State::Calling);
    }

    #[test]
    fn non_2xx_is_acknowledged_once_and_retransmissions_reuse_the_ack() {
        let (mut m, mut out, t0) = start(false);
        let timers = TimerConfig::default();
        let busy = reply(m.request.as_ref().unwrap(), 486);
        m.on_response(busy.clone(), &timers, t0 + ms(10), &mut out);
        assert_eq!(m.state(), State::Completed);
        assert_eq!(m.deadlines(), [None, Some(t0 + ms(32_010))]);
        assert_eq!(out.transmits.len(), 2);
        let ack = &out.transmits[1];
        assert_eq!(ack.method(), Some(&Method::Ack));
        assert_eq!(
            ack.to_header().unwrap().tag(),
            busy.to_header().unwrap().tag()
        );
        m.on_response(busy, &timers, t0 + ms(20), &mut out);
        assert_eq!(out.transmits.len(), 3);
        assert_eq!(out.transmits[2].to_bytes(), out.transmits[1].to_bytes());
        assert_eq!(out.reports.len(), 1);
        m.on_timeout(t0 + ms(32_010), &mut out);
        assert_eq!(m.state(), State::Terminated);
    }

    #[test]
    fn non_2xx_on_reliable_transport_terminates_at_once() {
        let (mut m, mut out, t0) = start(true);
        m.on_response(
            reply(m.request.as_ref().unwrap(), 603),
            &TimerConfig::default(),
            t0,
            &mut out,
        );
        assert_eq!(m.state(), State::Terminated);
        assert_eq!(out.transmits.len(), 2);
        assert_eq!(out.transmits[1].header(HeaderName::CSeq), Some("1 ACK"));
    }

    #[test]
    fn cancel_bounds_the_wait_in_proceeding() {
        let (mut m, mut out, t0) = start(false);
        let timers = TimerConfig::default();
        m.on_response(
            reply(m.request.as_ref().unwrap(), 180),
            &timers,
            t0 + ms(100),
            &mut out,
        );
        assert_eq!(m.deadlines(), [None, None]);
        m.on_cancel_sent(&timers, t0 + ms(1000));
        m.on_cancel_sent(&timers, t0 + ms(2000));
        assert_eq!(m.deadlines(), [None, Some(t0 + ms(33_000))]);
        m.on_timeout(t0 + ms(33_000), &mut out);
        assert_eq!(m.state(), State::Terminated);
        assert!(matches!(
            out.reports[..],
            [Report::Response(_), Report::Timeout]
        ));
    }
}
