//! # sipjet (server)
//!
//! The sipjet server: configuration in Asterisk's `pjsip.conf` format and
//! the modules a SIP server runs on the core.

pub mod auth;
pub mod config;
pub mod identify;
pub mod security;
