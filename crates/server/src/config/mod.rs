//! Configuration in Asterisk's `pjsip.conf` format.

pub mod file;
pub mod options;
pub mod pjsip;
pub mod value;

pub use file::{ConfigFile, FormatError, Location, RawOption, RawSection};
