//! HTTP digest computations for SIP (RFC 3261 §22.4, RFC 7616, RFC 8760):
//! the core's, which the configuration and the authenticator share and
//! which the core's client side answers challenges with.

pub use sipjet_core::digest::*;
