//! Endpoints: the configured peers (phones, trunks) requests come from and
//! go to. Not to be confused with the seed's "PJSIP endpoint", the stack
//! instance itself, which is [`crate::SipStack`] here.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

/// How an endpoint may be recognised in a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IdentifyMethod {
    /// The user part of the From URI.
    Username,
    /// The username of the Authorization header.
    AuthUsername,
    /// The source address.
    Ip,
    /// A header configured for the endpoint.
    Header,
}

/// A configured peer: the seed's `struct ast_sip_endpoint`.
#[derive(Clone)]
pub struct Endpoint {
    /// Its name (unique).
    pub name: String,
    /// The AORs it registers to and is reached at.
    pub aors: Vec<String>,
    /// Inbound authentication objects (names the authenticator knows).
    pub auths: Vec<String>,
    /// Credentials for challenges this side receives from it.
    pub outbound_auths: Vec<String>,
    /// The transport to send to it from.
    pub transport: Option<String>,
    /// Where its calls and messages are routed.
    pub context: String,
    /// Which identifiers may find it.
    pub identify_by: Vec<IdentifyMethod>,
    /// The user part of From on requests sent to it.
    pub from_user: Option<String>,
    /// The host part of From on requests sent to it.
    pub from_domain: Option<String>,
    /// OPTIONS from it need no authentication.
    pub allow_unauthenticated_options: bool,
    /// The identity it asserts (P-Asserted-Identity, Remote-Party-ID) is
    /// believed and passed on (RFC 3325's trust domain); otherwise such
    /// headers from it are removed.
    pub trust_id_inbound: bool,
    /// The endpoint unidentified requests are given when an authenticator
    /// is registered: its authentication always fails, so such a request
    /// is challenged like any other and can never succeed (and nobody can
    /// tell from the answers which users exist).
    pub artificial: bool,
    /// What the server attaches (its configuration section, say).
    pub extension: Option<Arc<dyn Any + Send + Sync>>,
}

impl Endpoint {
    /// An endpoint with this name and Asterisk's defaults.
    pub fn new(name: impl Into<String>) -> Endpoint {
        Endpoint {
            name: name.into(),
            aors: Vec::new(),
            auths: Vec::new(),
            outbound_auths: Vec::new(),
            transport: None,
            context: "default".into(),
            identify_by: vec![IdentifyMethod::Username, IdentifyMethod::Ip],
            from_user: None,
            from_domain: None,
            allow_unauthenticated_options: false,
            trust_id_inbound: false,
            artificial: false,
            extension: None,
        }
    }

    /// The artificial endpoint (see [`Endpoint::artificial`]).
    pub fn artificial() -> Endpoint {
        Endpoint {
            artificial: true,
            identify_by: Vec::new(),
            ..Endpoint::new("<artificial>")
        }
    }

    /// True when `method` may find this endpoint.
    pub fn identifiable_by(&self, method: IdentifyMethod) -> bool {
        self.identify_by.contains(&method)
    }

    /// The attached extension, if it is a `T`.
    pub fn extension<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.extension.as_deref().and_then(|e| e.downcast_ref())
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("aors", &self.aors)
            .field("auths", &self.auths)
            .field("artificial", &self.artificial)
            .finish_non_exhaustive()
    }
}
