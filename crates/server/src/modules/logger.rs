//! The SIP logger: every message received and sent, written to the log
//! while switched on, as Asterisk's `pjsip set logger on` does.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sipjet_core::{
    Destination, Flow, Handled, IncomingRequest, IncomingResponse, Message, Priority, Service,
};

/// Logs messages while its switch is on.
pub struct SipLogger {
    on: Arc<AtomicBool>,
}

impl SipLogger {
    /// A logger controlled by `switch`.
    pub fn new(switch: Arc<AtomicBool>) -> SipLogger {
        SipLogger { on: switch }
    }

    fn active(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }
}

impl Service for SipLogger {
    fn runs_inline(&self) -> bool {
        // One log line per message.
        true
    }

    fn name(&self) -> &str {
        "logger"
    }

    fn priority(&self) -> i32 {
        // Before every other service, as PJSIP's logger sits at the
        // transport layer.
        Priority::TRANSPORT - 1
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if self.active() {
            tracing::info!(target: "sip", "<--- received from {} {}\n{}", request.flow.protocol, request.source(), request.message);
        }
        Handled::No
    }

    fn on_rx_response(&self, response: &IncomingResponse) -> Handled {
        if self.active() {
            tracing::info!(target: "sip", "<--- received response\n{}", response.message);
        }
        Handled::No
    }

    fn on_tx_request(&self, request: &mut Message, dest: &Destination) {
        if self.active() {
            tracing::info!(target: "sip", "---> sending to {} {}\n{}", dest.protocol, dest.addr, request);
        }
    }

    fn on_tx_response(&self, response: &mut Message, flow: &Flow) {
        if self.active() {
            tracing::info!(target: "sip", "---> sending to {} {}\n{}", flow.protocol, flow.remote, response);
        }
    }
}
