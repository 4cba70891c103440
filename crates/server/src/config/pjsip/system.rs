//! `type=system` (timers, the thread pool) and `type=global` (the
//! server-wide settings): one section each, defaults when absent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sipjet_core::IdentifyMethod;

use super::endpoint::identify_methods;
use super::reader::Reader;
use crate::config::file::RawSection;
use crate::config::value;

/// `type=system`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemConf {
    /// `timer_t1` (default 500 ms).
    pub timer_t1: Duration,
    /// `timer_b` (default 32000 ms).
    pub timer_b: Duration,
    /// `timer_c` (sipjet's own, default 181000 ms): how long a proxied
    /// INVITE may ring at one contact before it is cancelled (RFC 3261
    /// §16.6 step 11: more than 3 minutes; Kamailio's `fr_inv_timer`).
    pub timer_c: Duration,
    /// `compact_headers` (default no).
    pub compact_headers: bool,
    /// `threadpool_initial_size` (default 0).
    pub threadpool_initial_size: usize,
    /// `threadpool_auto_increment` (default 5).
    pub threadpool_auto_increment: usize,
    /// `threadpool_idle_timeout` (default 60 s).
    pub threadpool_idle_timeout: Duration,
    /// `threadpool_max_size` (default 50).
    pub threadpool_max_size: usize,
}

impl Default for SystemConf {
    fn default() -> Self {
        SystemConf {
            timer_t1: Duration::from_millis(500),
            timer_b: Duration::from_millis(32_000),
            timer_c: Duration::from_millis(181_000),
            compact_headers: false,
            threadpool_initial_size: 0,
            threadpool_auto_increment: 5,
            threadpool_idle_timeout: Duration::from_secs(60),
            threadpool_max_size: 50,
        }
    }
}

/// `type=global`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalConf {
    /// `max_forwards` (default 70).
    pub max_forwards: u8,
    /// `user_agent` (default `sipjet`).
    pub user_agent: String,
    /// `endpoint_identifier_order` (default `ip,username,anonymous`, of
    /// which sipjet has no anonymous identifier).
    pub endpoint_identifier_order: Vec<IdentifyMethod>,
    /// `default_realm` (default `sipjet`).
    pub default_realm: String,
    /// `keep_alive_interval` (default 90 s; 0 disables).
    pub keep_alive_interval: Duration,
    /// `unidentified_request_count` (default 5).
    pub unidentified_request_count: u32,
    /// `unidentified_request_period` (default 5 s).
    pub unidentified_request_period: Duration,
    /// `unidentified_request_prune_interval` (default 30 s).
    pub unidentified_request_prune_interval: Duration,
    /// `contact_expiration_check_interval` (default 30 s).
    pub contact_expiration_check_interval: Duration,
    /// `debug` (default no): log every message sent and received.
    pub debug: bool,
    /// `unauthenticated_server_options` (sipjet's own, default yes):
    /// OPTIONS addressed to the server itself (no user in the
    /// Request-URI) are answered without a challenge. They reveal only
    /// that the server is up, and monitors and phones send them to check
    /// exactly that.
    pub unauthenticated_server_options: bool,
    /// `dialplan` (sipjet's own): the `extensions.conf` calls are routed
    /// by, relative to the file that names it.
    pub dialplan: Option<PathBuf>,
}

impl Default for GlobalConf {
    fn default() -> Self {
        GlobalConf {
            max_forwards: 70,
            user_agent: "sipjet".into(),
            endpoint_identifier_order: vec![IdentifyMethod::Ip, IdentifyMethod::Username],
            default_realm: "sipjet".into(),
            keep_alive_interval: Duration::from_secs(90),
            unidentified_request_count: 5,
            unidentified_request_period: Duration::from_secs(5),
            unidentified_request_prune_interval: Duration::from_secs(30),
            contact_expiration_check_interval: Duration::from_secs(30),
            debug: false,
            unauthenticated_server_options: true,
            dialplan: None,
        }
    }
}

pub(super) fn system(r: &mut Reader, s: &RawSection) -> SystemConf {
    let mut c = SystemConf::default();
    let size = |v: &str| value::number(v, 0, 10_000).map(|n| n as usize);
    for o in &s.options {
        if !r.known("system", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "timer_t1" => {
                c.timer_t1 = r
                    .value(s, o, |v| value::millis(v, 100, 60_000))
                    .unwrap_or(c.timer_t1)
            }
            "timer_b" => {
                c.timer_b = r
                    .value(s, o, |v| value::millis(v, 500, 600_000))
                    .unwrap_or(c.timer_b)
            }
            "timer_c" => {
                c.timer_c = r
                    .value(s, o, |v| value::millis(v, 100, 3_600_000))
                    .unwrap_or(c.timer_c)
            }
            "compact_headers" => {
                c.compact_headers = r.value(s, o, value::boolean).unwrap_or(c.compact_headers)
            }
            "threadpool_initial_size" => {
                c.threadpool_initial_size =
                    r.value(s, o, size).unwrap_or(c.threadpool_initial_size);
            }
            "threadpool_auto_increment" => {
                c.threadpool_auto_increment =
                    r.value(s, o, size).unwrap_or(c.threadpool_auto_increment);
            }
            "threadpool_idle_timeout" => {
                c.threadpool_idle_timeout = r
                    .value(s, o, |v| value::seconds(v, 0, 86_400))
                    .unwrap_or(c.threadpool_idle_timeout);
            }
            "threadpool_max_size" => {
                c.threadpool_max_size = r
                    .value(s, o, |v| value::number(v, 1, 10_000).map(|n| n as usize))
                    .unwrap_or(c.threadpool_max_size);
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if c.timer_b < c.timer_t1 * 2 {
        r.error(
            &s.at,
            format!("[{}] timer_b must be at least twice timer_t1", s.name),
        );
    }
    c
}

pub(super) fn global(r: &mut Reader, s: &RawSection) -> GlobalConf {
    let mut g = GlobalConf::default();
    let secs = |v: &str| value::seconds(v, 0, 86_400);
    for o in &s.options {
        if !r.known("global", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "max_forwards" => {
                g.max_forwards = r
                    .value(s, o, |v| value::number(v, 1, 255).map(|n| n as u8))
                    .unwrap_or(g.max_forwards)
            }
            "user_agent" => g.user_agent = o.value.clone(),
            "endpoint_identifier_order" => {
                if let Some(m) = identify_methods(r, s, o) {
                    g.endpoint_identifier_order = m;
                }
            }
            "default_realm" => g.default_realm = o.value.clone(),
            "keep_alive_interval" => {
                g.keep_alive_interval = r.value(s, o, secs).unwrap_or(g.keep_alive_interval)
            }
            "unidentified_request_count" => {
                g.unidentified_request_count = r
                    .value(s, o, |v| value::number(v, 1, 1_000_000).map(|n| n as u32))
                    .unwrap_or(g.unidentified_request_count);
            }
            "unidentified_request_period" => {
                g.unidentified_request_period =
                    r.value(s, o, secs).unwrap_or(g.unidentified_request_period);
            }
            "unidentified_request_prune_interval" => {
                g.unidentified_request_prune_interval = r
                    .value(s, o, secs)
                    .unwrap_or(g.unidentified_request_prune_interval);
            }
            "contact_expiration_check_interval" => {
                g.contact_expiration_check_interval = r
                    .value(s, o, secs)
                    .unwrap_or(g.contact_expiration_check_interval);
            }
            "debug" => g.debug = r.value(s, o, value::boolean).unwrap_or(g.debug),
            "dialplan" => {
                let base = o.at.file.parent().unwrap_or(Path::new(""));
                g.dialplan = Some(base.join(&o.value));
            }
            "unauthenticated_server_options" => {
                g.unauthenticated_server_options = r
                    .value(s, o, value::boolean)
                    .unwrap_or(g.unauthenticated_server_options);
            }
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    g
}
