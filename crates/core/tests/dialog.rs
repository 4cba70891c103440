//! A dialog between two stacks: INVITE, 200, ACK, and a BYE sent in the
//! dialog, which the callee's distributor routes to the dialog's own
//! serializer.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, mpsc};

use common::*;
use sipjet_core::dialog::{Dialog, DialogId};
use sipjet_core::{
    Handled, IncomingRequest, OutgoingRequest, SendError, Serializer, Service, SipStack,
    literal_destination,
};
use sipjet_message::{Message, Method};
use sipjet_testkit::wait_until;
use sipjet_transport::Protocol;

/// Answers INVITE with 200, keeps the dialog on a serializer of its own,
/// answers BYE in it.
struct Callee {
    contact: Mutex<String>,
    dialogs: Mutex<HashMap<DialogId, Dialog>>,
    serializer: Mutex<Option<Serializer>>,
    acked: Mutex<bool>,
}

impl Service for Callee {
    fn name(&self) -> &str {
        "callee"
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        match request.method() {
            Method::Invite => {
                let mut ok = request.response(200);
                ok.add_header("Contact", &self.contact.lock().unwrap())
                    .unwrap();
                let dialog = Dialog::from_uas(&request.message, &ok).unwrap();
                let work = request.stack().create_work("call");
                request
                    .stack()
                    .register_dialog(dialog.id().clone(), work.clone());
                *self.serializer.lock().unwrap() = Some(work);
                self.dialogs
                    .lock()
                    .unwrap()
                    .insert(dialog.id().clone(), dialog);
                request.respond(ok).unwrap();
            }
            Method::Ack => *self.acked.lock().unwrap() = true,
            Method::Bye => {
                let id = sipjet_core::dialog::id_of_request(&request.message).unwrap();
                // A dialog we do not know is the core's to answer (481).
                let Some(mut dialog) = self.dialogs.lock().unwrap().remove(&id) else {
                    return Handled::No;
                };
                dialog.receive_request(&request.message).unwrap();
                dialog.terminate();
                request.stack().unregister_dialog(&id);
                request.reply(200).unwrap();
            }
            _ => return Handled::No,
        }
        Handled::Yes
    }
}

/// A started stack with a [`Callee`], whose Contact `contact` makes of
/// the stack's UDP address.
async fn started_callee(contact: impl FnOnce(SocketAddr) -> String) -> (SipStack, Arc<Callee>) {
    let callee_stack = stack();
    let callee = Arc::new(Callee {
        contact: Mutex::new(String::new()),
        dialogs: Mutex::new(HashMap::new()),
        serializer: Mutex::new(None),
        acked: Mutex::new(false),
    });
    callee_stack.register_service(callee.clone()).unwrap();
    callee_stack.start().await.unwrap();
    *callee.contact.lock().unwrap() = contact(udp_addr(&callee_stack));
    (callee_stack, callee)
}

/// Sends an INVITE from `caller` to `target` (an address) and waits for
/// its final response: the INVITE and the response.
async fn invite(caller: &SipStack, target: &str) -> (Message, Message) {
    let invite = caller
        .build_request(&OutgoingRequest::new(Method::Invite, target), Protocol::Udp)
        .unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    caller.send_message(
        invite.clone(),
        literal_destination(target).unwrap(),
        None,
        move |r| {
            let _ = tx.send(r);
        },
    );
    let ok = tokio::time::timeout(PATIENCE, rx)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    (invite, ok)
}

/// Sends a BYE in `dialog` and waits for its outcome.
async fn bye(caller: &SipStack, dialog: &mut Dialog) -> Result<Message, SendError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    caller.send_in_dialog(dialog, Method::Bye, None, None, move |r| {
        let _ = tx.send(r);
    });
    tokio::time::timeout(PATIENCE, rx).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_ack_bye_in_a_dialog() {
    let (callee_stack, callee) = started_callee(|addr| format!("<sip:callee@{addr}>")).await;
    let callee_addr = udp_addr(&callee_stack);

    let caller = stack();
    caller.start().await.unwrap();
    let target = format!("sip:callee@{callee_addr}");
    let (invite, ok) = invite(&caller, &target).await;
    assert_eq!(ok.status(), Some(200));
    let mut dialog = Dialog::from_uac(&invite, &ok).unwrap();

    // ACK for the 2xx, outside any transaction.
    let mut ack = dialog.ack(invite.cseq().unwrap().seq).unwrap();
    let dest = caller.dialog_destination(&dialog).unwrap();
    caller.add_via(&mut ack, dest.protocol).unwrap();
    caller.send_stateless(ack, dest);

    // The ACK runs on the dialog's serializer too; once it has, nothing
    // else is queued there.
    wait_until("the callee to take the ACK", || {
        *callee.acked.lock().unwrap()
    })
    .await;
    let work = callee.serializer.lock().unwrap().clone().unwrap();

    // Hold the dialog's serializer: the BYE must wait for it.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    work.push(move || {
        let _ = release_rx.recv_timeout(PATIENCE);
    })
    .unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    caller.send_in_dialog(&mut dialog, Method::Bye, None, None, move |r| {
        let _ = tx.send(r);
    });
    wait_until(
        "the BYE queued behind the held task on the dialog's serializer",
        || work.queued() == 1,
    )
    .await;
    assert!(
        rx.try_recv().is_err(),
        "the BYE waits for the dialog's serializer"
    );
    release_tx.send(()).unwrap();
    let bye_ok = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(bye_ok.status(), Some(200));

    // The dialog is gone: another BYE gets 481.
    let second = bye(&caller, &mut dialog).await.unwrap();
    assert_eq!(second.status(), Some(481));
}

/// A dialog whose remote target is a host name (RFC 3263): the ACK and
/// the BYE go where the name resolves, and a name that does not resolve
/// fails the request with the reason rather than losing it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_dialog_requests_to_a_host_name_are_resolved() {
    let (callee_stack, callee) =
        started_callee(|addr| format!("<sip:callee@callee.test:{}>", addr.port())).await;
    let callee_port = udp_addr(&callee_stack).port();
    let dns =
        sipjet_testkit::dns::serve(vec![sipjet_testkit::dns::addr("callee.test.", "127.0.0.1")])
            .await;

    let caller = stack_with(|c| c.name_servers = Some(vec![dns]));
    caller.start().await.unwrap();
    let target = format!("sip:callee@127.0.0.1:{callee_port}");
    let (invite, ok) = invite(&caller, &target).await;
    let mut dialog = Dialog::from_uac(&invite, &ok).unwrap();
    assert_eq!(
        dialog.next_hop(),
        format!("sip:callee@callee.test:{callee_port}")
    );
    assert!(caller.dialog_destination(&dialog).is_none());

    let dest = caller.resolve_dialog_destination(&dialog).await.unwrap();
    assert_eq!(dest.addr, udp_addr(&callee_stack));
    let mut ack = dialog.ack(invite.cseq().unwrap().seq).unwrap();
    caller.add_via_to(&mut ack, &dest).unwrap();
    caller.send_stateless(ack, dest);
    wait_until("the callee to take the ACK", || {
        *callee.acked.lock().unwrap()
    })
    .await;

    let bye_ok = bye(&caller, &mut dialog).await.unwrap();
    assert_eq!(bye_ok.status(), Some(200));
    assert!(
        callee.dialogs.lock().unwrap().is_empty(),
        "the callee's dialog ended with the BYE"
    );

    // A target refresh to a name nobody knows: the request fails, naming
    // the name.
    let mut lost = Dialog::from_uac(&invite, &{
        let mut other = ok.clone();
        other
            .set_header("Contact", "<sip:callee@nowhere.test:5060>")
            .unwrap();
        other
    })
    .unwrap();
    match bye(&caller, &mut lost).await {
        Err(SendError::Unreachable { target, .. }) => {
            assert_eq!(target, "sip:callee@nowhere.test:5060")
        }
        other => panic!("expected the name to be unresolvable, got {other:?}"),
    }
}
