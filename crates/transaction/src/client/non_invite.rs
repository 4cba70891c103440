//! The non-INVITE client transaction (RFC 3261 §17.1.2, figure 6).
//!
//! Trying → Proceeding on 1xx → Completed on a final response. Timer E
//! retransmits on unreliable transports (T1 doubling up to T2, then T2
//! once a provisional response has arrived); Timer F ends the wait;
//! Timer K absorbs retransmitted final responses.

use std::time::Instant;

use sipjet_message::Message;

use crate::config::TimerConfig;
use crate::machine::{Deadlines, Output, Report, Retransmit, later};
use crate::state::State;

#[derive(Debug)]
enum Phase {
    /// Trying, or Proceeding once a provisional response arrived.
    Waiting {
        proceeding: bool,
        retransmit: Option<Retransmit>,
        timer_f: Instant,
    },
    Completed {
        timer_k: Instant,
    },
    Terminated,
}

/// One non-INVITE client transaction.
#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    request: Message,
    reliable: bool,
    phase: Phase,
}

impl ClientNonInvite {
    /// Sends the request and enters Trying.
    pub(crate) fn start(
        request: Message,
        reliable: bool,
        timers: &TimerConfig,
        now: Instant,
        out: &mut Output,
    ) -> ClientNonInvite {
        out.transmit(request.clone());
        ClientNonInvite {
            request,
            reliable,
            phase: Phase::Waiting {
                proceeding: false,
                retransmit: (!reliable).then(|| Retransmit::first(now, timers.t1)),
                timer_f: later(now, timers.timer_f),
            },
        }
    }

    pub(crate) fn state(&self) -> State {
        match self.phase {
            Phase::Waiting {
                proceeding: false, ..
            } => State::Trying,
            Phase::Waiting {
                proceeding: true, ..
            } => State::Proceeding,
            Phase::Completed { .. } => State::Completed,
            Phase::Terminated => State::Terminated,
        }
    }

    pub(crate) fn deadlines(&self) -> Deadlines {
        match self.phase {
            Phase::Waiting {
                retransmit,
                timer_f,
                ..
            } => [retransmit.map(|r| r.at), Some(timer_f)],
            Phase::Completed { timer_k } => [None, Some(timer_k)],
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
        let Phase::Waiting { proceeding, .. } = &mut self.phase else {
            tracing::trace!(status = code, "response retransmission absorbed");
            return;
        };
        if code < 200 {
            *proceeding = true;
        } else {
            // Timer K is zero on a reliable transport.
            self.phase = if self.reliable {
                Phase::Terminated
            } else {
                Phase::Completed {
                    timer_k: later(now, timers.timer_k),
                }
            };
        }
        out.report(Report::Response(response));
    }

    pub(crate) fn on_timeout(&mut self, timers: &TimerConfig, now: Instant, out: &mut Output) {
        match &mut self.phase {
            Phase::Waiting {
                proceeding,
                retransmit,
                timer_f,
            } => {
                if *timer_f <= now {
                    out.report(Report::Timeout);
                    self.phase = Phase::Terminated;
                } else if let Some(r) = retransmit.filter(|r| r.is_due(now)) {
                    tracing::trace!("Timer E: request retransmitted");
                    out.transmit(self.request.clone());
                    *retransmit = Some(if *proceeding {
                        Retransmit::fixed(now, timers.t2)
                    } else {
                        r.doubled(now, Some(timers.t2))
                    });
                }
            }
            Phase::Completed { timer_k } => {
                if *timer_k <= now {
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
    use sipjet_message::Method;

    fn start(reliable: bool) -> (ClientNonInvite, Output, Instant) {
        let mut out = Output::default();
        let t0 = Instant::now();
        let m = ClientNonInvite::start(
            request(Method::Options, "z9hG4bKcn"),
            reliable,
            &TimerConfig::default(),
            t0,
            &mut out,
        );
        (m, out, t0)
    }

    /// Fires timers until the state changes; returns when each transmit
    /// happened, in milliseconds after t0.
    fn run(m: &mut ClientNonInvite, out: &mut Output, t0: Instant, from: State) -> Vec<u128> {
        let timers = TimerConfig::default();
        let mut sent = Vec::new();
        while m.state() == from {
            let [a, b] = m.deadlines();
            let next = a.into_iter().chain(b).min().unwrap();
            let before = out.transmits.len();
            m.on_timeout(&timers, next, out);
            if out.transmits.len() > before {
                sent.push((next - t0).as_millis());
            }
        }
        sent
    }

    #[test]
    fn timer_e_doubles_to_t2_and_timer_f_ends() {
        let (mut m, mut out, t0) = start(false);
        let sent = run(&mut m, &mut out, t0, State::Trying);
        assert_eq!(
            sent,
            [
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        assert!(matches!(out.reports[..], [Report::Timeout]));
        assert_eq!(m.state(), State::Terminated);
    }

    #[test]
    fn timer_e_runs_at_t2_in_proceeding() {
        let (mut m, mut out, t0) = start(false);
        let timers = TimerConfig::default();
        m.on_timeout(&timers, t0 + ms(500), &mut out);
        m.on_response(reply(&m.request, 100), &timers, t0 + ms(600), &mut out);
        assert_eq!(m.state(), State::Proceeding);
        // The next firing is still on the Trying schedule; from then on T2.
        let sent = run(&mut m, &mut out, t0, State::Proceeding);
        assert_eq!(sent, [1500, 5500, 9500, 13500, 17500, 21500, 25500, 29500]);
        assert!(matches!(
            out.reports[..],
            [Report::Response(_), Report::Timeout]
        ));
    }

    #[test]
    fn final_response_completes_and_retransmissions_are_absorbed() {
        let (mut m, mut out, t0) = start(false);
        let timers = TimerConfig::default();
        let ok = reply(&m.request, 200);
        m.on_response(ok.clone(), &timers, t0 + ms(50), &mut out);
        assert_eq!(m.state(), State::Completed);
        assert_eq!(m.deadlines(), [None, Some(t0 + ms(5050))]);
        m.on_response(ok, &timers, t0 + ms(60), &mut out);
        m.on_response(reply(&m.request, 100), &timers, t0 + ms(70), &mut out);
        assert_eq!(out.reports.len(), 1);
        m.on_timeout(&timers, t0 + ms(5049), &mut out);
        assert_eq!(m.state(), State::Completed);
        m.on_timeout(&timers, t0 + ms(5050), &mut out);
        assert_eq!(m.state(), State::Terminated);
        assert_eq!(out.transmits.len(), 1);
    }

    #[test]
    fn reliable_transport_has_no_timer_e_and_no_timer_k() {
        let (mut m, mut out, t0) = start(true);
        assert_eq!(m.deadlines(), [None, Some(t0 + ms(32_000))]);
        m.on_response(
            reply(&m.request, 404),
            &TimerConfig::default(),
            t0,
            &mut out,
        );
        assert_eq!(m.state(), State::Terminated);
    }
}
