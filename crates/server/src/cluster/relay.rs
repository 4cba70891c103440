//! The holder's side of a hop ([`super::hop`]): a request whose first
//! Route names this node with a flow and a token is sent on over that
//! flow, as a stateful proxy (RFC 3261 §16), once the token proves that
//! another node of the cluster sent it. That node identified and
//! authenticated the sender already, so the relay runs before the
//! distributor does either; a request whose token does not verify is
//! answered 403 and sent nowhere: the node is no open relay to the flows
//! it holds.

use std::sync::Arc;
use std::time::SystemTime;

use sipjet_core::message::Uri;
use sipjet_core::{
    ContextTimers, Handled, IncomingRequest, Method, Priority, ProxyOptions, Service, Target,
};

use super::Cluster;
use super::hop;

/// Relays the requests other nodes send to the flows this node holds.
pub struct FlowRelay {
    cluster: Arc<Cluster>,
    timers: ContextTimers,
}

impl FlowRelay {
    /// A relay for this node of `cluster`, with the proxy's `timers`.
    pub fn new(cluster: Arc<Cluster>, timers: ContextTimers) -> FlowRelay {
        FlowRelay { cluster, timers }
    }
}

impl Service for FlowRelay {
    fn name(&self) -> &str {
        "relay"
    }

    fn priority(&self) -> i32 {
        // Before the distributor: the node that sent the request
        // authenticated it; challenging it again here would send the 401
        // to that node, not to the user agent.
        Priority::DISTRIBUTOR - 1
    }

    fn runs_inline(&self) -> bool {
        // A hash checked and a request handed to the proxy.
        true
    }

    fn on_rx_request(&self, request: &IncomingRequest) -> Handled {
        // An ACK or a CANCEL belongs to a transaction the relay started
        // (or to nothing): the transaction layer and the proxy have them.
        if matches!(request.method(), Method::Ack | Method::Cancel) {
            return Handled::No;
        }
        let m = &request.message;
        let Some(Ok(first)) = m.routes().next() else {
            return Handled::No;
        };
        let Ok(Uri::Sip(uri)) = Uri::parse(first.uri_str()) else {
            return Handled::No;
        };
        if !hop::is_hop(&uri) {
            return Handled::No;
        }
        let call_id = m.call_id().unwrap_or_default();
        let checked = match &self.cluster.hop_key {
            Some(key) => key.verify(&uri, &self.cluster.node_id, call_id, SystemTime::now()),
            None => Err(hop::BadHop::Forged),
        };
        let flow = match checked {
            Ok(flow) => flow,
            Err(why) => {
                tracing::info!(%why, source = %request.source(), method = %request.method(), "a request to relay over a flow was refused");
                let _ = request.respond(request.response_with_reason(403, "Not relaying"));
                return Handled::Yes;
            }
        };
        let mut message = m.clone();
        let rest: Vec<String> = m
            .routes()
            .skip(1)
            .filter_map(Result::ok)
            .map(|r| r.as_str().to_string())
            .collect();
        message.remove_header("Route");
        for r in &rest {
            // A value that was received is one that may be written back.
            let _ = message.add_header("Route", r);
        }
        let target = Target {
            uri: m.request_uri().unwrap_or_default().to_string(),
            destination: Some(flow),
            ..Target::default()
        };
        // This node stays on the path of a dialog the request starts: the
        // dialog's requests to the contact must come over the same flow.
        let record_route = !matches!(request.method(), Method::Message | Method::Options);
        let options = ProxyOptions {
            record_route,
            timers: self.timers,
        };
        if let Err(refusal) =
            request
                .stack()
                .proxy_message(request, message, vec![target], &options)
        {
            tracing::info!(%refusal, "a relayed request was not forwarded");
        }
        Handled::Yes
    }
}
