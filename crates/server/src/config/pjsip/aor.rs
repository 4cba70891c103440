//! `[name] type=aor`: an address-of-record, its contacts and how they
//! are registered and qualified.

use std::time::Duration;

use super::reader::Reader;
use crate::config::file::{Location, RawSection};
use crate::config::value;

/// `[name] type=aor`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AorConf {
    /// Section name: the AOR's name (its user part).
    pub name: String,
    /// Where the section starts.
    pub at: Location,
    /// `contact`: static contacts.
    pub contacts: Vec<String>,
    /// `max_contacts` (default 0: no registrations accepted, as in Asterisk).
    pub max_contacts: u32,
    /// `remove_existing` (default no).
    pub remove_existing: bool,
    /// `minimum_expiration` (default 60 s).
    pub minimum_expiration: u32,
    /// `maximum_expiration` (default 7200 s).
    pub maximum_expiration: u32,
    /// `default_expiration` (default 3600 s).
    pub default_expiration: u32,
    /// `qualify_frequency` (default 0: never).
    pub qualify_frequency: u32,
    /// `qualify_timeout` (default 3 s).
    pub qualify_timeout: Duration,
    /// `authenticate_qualify` (default no).
    pub authenticate_qualify: bool,
    /// `support_path` (default no).
    pub support_path: bool,
}

pub(super) fn aor(r: &mut Reader, s: &RawSection) -> AorConf {
    let mut a = AorConf {
        name: s.name.clone(),
        at: s.at.clone(),
        contacts: Vec::new(),
        max_contacts: 0,
        remove_existing: false,
        minimum_expiration: 60,
        maximum_expiration: 7200,
        default_expiration: 3600,
        qualify_frequency: 0,
        qualify_timeout: Duration::from_secs(3),
        authenticate_qualify: false,
        support_path: false,
    };
    let secs = |v: &str| value::number(v, 0, u64::from(u32::MAX)).map(|n| n as u32);
    for o in &s.options {
        if !r.known("aor", s, o) {
            continue;
        }
        match o.key.as_str() {
            "type" => {}
            "contact" => a.contacts.extend(value::list(&o.value)),
            "max_contacts" => a.max_contacts = r.value(s, o, secs).unwrap_or(a.max_contacts),
            "remove_existing" => {
                a.remove_existing = r.value(s, o, value::boolean).unwrap_or(a.remove_existing)
            }
            "minimum_expiration" => {
                a.minimum_expiration = r.value(s, o, secs).unwrap_or(a.minimum_expiration)
            }
            "maximum_expiration" => {
                a.maximum_expiration = r.value(s, o, secs).unwrap_or(a.maximum_expiration)
            }
            "default_expiration" => {
                a.default_expiration = r.value(s, o, secs).unwrap_or(a.default_expiration)
            }
            "qualify_frequency" => {
                a.qualify_frequency = r
                    .value(s, o, |v| value::number(v, 0, 86_400).map(|n| n as u32))
                    .unwrap_or(a.qualify_frequency)
            }
            "qualify_timeout" => {
                let t = r.value(s, o, |v| {
                    let secs: f64 = v
                        .parse()
                        .map_err(|_| format!("{v:?} is not a number of seconds"))?;
                    if (0.0..=86_400.0).contains(&secs) {
                        Ok(Duration::from_secs_f64(secs))
                    } else {
                        Err(format!("{v} is outside 0..=86400"))
                    }
                });
                a.qualify_timeout = t.unwrap_or(a.qualify_timeout);
            }
            "authenticate_qualify" => {
                a.authenticate_qualify = r
                    .value(s, o, value::boolean)
                    .unwrap_or(a.authenticate_qualify);
            }
            "support_path" => {
                a.support_path = r.value(s, o, value::boolean).unwrap_or(a.support_path)
            }
            // Read for the warning the option table gives.
            "outbound_proxy" => {}
            // Known, but without anything to store (warned as such).
            _ => {}
        }
    }
    if a.minimum_expiration > a.maximum_expiration {
        r.error(
            &s.at,
            format!(
                "[{}] minimum_expiration {} is above maximum_expiration {}",
                s.name, a.minimum_expiration, a.maximum_expiration
            ),
        );
    }
    a
}
