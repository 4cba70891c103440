//! The INVITE server transaction (RFC 3261 §17.2.1, figure 7 as replaced
//! by RFC 6026 §7.1).
//!
//! Proceeding (with `100 Trying` when the TU is slow) → Completed on a
//! 300–699 from the TU (Timer G retransmits it, Timer H waits for the ACK)
//! → Confirmed on the ACK (Timer I absorbs ACK retransmissions). A 2xx
//! from the TU leads to Accepted instead: the TU retransmits its 2xx and
//! receives the ACK; the transaction only absorbs retransmitted INVITEs
//! until Timer L fires.

use std::time::Instant;

use sipjet_message::Message;

use crate::config::TimerConfig;
use crate::machine::{Deadlines, Output, Report, Retransmit, due, later};
use crate::server::Refusal;
use crate::state::State;

#[derive(Debug)]
enum Phase {
    /// `trying_at` is when `100 Trying` is due, until a response is sent.
    Proceeding {
        trying_at: Option<Instant>,
    },
    /// Timer G retransmits the final response (unreliable only); Timer H
    /// waits for the ACK.
    Completed {
        retransmit: Option<Retransmit>,
        timer_h: Instant,
    },
    Confirmed {
        timer_i: Instant,
    },
    Accepted {
        timer_l: Instant,
    },
    Terminated,
}

/// One INVITE server transaction.
#[derive(Debug)]
pub(crate) struct ServerInvite {
    /// Kept until a response is sent, to build `100 Trying` from. This
    /// and `last_response` are boxed: an accepted INVITE has neither, and
    /// waits out Timer L (32 s) as small as it can.
    request: Option<Box<Message>>,
    reliable: bool,
    phase: Phase,
    /// The most recent response: re-sent for a retransmitted INVITE
    /// (provisional in Proceeding, final in Completed). In Accepted it is
    /// nothing: a 2xx is not retransmitted by the transaction (RFC 6026),
    /// and only its To tag is kept, for [`ServerInvite::final_to_tag`].
    last_response: Option<Box<Message>>,
    /// The To tag of the last 2xx, which an RFC 2543 ACK is matched
    /// against: all an accepted INVITE keeps for its 32 s of Timer L.
    accepted_tag: Option<Box<str>>,
}

impl ServerInvite {
    /// Enters Proceeding; sends `100 Trying` at once when the configured
    /// delay is zero.
    pub(crate) fn start(
        request: Message,
        reliable: bool,
        timers: &TimerConfig,
        now: Instant,
        out: &mut Output,
    ) -> ServerInvite {
        let mut m = ServerInvite {
            request: Some(Box::new(request)),
            reliable,
            phase: Phase::Proceeding { trying_at: None },
            last_response: None,
            accepted_tag: None,
        };
        if timers.trying_delay.is_zero() {
            m.send_trying(out);
        } else {
            m.phase = Phase::Proceeding {
                trying_at: Some(later(now, timers.trying_delay)),
            };
        }
        m
    }

    pub(crate) fn state(&self) -> State {
        match self.phase {
            Phase::Proceeding { .. } => State::Proceeding,
            Phase::Completed { .. } => State::Completed,
            Phase::Confirmed { .. } => State::Confirmed,
            Phase::Accepted { .. } => State::Accepted,
            Phase::Terminated => State::Terminated,
        }
    }

    pub(crate) fn deadlines(&self) -> Deadlines {
        match self.phase {
            Phase::Proceeding { trying_at } => [trying_at, None],
            Phase::Completed {
                retransmit,
                timer_h,
            } => [retransmit.map(|r| r.at), Some(timer_h)],
            Phase::Confirmed { timer_i } => [None, Some(timer_i)],
            Phase::Accepted { timer_l } => [None, Some(timer_l)],
            Phase::Terminated => [None, None],
        }
    }

    /// The To tag of the final response sent, which the ACK of an RFC 2543
    /// client carries.
    pub(crate) fn final_to_tag(&self) -> Option<&str> {
        match self.phase {
            Phase::Proceeding { .. } => None,
            Phase::Accepted { .. } => self.accepted_tag.as_deref(),
            _ => self.last_response.as_ref()?.to_header().ok()?.tag(),
        }
    }

    /// `100 Trying` (§17.2.1): stops the client's retransmissions while the
    /// TU decides. Built from the request, so it is sent only once no
    /// response of the TU has been.
    fn send_trying(&mut self, out: &mut Output) {
        self.phase = Phase::Proceeding { trying_at: None };
        let Some(request) = self.request.take() else {
            return;
        };
        match Message::response_to(&request, 100) {
            Ok(trying) => {
                out.transmit(trying.clone());
                self.last_response = Some(Box::new(trying));
            }
            Err(e) => tracing::warn!("no 100 Trying sent: {e}"),
        }
    }

    /// The INVITE arrived again.
    pub(crate) fn on_retransmission(&mut self, out: &mut Output) {
        match (&self.phase, &self.last_response) {
            (Phase::Proceeding { .. } | Phase::Completed { .. }, Some(last)) => {
                out.transmit(Message::clone(last));
            }
            // The client is retransmitting: it needs the 100 now rather
            // than when the delay runs out.
            (Phase::Proceeding { .. }, None) => self.send_trying(out),
            // RFC 6026: in Accepted the TU retransmits the 2xx, so the
            // transaction only absorbs the INVITE.
            _ => tracing::trace!(state = %self.state(), "INVITE retransmission absorbed"),
        }
    }

    /// An ACK matched this transaction. Returns the ACK when it belongs to
    /// the TU (the ACK for a 2xx, in Accepted).
    pub(crate) fn on_ack(
        &mut self,
        ack: Message,
        timers: &TimerConfig,
        now: Instant,
    ) -> Option<Message> {
        match self.phase {
            Phase::Completed { .. } => {
                // Timer I is zero on a reliable transport.
                self.phase = if self.reliable {
                    Phase::Terminated
                } else {
                    Phase::Confirmed {
                        timer_i: later(now, timers.timer_i),
                    }
                };
                None
            }
            Phase::Accepted { .. } => Some(ack),
            Phase::Proceeding { .. } | Phase::Confirmed { .. } | Phase::Terminated => {
                tracing::trace!(state = %self.state(), "ACK absorbed");
                None
            }
        }
    }

    /// The TU answers with a final response and keeps no state for it
    /// (RFC 3261 §8.2.7): a 300–699 is sent once and the transaction ends
    /// at once, without Timer G retransmissions or Timer H; its ACK then
    /// matches nothing and goes to the TU, which ignores it, and a
    /// retransmitted INVITE is a new request. For answers nobody needs
    /// reliably (challenges, requests nobody serves), where holding them
    /// would let any sender make the server keep state and send
    /// retransmissions to an address of the sender's choosing. A 2xx is
    /// answered statefully, as by [`ServerInvite::respond`].
    pub(crate) fn respond_and_end(
        &mut self,
        response: Message,
        timers: &TimerConfig,
        now: Instant,
        out: &mut Output,
    ) -> Result<(), Refusal> {
        let code = response.status().ok_or(Refusal::NotAResponse)?;
        match (&self.phase, code) {
            (_, 100..=299) => self.respond(response, timers, now, out),
            (Phase::Proceeding { .. }, _) => {
                self.request = None;
                self.phase = Phase::Terminated;
                out.transmit(response);
                Ok(())
            }
            _ => Err(Refusal::FinalResponseSent),
        }
    }

    /// The TU answers.
    pub(crate) fn respond(
        &mut self,
        response: Message,
        timers: &TimerConfig,
        now: Instant,
        out: &mut Output,
    ) -> Result<(), Refusal> {
        let code = response.status().ok_or(Refusal::NotAResponse)?;
        match (&self.phase, code) {
            (Phase::Proceeding { .. }, 100..=199) => {
                self.request = None;
                self.phase = Phase::Proceeding { trying_at: None };
            }
            (Phase::Proceeding { .. }, 200..=299) => {
                self.request = None;
                self.phase = Phase::Accepted {
                    timer_l: later(now, timers.timer_l),
                };
            }
            (Phase::Proceeding { .. }, _) => {
                self.request = None;
                self.phase = Phase::Completed {
                    retransmit: (!self.reliable).then(|| Retransmit::first(now, timers.t1)),
                    timer_h: later(now, timers.timer_h),
                };
            }
            // More 2xx in Accepted: the TU's retransmissions, or the 2xx of
            // other forks a proxy passes on.
            (Phase::Accepted { .. }, 200..=299) => {}
            _ => return Err(Refusal::FinalResponseSent),
        }
        if matches!(self.phase, Phase::Accepted { .. }) {
            self.accepted_tag = response
                .to_header()
                .ok()
                .and_then(|to| to.tag().map(Box::from));
            self.last_response = None;
            out.transmit(response);
        } else {
            out.transmit(response.clone());
            self.last_response = Some(Box::new(response));
        }
        Ok(())
    }

    pub(crate) fn on_timeout(&mut self, timers: &TimerConfig, now: Instant, out: &mut Output) {
        match &mut self.phase {
            Phase::Proceeding { trying_at } => {
                if due(*trying_at, now) {
                    self.send_trying(out);
                }
            }
            Phase::Completed {
                retransmit,
                timer_h,
            } => {
                if *timer_h <= now {
                    out.report(Report::Timeout);
                    self.phase = Phase::Terminated;
                } else if let Some(r) = retransmit.filter(|r| r.is_due(now)) {
                    tracing::trace!("Timer G: final response retransmitted");
                    if let Some(last) = &self.last_response {
                        out.transmit(Message::clone(last));
                    }
                    *retransmit = Some(r.doubled(now, Some(timers.t2)));
                }
            }
            Phase::Confirmed { timer_i: at } | Phase::Accepted { timer_l: at } => {
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
    use sipjet_message::Method;

    fn start(reliable: bool, timers: &TimerConfig) -> (ServerInvite, Output, Instant, Message) {
        let mut out = Output::default();
        let t0 = Instant::now();
        let invite = request(Method::Invite, "z9hG4bKsi");
        let m = ServerInvite::start(invite.clone(), reliable, timers, t0, &mut out);
        (m, out, t0, invite)
    }

    #[test]
    fn trying_is_sent_after_the_delay_unless_the_tu_was_faster() {
        let timers = TimerConfig::default();
        let (mut m, mut out, t0, _) = start(false, &timers);
        assert!(out.transmits.is_empty());
        assert_eq!(m.deadlines(), [Some(t0 + ms(200)), None]);
        m.on_timeout(&timers, t0 + ms(199), &mut out);
        assert!(out.transmits.is_empty());
        m.on_timeout(&timers, t0 + ms(200), &mut out);
        assert_eq!(out.transmits.len(), 1);
        assert_eq!(out.transmits[0].status(), Some(100));
        assert_eq!(m.deadlines(), [None, None]);

        let (mut m, mut out, t0, invite) = start(false, &timers);
        m.respond(reply(&invite, 180), &timers, t0 + ms(100), &mut out)
            .unwrap();
        assert_eq!(m.deadlines(), [None, None]);
        assert_eq!(out.transmits.len(), 1);
        assert_eq!(out.transmits[0].status(), Some(180));
    }

    #[test]
    fn zero_delay_sends_trying_at_once() {
        let timers = TimerConfig {
            trying_delay: ms(0),
            ..TimerConfig::default()
        };
        let (m, out, _, _) = start(false, &timers);
        assert_eq!(out.transmits.len(), 1);
        assert_eq!(out.transmits[0].status(), Some(100));
        assert_eq!(m.deadlines(), [None, None]);
    }

    #[test]
    fn timer_g_doubles_to_t2_until_timer_h() {
        let timers = TimerConfig::default();
        let (mut m, mut out, t0, invite) = start(false, &timers);
        m.respond(reply(&invite, 486), &timers, t0, &mut out)
            .unwrap();
        let mut sent = Vec::new();
        while m.state() == State::Completed {
            let [g, h] = m.deadlines();
            let next = g.into_iter().chain(h).min().unwrap();
            let before = out.transmits.len();
            m.on_timeout(&timers, next, &mut out);
            if out.transmits.len() > before {
                sent.push((next - t0).as_millis());
            }
        }
        assert_eq!(
            sent,
            [
                500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500
            ]
        );
        assert!(out.transmits.iter().all(|t| t.status() == Some(486)));
        assert!(matches!(out.reports[..], [Report::Timeout]));
    }

    #[test]
    fn ack_confirms_and_timer_i_ends() {
        let timers = TimerConfig::default();
        let (mut m, mut out, t0, invite) = start(false, &timers);
        m.respond(reply(&invite, 404), &timers, t0, &mut out)
            .unwrap();
        let ack = request(Method::Ack, "z9hG4bKsi");
        assert!(m.on_ack(ack.clone(), &timers, t0 + ms(10)).is_none());
        assert_eq!(m.state(), State::Confirmed);
        assert_eq!(m.deadlines(), [None, Some(t0 + ms(5010))]);
        assert!(m.on_ack(ack, &timers, t0 + ms(20)).is_none());
        m.on_retransmission(&mut out);
        assert_eq!(out.transmits.len(), 1);
        m.on_timeout(&timers, t0 + ms(5010), &mut out);
        assert_eq!(m.state(), State::Terminated);
        assert!(out.reports.is_empty());
    }

    #[test]
    fn accepted_absorbs_invites_passes_acks_and_sends_more_2xx() {
        let timers = TimerConfig::default();
        let (mut m, mut out, t0, invite) = start(false, &timers);
        m.respond(reply(&invite, 200), &timers, t0, &mut out)
            .unwrap();
        assert_eq!(m.state(), State::Accepted);
        assert_eq!(m.deadlines(), [None, Some(t0 + ms(32_000))]);
        m.on_retransmission(&mut out);
        assert_eq!(out.transmits.len(), 1);
        m.respond(reply(&invite, 200), &timers, t0 + ms(500), &mut out)
            .unwrap();
        assert_eq!(out.transmits.len(), 2);
        assert_eq!(
            m.respond(reply(&invite, 500), &timers, t0, &mut out),
            Err(Refusal::FinalResponseSent)
        );
        let ack = request(Method::Ack, "z9hG4bKother");
        assert!(m.on_ack(ack, &timers, t0 + ms(600)).is_some());
        assert!(m.final_to_tag().is_some());
        m.on_timeout(&timers, t0 + ms(32_000), &mut out);
        assert_eq!(m.state(), State::Terminated);
    }

    #[test]
    fn reliable_transport_has_no_timer_g_and_no_timer_i() {
        let timers = TimerConfig::default();
        let (mut m, mut out, t0, invite) = start(true, &timers);
        m.respond(reply(&invite, 480), &timers, t0, &mut out)
            .unwrap();
        assert_eq!(m.deadlines(), [None, Some(t0 + ms(32_000))]);
        m.on_ack(request(Method::Ack, "z9hG4bKsi"), &timers, t0);
        assert_eq!(m.state(), State::Terminated);
    }

    #[test]
    fn a_final_response_cannot_follow_a_final_response() {
        let timers = TimerConfig::default();
        let (mut m, mut out, t0, invite) = start(false, &timers);
        m.respond(reply(&invite, 486), &timers, t0, &mut out)
            .unwrap();
        for code in [180, 200, 486] {
            assert_eq!(
                m.respond(reply(&invite, code), &timers, t0, &mut out),
                Err(Refusal::FinalResponseSent)
            );
        }
        assert_eq!(
            m.respond(invite.clone(), &timers, t0, &mut out),
            Err(Refusal::NotAResponse)
        );
    }
}
