//! MESSAGE routing (RFC 3428): an out-of-dialog MESSAGE to an endpoint or
//! AOR is delivered to every contact registered to it, in parallel, as a
//! stateful proxy forwards it (RFC 3261 §16: the same request, a Via of
//! ours on top, Max-Forwards one less), so body and Content-Type pass
//! through unchanged. The first 2xx is the sender's answer; when no
//! contact accepts, the best final response is (RFC 3261 §16.7), and a
//! target with no reachable contact gets 480.

use std::sync::{Arc, Mutex};

use sipjet_core::{
    Handled, HeaderName, IncomingRequest, Message, Method, SendError, ServerTransaction, Service,
    Target, message::SipUri,
};

use super::extensions::refuse_unsupported;
use super::reach::{target_aors, targets};

use crate::location::LocationStore;
use crate::model::Model;

/// Routes MESSAGE requests to registered contacts.
pub struct MessageRouter {
    model: Arc<Model>,
    store: Arc<dyn LocationStore>,
}

/// The forks of one MESSAGE still out, and the best answer so far.
struct Fork {
    transaction: ServerTransaction,
    outstanding: usize,
    best: Option<u16>,
    answered: bool,
}

impl Fork {
    /// RFC 3261 §16.7: a 6xx beats everything, otherwise the lowest class.
    fn better(current: Option<u16>, new: u16) -> u16 {
        match current {
            None => new,
            Some(c) if c >= 600 => c,
            Some(_) if new >= 600 => new,
            Some(c) => c.min(new),
        }
    }

    fn outcome(&mut self, result: Result<Message, SendError>) {
        self.outstanding -= 1;
        if self.answered {
            return;
        }
        match result.ok().and_then(|r| r.status()) {
            Some(code) if (200..300).contains(&code) => {
                self.answered = true;
                let _ = self.transaction.respond(self.transaction.response(code));
                return;
            }
            // A timeout or a transport failure: that contact is unreachable.
            None | Some(408) => self.best = Some(Self::better(self.best, 480)),
            Some(code) => self.best = Some(Self::better(self.best, code)),
        }
        if self.outstanding == 0 {
            self.answered = true;
            let code = self.best.unwrap_or(480);
            let _ = self.transaction.respond(self.transaction.response(code));
        }
    }
}

impl MessageRouter {
    /// A router over the model's AORs and the store's bindings.
    pub fn new(model: Arc<Model>, store: Arc<dyn LocationStore>) -> MessageRouter {
        MessageRouter { model, store }
    }
}

impl Service for MessageRouter {
    fn runs_inline(&self) -> bool {
        // Looks up bindings in memory; the forwarded requests are sent without waiting.
        true
    }

    fn name(&self) -> &str {
        "messaging"
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        if request.method() != &Method::Message || request.has_to_tag() {
            return Handled::No;
        }
        let m = &request.message;
        let Some(Ok(uri)) = m.request_uri_parsed() else {
            return Handled::No;
        };
        // A proxy honours Proxy-Require (RFC 3261 §16.3 step 5), and knows
        // no extension of it.
        if refuse_unsupported(request, HeaderName::ProxyRequire, &[]) {
            return Handled::Yes;
        }
        let Some(sip) = uri.as_sip() else {
            return Handled::No;
        };
        // A MESSAGE to the server itself is not for routing.
        let Some(user) = sip
            .user_unescaped()
            .and_then(|u| String::from_utf8(u.into_owned()).ok())
        else {
            return Handled::No;
        };
        let Some(aors) = target_aors(&self.model, &user, &sip.host.to_string()) else {
            let _ = request.reply(404);
            return Handled::Yes;
        };
        let max_forwards = m.max_forwards().ok().flatten().unwrap_or(70);
        if max_forwards == 0 {
            let _ = request.reply(483);
            return Handled::Yes;
        }
        let targets = targets(&self.model, &*self.store, &aors);
        if targets.is_empty() {
            let _ = request.reply(480);
            return Handled::Yes;
        }
        let stack = request.stack().clone();
        let fork = Arc::new(Mutex::new(Fork {
            transaction: request.server_transaction(),
            outstanding: targets.len(),
            best: None,
            answered: false,
        }));
        let local = request.flow.local;
        let own_route = |uri: &SipUri| {
            uri.host.ip().map_or_else(
                || self.model.is_local_domain(&uri.host.to_string()),
                |ip| ip == local.ip() && uri.port.unwrap_or(5060) == local.port(),
            )
        };
        let mut template = m.clone();
        // The credentials were for this server; passed on, they would hand
        // the receiver what it needs to guess the sender's password.
        template.remove_header("Authorization");
        // RFC 3325: an asserted identity is passed on only from an
        // endpoint trusted to assert one.
        super::identity::strip_untrusted_identity(&mut template, request.endpoint.as_deref());
        // RFC 3261 §16.4: a Route entry naming this server ends here.
        let routes: Vec<String> = m
            .routes()
            .filter_map(Result::ok)
            .map(|r| {
                (
                    r.as_str().to_string(),
                    r.uri().ok().and_then(|u| u.as_sip().map(own_route)),
                )
            })
            .skip_while(|(_, own)| *own == Some(true))
            .map(|(r, _)| r)
            .collect();
        template.remove_header("Route");
        for Target {
            uri: contact,
            path,
            destination,
            ..
        } in targets
        {
            let Some(dest) = destination else { continue };
            let mut forwarded = template.clone();
            for r in path.iter().chain(&routes) {
                let _ = forwarded.add_header("Route", r);
            }
            let prepared = forwarded
                .set_request_uri(&contact)
                .map_err(|e| SendError::Build(e.to_string()))
                .and_then(|()| {
                    forwarded
                        .set_header("Max-Forwards", &(max_forwards - 1).to_string())
                        .map_err(|e| SendError::Build(e.to_string()))
                })
                .and_then(|()| stack.add_via_to(&mut forwarded, &dest));
            let fork = Arc::clone(&fork);
            match prepared {
                Ok(()) => stack.send_message(forwarded, dest, None, move |result| {
                    fork.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .outcome(result);
                }),
                Err(e) => fork
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .outcome(Err(e)),
            }
        }
        Handled::Yes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_response() {
        assert_eq!(Fork::better(None, 486), 486);
        assert_eq!(Fork::better(Some(486), 404), 404);
        assert_eq!(Fork::better(Some(404), 603), 603);
        assert_eq!(Fork::better(Some(603), 404), 603);
    }
}
