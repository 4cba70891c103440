//! Endpoint identifiers: the seed's `ast_sip_endpoint_identifier`,
//! asked in registration order until one names the sender.

use std::sync::Arc;

use crate::endpoint::Endpoint;
use crate::request::IncomingRequest;

/// Finds which endpoint sent a request.
pub trait EndpointIdentifier: Send + Sync + 'static {
    /// A unique name, for logs and unregistering.
    fn name(&self) -> &str;

    /// The sender, if this identifier recognises it (`identify_endpoint`).
    fn identify_endpoint(&self, request: &IncomingRequest) -> Option<Arc<Endpoint>>;

    /// True when its work on a received request never waits: no blocking
    /// I/O, no lock held for long, no synchronous push to a serializer.
    /// When everything a request meets says so, the core runs the
    /// request's task on the thread that received it instead of handing it
    /// to a pool thread, which saves a wake-up and a context switch per
    /// request. The default, false, keeps the seed's behaviour: the task
    /// goes through the threadpool.
    fn runs_inline(&self) -> bool {
        false
    }
}
