//! The caller's side of an INVITE session (RFC 3261 §13.2): what the
//! responses to the INVITE mean, the ACK of a 2xx, the CANCEL, the
//! challenge answered, how long to wait for an answer, and the PRACK of
//! a reliable provisional response (RFC 3262) when 100rel was offered.

use std::time::{Duration, Instant};

use sipjet_message::{HeaderName, Message, Method};

use super::{Body, body_of};
use crate::client_auth::{AuthAttempt, DigestClient};
use crate::dialog::Dialog;

/// Where the INVITE stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UacState {
    /// Sent; nothing but perhaps 100 came back.
    Calling,
    /// A 1xx other than 100 came: ringing or progress.
    Proceeding,
    /// A 2xx came: the session is up.
    Answered,
    /// A final failure came, or no answer in time.
    Failed,
}

/// What a response (or the timer) means to the service.
#[derive(Debug)]
pub enum UacEvent {
    /// Ringing or progress (a 1xx other than 100), with its body (an
    /// early answer).
    Progress {
        /// The status code.
        status: u16,
        /// The reason phrase.
        reason: String,
        /// Its body.
        body: Option<Body>,
    },
    /// The callee answered: send `ack` (it needs a Via); `body` is the
    /// answer to the offer.
    Answered {
        /// The status code.
        status: u16,
        /// The answer.
        body: Option<Body>,
        /// The ACK to send.
        ack: Message,
    },
    /// A 2xx again: send `ack` again. `bye` is set when it came from
    /// another fork than the one answered: that dialog is ended at once
    /// (RFC 3261 §13.2.2.4).
    AckAgain {
        /// The ACK to send.
        ack: Message,
        /// A BYE for the extra fork's dialog.
        bye: Option<Message>,
    },
    /// A challenge was answered: send this INVITE (new branch, next
    /// CSeq) in place of the old one.
    Resend(Message),
    /// Send this CANCEL (a cancel asked for before any 1xx waits for
    /// one, RFC 3261 §9.1).
    Cancel(Message),
    /// Send this PRACK (it needs a Via) in the early dialog of a reliable
    /// provisional response (RFC 3262 §4).
    Prack(Message),
    /// The call failed: a final response of 300 or more, or no answer in
    /// time (`timed_out`).
    Failed {
        /// The status code (408 when nobody answered in time).
        status: u16,
        /// The reason phrase, or why.
        reason: String,
        /// True when it was the ring timeout that ended it.
        timed_out: bool,
    },
}

/// One INVITE this side sent, and the session it may make.
#[derive(Debug)]
pub struct UacInvite {
    invite: Message,
    state: UacState,
    dialog: Option<Dialog>,
    auth: AuthAttempt,
    cancel_wanted: bool,
    cancel_sent: bool,
    ring_deadline: Option<Instant>,
    timed_out: bool,
    /// 100rel was offered (`Supported: 100rel` on the INVITE).
    reliable: bool,
    /// Early dialogs of reliable provisional responses, with the last RSeq
    /// acknowledged; a few forks at most.
    early: Vec<(Dialog, u32)>,
}

/// Forks whose reliable provisional responses are acknowledged at most:
/// a peer cannot make the list grow past it.
const MAX_EARLY: usize = 8;

impl UacInvite {
    /// An INVITE as sent (top Via included), given up on (cancelled) when
    /// no final answer came within `ring_timeout` of `now`.
    pub fn new(invite: Message, now: Instant, ring_timeout: Option<Duration>) -> UacInvite {
        let reliable = invite
            .tokens(HeaderName::Supported)
            .any(|t| t.eq_ignore_ascii_case("100rel"));
        UacInvite {
            invite,
            state: UacState::Calling,
            dialog: None,
            auth: AuthAttempt::default(),
            cancel_wanted: false,
            cancel_sent: false,
            ring_deadline: ring_timeout.map(|t| now + t),
            timed_out: false,
            reliable,
            early: Vec::new(),
        }
    }

    /// The INVITE as last sent.
    pub fn invite(&self) -> &Message {
        &self.invite
    }

    /// Where it stands.
    pub fn state(&self) -> UacState {
        self.state
    }

    /// The session's dialog, once answered (early dialogs are not kept:
    /// a B2BUA relays their progress and waits for the 2xx).
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    /// The dialog, to build requests in it.
    pub fn dialog_mut(&mut self) -> Option<&mut Dialog> {
        self.dialog.as_mut()
    }

    /// True once a CANCEL was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.cancel_wanted
    }

    /// When the ring timeout fires, while it matters.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            UacState::Calling | UacState::Proceeding if !self.cancel_wanted => self.ring_deadline,
            _ => None,
        }
    }

    /// The ring timeout at `now`: the INVITE is cancelled.
    pub fn handle_timeout(&mut self, now: Instant) -> Vec<UacEvent> {
        if self.poll_timeout().is_some_and(|t| t <= now) {
            self.timed_out = true;
            return self.cancel().into_iter().map(UacEvent::Cancel).collect();
        }
        Vec::new()
    }

    /// Asks to cancel the INVITE: the CANCEL to send now, or none when it
    /// must wait for a provisional response (it then comes as
    /// [`UacEvent::Cancel`]) or the INVITE is already answered.
    pub fn cancel(&mut self) -> Option<Message> {
        if matches!(self.state, UacState::Answered | UacState::Failed) || self.cancel_sent {
            return None;
        }
        self.cancel_wanted = true;
        if self.state == UacState::Calling {
            return None;
        }
        self.cancel_sent = true;
        cancel_for(&self.invite)
    }

    /// A response to the INVITE. `digest` answers a 401 or 407 (with a
    /// new Via branch `branch`); without it the challenge is a failure.
    pub fn on_response(
        &mut self,
        response: &Message,
        digest: Option<&mut DigestClient>,
        branch: &str,
    ) -> Vec<UacEvent> {
        let Some(status) = response.status() else {
            return Vec::new();
        };
        let same_cseq = response
            .cseq()
            .is_ok_and(|c| Some(c.seq) == self.invite.cseq().ok().map(|i| i.seq));
        if !same_cseq {
            // An answer to an INVITE this one replaced (a challenged one).
            return Vec::new();
        }
        match status {
            100 => Vec::new(),
            101..=199 => {
                if self.state != UacState::Calling && self.state != UacState::Proceeding {
                    return Vec::new();
                }
                let mut out = Vec::new();
                match self.reliable_provisional(response) {
                    Reliability::Duplicate => return Vec::new(),
                    Reliability::Prack(prack) => out.push(UacEvent::Prack(prack)),
                    Reliability::Unreliable => {}
                }
                self.state = UacState::Proceeding;
                if self.cancel_wanted && !self.cancel_sent {
                    self.cancel_sent = true;
                    out.extend(cancel_for(&self.invite).map(UacEvent::Cancel));
                }
                out.push(UacEvent::Progress {
                    status,
                    reason: response.reason().unwrap_or_default().to_string(),
                    body: body_of(response),
                });
                out
            }
            200..=299 => self.on_success(status, response),
            401 | 407 if matches!(self.state, UacState::Calling | UacState::Proceeding) => {
                let answered = match digest {
                    Some(d) if !self.cancel_wanted => {
                        d.answer(&self.invite, response, branch, &mut self.auth)
                    }
                    _ => Err(crate::client_auth::AuthError::NoUsableChallenge { status }),
                };
                match answered {
                    Ok(next) => {
                        self.invite = next.clone();
                        self.state = UacState::Calling;
                        self.cancel_sent = false;
                        vec![UacEvent::Resend(next)]
                    }
                    Err(e) => self.fail(status, e.to_string()),
                }
            }
            _ if matches!(self.state, UacState::Calling | UacState::Proceeding) => {
                let reason = response.reason().unwrap_or_default().to_string();
                self.fail(status, reason)
            }
            _ => Vec::new(),
        }
    }

    /// Whether `response` is a reliable provisional response to PRACK:
    /// one that requires 100rel and has an RSeq, when 100rel was offered.
    /// The next RSeq of its fork is acknowledged; an older one is a
    /// retransmission (its PRACK is on its way), a gap is ignored until
    /// the missing one comes (RFC 3262 §4).
    fn reliable_provisional(&mut self, response: &Message) -> Reliability {
        let requires = response
            .tokens(HeaderName::Require)
            .any(|t| t.eq_ignore_ascii_case("100rel"));
        let rseq = response
            .header(HeaderName::RSeq)
            .and_then(|v| v.trim().parse::<u32>().ok())
            .filter(|&n| n > 0);
        let (true, true, Some(rseq)) = (self.reliable, requires, rseq) else {
            return Reliability::Unreliable;
        };
        let tag = crate::dialog::id_of_response(response).map(|id| id.remote_tag);
        let at = self
            .early
            .iter()
            .position(|(d, _)| Some(&d.id().remote_tag) == tag.as_ref());
        let at = match at {
            Some(at) => {
                if rseq != self.early[at].1.wrapping_add(1) {
                    return Reliability::Duplicate;
                }
                at
            }
            None => {
                if self.early.len() >= MAX_EARLY {
                    return Reliability::Duplicate;
                }
                let Ok(dialog) = Dialog::from_uac(&self.invite, response) else {
                    return Reliability::Unreliable;
                };
                self.early.push((dialog, rseq.wrapping_sub(1)));
                self.early.len() - 1
            }
        };
        let cseq = self.invite.cseq().map(|c| c.seq).unwrap_or(1);
        let (dialog, last) = &mut self.early[at];
        let Ok(mut prack) = dialog.request(Method::Prack) else {
            return Reliability::Unreliable;
        };
        if prack
            .add_header("RAck", &format!("{rseq} {cseq} INVITE"))
            .is_err()
        {
            return Reliability::Unreliable;
        }
        *last = rseq;
        Reliability::Prack(prack)
    }

    fn fail(&mut self, status: u16, reason: String) -> Vec<UacEvent> {
        self.state = UacState::Failed;
        let (status, timed_out) = if self.timed_out {
            (408, true)
        } else {
            (status, false)
        };
        vec![UacEvent::Failed {
            status,
            reason,
            timed_out,
        }]
    }

    fn on_success(&mut self, status: u16, response: &Message) -> Vec<UacEvent> {
        let cseq = self.invite.cseq().map(|c| c.seq).unwrap_or(1);
        // A 2xx of the dialog already answered: its ACK again.
        if let Some(d) = &self.dialog
            && crate::dialog::id_of_response(response).as_ref() == Some(d.id())
        {
            return d
                .ack(cseq)
                .ok()
                .map(|ack| UacEvent::AckAgain { ack, bye: None })
                .into_iter()
                .collect();
        }
        // The early dialog of a PRACKed provisional response goes on (its
        // CSeq counted the PRACKs); otherwise the 2xx makes the dialog.
        let tag = crate::dialog::id_of_response(response).map(|id| id.remote_tag);
        let early = self
            .early
            .iter()
            .position(|(d, _)| Some(&d.id().remote_tag) == tag.as_ref())
            .map(|at| self.early.swap_remove(at).0);
        let made = match early {
            Some(mut d) => d.confirm(response).map(|()| d),
            None => Dialog::from_uac(&self.invite, response),
        };
        let Ok(mut dialog) = made else {
            tracing::warn!("a 2xx to our INVITE cannot make a dialog; ignored");
            return Vec::new();
        };
        let Ok(ack) = dialog.ack(cseq) else {
            return Vec::new();
        };
        if self.dialog.is_some() {
            // Another fork answered too: ACK it and end it.
            let bye = dialog.request(Method::Bye).ok();
            return vec![UacEvent::AckAgain { ack, bye }];
        }
        self.dialog = Some(dialog);
        self.state = UacState::Answered;
        vec![UacEvent::Answered {
            status,
            body: body_of(response),
            ack,
        }]
    }
}

/// What a provisional response asks of the UAC.
enum Reliability {
    /// Nothing: an ordinary provisional response.
    Unreliable,
    /// A reliable one already acknowledged, or out of order: dropped.
    Duplicate,
    /// A new reliable one: this PRACK acknowledges it.
    Prack(Message),
}

/// The CANCEL of `invite` (RFC 3261 §9.1): its Request-URI, top Via,
/// Route, From, To, Call-ID and CSeq number, method CANCEL.
pub fn cancel_for(invite: &Message) -> Option<Message> {
    let uri = invite.request_uri()?;
    let mut cancel = Message::new_request(Method::Cancel, uri).ok()?;
    let via = invite.via().ok()?;
    cancel.add_header("Via", via.as_str()).ok()?;
    for route in invite.headers(HeaderName::Route) {
        cancel.add_header("Route", route).ok()?;
    }
    cancel.add_header("Max-Forwards", "70").ok()?;
    cancel
        .add_header("From", invite.header(HeaderName::From)?)
        .ok()?;
    cancel
        .add_header("To", invite.header(HeaderName::To)?)
        .ok()?;
    cancel.add_header("Call-ID", invite.call_id().ok()?).ok()?;
    let seq = invite.cseq().ok()?.seq;
    cancel.add_header("CSeq", &format!("{seq} CANCEL")).ok()?;
    Some(cancel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_auth::ClientCredential;

    const INVITE: &str = "INVITE sip:4930555@provider.test SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa1;rport\r\nRoute: <sip:192.0.2.1;lr>\r\nMax-Forwards: 70\r\nFrom: \"Office\" <sip:office@provider.test>;tag=ft\r\nTo: <sip:4930555@provider.test>\r\nCall-ID: call-1\r\nCSeq: 1 INVITE\r\nContact: <sip:office@127.0.0.1:5060>\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n";

    fn invite() -> Message {
        Message::parse(INVITE.as_bytes().to_vec()).unwrap()
    }

    fn response_to(req: &Message, status: u16, extra: &str, body: &str) -> Message {
        let mut text = format!("SIP/2.0 {status} Reason\r\n");
        text.push_str(&format!("Via: {}\r\n", req.via().unwrap().as_str()));
        text.push_str(&format!(
            "From: {}\r\n",
            req.header(HeaderName::From).unwrap()
        ));
        let to = req.header(HeaderName::To).unwrap();
        if status > 100 {
            text.push_str(&format!("To: {to};tag=callee\r\n"));
        } else {
            text.push_str(&format!("To: {to}\r\n"));
        }
        text.push_str(&format!("Call-ID: {}\r\n", req.call_id().unwrap()));
        let seq = req.cseq().unwrap().seq;
        text.push_str(&format!("CSeq: {seq} INVITE\r\n"));
        text.push_str(extra);
        if body.is_empty() {
            text.push_str("Content-Length: 0\r\n\r\n");
        } else {
            text.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        }
        Message::parse(text.into_bytes()).unwrap()
    }

    const CONTACT: &str =
        "Contact: <sip:callee@192.0.2.9:5060>\r\nRecord-Route: <sip:192.0.2.1;lr>\r\n";

    #[test]
    fn ringing_then_answered_with_the_answer_and_an_ack() {
        let t0 = Instant::now();
        let mut uac = UacInvite::new(invite(), t0, None);
        assert!(
            uac.on_response(&response_to(&invite(), 100, "", ""), None, "b")
                .is_empty()
        );
        let ev = uac.on_response(&response_to(&invite(), 180, CONTACT, ""), None, "b");
        assert!(matches!(
            &ev[..],
            [UacEvent::Progress {
                status: 180,
                body: None,
                ..
            }]
        ));
        assert_eq!(uac.state(), UacState::Proceeding);
        let ok = response_to(&invite(), 200, CONTACT, "v=0 answer\n");
        let ev = uac.on_response(&ok, None, "b");
        let [UacEvent::Answered { status, body, ack }] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(*status, 200);
        assert_eq!(body.as_ref().unwrap().1.as_ref(), b"v=0 answer\n");
        assert_eq!(ack.request_uri(), Some("sip:callee@192.0.2.9:5060"));
        assert_eq!(ack.cseq().unwrap().seq, 1);
        assert_eq!(ack.header(HeaderName::Route), Some("<sip:192.0.2.1;lr>"));
        assert_eq!(uac.state(), UacState::Answered);
        // The retransmitted 2xx is ACKed again, nothing more.
        let ev = uac.on_response(&ok, None, "b");
        assert!(matches!(&ev[..], [UacEvent::AckAgain { bye: None, .. }]));
        // A BYE in the dialog.
        let bye = uac.dialog_mut().unwrap().request(Method::Bye).unwrap();
        assert_eq!(bye.cseq().unwrap().seq, 2);
        assert!(
            uac.cancel().is_none(),
            "an answered INVITE is not cancelled"
        );
    }

    #[test]
    fn another_fork_answering_is_acked_and_hung_up() {
        let t0 = Instant::now();
        let mut uac = UacInvite::new(invite(), t0, None);
        uac.on_response(&response_to(&invite(), 200, CONTACT, ""), None, "b");
        let mut other = response_to(&invite(), 200, CONTACT, "");
        other
            .set_header("To", "<sip:4930555@provider.test>;tag=fork2")
            .unwrap();
        let ev = uac.on_response(&other, None, "b");
        let [UacEvent::AckAgain { bye: Some(bye), .. }] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert!(bye.header(HeaderName::To).unwrap().contains("fork2"));
    }

    #[test]
    fn a_challenge_is_answered_once_then_fails() {
        let t0 = Instant::now();
        let mut uac = UacInvite::new(invite(), t0, None);
        let mut digest = DigestClient::new(vec![ClientCredential::password("office", "pw")]);
        let ch = response_to(
            &invite(),
            407,
            "Proxy-Authenticate: Digest realm=\"provider.test\", nonce=\"n\", qop=\"auth\"\r\n",
            "",
        );
        let ev = uac.on_response(&ch, Some(&mut digest), "z9hG4bKa2");
        let [UacEvent::Resend(next)] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert!(next.has(HeaderName::ProxyAuthorization));
        assert_eq!(next.cseq().unwrap().seq, 2);
        assert_eq!(next.body().as_ref(), b"v=0\n", "the offer goes again");
        assert_eq!(uac.invite().cseq().unwrap().seq, 2);
        // A late answer to the first INVITE changes nothing.
        assert!(uac.on_response(&ch, Some(&mut digest), "x").is_empty());
        // The same realm again: refused.
        let again = response_to(
            next,
            407,
            "Proxy-Authenticate: Digest realm=\"provider.test\", nonce=\"m\", qop=\"auth\"\r\n",
            "",
        );
        let ev = uac.on_response(&again, Some(&mut digest), "z9hG4bKa3");
        assert!(
            matches!(
                &ev[..],
                [UacEvent::Failed {
                    status: 407,
                    timed_out: false,
                    ..
                }]
            ),
            "{ev:?}"
        );
        assert_eq!(uac.state(), UacState::Failed);
    }

    #[test]
    fn cancel_waits_for_a_provisional_response() {
        let t0 = Instant::now();
        let mut uac = UacInvite::new(invite(), t0, None);
        assert!(uac.cancel().is_none(), "no CANCEL before a 1xx");
        assert!(uac.is_cancelled());
        let ev = uac.on_response(&response_to(&invite(), 180, CONTACT, ""), None, "b");
        let [UacEvent::Cancel(cancel), UacEvent::Progress { .. }] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(cancel.method(), Some(&Method::Cancel));
        assert_eq!(cancel.request_uri(), invite().request_uri());
        assert_eq!(cancel.via().unwrap().branch(), Some("z9hG4bKa1"));
        assert_eq!(cancel.cseq().unwrap().seq, 1);
        assert_eq!(cancel.cseq().unwrap().method, "CANCEL");
        assert_eq!(cancel.header(HeaderName::Route), Some("<sip:192.0.2.1;lr>"));
        assert!(!cancel.header(HeaderName::To).unwrap().contains("tag="));
        // Only once.
        assert!(uac.cancel().is_none());
        let ev = uac.on_response(&response_to(&invite(), 487, "", ""), None, "b");
        assert!(matches!(&ev[..], [UacEvent::Failed { status: 487, .. }]));
    }

    #[test]
    fn reliable_provisionals_are_pracked_once_in_order() {
        let t0 = Instant::now();
        let mut offered = invite();
        offered.add_header("Supported", "100rel").unwrap();
        let mut uac = UacInvite::new(offered.clone(), t0, None);
        let reliable = |rseq: u32| {
            response_to(
                &offered,
                183,
                &format!("{CONTACT}Require: 100rel\r\nRSeq: {rseq}\r\n"),
                "v=0 early\n",
            )
        };
        let ev = uac.on_response(&reliable(7), None, "b");
        let [
            UacEvent::Prack(prack),
            UacEvent::Progress { status: 183, .. },
        ] = &ev[..]
        else {
            panic!("{ev:?}")
        };
        assert_eq!(prack.method(), Some(&Method::Prack));
        assert_eq!(prack.headers_named("RAck").next(), Some("7 1 INVITE"));
        assert_eq!(prack.cseq().unwrap().seq, 2);
        assert_eq!(prack.request_uri(), Some("sip:callee@192.0.2.9:5060"));
        // A retransmission, or one out of order, is dropped.
        assert!(uac.on_response(&reliable(7), None, "b").is_empty());
        assert!(uac.on_response(&reliable(9), None, "b").is_empty());
        let ev = uac.on_response(&reliable(8), None, "b");
        let [UacEvent::Prack(second), _] = &ev[..] else {
            panic!("{ev:?}")
        };
        assert_eq!(second.headers_named("RAck").next(), Some("8 1 INVITE"));
        assert_eq!(second.cseq().unwrap().seq, 3);
        // The 2xx confirms that early dialog: the next request counts on.
        let ev = uac.on_response(&response_to(&offered, 200, CONTACT, ""), None, "b");
        assert!(matches!(&ev[..], [UacEvent::Answered { .. }]));
        let bye = uac.dialog_mut().unwrap().request(Method::Bye).unwrap();
        assert_eq!(bye.cseq().unwrap().seq, 4);

        // Without 100rel offered, a reliable-looking 183 is plain progress.
        let mut plain = UacInvite::new(invite(), t0, None);
        let r = response_to(
            &invite(),
            183,
            &format!("{CONTACT}Require: 100rel\r\nRSeq: 1\r\n"),
            "",
        );
        let ev = plain.on_response(&r, None, "b");
        assert!(matches!(&ev[..], [UacEvent::Progress { .. }]));
    }

    #[test]
    fn the_ring_timeout_cancels_on_a_fake_clock() {
        let t0 = Instant::now();
        let mut uac = UacInvite::new(invite(), t0, Some(Duration::from_secs(30)));
        assert_eq!(uac.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        uac.on_response(
            &response_to(&invite(), 183, CONTACT, "v=0 early\n"),
            None,
            "b",
        );
        assert!(uac.handle_timeout(t0 + Duration::from_secs(29)).is_empty());
        let ev = uac.handle_timeout(t0 + Duration::from_secs(30));
        assert!(matches!(&ev[..], [UacEvent::Cancel(_)]));
        assert_eq!(uac.poll_timeout(), None);
        let ev = uac.on_response(&response_to(&invite(), 487, "", ""), None, "b");
        assert!(matches!(
            &ev[..],
            [UacEvent::Failed {
                status: 408,
                timed_out: true,
                ..
            }]
        ));
    }
}
