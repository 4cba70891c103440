//! The default digest authenticator and its building blocks: the digest
//! computations and the stateless nonces.

pub mod authenticator;
pub mod digest;
pub mod nonce;

pub use authenticator::DigestAuthenticator;
