//! What every section's reader shares: the diagnostics collected so far,
//! an option's value parsed or reported, and the option table looked up.

use super::{Diagnostic, LoadReport, PjsipConfig};
use crate::config::file::{Location, RawOption, RawSection};
use crate::config::options;

/// Collects diagnostics while the sections are read.
pub(super) struct Reader {
    warnings: Vec<Diagnostic>,
    errors: Vec<Diagnostic>,
}

impl Reader {
    /// A reader that starts with what the file format warned about.
    pub(super) fn new(format_warnings: &[(Location, String)]) -> Reader {
        Reader {
            warnings: format_warnings
                .iter()
                .map(|(at, m)| Diagnostic {
                    at: at.clone(),
                    message: m.clone(),
                })
                .collect(),
            errors: Vec::new(),
        }
    }

    /// The configuration read, with what was found.
    pub(super) fn report(self, config: PjsipConfig) -> LoadReport {
        LoadReport {
            config,
            warnings: self.warnings,
            errors: self.errors,
        }
    }

    pub(super) fn error(&mut self, at: &Location, message: String) {
        self.errors.push(Diagnostic {
            at: at.clone(),
            message,
        });
    }

    pub(super) fn warn(&mut self, at: &Location, message: String) {
        self.warnings.push(Diagnostic {
            at: at.clone(),
            message,
        });
    }

    /// Parses an option's value, recording a bad one as an error.
    pub(super) fn value<T>(
        &mut self,
        section: &RawSection,
        opt: &RawOption,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(&opt.value) {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(
                    &opt.at,
                    format!("[{}] option {}: {e}", section.name, opt.key),
                );
                None
            }
        }
    }

    /// Looks `opt` of a `kind` section up in the option table: an unknown
    /// option is warned about and skipped (false); one that is parsed but
    /// takes no effect with this value is warned about, with the reason,
    /// and still parsed, so that a wrong value is an error.
    pub(super) fn known(&mut self, kind: &str, section: &RawSection, opt: &RawOption) -> bool {
        let Some(spec) = options::spec(kind, &opt.key) else {
            self.warn(
                &opt.at,
                format!(
                    "[{}] {kind} option {} is not an option sipjet knows and is ignored",
                    section.name, opt.key
                ),
            );
            return false;
        };
        if let Some(why) = spec.effect.ignores(&opt.value) {
            let message = if spec.effect == options::Effect::Ignored(options::MEDIA_REASON) {
                format!(
                    "[{}] {kind} option {} is not supported by sipjet ({why}) and is ignored",
                    section.name, opt.key
                )
            } else {
                format!(
                    "[{}] {kind} option {} = {} takes no effect: {why}",
                    section.name, opt.key, opt.value
                )
            };
            self.warn(&opt.at, message);
        }
        true
    }
}
