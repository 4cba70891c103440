//! # sipjet-transaction
//!
//! The transaction layer of sipjet (under construction).
