//! The dialplan: the part of Asterisk's `extensions.conf` that routes SIP
//! calls, and a sans-IO evaluator of it.
//!
//! ```text
//! [office]                                  ; a context
//! exten => _1XX,1,Dial(PJSIP/${EXTEN},20)   ; a phone, 20 s to answer
//!  same => n,Hangup(19)
//! exten => _0.,1,Set(CALLERID(num)=4930123)
//!  same => n(out),Dial(PJSIP/${EXTEN:1}@provider)
//! include => services                       ; searched after [office]
//! ```
//!
//! - [`pattern`]: extensions and patterns, and the order Asterisk tries
//!   them in;
//! - [`load`]: the file into [`Dialplan`]s, every application, option and
//!   variable sipjet does not run named in a warning with its file and
//!   line;
//! - [`run`]: one call's walk through the dialplan: it says what to do
//!   ([`run::Decision`]: dial these targets, or answer with this status)
//!   and is told how a dial ended, and nothing else — no sockets, no
//!   clocks;
//! - [`cause`]: `Hangup` causes to SIP statuses;
//! - [`show`]: what a context holds and what a number runs, for `sipjet
//!   show dialplan` and `/api/dialplan`.
//!
//! An endpoint's `context` names where its calls start; the number
//! dialled (the Request-URI's user) is `${EXTEN}`.

pub mod cause;
pub mod load;
pub mod pattern;
pub mod run;
pub mod show;

use std::collections::HashMap;
use std::time::Duration;

pub use load::{DialplanReport, cross_check, from_str, load};
pub use pattern::Pattern;
pub use run::{Decision, DialStatus, DialTarget, Execution};

use crate::config::Location;

/// A loaded `extensions.conf`.
#[derive(Clone, Debug, Default)]
pub struct Dialplan {
    contexts: HashMap<String, Context>,
    /// `[globals]`: variables every call sees.
    globals: HashMap<String, String>,
}

/// One `[context]`.
#[derive(Clone, Debug)]
pub struct Context {
    /// Its name.
    pub name: String,
    /// Where it starts.
    pub at: Location,
    /// Its extensions, in the order they are tried.
    pub extensions: Vec<Extension>,
    /// `include =>`: contexts searched after its own extensions, in order.
    pub includes: Vec<(String, Location)>,
}

/// One extension of a context: its priorities.
#[derive(Clone, Debug)]
pub struct Extension {
    /// The extension or pattern.
    pub pattern: Pattern,
    /// Its steps, by priority, in order.
    pub steps: Vec<Step>,
}

impl Extension {
    /// The step at `priority`.
    pub fn step(&self, priority: u32) -> Option<&Step> {
        self.steps
            .binary_search_by_key(&priority, |s| s.priority)
            .ok()
            .map(|i| &self.steps[i])
    }

    /// The priority labelled `label`.
    pub fn label(&self, label: &str) -> Option<u32> {
        self.steps
            .iter()
            .find(|s| s.label.as_deref() == Some(label))
            .map(|s| s.priority)
    }
}

/// One priority: an application with its arguments.
#[derive(Clone, Debug)]
pub struct Step {
    /// Its number.
    pub priority: u32,
    /// `n(label)`.
    pub label: Option<String>,
    /// What it runs.
    pub app: App,
    /// The application as written.
    pub text: String,
    /// Where it is written.
    pub at: Location,
}

/// The applications the evaluator runs. Arguments are kept as written:
/// `${...}` is substituted when the step runs.
#[derive(Clone, Debug)]
pub enum App {
    /// `Dial(PJSIP/a&PJSIP/b@trunk,timeout)`: the targets as written.
    Dial {
        /// One per `&`.
        targets: Vec<String>,
        /// Seconds, as written (empty: no limit but Timer C).
        timeout: String,
    },
    /// `Goto([[context,]exten,]priority)`.
    Goto {
        /// The context, when given.
        context: Option<String>,
        /// The extension, when given.
        exten: Option<String>,
        /// A number or a label.
        priority: String,
    },
    /// `Set(NAME=value)`, `Set(CALLERID(num)=value)`.
    Set {
        /// The variable (`CALLERID(num)`, `CALLERID(name)` or a plain
        /// name).
        name: String,
        /// The value, as written.
        value: String,
    },
    /// `Hangup([cause])`: the Q.850 cause.
    Hangup(Option<u16>),
    /// `Busy`: 486.
    Busy,
    /// `Congestion`: 503.
    Congestion,
    /// `NoOp`, `Answer`, `Verbose`, and every application sipjet does not
    /// run: the walk goes on to the next priority.
    Skip {
        /// The application's name, for the log.
        name: String,
    },
}

impl Dialplan {
    /// The context named `name`.
    pub fn context(&self, name: &str) -> Option<&Context> {
        self.contexts.get(name)
    }

    /// True when there is a `[name]` context.
    pub fn has_context(&self, name: &str) -> bool {
        self.contexts.contains_key(name)
    }

    /// The context names, sorted.
    pub fn context_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.contexts.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// A `[globals]` variable.
    pub fn global(&self, name: &str) -> Option<&str> {
        self.globals.get(name).map(String::as_str)
    }

    /// The extension `number` runs at `priority` in `context`: the first
    /// of the context's own extensions that matches and has that priority
    /// (a priority the most specific match lacks is taken from a less
    /// specific one, as Asterisk documents), else the same search in each
    /// included context in turn. Returns the context it was found in too.
    pub fn find(
        &self,
        context: &str,
        number: &str,
        priority: u32,
    ) -> Option<(&Context, &Extension)> {
        self.search(context, number, &mut Vec::new(), &|e| {
            e.step(priority).is_some()
        })
    }

    /// As [`Dialplan::find`], for the extension with the label.
    pub fn find_label(
        &self,
        context: &str,
        number: &str,
        label: &str,
    ) -> Option<(&Context, &Extension)> {
        self.search(context, number, &mut Vec::new(), &|e| {
            e.label(label).is_some()
        })
    }

    /// The extension `number` matches first in `context` (or what it
    /// includes), whatever its priorities.
    pub fn matching(&self, context: &str, number: &str) -> Option<(&Context, &Extension)> {
        self.search(context, number, &mut Vec::new(), &|_| true)
    }

    fn search<'a>(
        &'a self,
        context: &str,
        number: &str,
        seen: &mut Vec<&'a str>,
        wanted: &dyn Fn(&Extension) -> bool,
    ) -> Option<(&'a Context, &'a Extension)> {
        let ctx = self.contexts.get(context)?;
        // An include loop (a includes b includes a) is searched once.
        if seen.contains(&ctx.name.as_str()) || seen.len() >= MAX_INCLUDE_DEPTH {
            return None;
        }
        seen.push(&ctx.name);
        // The best match that has what is wanted: a priority the most
        // specific match lacks is looked for in the less specific ones,
        // as Asterisk's fallthrough does.
        if let Some(e) = ctx
            .extensions
            .iter()
            .filter(|e| e.pattern.matches(number))
            .find(|e| wanted(e))
        {
            return Some((ctx, e));
        }
        ctx.includes
            .iter()
            .find_map(|(name, _)| self.search(name, number, seen, wanted))
    }
}

/// Contexts searched through includes at most, counting the first.
const MAX_INCLUDE_DEPTH: usize = 32;

/// A `Dial` timeout as written: seconds, fractions allowed; empty or 0 is
/// none.
pub fn dial_timeout(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<f64>() {
        Ok(0.0) => Ok(None),
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(Some(Duration::from_secs_f64(s))),
        _ => Err(format!(
            "the Dial timeout {text:?} is not a number of seconds (up to a day)"
        )),
    }
}
