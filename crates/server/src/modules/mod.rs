//! The services the server registers on the core.

pub mod logger;
pub mod options;

pub use logger::SipLogger;
pub use options::OptionsResponder;
