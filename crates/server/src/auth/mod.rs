//! The default digest authenticator and the stateless nonces it issues
//! (the digest computations are [`crate::digest`]).

pub mod authenticator;
pub mod nonce;

pub use authenticator::DigestAuthenticator;
pub use nonce::NonceClock;
