//! Each function of the seed does what the seed says, over real sockets:
//! services in priority order and the 501 nobody's requests get; the
//! authenticator and the no-authenticator rule; identifiers in
//! registration order; the 401 challenge; transmit hooks; sending a
//! request and getting its final response.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sipjet_core::{
    AuthOutcome, Authenticator, CheckAuthResult, DigestChallenge, Endpoint, EndpointIdentifier,
    Handled, IncomingRequest, OutgoingRequest, Priority, RegisterError, SendError, Service,
};
use sipjet_message::{HeaderName, Message, Method};
use sipjet_testkit::eventually;
use sipjet_transport::Flow;

/// Records what it sees; answers `answers` with 200.
struct Recorder {
    name: &'static str,
    priority: i32,
    answers: Option<Method>,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Service for Recorder {
    fn name(&self) -> &str {
        self.name
    }
    fn priority(&self) -> i32 {
        self.priority
    }
    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        let endpoint = request
            .endpoint
            .as_ref()
            .map_or("-".to_string(), |e| e.name.clone());
        self.seen
            .lock()
            .unwrap()
            .push(format!("{}:{}:{endpoint}", self.name, request.method()));
        if Some(request.method()) == self.answers.as_ref() {
            request.reply(200).unwrap();
            return Handled::Yes;
        }
        Handled::No
    }
    fn on_tx_response(&self, response: &mut Message, _flow: &Flow) {
        response.add_header("X-Seen-By", self.name).unwrap();
    }
}

fn recorder(
    name: &'static str,
    priority: i32,
    answers: Option<Method>,
    seen: &Arc<Mutex<Vec<String>>>,
) -> Arc<Recorder> {
    Arc::new(Recorder {
        name,
        priority,
        answers,
        seen: Arc::clone(seen),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_in_priority_order_then_501_never_for_ack() {
    let stack = stack();
    let seen = Arc::new(Mutex::new(Vec::new()));
    stack
        .register_service(recorder(
            "app",
            Priority::APPLICATION,
            Some(Method::Options),
            &seen,
        ))
        .unwrap();
    stack
        .register_service(recorder("early", Priority::TRANSPORT, None, &seen))
        .unwrap();
    stack
        .register_service(recorder("late", 100, None, &seen))
        .unwrap();
    assert_eq!(
        stack.register_service(recorder("app", 1, None, &seen)),
        Err(RegisterError::DuplicateService("app".into()))
    );
    stack.start().await.unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;

    let ok = peer.ask("OPTIONS", "svc-1", "").await;
    assert_eq!(ok.status(), Some(200));
    // Every service's transmit hook saw the response.
    assert_eq!(ok.headers_named("X-Seen-By").count(), 3);
    assert_eq!(*seen.lock().unwrap(), ["early:OPTIONS:-", "app:OPTIONS:-"]);

    seen.lock().unwrap().clear();
    let nobody = peer.ask("NOTIFY", "svc-2", "Event: x\r\n").await;
    assert_eq!(nobody.status(), Some(501));
    assert_eq!(
        *seen.lock().unwrap(),
        ["early:NOTIFY:-", "app:NOTIFY:-", "late:NOTIFY:-"]
    );

    // An ACK that matches nothing reaches the services and is never
    // answered. A request sent after it in the same call runs after it on
    // the same serializer, so its answer is the first to come back.
    seen.lock().unwrap().clear();
    peer.send(&peer.request("ACK", "svc-3", "")).await;
    let after = peer.ask("OPTIONS", "svc-3", "").await;
    assert_eq!(after.cseq().unwrap().method, "OPTIONS");
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "early:ACK:-",
            "app:ACK:-",
            "late:ACK:-",
            "early:OPTIONS:-",
            "app:OPTIONS:-"
        ]
    );

    // A request in a dialog nobody knows: 481.
    let text = peer
        .request("INFO", "svc-4", "")
        .replace("To: <sip:service@", "To: <sip:x@")
        .replace(">\r\nCall-ID", ">;tag=unknown\r\nCall-ID");
    peer.send(&text).await;
    assert_eq!(peer.final_response().await.status(), Some(481));

    assert!(stack.unregister_service("app"));
    assert!(!stack.unregister_service("app"));
    assert_eq!(peer.ask("OPTIONS", "svc-5", "").await.status(), Some(501));
}

/// Requires authentication for requests without an Authorization header;
/// accepts `username="good"`, fails everything else.
struct TestAuth;

impl Authenticator for TestAuth {
    fn requires_authentication(&self, endpoint: &Endpoint, request: &IncomingRequest) -> bool {
        !(request.method() == &Method::Options && endpoint.allow_unauthenticated_options)
    }
    fn authenticate_request(&self, _endpoint: &Endpoint, request: &IncomingRequest) -> AuthOutcome {
        match request.auth_username().as_deref() {
            None => AuthOutcome::Challenge { stale: false },
            Some("good") => AuthOutcome::Success,
            Some("stale") => AuthOutcome::Challenge { stale: true },
            Some(_) => AuthOutcome::Failed("wrong password".into()),
        }
    }
    fn get_authentication_credentials(
        &self,
        _endpoint: &Endpoint,
        _request: &IncomingRequest,
        stale: bool,
    ) -> Vec<DigestChallenge> {
        vec![DigestChallenge {
            stale,
            ..DigestChallenge::new("test.realm")
        }]
    }
}

/// Names the endpoint after the From user when it is in `known`.
struct ByFromUser {
    name: &'static str,
    known: Vec<&'static str>,
}

impl EndpointIdentifier for ByFromUser {
    fn name(&self) -> &str {
        self.name
    }
    fn identify_endpoint(&self, request: &IncomingRequest) -> Option<Arc<Endpoint>> {
        let user = request.from_user()?;
        self.known
            .iter()
            .find(|k| **k == user)
            .map(|k| Arc::new(Endpoint::new(format!("{}-{k}", self.name))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_authenticator_nothing_requires_authentication() {
    let stack = stack();
    let seen = Arc::new(Mutex::new(Vec::new()));
    stack
        .register_service(recorder(
            "app",
            Priority::APPLICATION,
            Some(Method::Message),
            &seen,
        ))
        .unwrap();
    stack.start().await.unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;
    assert!(!stack.has_authenticator());
    // Even credentials that an authenticator would refuse pass.
    let r = peer
        .ask(
            "MESSAGE",
            "noauth-1",
            "Authorization: Digest username=\"bad\"\r\n",
        )
        .await;
    assert_eq!(r.status(), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_authentication_challenges_accepts_and_refuses() {
    let stack = stack();
    let seen = Arc::new(Mutex::new(Vec::new()));
    stack
        .register_service(recorder(
            "app",
            Priority::APPLICATION,
            Some(Method::Message),
            &seen,
        ))
        .unwrap();
    // A logger stands before the distributor: it sees every request as it
    // arrived, challenged or not, before any endpoint is known.
    let logged = Arc::new(Mutex::new(Vec::new()));
    stack
        .register_service(recorder("log", Priority::TRANSPORT, None, &logged))
        .unwrap();
    stack.register_authenticator(Arc::new(TestAuth)).unwrap();
    assert_eq!(
        stack.register_authenticator(Arc::new(TestAuth)),
        Err(RegisterError::AuthenticatorPresent)
    );
    stack
        .register_endpoint_identifier(Arc::new(ByFromUser {
            name: "from",
            known: vec!["alice"],
        }))
        .unwrap();
    stack.start().await.unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;

    // No credentials: a 401 whose nonce and opaque the core made.
    let challenge = peer.ask("MESSAGE", "auth-1", "").await;
    assert_eq!(challenge.status(), Some(401));
    let www = challenge.www_authenticates().next().unwrap().unwrap();
    assert_eq!(www.param("realm").unwrap(), "test.realm");
    assert_eq!(www.param("nonce").unwrap().len(), 32);
    assert_eq!(www.param("opaque").unwrap().len(), 32);
    assert_eq!(www.param("stale"), None);
    assert!(
        seen.lock().unwrap().is_empty(),
        "a challenged request reaches no service after the distributor"
    );
    assert_eq!(*logged.lock().unwrap(), ["log:MESSAGE:-"]);

    // Right credentials: the services see it, with its endpoint.
    let ok = peer
        .ask(
            "MESSAGE",
            "auth-2",
            "Authorization: Digest username=\"good\"\r\n",
        )
        .await;
    assert_eq!(ok.status(), Some(200));
    assert_eq!(*seen.lock().unwrap(), ["app:MESSAGE:from-alice"]);
    assert_eq!(logged.lock().unwrap().len(), 2);

    // Wrong credentials look like any challenge.
    let wrong = peer
        .ask(
            "MESSAGE",
            "auth-3",
            "Authorization: Digest username=\"bad\"\r\n",
        )
        .await;
    assert_eq!(wrong.status(), Some(401));
    assert!(
        wrong
            .www_authenticates()
            .next()
            .unwrap()
            .unwrap()
            .param("stale")
            .is_none()
    );

    // Stale: stale=true.
    let stale = peer
        .ask(
            "MESSAGE",
            "auth-4",
            "Authorization: Digest username=\"stale\"\r\n",
        )
        .await;
    assert_eq!(
        stale
            .www_authenticates()
            .next()
            .unwrap()
            .unwrap()
            .param("stale")
            .unwrap(),
        "true"
    );

    // An unidentified source is challenged too, and its good-looking
    // credentials get the artificial endpoint's treatment only if the
    // authenticator refuses it; here it passes and the service sees the
    // artificial endpoint.
    seen.lock().unwrap().clear();
    let text = peer
        .request(
            "MESSAGE",
            "auth-5",
            "Authorization: Digest username=\"good\"\r\n",
        )
        .replace("sip:alice@", "sip:mallory@");
    peer.send(&text).await;
    assert_eq!(peer.final_response().await.status(), Some(200));
    assert_eq!(*seen.lock().unwrap(), ["app:MESSAGE:<artificial>"]);

    // Unregistered: nothing requires authentication any more.
    assert!(stack.unregister_authenticator());
    assert!(!stack.unregister_authenticator());
    assert_eq!(peer.ask("MESSAGE", "auth-6", "").await.status(), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identifiers_are_asked_in_registration_order() {
    let stack = stack();
    let seen = Arc::new(Mutex::new(Vec::new()));
    stack
        .register_service(recorder(
            "app",
            Priority::APPLICATION,
            Some(Method::Options),
            &seen,
        ))
        .unwrap();
    stack
        .register_endpoint_identifier(Arc::new(ByFromUser {
            name: "first",
            known: vec!["bob"],
        }))
        .unwrap();
    stack
        .register_endpoint_identifier(Arc::new(ByFromUser {
            name: "second",
            known: vec!["alice"],
        }))
        .unwrap();
    stack
        .register_endpoint_identifier(Arc::new(ByFromUser {
            name: "third",
            known: vec!["alice"],
        }))
        .unwrap();
    assert!(matches!(
        stack.register_endpoint_identifier(Arc::new(ByFromUser {
            name: "third",
            known: vec![]
        })),
        Err(RegisterError::DuplicateIdentifier(_))
    ));
    stack.start().await.unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;
    peer.ask("OPTIONS", "id-1", "").await;
    assert!(stack.unregister_endpoint_identifier("second"));
    peer.ask("OPTIONS", "id-2", "").await;
    assert!(stack.unregister_endpoint_identifier("third"));
    peer.ask("OPTIONS", "id-3", "").await;
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "app:OPTIONS:second-alice",
            "app:OPTIONS:third-alice",
            "app:OPTIONS:-"
        ]
    );
}

/// A service that answers OPTIONS, for a second stack to call.
struct AnswerOptions;

impl Service for AnswerOptions {
    fn name(&self) -> &str {
        "answer-options"
    }
    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        let mut ok = request.response(200);
        ok.add_header("X-Answered", "yes").unwrap();
        request.respond(ok).unwrap();
        Handled::Yes
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_request_returns_the_final_response_on_the_serializer() {
    let server = stack();
    server.register_service(Arc::new(AnswerOptions)).unwrap();
    server.start().await.unwrap();
    let client = stack();
    client.start().await.unwrap();

    let target = format!("sip:service@{}", udp_addr(&server));
    let ok = client
        .send_request_async(OutgoingRequest::new(Method::Options, &target))
        .await
        .unwrap();
    assert_eq!(ok.status(), Some(200));
    assert!(ok.header(HeaderName::CallId).is_some());
    assert_eq!(ok.headers_named("X-Answered").next(), Some("yes"));

    // On a serializer: the callback runs as one of its tasks.
    let work = client.create_work("sender");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let marker = Arc::new(AtomicUsize::new(0));
    let m2 = Arc::clone(&marker);
    let w2 = work.clone();
    client.send_request(
        OutgoingRequest::new(Method::Options, &target).body("text/plain", "hello"),
        Some(work),
        move |r| {
            // A synchronous push from the serializer's own task runs inline.
            let inline = w2
                .push_sync(move || m2.fetch_add(1, Ordering::SeqCst))
                .is_ok();
            let _ = tx.send((r.map(|m| m.status()), inline));
        },
    );
    let (status, inline) = tokio::time::timeout(PATIENCE, rx).await.unwrap().unwrap();
    assert_eq!(status, Ok(Some(200)));
    assert!(inline);
    assert_eq!(marker.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_request_failures_come_back() {
    let client = stack_with(|c| {
        c.timers = sipjet_transaction::TimerConfig::with_t1(Duration::from_millis(20))
    });
    client.start().await.unwrap();
    // Nobody answers: Timer F.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let target = format!("sip:nobody@{}", silent.local_addr().unwrap());
    let r = client
        .send_request_async(OutgoingRequest::new(Method::Options, &target))
        .await;
    assert_eq!(r.unwrap_err(), SendError::Timeout);
    // Connection refused over TCP.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = format!("sip:nobody@{closed};transport=tcp");
    let r = client
        .send_request_async(OutgoingRequest::new(Method::Options, &target))
        .await;
    assert_eq!(r.unwrap_err(), SendError::TransportFailed);
    // A name with no DNS answer.
    let r = client
        .send_request_async(OutgoingRequest::new(
            Method::Options,
            "sip:x@unresolvable.invalid",
        ))
        .await;
    assert!(matches!(r, Err(SendError::Unreachable { .. })), "{r:?}");
    // Not a URI.
    let r = client
        .send_request_async(
            OutgoingRequest::new(Method::Options, "sip:x@192.0.2.1").header("Bad Name", "x"),
        )
        .await;
    assert!(matches!(r, Err(SendError::Build(_))), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_gets_200_and_the_invite_487_or_481_when_nothing_matches() {
    let stack = stack();
    stack.start().await.unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;
    // No service takes the INVITE: 501 at once; a later CANCEL finds a
    // completed transaction... so send the CANCEL for a branch that never was.
    let cancel = peer.request("CANCEL", "cancel-1", "");
    peer.send(&cancel).await;
    assert_eq!(peer.final_response().await.status(), Some(481));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_authentication_is_callable_directly() {
    // The seed's wrapper used by a service itself, for requests the
    // distributor passed (in-dialog ones).
    struct Checks {
        result: Arc<Mutex<Option<CheckAuthResult>>>,
    }
    impl Service for Checks {
        fn name(&self) -> &str {
            "checks"
        }
        fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
            let endpoint = Endpoint::new("direct");
            let r = request.stack().check_authentication(&endpoint, request);
            *self.result.lock().unwrap() = Some(r);
            if r == CheckAuthResult::Success {
                request.reply(202).unwrap();
            }
            Handled::Yes
        }
    }
    let stack = stack();
    let result = Arc::new(Mutex::new(None));
    stack
        .register_service(Arc::new(Checks {
            result: Arc::clone(&result),
        }))
        .unwrap();
    stack.register_authenticator(Arc::new(TestAuth)).unwrap();
    stack.start().await.unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;
    // In dialogs the stack holds, so the distributor does not
    // authenticate their requests first.
    for call_id in ["direct-1", "direct-2"] {
        stack.register_dialog(
            sipjet_core::dialog::DialogId {
                call_id: call_id.into(),
                local_tag: "t".into(),
                remote_tag: format!("a-{call_id}"),
            },
            stack.create_work(call_id),
        );
    }
    let text = peer
        .request("INFO", "direct-1", "")
        .replace(">\r\nCall-ID", ">;tag=t\r\nCall-ID");
    peer.send(&text).await;
    assert_eq!(peer.final_response().await.status(), Some(401));
    // The challenge leaves from inside check_authentication, so it can
    // arrive before the service has stored what the call returned.
    let checked = eventually("the service to store what the check returned", || {
        *result.lock().unwrap()
    })
    .await;
    assert_eq!(checked, CheckAuthResult::ChallengeSent);
    let text = peer
        .request(
            "INFO",
            "direct-2",
            "Authorization: Digest username=\"good\"\r\n",
        )
        .replace(">\r\nCall-ID", ">;tag=t\r\nCall-ID");
    peer.send(&text).await;
    assert_eq!(peer.final_response().await.status(), Some(202));
}

/// Records how the core classed each request it hands on: in a dialog or
/// not, what the authentication check found, whether the endpoint counts
/// as authenticated; answers every request with 200.
struct TrustRecorder(Arc<Mutex<Vec<String>>>);

impl Service for TrustRecorder {
    fn name(&self) -> &str {
        "trust"
    }
    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        self.0.lock().unwrap().push(format!(
            "{}:{}:{:?}:{}",
            request.method(),
            if request.is_in_dialog() { "in" } else { "out" },
            request.authentication(),
            request.is_authenticated()
        ));
        request.reply(200).unwrap();
        Handled::Yes
    }
}

/// A To tag does not put a request in a dialog: only a dialog a service
/// registered with the stack does, and a REGISTER never is in one. Every
/// other request is authenticated, whatever tags it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_dialog_the_stack_holds_skips_authentication() {
    let stack = stack();
    let seen = Arc::new(Mutex::new(Vec::new()));
    stack
        .register_service(Arc::new(TrustRecorder(Arc::clone(&seen))))
        .unwrap();
    stack.register_authenticator(Arc::new(TestAuth)).unwrap();
    stack
        .register_endpoint_identifier(Arc::new(ByFromUser {
            name: "from",
            known: vec!["alice"],
        }))
        .unwrap();
    stack.start().await.unwrap();
    let peer = Peer::new(udp_addr(&stack)).await;
    let tagged = |method: &str, call_id: &str, extra: &str| {
        peer.request(method, call_id, extra).replacen(
            &format!("To: <sip:service@{}>", peer.server),
            &format!("To: <sip:service@{}>;tag=t-{call_id}", peer.server),
            1,
        )
    };
    let peer = &peer;
    let ask = |text: String| async move {
        peer.send(&text).await;
        peer.final_response().await.status()
    };

    // A tag nobody issued: challenged like any request.
    assert_eq!(ask(tagged("BYE", "d-1", "")).await, Some(401));
    assert!(seen.lock().unwrap().is_empty());
    let good = "Authorization: Digest username=\"good\"\r\n";
    assert_eq!(ask(tagged("BYE", "d-1", good)).await, Some(200));

    // The dialog registered: its requests are vouched for by it.
    stack.register_dialog(
        sipjet_core::dialog::DialogId {
            call_id: "d-2".into(),
            local_tag: "t-d-2".into(),
            remote_tag: "a-d-2".into(),
        },
        stack.create_work("dialog"),
    );
    assert_eq!(ask(tagged("BYE", "d-2", "")).await, Some(200));
    // RFC 3261 §10.2: a REGISTER is never in a dialog.
    assert_eq!(ask(tagged("REGISTER", "d-2", "")).await, Some(401));

    // An unidentified sender with accepted credentials is still not an
    // authenticated endpoint.
    let text = peer
        .request("REGISTER", "d-3", good)
        .replace("sip:alice@", "sip:mallory@");
    assert_eq!(ask(text).await, Some(200));
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "BYE:out:Some(Success):true",
            "BYE:in:None:false",
            "REGISTER:out:Some(Success):false"
        ]
    );
}
