//! What an authenticated endpoint may claim to be. Credentials prove that
//! the sender is, say, bob; they say nothing about the From header bob
//! wrote, which is what the receiver of his MESSAGE (or call) shows. So a
//! request authenticated by credentials must carry, in From, a user that
//! is one of the endpoint's identities: its name, the users of its AORs,
//! its auths' usernames, or its `from_user` (which widens what it may
//! claim). Anything else is refused with 403 and a security event.
//!
//! A REGISTER is exempt (its To names what is registered, and the
//! registrar checks that), as are requests inside a dialog the stack holds
//! (their From is the dialog's) and endpoints trusted without credentials
//! (by address, or with no auth configured): a trunk's From is its
//! callers', not its own. The anonymous From of RFC 3323
//! (`sip:anonymous@anonymous.invalid`) claims nobody and is allowed.
//!
//! The identity headers of RFC 3325 and their predecessor
//! (P-Asserted-Identity, P-Preferred-Identity, Remote-Party-ID) are
//! believed only from an endpoint with `trust_id_inbound`;
//! [`strip_untrusted_identity`] removes them from what others send before
//! it is passed on.

use std::collections::HashMap;
use std::time::SystemTime;

use sipjet_core::{
    CheckAuthResult, Endpoint, Handled, IncomingRequest, Message, Method, Priority, Service,
};

use crate::model::Model;
use crate::security::{SecurityEvent, SecurityEventKind};

/// The headers that assert who sent a request.
const IDENTITY_HEADERS: [&str; 3] = [
    "P-Asserted-Identity",
    "P-Preferred-Identity",
    "Remote-Party-ID",
];

/// Refuses requests whose From is not an identity of the endpoint that
/// authenticated them.
pub struct SenderIdentity {
    /// Endpoint name → the From users it may send as.
    identities: HashMap<String, Vec<String>>,
}

/// The user part of a name that may be `user@domain`.
fn user_of(name: &str) -> &str {
    name.split_once('@').map_or(name, |(user, _)| user)
}

impl SenderIdentity {
    /// The identities of every endpoint of `model`.
    pub fn new(model: &Model) -> SenderIdentity {
        let identities = model
            .endpoints()
            .iter()
            .map(|e| {
                let mut ids: Vec<String> = std::iter::once(user_of(&e.name))
                    .chain(e.aors.iter().map(|a| user_of(a)))
                    .map(str::to_string)
                    .chain(
                        e.auths
                            .iter()
                            .filter_map(|a| model.auth(a))
                            .map(|a| a.username.clone()),
                    )
                    .chain(e.from_user.clone())
                    .collect();
                ids.sort();
                ids.dedup();
                (e.name.clone(), ids)
            })
            .collect();
        SenderIdentity { identities }
    }

    /// True when `endpoint` may send with this From.
    fn may_claim(&self, endpoint: &Endpoint, request: &IncomingRequest) -> bool {
        let Some(user) = request.from_user() else {
            return false;
        };
        if user == "anonymous"
            && request
                .from_domain()
                .is_some_and(|d| d.eq_ignore_ascii_case("anonymous.invalid"))
        {
            return true;
        }
        self.identities
            .get(&endpoint.name)
            .is_some_and(|ids| ids.contains(&user))
    }
}

/// Removes the identity headers of a request about to be passed on,
/// unless the endpoint that sent it is trusted to assert an identity
/// (`trust_id_inbound`). Returns how many were removed.
pub fn strip_untrusted_identity(message: &mut Message, sender: Option<&Endpoint>) -> usize {
    if sender.is_some_and(|e| e.trust_id_inbound && !e.artificial) {
        return 0;
    }
    IDENTITY_HEADERS
        .iter()
        .map(|h| message.remove_header(h))
        .sum()
}

impl Service for SenderIdentity {
    fn name(&self) -> &str {
        "sender-identity"
    }

    fn priority(&self) -> i32 {
        // Right after the distributor has authenticated, before any
        // service acts on the request.
        Priority::TRANSACTION
    }

    fn runs_inline(&self) -> bool {
        // A lookup in memory.
        true
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if matches!(
            request.method(),
            Method::Register | Method::Ack | Method::Cancel
        ) || request.is_in_dialog()
            || request.authentication() != Some(CheckAuthResult::Success)
        {
            return Handled::No;
        }
        let Some(endpoint) = request.endpoint.as_ref().filter(|e| !e.artificial) else {
            return Handled::No;
        };
        if self.may_claim(endpoint, request) {
            return Handled::No;
        }
        SecurityEvent {
            kind: SecurityEventKind::RequestNotAllowed,
            time: SystemTime::now(),
            transport: request.flow.protocol.via_name(),
            remote: request.source(),
            account: &endpoint.name,
            reason: "From is not an identity of the authenticated endpoint",
        }
        .log();
        let refusal = request
            .response_with_reason(403, "From is not an identity of the authenticated endpoint");
        if let Err(e) = request.respond_stateless(refusal) {
            tracing::warn!(error = %e, "cannot refuse a request");
        }
        Handled::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_headers_pass_only_from_trusted_endpoints() {
        let text = "MESSAGE sip:a@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:b@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\n\
P-Asserted-Identity: <sip:ceo@bank.example>\r\nRemote-Party-ID: <sip:ceo@bank.example>\r\n\
P-Preferred-Identity: <sip:ceo@bank.example>\r\nContent-Length: 0\r\n\r\n";
        let m = Message::parse(text.as_bytes().to_vec()).unwrap();
        let trusted = Endpoint {
            trust_id_inbound: true,
            ..Endpoint::new("trunk")
        };
        let mut kept = m.clone();
        assert_eq!(strip_untrusted_identity(&mut kept, Some(&trusted)), 0);
        assert_eq!(kept.headers_named("P-Asserted-Identity").count(), 1);
        for sender in [None, Some(Endpoint::new("phone"))] {
            let mut stripped = m.clone();
            assert_eq!(strip_untrusted_identity(&mut stripped, sender.as_ref()), 3);
            for h in IDENTITY_HEADERS {
                assert_eq!(stripped.headers_named(h).count(), 0, "{h}");
            }
        }
    }

    #[test]
    fn users_of_names() {
        assert_eq!(user_of("alice@example.com"), "alice");
        assert_eq!(user_of("alice"), "alice");
    }
}
