//! The services the server registers on the core.

pub mod acl;
pub mod calls;
pub mod extensions;
pub mod identity;
pub mod logger;
pub mod messaging;
pub mod metrics;
pub mod options;
pub mod qualify;
pub mod reach;
pub mod registrar;
pub mod trunk;

pub use calls::{CallLog, CallRouter};
pub use identity::SenderIdentity;
pub use logger::SipLogger;
pub use messaging::MessageRouter;
pub use options::OptionsResponder;
pub use registrar::Registrar;
pub use trunk::{NoTrunks, TrunkCall, TrunkDialer};
