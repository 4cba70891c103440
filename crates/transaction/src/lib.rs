//! # sipjet-transaction
//!
//! The transaction layer of sipjet: RFC 3261 §17 client and server
//! transactions, INVITE and non-INVITE, with the corrections of RFC 6026
//! (the Accepted state, Timers L and M), as sans-IO state machines.
//!
//! Nothing here opens a socket or reads a clock. The caller feeds
//! [`Transactions`] with received messages, the TU's requests and
//! responses, and the current time; it takes out [`Transmit`]s for the
//! transport, [`Event`]s for the transaction user, and the next deadline.
//! Every timer path can therefore be driven, and tested, with explicit
//! instants.
//!
//! - [`Transactions`]: all transactions of a stack instance; matching by
//!   branch (§17.1.3, §17.2.3) and the RFC 2543 fallback; the timer queue.
//! - [`TimerConfig`]: T1, T2, T4, Timers B to M and the `100 Trying`
//!   delay.
//! - [`TransactionKey`]: what a message is matched by.
//! - [`Event`], [`Transmit`]: what comes out.
//! - [`Kind`], [`State`]: the four kinds of transaction and their states.
//! - [`TransactionError`]: what the TU asked that cannot be done.
//!
//! - `Driver` (feature `driver`, on by default): runs the layer over real
//!   transports, with the timer task (the only part of the crate that does
//!   I/O).
//!
//! ## The `driver` feature
//!
//! The state machines need neither tokio nor the transport crate; only the
//! driver does. It sits behind the default cargo feature `driver`, so that
//! `default-features = false` gives the state machines alone, as
//! quinn-proto stands without quinn. A feature rather than a crate of its
//! own, because the driver is one module that speaks only this crate's
//! types (its `Peer` is the destination type it plugs into
//! [`Transactions`]), and the core, which runs the layer through it,
//! would otherwise depend on two crates for one layer. The state
//! machines' tests run without the feature (`cargo test -p
//! sipjet-transaction --no-default-features`), which keeps them free of
//! I/O; `scripts/test.sh` runs them so.
//!
//! The state machines, one module each, are internal: `client::invite`
//! (figure 5 / RFC 6026 §7.2), `client::non_invite` (figure 6),
//! `server::invite` (figure 7 / RFC 6026 §7.1), `server::non_invite`
//! (figure 8).

#![warn(missing_docs)]

mod client;
mod config;
#[cfg(feature = "driver")]
pub mod driver;
mod error;
mod event;
mod held;
mod id;
mod key;
mod machine;
mod server;
mod state;
#[cfg(test)]
mod testing;
mod timer_queue;
mod transactions;

pub use config::TimerConfig;
#[cfg(feature = "driver")]
pub use driver::{Driver, Peer, TransactionUser};
pub use error::TransactionError;
pub use event::{Event, Transmit};
pub use id::TransactionId;
pub use key::TransactionKey;
pub use state::{Kind, State};
pub use transactions::Transactions;
