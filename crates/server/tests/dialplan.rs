//! Calls routed by a dialplan, over the wire: raw user agents register,
//! the caller dials a number, and the server does what extensions.conf
//! says — rings the endpoint it names, answers Busy, Congestion or the
//! Hangup cause's status, ends the ringing at the Dial timeout, goes on
//! at the next priority when nobody answered, follows include and Goto.

mod support;

use std::sync::Arc;

use sipjet_core::{HeaderName, Message, Method};
use sipjet_server::dialplan;
use sipjet_server::server::{Server, ServerOptions};
use support::{Request, Transport, Wire, start_with};

const CONF: &str = "\
[global]
type = global
default_realm = sipjet.test
endpoint_identifier_order = ip,username

[udp]
type = transport
protocol = udp
bind = 127.0.0.1:5060

[phone](!)
type = endpoint
identify_by = username
context = office

[md5](!)
type = auth
auth_type = userpass

[inbox](!)
type = aor
max_contacts = 3

[alice](phone)
auth = alice
aors = alice
[alice](md5)
username = alice
password = alice-pass
[alice](inbox)

[bob](phone)
auth = bob
aors = bob
[bob](md5)
username = bob
password = bob-pass
[bob](inbox)

[carol](phone)
auth = carol
aors = carol
[carol](md5)
username = carol
password = carol-pass
[carol](inbox)

[provider]
type = endpoint
context = from-provider

[provider-ip]
type = identify
endpoint = provider
match = 127.0.0.2

[dave](phone)
auth = dave
aors = dave
context = elsewhere
[dave](md5)
username = dave
password = dave-pass
[dave](inbox)
";

const PLAN: &str = "\
[office]
exten => 200,1,Dial(PJSIP/bob)
exten => 201,1,Dial(PJSIP/bob,1)
 same => n,Hangup(19)
exten => 202,1,Dial(PJSIP/bob,1)
 same => n,Dial(PJSIP/carol)
exten => 203,1,Dial(PJSIP/bob)
 same => n,Goto(${DIALSTATUS})
 same => n(BUSY),Dial(PJSIP/carol)
exten => 204,1,Dial(PJSIP/bob&PJSIP/carol)
exten => 205,1,Dial(PJSIP/nobody-registered)
exten => 486,1,Busy
exten => 503,1,Congestion
exten => 403,1,Hangup(21)
exten => 17,1,Hangup(USER_BUSY)
exten => _0.,1,Set(CALLERID(num)=4930123)
 same => n,Dial(PJSIP/${EXTEN:1}@provider,30)
exten => _7.,1,Dial(PJSIP/${EXTEN:1})
include => services

[services]
exten => _5XX,1,NoOp(a service)
 same => n,Goto(office,200,1)

[nobody-registered]

[from-provider]
exten => 4930123,1,Dial(PJSIP/bob)
";

async fn server() -> Server {
    let report = dialplan::from_str("extensions.conf", PLAN);
    assert!(report.is_ok(), "{:?}", report.errors);
    let (server, _) = start_with(
        CONF,
        ServerOptions {
            dialplan: Some(Arc::new(report.plan)),
            ..ServerOptions::default()
        },
    )
    .await;
    server
}

/// A user agent on UDP.
struct Phone {
    wire: Wire,
    user: &'static str,
}

impl Phone {
    async fn registered(server: &Server, user: &'static str) -> Phone {
        let mut wire = Wire::connect(Transport::Udp, "127.0.0.1", server).await;
        let contact = format!("Contact: <sip:{user}@{}>", wire.addr);
        let register = Request::new("REGISTER", &wire.uri(Some(user)), user).with(contact);
        let (ok, _) = wire.ask_as(&register, user, &format!("{user}-pass")).await;
        assert_eq!(ok.status(), Some(200), "{ok:?}");
        Phone { wire, user }
    }

    /// Dials `number`: the INVITE, its challenge answered.
    async fn dial(&mut self, number: &str) -> Request {
        let invite = Request::new("INVITE", &self.wire.uri(Some(number)), self.user)
            .with(format!("Contact: <sip:{}@{}>", self.user, self.wire.addr));
        let first = self.wire.ask(&invite).await;
        assert_eq!(first.status(), Some(401), "{first:?}");
        let offer = support::offers(&first).remove(0);
        let mut next = invite.next();
        next.extra = invite.extra.clone();
        let digest =
            support::Digest::answer(&offer, self.user, &format!("{}-pass", self.user), &next);
        let next = next.with(digest.header());
        let text = self.wire.text(&next);
        self.wire.send_text(&text).await;
        next
    }

    /// The final response to the call.
    async fn outcome(&mut self) -> u16 {
        self.wire.final_response().await.status().unwrap()
    }

    /// The next request it receives but the ACKs of its failures.
    async fn incoming(&mut self) -> Message {
        loop {
            let m = self.wire.next_request().await;
            if m.method() != Some(&Method::Ack) {
                return m;
            }
        }
    }

    /// Answers `request` with `code`, To tagged for a final one, with a
    /// Contact for a 2xx.
    async fn answer(&mut self, request: &Message, code: u16) {
        let mut r = if code > 100 {
            Message::response_to_with(request, code, None, Some(self.user)).unwrap()
        } else {
            Message::response_to(request, code).unwrap()
        };
        if (200..300).contains(&code) {
            r.add_header(
                "Contact",
                &format!("<sip:{}@{}>", self.user, self.wire.addr),
            )
            .unwrap();
        }
        let text = String::from_utf8(r.to_bytes().to_vec()).unwrap();
        self.wire.send_text(&text).await;
    }
}

#[tokio::test]
async fn a_number_rings_the_endpoint_the_dialplan_names() {
    let server = server().await;
    let mut alice = Phone::registered(&server, "alice").await;
    let mut bob = Phone::registered(&server, "bob").await;
    let sent = alice.dial("200").await;
    let invite = bob.incoming().await;
    assert_eq!(invite.method(), Some(&Method::Invite));
    assert_eq!(invite.call_id().unwrap(), sent.call_id);
    // To bob's contact, the dialled number still in To; the server on the
    // route, alice's credentials for it gone.
    assert_eq!(
        invite.request_uri().unwrap(),
        format!("sip:bob@{}", bob.wire.addr)
    );
    assert!(invite.header(HeaderName::To).unwrap().contains("sip:200@"));
    assert!(invite.has(HeaderName::RecordRoute));
    assert!(!invite.has(HeaderName::Authorization));
    bob.answer(&invite, 200).await;
    assert_eq!(alice.outcome().await, 200);
}

#[tokio::test]
async fn busy_congestion_and_hangup_causes_answer_their_status() {
    let server = server().await;
    let mut alice = Phone::registered(&server, "alice").await;
    for (number, code) in [("486", 486), ("503", 503), ("403", 403), ("17", 486)] {
        alice.dial(number).await;
        assert_eq!(alice.outcome().await, code, "dialling {number}");
    }
    // A number the dialplan does not have: 404.
    alice.dial("999").await;
    assert_eq!(alice.outcome().await, 404);
    let (_, recent) = server.calls.list();
    assert_eq!(recent.len(), 5);
    assert!(recent.iter().all(|c| c.caller == "alice"));
}

#[tokio::test]
async fn the_dial_timeout_cancels_the_ringing_phone() {
    let server = server().await;
    let mut alice = Phone::registered(&server, "alice").await;
    let mut bob = Phone::registered(&server, "bob").await;
    alice.dial("201").await;
    let invite = bob.incoming().await;
    bob.answer(&invite, 180).await;
    // Bob never picks up: after the Dial's second, a CANCEL.
    let cancel = bob.incoming().await;
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    bob.answer(&cancel, 200).await;
    bob.answer(&invite, 487).await;
    // Hangup(19): no answer.
    assert_eq!(alice.outcome().await, 480);
}

#[tokio::test]
async fn when_nobody_answers_the_dialplan_goes_on() {
    let server = server().await;
    let mut alice = Phone::registered(&server, "alice").await;
    let mut bob = Phone::registered(&server, "bob").await;
    let mut carol = Phone::registered(&server, "carol").await;
    // Bob rings out; carol is next.
    let sent = alice.dial("202").await;
    let invite = bob.incoming().await;
    bob.answer(&invite, 180).await;
    let cancel = bob.incoming().await;
    assert_eq!(cancel.method(), Some(&Method::Cancel));
    bob.answer(&cancel, 200).await;
    bob.answer(&invite, 487).await;
    let to_carol = carol.incoming().await;
    assert_eq!(to_carol.method(), Some(&Method::Invite));
    assert_eq!(to_carol.call_id().unwrap(), sent.call_id);
    carol.answer(&to_carol, 200).await;
    assert_eq!(alice.outcome().await, 200);
    // Bob is busy: ${DIALSTATUS} is BUSY, the Goto goes to carol.
    alice.dial("203").await;
    let invite = bob.incoming().await;
    bob.answer(&invite, 486).await;
    let to_carol = carol.incoming().await;
    assert_eq!(to_carol.method(), Some(&Method::Invite));
    carol.answer(&to_carol, 486).await;
    // The end of the dialplan after a busy dial: 486.
    assert_eq!(alice.outcome().await, 486);
}

#[tokio::test]
async fn a_dial_of_two_rings_both_and_the_first_answer_wins() {
    let server = server().await;
    let mut alice = Phone::registered(&server, "alice").await;
    let mut bob = Phone::registered(&server, "bob").await;
    let mut carol = Phone::registered(&server, "carol").await;
    alice.dial("204").await;
    let to_bob = bob.incoming().await;
    let to_carol = carol.incoming().await;
    bob.answer(&to_bob, 180).await;
    carol.answer(&to_carol, 200).await;
    assert_eq!(alice.outcome().await, 200);
    let cancel = bob.incoming().await;
    assert_eq!(cancel.method(), Some(&Method::Cancel));
}

#[tokio::test]
async fn include_and_goto_lead_to_the_dial() {
    let server = server().await;
    let mut alice = Phone::registered(&server, "alice").await;
    let mut bob = Phone::registered(&server, "bob").await;
    // 555 is in [services], included by [office]; it goes back to 200.
    alice.dial("555").await;
    let invite = bob.incoming().await;
    assert_eq!(invite.method(), Some(&Method::Invite));
    // bob declines: the dialplan ends, and alice hears the cause of
    // bob's 603 (21, call rejected) as Asterisk sends it: 403.
    bob.answer(&invite, 603).await;
    assert_eq!(alice.outcome().await, 403);
}

#[tokio::test]
async fn unreachable_targets_end_in_503() {
    let server = server().await;
    let mut alice = Phone::registered(&server, "alice").await;
    // No such endpoint registered anything: CHANUNAVAIL, then congestion.
    alice.dial("205").await;
    assert_eq!(alice.outcome().await, 503);
    // A trunk, with no trunk dialling in this server: the same.
    alice.dial("0049301234").await;
    assert_eq!(alice.outcome().await, 503);
}

#[tokio::test]
async fn an_endpoint_whose_context_the_dialplan_lacks_calls_as_before() {
    let server = server().await;
    let mut dave = Phone::registered(&server, "dave").await;
    let mut bob = Phone::registered(&server, "bob").await;
    // dave's context is not in the dialplan: bob is reached by his AOR.
    dave.dial("bob").await;
    let invite = bob.incoming().await;
    assert_eq!(invite.method(), Some(&Method::Invite));
    bob.answer(&invite, 200).await;
    assert_eq!(dave.outcome().await, 200);
    // In the dialplan, "bob" is no extension.
    let mut alice = Phone::registered(&server, "alice").await;
    alice.dial("bob").await;
    assert_eq!(alice.outcome().await, 404);
}

#[tokio::test]
async fn a_call_from_an_identified_trunk_is_routed_by_its_context() {
    let server = server().await;
    let mut bob = Phone::registered(&server, "bob").await;
    // The provider, identified by its address, needs no credentials.
    let mut provider = Wire::connect(Transport::Udp, "127.0.0.2", &server).await;
    let invite = Request::new("INVITE", &provider.uri(Some("4930123")), "0301234567")
        .with(format!("Contact: <sip:0301234567@{}>", provider.addr));
    let text = provider.text(&invite);
    provider.send_text(&text).await;
    let to_bob = bob.incoming().await;
    assert_eq!(to_bob.method(), Some(&Method::Invite));
    assert_eq!(to_bob.call_id().unwrap(), invite.call_id);
    bob.answer(&to_bob, 200).await;
    assert_eq!(provider.final_response().await.status(), Some(200));
    // The same number from a phone: not in [office], 404.
    let mut alice = Phone::registered(&server, "alice").await;
    alice.dial("4930123").await;
    assert_eq!(alice.outcome().await, 404);
}

#[tokio::test]
async fn the_callers_cancel_ends_the_dialplan_too() {
    let server = server().await;
    let mut alice = Phone::registered(&server, "alice").await;
    let mut bob = Phone::registered(&server, "bob").await;
    let mut carol = Phone::registered(&server, "carol").await;
    // 202 would go on to carol after bob; alice gives up while bob rings.
    let sent = alice.dial("202").await;
    let invite = bob.incoming().await;
    bob.answer(&invite, 180).await;
    let mut cancel = sent.clone();
    cancel.method = "CANCEL".into();
    cancel.extra.clear();
    let text = alice.wire.text(&cancel);
    alice.wire.send_text(&text).await;
    let to_bob = bob.incoming().await;
    assert_eq!(to_bob.method(), Some(&Method::Cancel));
    bob.answer(&to_bob, 200).await;
    bob.answer(&invite, 487).await;
    // The CANCEL's 200, then the INVITE's 487.
    loop {
        let r = alice.wire.final_response().await;
        if r.cseq().unwrap().method == "INVITE" {
            assert_eq!(r.status(), Some(487));
            break;
        }
    }
    // Carol's next call is the next one, not the cancelled one's next step.
    let next = alice.dial("204").await;
    let to_carol = carol.incoming().await;
    assert_eq!(to_carol.call_id().unwrap(), next.call_id);
}

/// What the trunk dialler was asked: the targets, the caller ID, the
/// timeout.
type Asked = (
    Vec<dialplan::DialTarget>,
    String,
    Option<std::time::Duration>,
);

/// A trunk dialler that notes what it is asked to dial and reports the
/// provider busy.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<Asked>>);

impl sipjet_server::modules::TrunkDialer for Recorder {
    fn dial(&self, call: sipjet_server::modules::TrunkCall) {
        self.0
            .lock()
            .unwrap()
            .push((call.targets.clone(), call.caller_num.clone(), call.timeout));
        call.not_answered(dialplan::DialStatus::Busy, 486);
    }
}

#[tokio::test]
async fn trunk_dials_go_through_the_seam_and_a_dialled_number_cannot_reach_a_trunk() {
    let report = dialplan::from_str("extensions.conf", PLAN);
    let recorder = Arc::new(Recorder::default());
    let (server, _) = start_with(
        CONF,
        ServerOptions {
            dialplan: Some(Arc::new(report.plan)),
            trunk_dialer: Some(recorder.clone()),
            ..ServerOptions::default()
        },
    )
    .await;
    let mut alice = Phone::registered(&server, "alice").await;
    let mut bob = Phone::registered(&server, "bob").await;
    // 0 and a number: to the trunk, with the caller ID the dialplan set;
    // the provider is busy and the dialplan ends: 486.
    alice.dial("0049301234").await;
    assert_eq!(alice.outcome().await, 486);
    assert_eq!(
        recorder.0.lock().unwrap().clone(),
        [(
            vec![dialplan::DialTarget::Trunk {
                number: "049301234".into(),
                trunk: "provider".into()
            }],
            "4930123".to_string(),
            Some(std::time::Duration::from_secs(30))
        )]
    );
    // 7 and an endpoint rings it; 7 and "x@provider" (escaped in the
    // Request-URI) is not dialled anywhere.
    alice.dial("71%40provider").await;
    assert_eq!(alice.outcome().await, 503);
    assert_eq!(recorder.0.lock().unwrap().len(), 1);
    let sent = alice.dial("7bob").await;
    let invite = bob.incoming().await;
    assert_eq!(invite.call_id().unwrap(), sent.call_id);
}
