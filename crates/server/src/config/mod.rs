//! Configuration in Asterisk's `pjsip.conf` format.

pub mod file;

pub use file::{ConfigFile, FormatError, Location, RawOption, RawSection};
