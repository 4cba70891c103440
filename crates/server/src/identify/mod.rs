//! Endpoint identification by source address (`identify` sections).

pub mod matcher;
