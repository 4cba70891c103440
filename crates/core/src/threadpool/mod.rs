//! The SIP threadpool and its serializers: the seed's `ast_sip_create_work`,
//! `ast_sip_destroy_work` and `ast_sip_push_task`.
//!
//! A [`Serializer`] (the seed's "SIP work") groups tasks that must not run
//! at the same time, such as the tasks of one dialog: they run one at a
//! time, in the order they were pushed. Different serializers run in
//! parallel on the threads of one shared [`ThreadPool`].
//!
//! The pool is built the way Asterisk's 2025 "taskpool" is, rather than its
//! older threadpool: a serializer with work is itself the unit of
//! scheduling. A thread takes a ready serializer, runs a batch of its tasks
//! back to back (no hand-off per task), and puts the serializer back at the
//! end of the ready queue if it still has work, so one busy serializer
//! cannot starve the others.
//!
//! Sizing follows Asterisk's `[system]` options: `threadpool_initial_size`,
//! `threadpool_auto_increment`, `threadpool_idle_timeout` and
//! `threadpool_max_size`.

mod pool;
mod serializer;

pub use pool::{PoolConfig, PoolStats, ThreadPool};
pub use serializer::Serializer;

/// Why a task could not be pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The pool is shutting down and takes no new work.
    #[error("the threadpool is shutting down")]
    ShuttingDown,
    /// A synchronous task panicked, so it has no result.
    #[error("the task panicked")]
    Panicked,
}

#[cfg(test)]
mod tests;
