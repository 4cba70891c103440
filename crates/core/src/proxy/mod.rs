//! The stateful proxy (RFC 3261 §16): what a service calls instead of
//! answering a request, to forward it to one or more targets and pass the
//! answers back — the seed's common methods grow by one, *forward this
//! request*.
//!
//! The protocol logic is sans-IO, like the transaction layer below:
//! - [`forward`]: validation (§16.3), Route preprocessing (§16.4) and the
//!   forwarded request (§16.6), as functions on messages;
//! - [`context`]: the response context (§16.7): which responses go back,
//!   which branches are cancelled, Timer C, sequential forking by `q`.
//!
//! [`SipStack::proxy`](crate::SipStack::proxy) runs them over the
//! transaction layer.

pub mod context;
pub mod forward;
mod run;

pub use context::{Action, BranchFailure, ContextTimers, ResponseContext};
pub use forward::{FlowRef, Interface, RecordRoute, Refusal, RouteStamp, RouteTokens, Target};
pub(crate) use run::ProxyCall;
pub use run::{Fork, ProxyOptions, Unanswered};
