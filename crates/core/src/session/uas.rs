//! The callee's side of an INVITE session (RFC 3261 §13.3): the
//! responses to a received INVITE, with this side's To tag, Contact and
//! the Record-Route copied (§12.1.1), the body handed in; the 487 a
//! CANCEL owes; the ACK of the answer, and the retransmissions of the 2xx
//! until it comes (§13.3.1.4).

use std::time::{Duration, Instant};

use sipjet_message::{HeaderName, Message, generate};

use super::Body;
use crate::dialog::{Dialog, DialogError};

/// Where the received INVITE stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UasState {
    /// No final answer yet (perhaps ringing).
    Proceeding,
    /// Answered with a 2xx, waiting for the ACK.
    Answered,
    /// The ACK came: the session is up.
    Confirmed,
    /// Refused, or cancelled: the INVITE got a final failure.
    Refused,
}

/// What the 2xx retransmission timer wants done.
#[derive(Debug)]
pub enum UasTimeout {
    /// Send the 2xx again.
    Retransmit(Message),
    /// 64×T1 passed without an ACK: the session is to be ended with a BYE
    /// (§13.3.1.4).
    NoAck,
}

/// The 2xx being retransmitted until the ACK.
#[derive(Debug)]
struct Retransmit {
    response: Message,
    next: Instant,
    interval: Duration,
    t2: Duration,
    give_up: Instant,
}

/// A received INVITE and the session it may make.
#[derive(Debug)]
pub struct UasInvite {
    invite: Message,
    tag: String,
    contact: String,
    state: UasState,
    dialog: Option<Dialog>,
    last_2xx: Option<Message>,
    retransmit: Option<Retransmit>,
}

impl UasInvite {
    /// A received INVITE; this side's responses carry `contact` (a
    /// Contact value, `<sip:...>`) and a new To tag.
    pub fn new(invite: Message, contact: impl Into<String>) -> UasInvite {
        UasInvite {
            invite,
            tag: generate::tag(),
            contact: contact.into(),
            state: UasState::Proceeding,
            dialog: None,
            last_2xx: None,
            retransmit: None,
        }
    }

    /// The INVITE.
    pub fn invite(&self) -> &Message {
        &self.invite
    }

    /// This side's To tag.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// Where it stands.
    pub fn state(&self) -> UasState {
        self.state
    }

    /// The dialog, once a 101 to 299 response was built.
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    /// The dialog, to build requests in it.
    pub fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        self.dialog.as_mut()
    }

    /// True while a final answer is still owed.
    pub fn is_pending(&self) -> bool {
        self.state == UasState::Proceeding
    }

    /// The response `status` (`reason` when given) to the INVITE, with
    /// `body`; a 101 to 299 carries the To tag, the Contact and the
    /// INVITE's Record-Route and makes (or confirms) the dialog. `None`
    /// once a final answer was given, or for a status that is not one.
    pub fn response(
        &mut self,
        status: u16,
        reason: Option<&str>,
        body: Option<&Body>,
    ) -> Result<Option<Message>, DialogError> {
        self.response_with(status, reason, body, &[])
    }

    /// [`UasInvite::response`] with more headers (`Session-Expires`,
    /// `Require`, ...), kept in the 2xx that is retransmitted.
    pub fn response_with(
        &mut self,
        status: u16,
        reason: Option<&str>,
        body: Option<&Body>,
        headers: &[(String, String)],
    ) -> Result<Option<Message>, DialogError> {
        if self.state != UasState::Proceeding || !(100..=699).contains(&status) {
            return Ok(None);
        }
        let mut r = Message::response_to_with(&self.invite, status, reason, Some(&self.tag))?;
        if (101..=299).contains(&status) {
            for rr in self.invite.headers(HeaderName::RecordRoute) {
                r.add_header("Record-Route", rr)?;
            }
            r.add_header("Contact", &self.contact)?;
        }
        for (name, value) in headers {
            r.add_header(name, value)?;
        }
        if let Some((ct, b)) = body {
            r.set_body(ct, b.clone())?;
        }
        if (101..=299).contains(&status) {
            match &mut self.dialog {
                None => self.dialog = Some(Dialog::from_uas(&self.invite, &r)?),
                Some(d) if status >= 200 => d.confirm(&r)?,
                Some(_) => {}
            }
        }
        match status {
            200..=299 => {
                self.state = UasState::Answered;
                self.last_2xx = Some(r.clone());
            }
            300.. => self.state = UasState::Refused,
            _ => {}
        }
        Ok(Some(r))
    }

    /// The ACK of the answer came: the 2xx is no longer retransmitted.
    pub fn on_ack(&mut self) {
        if self.state == UasState::Answered {
            self.state = UasState::Confirmed;
        }
        self.retransmit = None;
    }

    /// Starts retransmitting the 2xx sent at `now` (over an unreliable
    /// transport): after `t1`, doubling up to `t2`, until the ACK or
    /// 64×`t1` (§13.3.1.4). Nothing happens without a 2xx.
    pub fn start_retransmit(&mut self, now: Instant, t1: Duration, t2: Duration) {
        if self.state != UasState::Answered {
            return;
        }
        if let Some(response) = self.last_2xx.clone() {
            self.retransmit = Some(Retransmit {
                response,
                next: now + t1,
                interval: t1,
                t2,
                give_up: now + t1 * 64,
            });
        }
    }

    /// When the retransmission timer fires next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.retransmit.as_ref().map(|r| r.next.min(r.give_up))
    }

    /// The retransmission timer at `now`.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<UasTimeout> {
        let r = self.retransmit.as_mut()?;
        if now >= r.give_up {
            self.retransmit = None;
            return Some(UasTimeout::NoAck);
        }
        if now < r.next {
            return None;
        }
        r.interval = (r.interval * 2).min(r.t2);
        r.next = now + r.interval;
        Some(UasTimeout::Retransmit(r.response.clone()))
    }

    /// A CANCEL of the INVITE came (the stack answered it 200): the 487
    /// the INVITE now owes, unless it was answered already.
    pub fn on_cancel(&mut self) -> Option<Message> {
        self.response(487, Some("Request Terminated"), None)
            .ok()
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipjet_message::Method;

    const INVITE: &str = "INVITE sip:9555@127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKp1;rport=40000;received=127.0.0.1\r\nRecord-Route: <sip:edge.test;lr>\r\nMax-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:9555@127.0.0.1>\r\nCall-ID: c-a\r\nCSeq: 2 INVITE\r\nContact: <sip:alice@127.0.0.1:40000>\r\nContent-Length: 0\r\n\r\n";

    fn uas() -> UasInvite {
        UasInvite::new(
            Message::parse(INVITE.as_bytes().to_vec()).unwrap(),
            "<sip:sipjet@127.0.0.1:5060>",
        )
    }

    #[test]
    fn ringing_then_answered_then_confirmed() {
        let mut s = uas();
        let trying = s.response(100, None, None).unwrap().unwrap();
        assert!(trying.to_header().unwrap().tag().is_none());
        assert!(!trying.has(HeaderName::Contact));
        let ringing = s.response(180, None, None).unwrap().unwrap();
        assert_eq!(ringing.to_header().unwrap().tag(), Some(s.tag()));
        assert_eq!(
            ringing.header(HeaderName::RecordRoute),
            Some("<sip:edge.test;lr>")
        );
        assert!(s.dialog().is_some());
        let body: Body = ("application/sdp".into(), "v=0\n".into());
        let ok = s.response(200, None, Some(&body)).unwrap().unwrap();
        assert_eq!(ok.body().as_ref(), b"v=0\n");
        assert_eq!(ok.header(HeaderName::ContentType), Some("application/sdp"));
        assert_eq!(ok.to_header().unwrap().tag(), Some(s.tag()));
        assert_eq!(s.state(), UasState::Answered);
        assert!(
            s.on_cancel().is_none(),
            "an answered INVITE is not cancelled"
        );
        assert!(s.response(486, None, None).unwrap().is_none());
        s.on_ack();
        assert_eq!(s.state(), UasState::Confirmed);
        // A BYE from this side goes to the caller's Contact, via its route.
        let bye = s.dialog_mut().unwrap().request(Method::Bye).unwrap();
        assert_eq!(bye.request_uri(), Some("sip:alice@127.0.0.1:40000"));
        assert_eq!(bye.header(HeaderName::Route), Some("<sip:edge.test;lr>"));
    }

    #[test]
    fn the_2xx_is_retransmitted_until_the_ack_on_a_fake_clock() {
        let t1 = Duration::from_millis(500);
        let t2 = Duration::from_secs(4);
        let t0 = Instant::now();
        let mut s = uas();
        s.start_retransmit(t0, t1, t2);
        assert_eq!(s.poll_timeout(), None, "nothing to retransmit before a 2xx");
        s.response(200, None, None).unwrap().unwrap();
        s.start_retransmit(t0, t1, t2);
        // 0.5, 1, 2, 4, 4, ... seconds apart.
        let mut now = t0;
        let mut gaps = Vec::new();
        while let Some(at) = s.poll_timeout() {
            assert!(s.handle_timeout(at - Duration::from_millis(1)).is_none());
            match s.handle_timeout(at) {
                Some(UasTimeout::Retransmit(r)) => {
                    assert_eq!(r.status(), Some(200));
                    gaps.push(at - now);
                    now = at;
                }
                Some(UasTimeout::NoAck) => {
                    assert_eq!(at, t0 + t1 * 64);
                    break;
                }
                None => panic!("the timer fired for nothing"),
            }
        }
        let ms: Vec<u128> = gaps.iter().map(Duration::as_millis).collect();
        assert_eq!(&ms[..5], [500, 1000, 2000, 4000, 4000]);
        assert_eq!(s.poll_timeout(), None);

        // The ACK stops it.
        let mut s = uas();
        s.response(200, None, None).unwrap();
        s.start_retransmit(t0, t1, t2);
        assert!(matches!(
            s.handle_timeout(t0 + t1),
            Some(UasTimeout::Retransmit(_))
        ));
        s.on_ack();
        assert_eq!(s.poll_timeout(), None);
        assert!(s.handle_timeout(t0 + t1 * 64).is_none());
    }

    #[test]
    fn a_cancel_gets_487_once() {
        let mut s = uas();
        s.response(183, None, None).unwrap();
        let r = s.on_cancel().unwrap();
        assert_eq!(r.status(), Some(487));
        assert_eq!(s.state(), UasState::Refused);
        assert!(s.on_cancel().is_none());
    }
}
