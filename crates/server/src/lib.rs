//! # sipjet (server)
//!
//! The sipjet server: configuration in Asterisk's `pjsip.conf` format and
//! the modules a SIP server runs on the core. Every built-in module is a
//! [`Service`], an [`Authenticator`] or an [`EndpointIdentifier`] written
//! against `sipjet-core`'s public API alone, the API a user's own module
//! would use: `sipjet-core` is the server's only sipjet dependency.
//!
//! - **Configuration**: [`config`] reads `pjsip.conf` (the file format,
//!   templates, includes) and types it, one module per section type, in
//!   the core's own terms; [`config::options`] is the one table of every
//!   option, from which `sipjet check-config` warns about those that take
//!   no effect; [`default_config`] is the configuration sipjet runs with
//!   when given none.
//! - **Model**: [`model`] indexes the configuration and builds the core's
//!   endpoints from it, for the modules to share.
//! - **Server**: [`server`] turns a configuration into a running stack
//!   (listeners, timers, thread pool) and registers the modules in order;
//!   [`server::Server`] is what the admin interface and the tests read.
//! - **Authentication**: [`auth`] is the digest authenticator and its
//!   stateless nonces; [`digest`] the RFC 7616 computations it and the
//!   configuration share.
//! - **Identification**: [`identify`] finds the endpoint of a request by
//!   From user, Authorization username or source address, and counts the
//!   sources nobody could be found for.
//! - **Services**: [`modules`] holds the registrar, the MESSAGE router,
//!   the OPTIONS responder, the sender identity check, the SIP logger, the
//!   message counters and qualify, with what they share (how a contact is
//!   reached, the extensions a request requires).
//! - **Location**: [`location`] keeps the registrar's bindings, in SQLite
//!   or in memory, behind one trait.
//! - **Security**: [`security`] writes security events in one stable log
//!   format, for fail2ban and the like, and counts the sources of
//!   unidentified requests in a bounded table.
//! - **Admin**: [`admin`] is the HTTP JSON API and Prometheus metrics of
//!   a running server, and the `sipjet show` client.
//!
//! The `sipjet` binary (`main.rs`) runs a server, checks a configuration
//! (`check-config`) and talks to a running server's admin interface.
//!
//! [`Service`]: sipjet_core::Service
//! [`Authenticator`]: sipjet_core::Authenticator
//! [`EndpointIdentifier`]: sipjet_core::EndpointIdentifier

#![warn(missing_docs)]

pub mod admin;
pub mod auth;
pub mod config;
mod date;
pub mod default_config;
pub mod dialplan;
pub mod digest;
pub mod identify;
pub mod location;
pub mod model;
pub mod modules;
pub mod security;
pub mod server;
