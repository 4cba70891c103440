//! `extensions.conf` into a [`Dialplan`]: the file format is
//! `pjsip.conf`'s ([`ConfigFile`]); what the lines mean is read here.
//!
//! Everything sipjet reads but does not run is named in a warning with
//! its file and line: applications other than the ones [`App`] lists
//! (they are skipped when a call reaches them), `Dial` options, targets of
//! another technology than `PJSIP`, functions other than `CALLERID`,
//! expressions, `[general]` options. Faults that make a line meaningless
//! (a pattern that does not parse, a priority that is not one) are errors.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::{App, Context, Dialplan, Extension, Pattern, Step, cause, dial_timeout};
use crate::config::pjsip::Diagnostic;
use crate::config::{ConfigFile, Location, RawOption};

/// What loading a dialplan found.
#[derive(Clone, Debug, Default)]
pub struct DialplanReport {
    /// The dialplan (meaningful when `errors` is empty).
    pub plan: Dialplan,
    /// What is read but not run, and similar notes.
    pub warnings: Vec<Diagnostic>,
    /// Faults that make the dialplan unusable.
    pub errors: Vec<Diagnostic>,
}

impl DialplanReport {
    /// True when the dialplan can be used.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Reads an `extensions.conf` and what it includes.
pub fn load(path: &Path) -> DialplanReport {
    match ConfigFile::load(path) {
        Ok(file) => from_file(&file),
        Err(e) => DialplanReport {
            errors: vec![e.into()],
            ..DialplanReport::default()
        },
    }
}

/// Reads a dialplan held in memory (tests).
pub fn from_str(name: &str, text: &str) -> DialplanReport {
    match ConfigFile::parse_str(name, text) {
        Ok(file) => from_file(&file),
        Err(e) => DialplanReport {
            errors: vec![e.into()],
            ..DialplanReport::default()
        },
    }
}

/// The variables every call has.
const BUILT_IN_VARIABLES: &[&str] = &[
    "EXTEN",
    "CONTEXT",
    "PRIORITY",
    "DIALSTATUS",
    "CALLERID(num)",
    "CALLERID(name)",
];

struct Reader {
    warnings: Vec<Diagnostic>,
    errors: Vec<Diagnostic>,
}

impl Reader {
    fn warn(&mut self, at: &Location, message: String) {
        self.warnings.push(Diagnostic {
            at: at.clone(),
            message,
        });
    }

    fn error(&mut self, at: &Location, message: String) {
        self.errors.push(Diagnostic {
            at: at.clone(),
            message,
        });
    }
}

/// A context as it is read: extensions by pattern, in the order written.
struct Building {
    at: Location,
    extensions: Vec<(Pattern, Vec<Step>)>,
    includes: Vec<(String, Location)>,
    /// The extension of the last `exten`/`same` line.
    last: Option<usize>,
}

fn from_file(file: &ConfigFile) -> DialplanReport {
    let mut r = Reader {
        warnings: file
            .warnings
            .iter()
            .map(|(at, message)| Diagnostic {
                at: at.clone(),
                message: message.clone(),
            })
            .collect(),
        errors: Vec::new(),
    };
    let sections = match file.resolved() {
        Ok(s) => s,
        Err(e) => {
            r.errors.push(e.into());
            return DialplanReport {
                plan: Dialplan::default(),
                warnings: r.warnings,
                errors: r.errors,
            };
        }
    };
    let mut globals = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut building: HashMap<String, Building> = HashMap::new();
    for s in &sections {
        match s.name.as_str() {
            "general" => {
                for o in &s.options {
                    match (o.key.as_str(), o.value.to_ascii_lowercase().as_str()) {
                        ("autofallthrough", "yes") => {}
                        _ => r.warn(
                            &o.at,
                            format!("[general] {} is not supported and was ignored", o.key),
                        ),
                    }
                }
            }
            "globals" => {
                for o in &s.options {
                    globals.insert(o.key.clone(), o.value.clone());
                }
            }
            name => {
                if !building.contains_key(name) {
                    order.push(name.to_string());
                }
                // A context written twice is one context, as in Asterisk.
                let b = building.entry(name.to_string()).or_insert(Building {
                    at: s.at.clone(),
                    extensions: Vec::new(),
                    includes: Vec::new(),
                    last: None,
                });
                for o in &s.options {
                    context_line(&mut r, name, b, o);
                }
            }
        }
    }
    let mut contexts = HashMap::new();
    for name in order {
        let Some(b) = building.remove(&name) else {
            continue;
        };
        let mut extensions: Vec<Extension> = b
            .extensions
            .into_iter()
            .map(|(pattern, mut steps)| {
                steps.sort_by_key(|s| s.priority);
                Extension { pattern, steps }
            })
            .collect();
        extensions.sort_by(|a, b| a.pattern.cmp(&b.pattern));
        contexts.insert(
            name.clone(),
            Context {
                name,
                at: b.at,
                extensions,
                includes: b.includes,
            },
        );
    }
    let plan = Dialplan { contexts, globals };
    check_references(&mut r, &plan);
    DialplanReport {
        plan,
        warnings: r.warnings,
        errors: r.errors,
    }
}

fn context_line(r: &mut Reader, context: &str, b: &mut Building, o: &RawOption) {
    match o.key.as_str() {
        "exten" => {
            let mut parts = o.value.splitn(3, ',');
            let (Some(exten), Some(priority), Some(app)) =
                (parts.next(), parts.next(), parts.next())
            else {
                r.error(
                    &o.at,
                    format!(
                        "[{context}] exten => {} is not PATTERN,PRIORITY,APPLICATION",
                        o.value
                    ),
                );
                return;
            };
            let exten = exten.trim();
            if exten.contains('/') {
                r.warn(
                    &o.at,
                    format!("[{context}] exten {exten}: caller ID matching (/) is not supported; the line was ignored"),
                );
                return;
            }
            let pattern = match Pattern::parse(exten) {
                Ok(p) => p,
                Err(e) => {
                    r.error(&o.at, format!("[{context}] {e}"));
                    return;
                }
            };
            let n = match b.extensions.iter().position(|(p, _)| p.as_str() == exten) {
                Some(n) => n,
                None => {
                    b.extensions.push((pattern, Vec::new()));
                    b.extensions.len() - 1
                }
            };
            b.last = Some(n);
            add_step(r, context, b, n, priority, app, &o.at);
        }
        "same" => {
            let Some(n) = b.last else {
                r.error(
                    &o.at,
                    format!("[{context}] same => comes before any exten =>"),
                );
                return;
            };
            let Some((priority, app)) = o.value.split_once(',') else {
                r.error(
                    &o.at,
                    format!(
                        "[{context}] same => {} is not PRIORITY,APPLICATION",
                        o.value
                    ),
                );
                return;
            };
            add_step(r, context, b, n, priority, app, &o.at);
        }
        "include" => {
            let mut parts = o.value.split(',');
            let name = parts.next().unwrap_or_default().trim().to_string();
            if parts.next().is_some() {
                r.warn(
                    &o.at,
                    format!("[{context}] include => {name}: time conditions are not supported; it is always included"),
                );
            }
            b.includes.push((name, o.at.clone()));
        }
        other => r.warn(
            &o.at,
            format!("[{context}] {other} => is not supported and was ignored"),
        ),
    }
}

fn add_step(
    r: &mut Reader,
    context: &str,
    b: &mut Building,
    n: usize,
    priority: &str,
    app: &str,
    at: &Location,
) {
    let (pattern, steps) = &mut b.extensions[n];
    let exten = pattern.as_str().to_string();
    let priority = priority.trim();
    if priority.eq_ignore_ascii_case("hint") {
        r.warn(
            at,
            format!("[{context}] exten {exten}: hints are not supported and were ignored"),
        );
        return;
    }
    let (number, label) = match priority.split_once('(') {
        Some((n, rest)) => match rest.strip_suffix(')') {
            Some(label) if !label.is_empty() => (n.trim(), Some(label.trim().to_string())),
            _ => {
                r.error(at, format!("[{context}] exten {exten}: the priority {priority:?} has an unclosed or empty label"));
                return;
            }
        },
        None => (priority, None),
    };
    let number = if number == "n" {
        // `n` follows the priority written last for this extension.
        match steps.last() {
            Some(s) => s.priority + 1,
            None => {
                r.error(
                    at,
                    format!("[{context}] exten {exten}: priority n with no priority before it"),
                );
                return;
            }
        }
    } else {
        match number.parse::<u32>() {
            Ok(p) if p >= 1 => p,
            _ => {
                r.error(at, format!("[{context}] exten {exten}: {number:?} is not a priority (a number from 1, n, n(label) or hint)"));
                return;
            }
        }
    };
    if steps.iter().any(|s| s.priority == number) {
        r.warn(at, format!("[{context}] exten {exten}: priority {number} is already defined; this line was ignored"));
        return;
    }
    let app_text = app;
    let Some(app) = application(r, context, &exten, app.trim(), at) else {
        return;
    };
    // Kept in the order written, so that `n` follows the last one; sorted
    // once the context is read.
    steps.push(Step {
        priority: number,
        label,
        app,
        text: app_text.trim().to_string(),
        at: at.clone(),
    });
}

/// `Name(args)`, `Name,args` (the old syntax) or `Name`.
fn application(
    r: &mut Reader,
    context: &str,
    exten: &str,
    text: &str,
    at: &Location,
) -> Option<App> {
    let (name, args) = match text.find(['(', ',']) {
        Some(i) if text.as_bytes()[i] == b'(' => {
            let Some(args) = text[i + 1..].strip_suffix(')') else {
                r.error(
                    at,
                    format!("[{context}] exten {exten}: {text:?} has no closing parenthesis"),
                );
                return None;
            };
            (&text[..i], args)
        }
        Some(i) => (&text[..i], &text[i + 1..]),
        None => (text, ""),
    };
    let name = name.trim();
    let args = split_args(args);
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    let here = format!("[{context}] exten {exten}: {name}");
    let app = match name.to_ascii_lowercase().as_str() {
        "dial" => {
            let targets: Vec<String> = arg(0)
                .split('&')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            if targets.is_empty() {
                r.error(at, format!("{here} names no target"));
                return None;
            }
            for t in &targets {
                match t.split_once('/') {
                    Some((tech, rest)) if tech.eq_ignore_ascii_case("pjsip") => {
                        if rest.contains('/') {
                            r.warn(at, format!("{here}: the target {t} names a URI after the endpoint, which is not supported; it is not dialled"));
                        }
                    }
                    _ => r.warn(
                        at,
                        format!("{here}: only PJSIP/ targets are dialled; {t} is not"),
                    ),
                }
            }
            let timeout = arg(1).to_string();
            if !timeout.contains('$')
                && let Err(e) = dial_timeout(&timeout)
            {
                r.error(at, format!("{here}: {e}"));
                return None;
            }
            if !arg(2).is_empty() {
                r.warn(at, format!("{here}: the options {:?} are not run", arg(2)));
            }
            if args.len() > 3 {
                r.warn(
                    at,
                    format!("{here}: arguments after the options are not run"),
                );
            }
            App::Dial { targets, timeout }
        }
        "goto" => match args.len() {
            1 => App::Goto {
                context: None,
                exten: None,
                priority: arg(0).to_string(),
            },
            2 => App::Goto {
                context: None,
                exten: Some(arg(0).to_string()),
                priority: arg(1).to_string(),
            },
            3 => App::Goto {
                context: Some(arg(0).to_string()),
                exten: Some(arg(1).to_string()),
                priority: arg(2).to_string(),
            },
            _ => {
                r.error(at, format!("{here} takes [[context,]exten,]priority"));
                return None;
            }
        },
        "set" => {
            let Some((var, value)) = arg(0).split_once('=') else {
                r.error(at, format!("{here} takes NAME=value"));
                return None;
            };
            let var = var.trim();
            let name = match var.to_ascii_lowercase().as_str() {
                "callerid(num)" | "callerid(number)" => "CALLERID(num)".to_string(),
                "callerid(name)" => "CALLERID(name)".to_string(),
                _ if var.contains('(') => {
                    r.warn(
                        at,
                        format!("{here}: the function {var} is not run; this step is skipped"),
                    );
                    return Some(App::Skip {
                        name: name.to_string(),
                    });
                }
                _ if var.is_empty() => {
                    r.error(at, format!("{here} takes NAME=value"));
                    return None;
                }
                _ => var.to_string(),
            };
            App::Set {
                name,
                value: value.to_string(),
            }
        }
        "hangup" => {
            if arg(0).is_empty() {
                App::Hangup(None)
            } else {
                match cause::parse(arg(0)) {
                    Some(c) => App::Hangup(Some(c)),
                    None => {
                        r.warn(at, format!("{here}: {:?} is not a hangup cause (1-127 or a name such as USER_BUSY); it hangs up without one", arg(0)));
                        App::Hangup(None)
                    }
                }
            }
        }
        "busy" => App::Busy,
        "congestion" => App::Congestion,
        "noop" | "verbose" | "log" => App::Skip {
            name: name.to_string(),
        },
        "answer" => {
            r.warn(at, format!("{here} is not run: a call is answered by the phone that picks up, sipjet stays a proxy"));
            App::Skip {
                name: name.to_string(),
            }
        }
        _ => {
            r.warn(
                at,
                format!("{here}: the application {name} is not run; this step is skipped"),
            );
            App::Skip {
                name: name.to_string(),
            }
        }
    };
    if text.contains("$[") {
        r.warn(at, format!("{here}: expressions $[...] are not evaluated"));
    }
    Some(app)
}

/// The arguments of an application: split at commas that are not inside
/// parentheses or `${...}`; `\` keeps the next character as it is.
pub(crate) fn split_args(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut depth = 0usize;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    current.push(n);
                }
            }
            '(' | '{' | '[' => {
                depth += 1;
                current.push(c);
            }
            ')' | '}' | ']' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            ',' if depth == 0 => args.push(std::mem::take(&mut current).trim().to_string()),
            c => current.push(c),
        }
    }
    if !current.trim().is_empty() || !args.is_empty() {
        args.push(current.trim().to_string());
    }
    args
}

/// Includes and `Goto`s that name no context, and variables nothing sets.
fn check_references(r: &mut Reader, plan: &Dialplan) {
    let mut set: HashSet<String> = BUILT_IN_VARIABLES.iter().map(|v| v.to_string()).collect();
    set.extend(plan.globals.keys().cloned());
    for ctx in plan.contexts.values() {
        for e in &ctx.extensions {
            for s in &e.steps {
                if let App::Set { name, .. } = &s.app {
                    set.insert(name.clone());
                }
            }
        }
    }
    let mut names: Vec<&String> = plan.contexts.keys().collect();
    names.sort();
    for name in names {
        let ctx = &plan.contexts[name];
        for (included, at) in &ctx.includes {
            if !plan.has_context(included) {
                r.warn(
                    at,
                    format!("[{name}] includes [{included}], which does not exist"),
                );
            }
        }
        for e in &ctx.extensions {
            for s in &e.steps {
                let texts: Vec<&str> = match &s.app {
                    App::Dial { targets, timeout } => targets
                        .iter()
                        .map(String::as_str)
                        .chain([timeout.as_str()])
                        .collect(),
                    App::Goto {
                        context,
                        exten,
                        priority,
                    } => {
                        if let Some(c) = context
                            && !c.contains('$')
                            && !plan.has_context(c)
                        {
                            r.warn(&s.at, format!("[{name}] exten {}: Goto names the context [{c}], which does not exist", e.pattern.as_str()));
                        } else if let Some(why) =
                            goto_leads_nowhere(plan, name, e, context, exten, priority)
                        {
                            r.warn(&s.at, format!("[{name}] exten {}: Goto({}) {why}; the call ends there with 404", e.pattern.as_str(), s.text.trim_start_matches(|c: char| c != '(').trim_matches(['(', ')'])));
                        }
                        [
                            context.as_deref(),
                            exten.as_deref(),
                            Some(priority.as_str()),
                        ]
                        .into_iter()
                        .flatten()
                        .collect()
                    }
                    App::Set { value, .. } => vec![value.as_str()],
                    _ => Vec::new(),
                };
                for text in texts {
                    for var in super::run::variables(text) {
                        if !set.contains(var) {
                            r.warn(
                                &s.at,
                                format!(
                                    "[{name}] exten {}: ${{{var}}} is never set and is empty",
                                    e.pattern.as_str()
                                ),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Why a `Goto` written with literal arguments has nowhere to go, if it
/// has not.
fn goto_leads_nowhere(
    plan: &Dialplan,
    here: &str,
    current: &Extension,
    context: &Option<String>,
    exten: &Option<String>,
    priority: &str,
) -> Option<String> {
    let literal = |v: &str| !v.contains('$');
    if !literal(priority)
        || context.as_deref().is_some_and(|c| !literal(c))
        || exten.as_deref().is_some_and(|x| !literal(x))
    {
        return None;
    }
    let ctx = context.as_deref().unwrap_or(here);
    let number = priority.parse::<u32>().ok();
    let found = match exten {
        Some(x) => match number {
            Some(n) => plan.find(ctx, x, n).is_some(),
            None => plan.find_label(ctx, x, priority).is_some(),
        },
        None => match number {
            Some(n) => current.step(n).is_some(),
            None => current.label(priority).is_some(),
        },
    };
    (!found).then(|| match number {
        Some(n) => format!("has no priority {n} to go to"),
        None => format!("has no label {priority} to go to"),
    })
}

/// What the dialplan and `pjsip.conf` say of each other: endpoints whose
/// context the dialplan lacks (their calls go to the AOR the Request-URI
/// names), `Dial` targets that name no endpoint, trunks with no contact
/// to send calls to, and the targets of a `Dial` to a trunk that are not
/// rung (the bridge places one call: the first trunk target).
pub fn cross_check(plan: &Dialplan, config: &crate::config::pjsip::PjsipConfig) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let is_endpoint = |name: &str| config.endpoints.iter().any(|e| e.name == name);
    let has_contact = |name: &str| {
        config.endpoint(name).is_some_and(|e| {
            e.aors
                .iter()
                .filter_map(|a| config.aor(a))
                .any(|a| !a.contacts.is_empty())
        })
    };
    for e in &config.endpoints {
        if !plan.has_context(&e.context) {
            out.push(Diagnostic {
                at: e.at.clone(),
                message: format!(
                    "[{}] context = {}: the dialplan has no such context; this endpoint's calls go to the AOR the Request-URI names",
                    e.name, e.context
                ),
            });
        }
    }
    let mut names: Vec<&String> = plan.contexts.keys().collect();
    names.sort();
    for name in names {
        for ext in &plan.contexts[name].extensions {
            for s in &ext.steps {
                let App::Dial { targets, .. } = &s.app else {
                    continue;
                };
                let pjsip = |t: &'_ String| -> Option<String> {
                    t.split_once('/')
                        .filter(|(tech, _)| tech.eq_ignore_ascii_case("pjsip"))
                        .map(|(_, r)| r.to_string())
                };
                let first_trunk = targets
                    .iter()
                    .position(|t| pjsip(t).is_some_and(|r| r.contains('@')));
                if let Some(first) = first_trunk {
                    let unrung: Vec<&str> = targets
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| *i != first)
                        .map(|(_, t)| t.as_str())
                        .collect();
                    if !unrung.is_empty() {
                        out.push(Diagnostic {
                            at: s.at.clone(),
                            message: format!(
                                "[{name}] exten {}: a Dial to a trunk places one call, to {}: {} not rung",
                                ext.pattern.as_str(),
                                targets[first],
                                unrung.join(", ")
                            ),
                        });
                    }
                }
                for t in targets {
                    let Some(rest) = pjsip(t) else {
                        continue;
                    };
                    let trunk = rest.rsplit_once('@').map(|(_, trunk)| trunk);
                    if let Some(trunk) = trunk
                        && !trunk.contains('$')
                        && is_endpoint(trunk)
                        && !has_contact(trunk)
                    {
                        out.push(Diagnostic {
                            at: s.at.clone(),
                            message: format!(
                                "[{name}] exten {}: Dial({t}): the trunk {trunk} has no AOR with a contact to send calls to, the Dial ends as CHANUNAVAIL",
                                ext.pattern.as_str()
                            ),
                        });
                    }
                    let endpoint = trunk.unwrap_or(&rest);
                    if !endpoint.contains('$') && !is_endpoint(endpoint) {
                        out.push(Diagnostic {
                            at: s.at.clone(),
                            message: format!(
                                "[{name}] exten {}: Dial({t}) names the endpoint {endpoint}, which pjsip.conf does not have",
                                ext.pattern.as_str()
                            ),
                        });
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_at_top_level_commas() {
        assert_eq!(split_args("a,b"), ["a", "b"]);
        assert_eq!(split_args("PJSIP/a&PJSIP/b,20"), ["PJSIP/a&PJSIP/b", "20"]);
        assert_eq!(split_args("CALLERID(num)=1,2"), ["CALLERID(num)=1", "2"]);
        assert_eq!(split_args("${EXTEN:1,x},b"), ["${EXTEN:1,x}", "b"]);
        assert_eq!(split_args("a\\,b"), ["a,b"]);
        assert_eq!(split_args(""), Vec::<String>::new());
        assert_eq!(split_args("a,,"), ["a", "", ""]);
    }

    #[test]
    fn errors_and_warnings_name_the_file_and_line() {
        let report = from_str(
            "extensions.conf",
            "[general]\nstatic = yes\n\
             [office]\n\
             exten => _1XX,1,Dial(PJSIP/${EXTEN},20,tT)\n\
             same => n,Playback(vm-nobodyavail)\n\
             exten => _[12,1,Busy\n\
             exten => 200,x,Busy\n\
             exten => 300,1,Goto(nowhere,s,1)\n\
             exten => 400,1,Dial(SIP/old)\n\
             include => missing\n\
             exten => 500,1,Dial(PJSIP/${NOBODY_SET})\n\
             exten => 600,1,Answer()\n",
        );
        let errors: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(
            errors[0].starts_with("extensions.conf:6: [office]"),
            "{errors:#?}"
        );
        assert!(errors[0].contains("never closed"), "{errors:#?}");
        assert!(errors[1].starts_with("extensions.conf:7:"), "{errors:#?}");
        let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
        let has = |line: usize, words: &str| {
            warnings
                .iter()
                .any(|w| w.starts_with(&format!("extensions.conf:{line}:")) && w.contains(words))
        };
        assert!(has(2, "static"), "{warnings:#?}");
        assert!(has(4, "options \"tT\""), "{warnings:#?}");
        assert!(has(5, "Playback is not run"), "{warnings:#?}");
        assert!(has(8, "[nowhere]"), "{warnings:#?}");
        assert!(has(9, "SIP/old"), "{warnings:#?}");
        assert!(has(10, "[missing]"), "{warnings:#?}");
        assert!(has(11, "${NOBODY_SET}"), "{warnings:#?}");
        assert!(has(12, "Answer is not run"), "{warnings:#?}");
        assert_eq!(warnings.len(), 8, "{warnings:#?}");
        // A Goto whose target does not exist is named; one that exists,
        // or names a label of its own extension, is not.
        let report = from_str(
            "g.conf",
            "[c]\nexten => 1,1,Goto(2,1)\nexten => 2,1,Goto(out)\n same => n(out),Goto(c,3,x)\n\
             exten => 4,1,Goto(c,_X,1)\nexten => 5,1,Goto(${EXTEN},1)\n",
        );
        let w: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 2, "{w:#?}");
        assert!(
            w[0].starts_with("g.conf:4:") && w[0].contains("no label x"),
            "{w:#?}"
        );
        assert!(
            w[1].starts_with("g.conf:5:") && w[1].contains("no priority 1"),
            "{w:#?}"
        );
    }

    #[test]
    fn the_cross_check_names_missing_contexts_endpoints_and_unreachable_trunks() {
        let pjsip = crate::config::pjsip::from_str(
            "pjsip.conf",
            "[alice]\ntype = endpoint\ncontext = office\n\
             [trunk]\ntype = endpoint\ncontext = nowhere\n\
             [carrier]\ntype = endpoint\ncontext = office\naors = carrier\n\
             [carrier]\ntype = aor\ncontact = sip:192.0.2.1\n",
        );
        assert!(pjsip.is_ok(), "{:?}", pjsip.errors);
        let plan = from_str(
            "extensions.conf",
            "[office]\nexten => 1,1,Dial(PJSIP/alice&PJSIP/bob)\n\
             exten => _0.,1,Dial(PJSIP/${EXTEN:1}@trunk)\nexten => 2,1,Dial(PJSIP/${EXTEN})\n\
             exten => _9.,1,Dial(PJSIP/${EXTEN:1}@carrier)\n\
             exten => 3,1,Dial(PJSIP/alice&PJSIP/110@carrier,20)\n",
        );
        assert!(plan.is_ok(), "{:?}", plan.errors);
        let found: Vec<String> = cross_check(&plan.plan, &pjsip.config)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found.len(), 4, "{found:#?}");
        assert!(
            found[0].starts_with("pjsip.conf:4: [trunk] context = nowhere"),
            "{found:#?}"
        );
        let at = |line: usize, words: &str| {
            found
                .iter()
                .any(|f| f.starts_with(&format!("extensions.conf:{line}:")) && f.contains(words))
        };
        assert!(at(2, "bob"), "{found:#?}");
        assert!(
            at(3, "the trunk trunk has no AOR with a contact"),
            "{found:#?}"
        );
        assert!(at(6, "PJSIP/alice not rung"), "{found:#?}");
    }

    #[test]
    fn priorities_n_labels_and_same_follow_the_last_line() {
        let report = from_str(
            "e.conf",
            "[c]\nexten => 100,1,NoOp\n same => n(dial),Dial(PJSIP/bob)\n same => n,Busy\n\
             exten => 100,10,Congestion\n\
             exten => _X.,1,Hangup(17)\n",
        );
        assert!(report.is_ok(), "{:?}", report.errors);
        let ctx = report.plan.context("c").unwrap();
        let first = &ctx.extensions[0];
        assert_eq!(first.pattern.as_str(), "100");
        let priorities: Vec<u32> = first.steps.iter().map(|s| s.priority).collect();
        assert_eq!(priorities, [1, 2, 3, 10]);
        assert_eq!(first.label("dial"), Some(2));
        assert!(matches!(first.step(3).unwrap().app, App::Busy));
        assert!(matches!(
            ctx.extensions[1].steps[0].app,
            App::Hangup(Some(17))
        ));
    }
}
