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
}
