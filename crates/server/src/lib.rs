//! # sipjet (server)
//!
//! The sipjet server: configuration in Asterisk's `pjsip.conf` format and
//! the modules a SIP server runs on the core.

pub mod admin;
pub mod auth;
pub mod config;
mod date;
pub mod default_config;
pub mod digest;
pub mod identify;
pub mod location;
pub mod model;
pub mod modules;
pub mod security;
pub mod server;
