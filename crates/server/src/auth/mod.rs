//! The default digest authenticator's building blocks: the digest
//! computations and the stateless nonces.

pub mod digest;
pub mod nonce;
