//! Client transactions: the side that sends a request and receives its
//! responses (RFC 3261 §17.1).

pub(crate) mod ack;
pub(crate) mod invite;
pub(crate) mod non_invite;
