//! Session supplements (Asterisk's `ast_sip_session_supplement`): hooks a
//! service registers to see, and change, the messages of INVITE sessions,
//! by method and direction. A supplement that adds a header to every
//! outgoing INVITE, or reads a header of every incoming BYE, is written
//! once and applies to every session the stack's services run.
//!
//! Whoever runs a session calls [`SipStack::session_supplements`] at the
//! four points: a request or response received, a request or response
//! about to be sent. Supplements run in priority order (lower first),
//! equal priorities in registration order. They run on whatever thread
//! handles the message, which may be the one that received it
//! ([`crate::Service::runs_inline`]): like a service's work, theirs must
//! not wait on I/O.
//!
//! [`SipStack::session_supplements`]: crate::SipStack::session_supplements

use std::sync::{Arc, RwLock};

use sipjet_message::{Message, Method};

/// A hook on the messages of INVITE sessions. Every method has a default
/// that does nothing.
pub trait SessionSupplement: Send + Sync + 'static {
    /// A unique name, for unregistering.
    fn name(&self) -> &str;

    /// The method whose messages it sees (a response's is its CSeq
    /// method); `None` for all.
    fn method(&self) -> Option<Method> {
        None
    }

    /// Its place among supplements: lower runs first.
    fn priority(&self) -> i32 {
        0
    }

    /// A request of a session was received.
    fn incoming_request(&self, _request: &Message) {}

    /// A response of a session was received.
    fn incoming_response(&self, _response: &Message) {}

    /// A request of a session is about to be sent; it may be changed.
    fn outgoing_request(&self, _request: &mut Message) {}

    /// A response of a session is about to be sent; it may be changed.
    fn outgoing_response(&self, _response: &mut Message) {}
}

/// A snapshot of the registered supplements, in order.
type List = Arc<Vec<Arc<dyn SessionSupplement>>>;

/// The registered supplements.
#[derive(Clone, Default)]
pub struct Supplements {
    list: Arc<RwLock<List>>,
}

/// The method a message concerns: a request's own, a response's CSeq's.
fn method_of(m: &Message) -> Option<Method> {
    match m.method() {
        Some(method) => Some(method.clone()),
        None => m.cseq().ok().map(|c| c.method()),
    }
}

impl Supplements {
    /// Registers `s`; false (and nothing changes) when one of its name is
    /// registered already.
    pub fn register(&self, s: Arc<dyn SessionSupplement>) -> bool {
        let mut guard = self.list.write().unwrap_or_else(|e| e.into_inner());
        if guard.iter().any(|x| x.name() == s.name()) {
            return false;
        }
        let mut next = guard.to_vec();
        let at = next
            .iter()
            .position(|x| x.priority() > s.priority())
            .unwrap_or(next.len());
        next.insert(at, s);
        *guard = Arc::new(next);
        true
    }

    /// Unregisters the supplement named `name`; false when there was none.
    pub fn unregister(&self, name: &str) -> bool {
        let mut guard = self.list.write().unwrap_or_else(|e| e.into_inner());
        let before = guard.len();
        let next: Vec<_> = guard.iter().filter(|x| x.name() != name).cloned().collect();
        let found = next.len() != before;
        *guard = Arc::new(next);
        found
    }

    /// The supplements for `m`'s method, in order. The list is a snapshot,
    /// so a supplement may register or unregister others.
    fn for_message(&self, m: &Message) -> Vec<Arc<dyn SessionSupplement>> {
        let method = method_of(m);
        let list = Arc::clone(&self.list.read().unwrap_or_else(|e| e.into_inner()));
        list.iter()
            .filter(|s| s.method().is_none_or(|want| Some(want) == method))
            .cloned()
            .collect()
    }

    /// Runs the supplements on a received request.
    pub fn incoming_request(&self, request: &Message) {
        for s in self.for_message(request) {
            s.incoming_request(request);
        }
    }

    /// Runs the supplements on a received response.
    pub fn incoming_response(&self, response: &Message) {
        for s in self.for_message(response) {
            s.incoming_response(response);
        }
    }

    /// Runs the supplements on a request about to be sent.
    pub fn outgoing_request(&self, request: &mut Message) {
        for s in self.for_message(request) {
            s.outgoing_request(request);
        }
    }

    /// Runs the supplements on a response about to be sent.
    pub fn outgoing_response(&self, response: &mut Message) {
        for s in self.for_message(response) {
            s.outgoing_response(response);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Tag {
        name: &'static str,
        method: Option<Method>,
        priority: i32,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl SessionSupplement for Tag {
        fn name(&self) -> &str {
            self.name
        }
        fn method(&self) -> Option<Method> {
            self.method.clone()
        }
        fn priority(&self) -> i32 {
            self.priority
        }
        fn incoming_request(&self, r: &Message) {
            self.seen
                .lock()
                .unwrap()
                .push(format!("{} in {}", self.name, r.method().unwrap()));
        }
        fn incoming_response(&self, r: &Message) {
            self.seen
                .lock()
                .unwrap()
                .push(format!("{} in {}", self.name, r.status().unwrap()));
        }
        fn outgoing_request(&self, r: &mut Message) {
            r.add_header("X-Seen", self.name).unwrap();
        }
        fn outgoing_response(&self, r: &mut Message) {
            r.add_header("X-Seen", self.name).unwrap();
        }
    }

    fn msg(text: &str) -> Message {
        Message::parse(text.as_bytes().to_vec()).unwrap()
    }

    const INVITE: &str = "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    const BYE: &str = "BYE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK2\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n";
    const OK_INVITE: &str = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";

    #[test]
    fn by_method_direction_and_priority() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Supplements::default();
        let tag = |name, method, priority| {
            Arc::new(Tag {
                name,
                method,
                priority,
                seen: Arc::clone(&seen),
            })
        };
        assert!(s.register(tag("late-all", None, 10)));
        assert!(s.register(tag("invite", Some(Method::Invite), 0)));
        assert!(s.register(tag("bye", Some(Method::Bye), 0)));
        assert!(!s.register(tag("bye", None, 0)), "names are unique");

        s.incoming_request(&msg(INVITE));
        s.incoming_request(&msg(BYE));
        s.incoming_response(&msg(OK_INVITE));
        assert_eq!(
            *seen.lock().unwrap(),
            [
                "invite in INVITE",
                "late-all in INVITE",
                "bye in BYE",
                "late-all in BYE",
                "invite in 200",
                "late-all in 200"
            ]
        );
        let mut out = msg(INVITE);
        s.outgoing_request(&mut out);
        assert_eq!(
            out.headers_named("X-Seen").collect::<Vec<_>>(),
            ["invite", "late-all"]
        );
        let mut ok = msg(OK_INVITE);
        s.outgoing_response(&mut ok);
        assert_eq!(
            ok.headers_named("X-Seen").collect::<Vec<_>>(),
            ["invite", "late-all"]
        );

        assert!(s.unregister("invite"));
        assert!(!s.unregister("invite"));
        let mut out = msg(INVITE);
        s.outgoing_request(&mut out);
        assert_eq!(
            out.headers_named("X-Seen").collect::<Vec<_>>(),
            ["late-all"]
        );
    }
}
