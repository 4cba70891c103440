//! The OPTIONS responder: OPTIONS addressed to the server, or to a user it
//! knows, get `200 OK` with Allow, Accept and Supported (RFC 3261 §11.2);
//! to a user it does not know, `404`; one that requires an extension the
//! server does not implement, `420`.

use std::sync::Arc;

use sipjet_core::{Handled, HeaderName, IncomingRequest, Method, Service};

use super::extensions::refuse_unsupported;
use crate::model::Model;

/// The methods sipjet serves: its own (OPTIONS, REGISTER), and those its
/// services route between its users (MESSAGE, calls and what happens in
/// them).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, MESSAGE, UPDATE, INFO, PRACK, REFER, NOTIFY, SUBSCRIBE";
/// Bodies sipjet takes (in MESSAGE).
pub const ACCEPT: &str = "text/plain, application/sdp, */*";

/// Answers OPTIONS.
pub struct OptionsResponder {
    model: Arc<Model>,
    /// The extensions to advertise: `path` when an AOR supports it, and
    /// nothing that does not work.
    supported: Vec<&'static str>,
}

impl OptionsResponder {
    /// A responder knowing the model's endpoints and AORs.
    pub fn new(model: Arc<Model>) -> OptionsResponder {
        let supported = if model.config.aors.iter().any(|a| a.support_path) {
            vec!["path"]
        } else {
            Vec::new()
        };
        OptionsResponder { model, supported }
    }
}

impl Service for OptionsResponder {
    fn runs_inline(&self) -> bool {
        // Builds a response from configuration.
        true
    }

    fn name(&self) -> &str {
        "options"
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if request.method() != &Method::Options || request.has_to_tag() {
            return Handled::No;
        }
        if refuse_unsupported(request, HeaderName::Require, &self.supported) {
            return Handled::Yes;
        }
        let user = request
            .message
            .request_uri_parsed()
            .and_then(Result::ok)
            .and_then(|u| u.as_sip().and_then(|s| s.user).map(str::to_string));
        let known = match &user {
            None => true,
            Some(u) => self.model.endpoint(u).is_some() || self.model.aor(u).is_some(),
        };
        let mut response = request.response(if known { 200 } else { 404 });
        if known {
            // Static values without line breaks: these cannot fail.
            let _ = response.add_header("Allow", ALLOW);
            let _ = response.add_header("Accept", ACCEPT);
            if !self.supported.is_empty() {
                let _ = response.add_header("Supported", &self.supported.join(", "));
            }
        }
        // Statelessly, as Kamailio's sl_send_reply: the answer is the same
        // when asked again, and keep-alive probes come by the thousand.
        if let Err(e) = request.respond_stateless(response) {
            tracing::warn!(error = %e, "cannot answer an OPTIONS");
        }
        Handled::Yes
    }
}
