//! The seam between the dialplan and calls through a provider: a
//! `Dial(PJSIP/number@trunk)` is handed to a [`TrunkDialer`], which
//! bridges the caller to a new session towards the trunk (a B2BUA), and
//! tells the dialplan when nobody answered so that it goes on. The
//! server's dialer is the bridge ([`super::TrunkBridge`]).
//!
//! A router without one ([`NoTrunks`]) answers every such dial as
//! unavailable (CHANUNAVAIL: the dialplan goes on, and ends in 503) and
//! says so in the log.

use std::time::Duration;

use sipjet_core::{Message, ServerTransaction};

use crate::dialplan::{DialStatus, DialTarget};

/// Places the calls a dialplan sends to a trunk.
pub trait TrunkDialer: Send + Sync {
    /// Dials `call`. Either the call is answered (the dialer bridges it
    /// and answers the caller through [`TrunkCall::request`]), or the
    /// dialer reports [`TrunkCall::not_answered`]; one of the two, once.
    fn dial(&self, call: TrunkCall);
}

/// What the dialplan hands over to dial a trunk.
pub struct TrunkCall {
    /// The caller's INVITE, still to be answered.
    pub request: ServerTransaction,
    /// The INVITE as the server forwards it: the credentials for the
    /// server's own realm and untrusted identities removed.
    pub message: Message,
    /// Every target of the `Dial` (at least one is a trunk's).
    pub targets: Vec<DialTarget>,
    /// The `Dial` timeout.
    pub timeout: Option<Duration>,
    /// `${CALLERID(num)}` when the dial started: the caller ID to present
    /// (empty when unknown).
    pub caller_num: String,
    /// Goes on with the dialplan.
    pub(crate) then: Box<dyn FnOnce(ServerTransaction, DialStatus, u16) + Send>,
}

impl TrunkCall {
    /// Nobody answered: `status` says how, `code` is the status the
    /// caller would get. The dialplan goes on at the next priority.
    pub fn not_answered(self, status: DialStatus, code: u16) {
        (self.then)(self.request, status, code)
    }
}

/// The dialer of a call router that was given none.
pub struct NoTrunks;

impl TrunkDialer for NoTrunks {
    fn dial(&self, call: TrunkCall) {
        tracing::warn!(
            targets = ?call.targets,
            "no trunk dialling is available: a Dial to a trunk is not placed (CHANUNAVAIL)"
        );
        call.not_answered(DialStatus::ChanUnavail, 503);
    }
}
