//! # sipjet-core
//!
//! The core of sipjet: the seed's `res_sip`. Its four jobs map onto this
//! crate as follows.
//!
//! - **Service registrar**: [`SipStack::register_service`] (a [`Service`]),
//!   [`SipStack::register_authenticator`] (an [`Authenticator`]),
//!   [`SipStack::register_endpoint_identifier`] (an [`EndpointIdentifier`]).
//! - **Threadpool operator**: [`threadpool`]; [`SipStack::create_work`]
//!   gives a [`Serializer`] (`ast_sip_create_work`), dropped to destroy it,
//!   with [`Serializer::push`] (`ast_sip_push_task`).
//! - **Common SIP methods**: [`SipStack::send_request`],
//!   [`SipStack::requires_authentication`], [`SipStack::authenticate_request`],
//!   [`SipStack::get_authentication_credentials`],
//!   [`SipStack::check_authentication`], [`SipStack::challenge_request`],
//!   [`SipStack::identify_endpoint`]; and on outgoing messages the message
//!   layer's `add_header`, `set_body`, `set_multipart_body`, `append_body`.
//! - **Servicer of the stack**: the distributor, which reads every message
//!   off the transports through the transaction layer and hands it to the
//!   services on a serializer.
//!
//! Beyond the seed, what calls need: [`dialog`] (RFC 3261 §12), [`proxy`]
//! (a stateful proxy, §16), [`session`] (INVITE sessions for the caller's
//! and the callee's side: CANCEL, the 2xx's retransmission, PRACK, session
//! timers, the glare timer, and session supplements, hooks per method and
//! direction), and [`client_auth`] (answering the digest challenges of the
//! peers the stack sends to, with [`digest`]'s computations, which the
//! server's authenticator shares).
//!
//! [`Endpoint`] is a configured peer; the stack instance (the seed's
//! "PJSIP endpoint") is [`SipStack`].
//!
//! The types of the layers below that this API uses are re-exported
//! ([`message`], [`transport`], and at the root [`Message`], [`Method`],
//! [`Destination`], [`Flow`], [`TimerConfig`], ...), so that a service
//! needs `sipjet-core` and nothing else.

#![warn(missing_docs)]

mod alarms;
pub mod auth;
pub mod client_auth;
pub mod dialog;
pub mod digest;
mod distributor;
pub mod endpoint;
pub mod error;
pub mod identify;
pub mod proxy;
mod registry;
pub mod request;
mod send;
pub mod service;
pub mod session;
pub mod stack;
pub mod threadpool;

// The layers below, as the core's API speaks them: a module author
// depends on sipjet-core alone.
pub use sipjet_message as message;
pub use sipjet_message::{HeaderName, Message, Method};
pub use sipjet_transaction::{TimerConfig, TransactionId};
pub use sipjet_transport as transport;
pub use sipjet_transport::{Destination, Flow, ListenerConfig, Protocol, TransportConfig};

pub use auth::{AuthOutcome, Authenticator, CheckAuthResult, DigestChallenge, DigestSecret};
pub use client_auth::{AuthAttempt, AuthError, ClientCredential, DigestClient};
pub use endpoint::{Endpoint, IdentifyMethod};
pub use error::{RegisterError, SendError, StackError};
pub use identify::EndpointIdentifier;
pub use proxy::{ContextTimers, Fork, ProxyOptions, Target, Unanswered};
pub use request::{IncomingRequest, IncomingResponse, ServerTransaction};
pub use send::{ClientEvent, OutgoingRequest, literal_destination};
pub use service::{Handled, Priority, Service};
pub use stack::{ExternalAddress, OverloadConfig, SipStack, StackConfig, UdpOverloadAction};
pub use threadpool::{PoolConfig, PoolStats, PushError, Serializer, ThreadPool};
