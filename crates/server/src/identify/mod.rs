//! Endpoint identification: by From user, by Authorization username, by
//! source address (`identify` sections).

pub mod identifiers;
pub mod matcher;

pub use identifiers::{ByAuthUsername, ByIp, ByUsername, CountUnidentified};
