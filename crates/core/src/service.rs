//! Services: the seed's `ast_sip_register_service`. A service sees
//! received requests and responses in priority order until one handles
//! them, and every message sent, so a module (a registrar, an OPTIONS
//! responder, a SIP logger) plugs in with no door into the core.

use sipjet_message::Message;
use sipjet_transport::{Destination, Flow};

use crate::request::{IncomingRequest, IncomingResponse};

/// Priorities as PJSIP numbers its module layers: lower runs first.
pub struct Priority;

impl Priority {
    /// Transport-level modules (a message logger).
    pub const TRANSPORT: i32 = 8;
    /// Where the distributor stands (PJSIP's transaction layer less 6):
    /// services numbered below it see every received request before the
    /// endpoint is identified and authenticated, so that a logger or a
    /// counter also sees the requests that are challenged or refused.
    pub const DISTRIBUTOR: i32 = Self::TRANSACTION - 6;
    /// Transaction-level modules.
    pub const TRANSACTION: i32 = 16;
    /// User agent and proxy cores.
    pub const UA_PROXY: i32 = 32;
    /// Dialog usages (calls, subscriptions).
    pub const DIALOG_USAGE: i32 = 48;
    /// Applications (registrar, OPTIONS, messaging).
    pub const APPLICATION: i32 = 64;
}

/// What a service did with a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handled {
    /// It took the message: no service after it sees it, and answering a
    /// request is its job.
    Yes,
    /// It let the message pass to the next service.
    No,
}

/// A SIP service (a PJSIP module in the seed). Every method has a default
/// that does nothing, so a service implements what it needs.
pub trait Service: Send + Sync + 'static {
    /// A unique name, for logs and unregistering.
    fn name(&self) -> &str;

    /// Its place in the chain: lower sees messages first.
    fn priority(&self) -> i32 {
        Priority::APPLICATION
    }

    /// True when its work on a received request, and on a received
    /// response, never waits: no blocking I/O, no lock held for long, no
    /// synchronous push to a serializer. When everything a request meets
    /// says so, the core runs the request's task on the thread that
    /// received it instead of handing it to a pool thread, which saves a
    /// wake-up and a context switch per request; so too the responses to
    /// a proxy's branches. The default, false, keeps the seed's behaviour: the task
    /// goes through the threadpool.
    fn runs_inline(&self) -> bool {
        false
    }

    /// A received request, on its serializer. Return [`Handled::Yes`] to
    /// take it (and answer it).
    fn on_rx_request(&self, _request: &IncomingRequest) -> Handled {
        Handled::No
    }

    /// A received response.
    fn on_rx_response(&self, _response: &IncomingResponse) -> Handled {
        Handled::No
    }

    /// A request about to be sent; it may be changed.
    fn on_tx_request(&self, _request: &mut Message, _dest: &Destination) {}

    /// A response about to be sent on `flow`'s way back; it may be changed.
    fn on_tx_response(&self, _response: &mut Message, _flow: &Flow) {}
}
