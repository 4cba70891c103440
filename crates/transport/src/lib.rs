//! # sipjet-transport
//!
//! The transport layer of sipjet (under construction).
