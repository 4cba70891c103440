//! The non-INVITE server transaction (RFC 3261 §17.2.2, figure 8).
//!
//! Trying → Proceeding on a 1xx from the TU → Completed on its final
//! response. A retransmitted request gets the last response again (none
//! in Trying); Timer J bounds how long retransmissions are absorbed.

use std::time::Instant;

use bytes::Bytes;
use sipjet_message::Message;

use crate::config::TimerConfig;
use crate::machine::{Deadlines, Output, later};
use crate::server::Refusal;
use crate::state::State;

#[derive(Debug)]
enum Phase {
    Trying,
    Proceeding,
    Completed { timer_j: Instant },
    Terminated,
}

/// One non-INVITE server transaction (CANCEL included).
#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    reliable: bool,
    phase: Phase,
    /// The last response as sent, serialized: over UDP a completed
    /// transaction lives for Timer J (32 s), and a built response would
    /// keep the whole request's receive buffer and its header index alive
    /// for that long. A retransmission, which is rare, parses it again.
    last_response: Option<Bytes>,
}

impl ServerNonInvite {
    /// Enters Trying; nothing is sent until the TU answers.
    pub(crate) fn start(reliable: bool) -> ServerNonInvite {
        ServerNonInvite {
            reliable,
            phase: Phase::Trying,
            last_response: None,
        }
    }

    pub(crate) fn state(&self) -> State {
        match self.phase {
            Phase::Trying => State::Trying,
            Phase::Proceeding => State::Proceeding,
            Phase::Completed { .. } => State::Completed,
            Phase::Terminated => State::Terminated,
        }
    }

    pub(crate) fn deadlines(&self) -> Deadlines {
        match self.phase {
            Phase::Completed { timer_j } => [None, Some(timer_j)],
            _ => [None, None],
        }
    }

    /// In Completed, Timer J's deadline and the final response as sent:
    /// all the transaction still needs (see `crate::held`).
    pub(crate) fn completed(&self) -> Option<(Instant, &Bytes)> {
        match (&self.phase, &self.last_response) {
            (Phase::Completed { timer_j }, Some(last)) => Some((*timer_j, last)),
            _ => None,
        }
    }

    /// The request arrived again.
    pub(crate) fn on_retransmission(&mut self, out: &mut Output) {
        match (&self.phase, &self.last_response) {
            (Phase::Proceeding | Phase::Completed { .. }, Some(last)) => {
                match Message::parse(last.clone()) {
                    Ok(m) => out.transmit(m),
                    // It was serialized here from a valid message.
                    Err(e) => tracing::error!(error = %e, "a stored response does not parse"),
                }
            }
            _ => tracing::trace!(state = %self.state(), "request retransmission absorbed"),
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
        if !matches!(self.phase, Phase::Trying | Phase::Proceeding) {
            return Err(Refusal::FinalResponseSent);
        }
        self.phase = if code < 200 {
            Phase::Proceeding
        } else if self.reliable {
            // Timer J is zero on a reliable transport.
            Phase::Terminated
        } else {
            Phase::Completed {
                timer_j: later(now, timers.timer_j),
            }
        };
        let bytes = response.to_bytes();
        // Sent as these very bytes, so that a retransmission is identical.
        match Message::parse(bytes.clone()) {
            Ok(sent) => out.transmit(sent),
            Err(_) => out.transmit(response),
        }
        self.last_response = Some(bytes);
        Ok(())
    }

    /// The TU answers with a final response and wants no state kept
    /// (RFC 3261 §8.2.7, a stateless UAS): the response goes out once and
    /// the transaction ends at once, instead of holding the response for
    /// Timer J. A retransmitted request then arrives as a new one.
    pub(crate) fn respond_and_end(
        &mut self,
        response: Message,
        out: &mut Output,
    ) -> Result<(), Refusal> {
        let code = response.status().ok_or(Refusal::NotAResponse)?;
        if code < 200 {
            return Err(Refusal::NotFinal);
        }
        if !matches!(self.phase, Phase::Trying | Phase::Proceeding) {
            return Err(Refusal::FinalResponseSent);
        }
        self.phase = Phase::Terminated;
        out.transmit(response);
        Ok(())
    }

    pub(crate) fn on_timeout(&mut self, now: Instant) {
        if let Phase::Completed { timer_j } = self.phase
            && timer_j <= now
        {
            self.phase = Phase::Terminated;
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

    #[test]
    fn trying_absorbs_then_last_response_is_resent() {
        let timers = TimerConfig::default();
        let t0 = Instant::now();
        let mut out = Output::default();
        let req = request(Method::Register, "z9hG4bKsn");
        let mut m = ServerNonInvite::start(false);
        m.on_retransmission(&mut out);
        assert!(out.transmits.is_empty());
        m.respond(reply(&req, 100), &timers, t0, &mut out).unwrap();
        assert_eq!(m.state(), State::Proceeding);
        m.on_retransmission(&mut out);
        assert_eq!(out.transmits[1].status(), Some(100));
        m.respond(reply(&req, 200), &timers, t0 + ms(10), &mut out)
            .unwrap();
        assert_eq!(m.state(), State::Completed);
        assert_eq!(m.deadlines(), [None, Some(t0 + ms(32_010))]);
        let (timer_j, last) = m.completed().expect("completed");
        assert_eq!(timer_j, t0 + ms(32_010));
        assert_eq!(Message::parse(last.clone()).unwrap().status(), Some(200));
        m.on_retransmission(&mut out);
        m.on_retransmission(&mut out);
        let codes: Vec<_> = out.transmits.iter().map(|t| t.status().unwrap()).collect();
        assert_eq!(codes, [100, 100, 200, 200, 200]);
        assert_eq!(
            m.respond(reply(&req, 200), &timers, t0, &mut out),
            Err(Refusal::FinalResponseSent)
        );
        m.on_timeout(t0 + ms(32_009));
        assert_eq!(m.state(), State::Completed);
        m.on_timeout(t0 + ms(32_010));
        assert_eq!(m.state(), State::Terminated);
    }

    #[test]
    fn reliable_transport_has_no_timer_j() {
        let mut out = Output::default();
        let req = request(Method::Options, "z9hG4bKsn");
        let mut m = ServerNonInvite::start(true);
        m.respond(
            reply(&req, 200),
            &TimerConfig::default(),
            Instant::now(),
            &mut out,
        )
        .unwrap();
        assert_eq!(m.state(), State::Terminated);
        assert_eq!(out.transmits.len(), 1);
    }
}
