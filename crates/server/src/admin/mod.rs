//! The admin interface: the running server answers `sipjet show ...` over
//! an HTTP JSON API and serves Prometheus metrics on the same listener.
//!
//! The listener binds to loopback by default, where anyone on the machine
//! may use it, as anyone on the machine may use Asterisk's CLI socket. On
//! any other address the server starts only with a token, which every
//! request from a peer that is not on loopback must carry
//! (`Authorization: Bearer <token>`). A request without the token must
//! name the host as `localhost` or by IP address and, when it is a POST,
//! carry JSON; none may come from a web page of another origin
//! ([`access::screen`]), so that a browser on the machine cannot be made
//! to use the interface.
//!
//! - [`access`]: who may use it;
//! - [`views`]: what each route answers, as JSON;
//! - `metrics`: the Prometheus text exposition;
//! - `http`: the listener and its routes;
//! - `console`: the web console's page, built into the binary; `live`:
//!   what it reads besides the views (overview, flows, ladders, security
//!   events); `series`: the counters sampled for its charts; `events`:
//!   the Server-Sent Events that tell it when to read again;
//! - [`client`] and [`table`]: the `sipjet show` and `sipjet logger`
//!   commands, which talk to the listener.

pub mod access;
pub mod client;
mod console;
mod events;
mod http;
pub mod live;
mod metrics;
pub mod series;
pub mod table;
pub mod views;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::server::Server;

/// Where the admin interface listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8088";

/// The environment variable the token is read from when no
/// `--admin-token` is given.
pub const TOKEN_ENV: &str = "SIPJET_ADMIN_TOKEN";

/// Why the admin interface cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A listener reachable from other machines without a credential.
    #[error(
        "the admin interface address {0} is not a loopback address: give it a token \
(--admin-token or {TOKEN_ENV}), bind it to 127.0.0.1 or ::1, or turn it off with --no-admin"
    )]
    TokenRequired(SocketAddr),
    /// The address could not be bound (in use, say).
    #[error("cannot listen for the admin interface on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        source: io::Error,
    },
}

/// Where the admin interface listens and the token it asks of peers that
/// are not on loopback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminOptions {
    /// The listening address.
    pub bind: SocketAddr,
    /// The token; an empty one counts as none.
    pub token: Option<String>,
}

impl AdminOptions {
    /// Options checked before anything starts: a non-loopback address
    /// without a token is refused.
    pub fn new(bind: SocketAddr, token: Option<String>) -> Result<AdminOptions, AdminError> {
        let token = token.filter(|t| !t.is_empty());
        access::check_bind(bind, token.as_deref())?;
        Ok(AdminOptions { bind, token })
    }
}

/// A running admin listener; dropping it stops it and closes its
/// connections.
pub struct AdminListener {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
    sampler: tokio::task::JoinHandle<()>,
}

impl AdminListener {
    /// The address actually bound (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for AdminListener {
    fn drop(&mut self) {
        self.task.abort();
        self.sampler.abort();
    }
}

/// Binds `options.bind` and serves the admin interface of `server`
/// until the returned listener is dropped. The interface reads the
/// server; the server knows nothing of it.
pub async fn start(server: &Server, options: AdminOptions) -> Result<AdminListener, AdminError> {
    let options = AdminOptions::new(options.bind, options.token)?;
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|source| AdminError::Bind {
            addr: options.bind,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| AdminError::Bind {
        addr: options.bind,
        source,
    })?;
    tracing::info!(%addr, "admin interface listening");
    let series = Arc::new(series::Series::default());
    let sampler = tokio::spawn(sample(server.clone(), Arc::clone(&series)));
    let task = tokio::spawn(http::serve(
        listener,
        Arc::new(server.clone()),
        options.token,
        series,
    ));
    Ok(AdminListener {
        addr,
        task,
        sampler,
    })
}

/// Samples the counters for the console's charts until aborted.
async fn sample(server: Server, series: Arc<series::Series>) {
    let mut every = tokio::time::interval(series::SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        series.push(series::Sample::of(
            &metrics::Snapshot::of(&server),
            std::time::SystemTime::now(),
        ));
    }
}
