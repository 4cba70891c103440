//! The meaning of `pjsip.conf`: sections by `type=` (`transport`,
//! `endpoint`, `auth`, `aor`, `identify`, `system`, `global`,
//! `domain_alias`, `registration`, `acl`) turned into typed settings, with every problem reported
//! by file, line and option.
//!
//! A bad value for an option sipjet uses is an error. An option sipjet does
//! not use is a warning that names it: people bring configurations written
//! for Asterisk, and a load that fails on a media option they never meant
//! for sipjet helps nobody, while one that silently ignores it hides it.
//!
//! The settings are written in the core's and the transport's own terms
//! ([`Protocol`], [`IdentifyMethod`]), so that nothing downstream maps one
//! vocabulary onto another. The configuration imports nothing of the
//! server's but the digest algorithms ([`crate::digest`], a leaf).
//!
//! One module per section type, each with its settings and the function
//! that reads them:
//!
//! - [`transport`](TransportConf), [`endpoint`](EndpointConf),
//!   [`auth`](AuthConf), [`aor`](AorConf), [`identify`](IdentifyConf),
//!   [`domain_alias`](DomainAliasConf), [`registration`](RegistrationConf),
//!   [`system` and `global`](SystemConf);
//! - the checks across sections (references, duplicate names and binds);
//! - the reader that collects the diagnostics and warns, from the one
//!   option table of [`super::options`], about what takes no effect.
//!
//! [`Protocol`]: sipjet_core::Protocol
//! [`IdentifyMethod`]: sipjet_core::IdentifyMethod

mod acl;
mod aor;
mod auth;
mod cross_check;
mod domain_alias;
mod endpoint;
mod identify;
mod reader;
mod registration;
mod system;
mod transport;

use std::fmt;
use std::path::Path;

use super::file::{ConfigFile, FormatError, Location};
use super::options;
use reader::Reader;

pub use acl::{AclConf, AclRule};
pub use aor::AorConf;
pub use auth::{AuthConf, AuthType};
pub use domain_alias::DomainAliasConf;
pub use endpoint::{EndpointConf, identify_method_name};
pub use identify::{IdentifyConf, MatchItem};
pub use registration::RegistrationConf;
pub use system::{GlobalConf, NO_CLUSTER_SECRET, SystemConf};
pub use transport::TransportConf;

/// A warning or an error about the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where.
    pub at: Location,
    /// What, starting with the section and option it concerns.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

impl From<FormatError> for Diagnostic {
    fn from(e: FormatError) -> Diagnostic {
        Diagnostic {
            at: e.at,
            message: e.message,
        }
    }
}

/// A loaded configuration and what was found wrong with it.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// The settings (meaningful when `errors` is empty).
    pub config: PjsipConfig,
    /// Options ignored, and similar notes.
    pub warnings: Vec<Diagnostic>,
    /// Faults that make the configuration unusable.
    pub errors: Vec<Diagnostic>,
}

impl LoadReport {
    /// True when the configuration can be used.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The report of a file whose format is broken: that one error.
    fn unreadable(e: FormatError) -> LoadReport {
        LoadReport {
            errors: vec![e.into()],
            ..LoadReport::default()
        }
    }
}

/// Every section of a `pjsip.conf`, typed.
#[derive(Clone, Debug, Default)]
pub struct PjsipConfig {
    /// `type=transport` sections.
    pub transports: Vec<TransportConf>,
    /// `type=endpoint` sections.
    pub endpoints: Vec<EndpointConf>,
    /// `type=auth` sections.
    pub auths: Vec<AuthConf>,
    /// `type=aor` sections.
    pub aors: Vec<AorConf>,
    /// `type=identify` sections.
    pub identifies: Vec<IdentifyConf>,
    /// `type=domain_alias` sections.
    pub domain_aliases: Vec<DomainAliasConf>,
    /// `type=registration` sections.
    pub registrations: Vec<RegistrationConf>,
    /// `type=acl` sections.
    pub acls: Vec<AclConf>,
    /// The `type=system` section (defaults when absent).
    pub system: SystemConf,
    /// The `type=global` section (defaults when absent).
    pub global: GlobalConf,
}

impl PjsipConfig {
    /// The endpoint of this name.
    pub fn endpoint(&self, name: &str) -> Option<&EndpointConf> {
        self.endpoints.iter().find(|e| e.name == name)
    }

    /// The auth of this name.
    pub fn auth(&self, name: &str) -> Option<&AuthConf> {
        self.auths.iter().find(|a| a.name == name)
    }

    /// The AOR of this name.
    pub fn aor(&self, name: &str) -> Option<&AorConf> {
        self.aors.iter().find(|a| a.name == name)
    }
}

/// Loads and checks a `pjsip.conf` file.
pub fn load(path: &Path) -> LoadReport {
    match ConfigFile::load(path) {
        Ok(file) => from_file(&file),
        Err(e) => LoadReport::unreadable(e),
    }
}

/// Checks a configuration held in memory (the built-in default, tests).
pub fn from_str(name: &str, text: &str) -> LoadReport {
    match ConfigFile::parse_str(name, text) {
        Ok(file) => from_file(&file),
        Err(e) => LoadReport::unreadable(e),
    }
}

/// Types every section of a parsed file.
pub fn from_file(file: &ConfigFile) -> LoadReport {
    let sections = match file.resolved() {
        Ok(s) => s,
        Err(e) => return LoadReport::unreadable(e),
    };
    let mut r = Reader::new(&file.warnings);
    let mut cfg = PjsipConfig::default();
    let mut seen_system = false;
    let mut seen_global = false;
    for s in &sections {
        let Some(kind) = s
            .options
            .iter()
            .rev()
            .find(|o| o.key == "type")
            .map(|o| o.value.to_ascii_lowercase())
        else {
            r.error(&s.at, format!("[{}] has no type= option", s.name));
            continue;
        };
        match kind.as_str() {
            "transport" => {
                if let Some(t) = transport::transport(&mut r, s) {
                    cfg.transports.push(t);
                }
            }
            "endpoint" => {
                if let Some(e) = endpoint::endpoint(&mut r, s) {
                    cfg.endpoints.push(e);
                }
            }
            "auth" => {
                if let Some(a) = auth::auth(&mut r, s) {
                    cfg.auths.push(a);
                }
            }
            "aor" => cfg.aors.push(aor::aor(&mut r, s)),
            "acl" => cfg.acls.push(acl::acl(&mut r, s)),
            "identify" => {
                if let Some(i) = identify::identify(&mut r, s) {
                    cfg.identifies.push(i);
                }
            }
            "registration" => {
                if let Some(g) = registration::registration(&mut r, s) {
                    cfg.registrations.push(g);
                }
            }
            "domain_alias" => {
                if let Some(d) = domain_alias::domain_alias(&mut r, s) {
                    cfg.domain_aliases.push(d);
                }
            }
            "system" => {
                if std::mem::replace(&mut seen_system, true) {
                    r.error(
                        &s.at,
                        format!("[{}] is a second type=system section", s.name),
                    );
                }
                cfg.system = system::system(&mut r, s);
            }
            "global" => {
                if std::mem::replace(&mut seen_global, true) {
                    r.error(
                        &s.at,
                        format!("[{}] is a second type=global section", s.name),
                    );
                }
                cfg.global = system::global(&mut r, s);
            }
            kind if options::UNSUPPORTED_SECTIONS.contains(&kind) => {
                r.warn(
                    &s.at,
                    format!(
                        "[{}] type={kind} is not supported by sipjet and is ignored",
                        s.name
                    ),
                );
            }
            other => r.error(
                &s.at,
                format!("[{}] type={other} is not a pjsip.conf section type", s.name),
            ),
        }
    }
    cross_check::cross_check(&mut r, &cfg);
    r.report(cfg)
}

#[cfg(test)]
mod tests;
