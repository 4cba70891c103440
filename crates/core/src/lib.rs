//! # sipjet-core
//!
//! The core of sipjet: the seed's `res_sip` (service registrar, threadpool
//! operator, common SIP methods, servicer of the stack).
//!
//! - [`threadpool`]: the threadpool and its serializers
//!   (`ast_sip_create_work`, `ast_sip_destroy_work`, `ast_sip_push_task`).

pub mod threadpool;

pub use threadpool::{PoolConfig, PoolStats, PushError, Serializer, ThreadPool};
