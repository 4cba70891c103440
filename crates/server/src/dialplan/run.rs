//! One call's walk through the dialplan, sans-IO.
//!
//! [`Execution::step`] runs priorities from where the walk stands until
//! one needs the world: a [`Decision::Dial`] (ring these targets; the
//! caller of the evaluator reports back with [`Execution::dial_failed`]
//! when nobody answered, and asks again), or a [`Decision::Respond`] (the
//! call ends with this status). A call that is answered ends the walk:
//! whoever dialled does not ask again.
//!
//! As Asterisk runs it:
//! - the first priority of the number's extension is 1; none: 404, no such
//!   number;
//! - after a `Dial` nobody answered the walk goes on at the next priority,
//!   with `${DIALSTATUS}` set (BUSY, CONGESTION, CHANUNAVAIL, NOANSWER);
//! - falling off the end of an extension (autofallthrough): after BUSY the
//!   caller gets 486, after CONGESTION or CHANUNAVAIL 503, after NOANSWER
//!   the hangup cause of the dial (480 after its timeout, else the cause
//!   the callee's status stands for, [`cause::from_sip`]), and with no
//!   dial at all 603, a call hung up with normal clearing;
//! - `Hangup(cause)` answers the cause's SIP status ([`super::cause`]);
//!   `Hangup()` the status of the last dial, else 603; `Busy` 486,
//!   `Congestion` 503.
//!
//! What a caller dialled cannot change where a `Dial` goes: a target
//! whose substituted values (`${EXTEN}` and any other) hold `@`, `/`, `&`
//! or a comma is not dialled, so `Dial(PJSIP/${EXTEN})` never becomes a
//! call through a trunk or to a second target.
//!
//! A walk is bounded: past [`MAX_STEPS`] priorities (a `Goto` loop) it ends
//! in 500, and the variables a walk sets are bounded in number and size.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::{App, Dialplan, cause, dial_timeout};
use crate::config::Location;

/// Priorities one call may run, `Goto` loops included.
pub const MAX_STEPS: u32 = 1_000;

/// Variables one call may set.
const MAX_VARIABLES: usize = 64;

/// The longest value a substitution produces.
const MAX_VALUE: usize = 1_024;

/// What the dialplan says to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Ring these targets at once.
    Dial {
        /// Where.
        targets: Vec<DialTarget>,
        /// How long in all (`None`: no limit but Timer C).
        timeout: Option<Duration>,
        /// `${CALLERID(num)}` when the dial starts (empty when not known).
        caller_num: String,
        /// Where the `Dial` is written.
        at: Location,
    },
    /// End the call with this status.
    Respond {
        /// The SIP status.
        code: u16,
        /// Why, for the log.
        why: String,
    },
}

/// One `Dial` target, after substitution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialTarget {
    /// `PJSIP/endpoint`: the endpoint's registered contacts.
    Endpoint(String),
    /// `PJSIP/number@trunk`: the number, through the trunk endpoint.
    Trunk {
        /// The number dialled at the provider.
        number: String,
        /// The trunk endpoint.
        trunk: String,
    },
}

/// How a `Dial` nobody answered ended (Asterisk's `${DIALSTATUS}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialStatus {
    /// The callee was busy (486, 600).
    Busy,
    /// The way to the callee failed (503, a transport failure).
    Congestion,
    /// No target could be reached at all (no contact, no such endpoint).
    ChanUnavail,
    /// Nobody answered: the dial's timeout, or another refusal.
    NoAnswer,
}

impl DialStatus {
    fn as_str(self) -> &'static str {
        match self {
            DialStatus::Busy => "BUSY",
            DialStatus::Congestion => "CONGESTION",
            DialStatus::ChanUnavail => "CHANUNAVAIL",
            DialStatus::NoAnswer => "NOANSWER",
        }
    }

    /// The status of a dial whose best answer was `code`, or that rang
    /// out.
    pub fn of(code: u16, rang_out: bool) -> DialStatus {
        match code {
            _ if rang_out => DialStatus::NoAnswer,
            486 | 600 => DialStatus::Busy,
            500 | 503 => DialStatus::Congestion,
            _ => DialStatus::NoAnswer,
        }
    }
}

/// One call's walk.
#[derive(Clone, Debug)]
pub struct Execution {
    plan: Arc<Dialplan>,
    context: String,
    exten: String,
    priority: u32,
    caller_num: String,
    caller_name: String,
    variables: HashMap<String, String>,
    /// What the caller gets for `Hangup()` or falling off the end.
    hangup_code: Option<u16>,
    dial_status: Option<DialStatus>,
    steps: u32,
    started: bool,
}

impl Execution {
    /// A walk for a call from `caller_num` to `number`, starting in
    /// `context`.
    pub fn new(
        plan: Arc<Dialplan>,
        context: &str,
        number: &str,
        caller_num: &str,
        caller_name: &str,
    ) -> Execution {
        Execution {
            plan,
            context: context.to_string(),
            exten: number.to_string(),
            priority: 1,
            caller_num: bounded(caller_num.to_string()),
            caller_name: bounded(caller_name.to_string()),
            variables: HashMap::new(),
            hangup_code: None,
            dial_status: None,
            steps: 0,
            started: false,
        }
    }

    /// The context the walk stands in.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The last `Dial` was not answered: `status` says how, `code` is the
    /// status its caller would have had. The walk goes on at the next
    /// priority.
    pub fn dial_failed(&mut self, status: DialStatus, code: u16) {
        self.dial_status = Some(status);
        self.hangup_code = Some(match status {
            DialStatus::Busy => 486,
            DialStatus::Congestion | DialStatus::ChanUnavail => 503,
            // The callee's answer, as the cause it stands for.
            DialStatus::NoAnswer => cause::to_sip(cause::from_sip(code)),
        });
    }

    /// Runs priorities until the call must dial or end.
    pub fn step(&mut self) -> Decision {
        loop {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                return Decision::Respond {
                    code: 500,
                    why: format!("more than {MAX_STEPS} dialplan steps (a Goto loop?)"),
                };
            }
            let plan = Arc::clone(&self.plan);
            let Some((ctx, ext)) = plan.find(&self.context, &self.exten, self.priority) else {
                return self.fall_off();
            };
            let Some(step) = ext.step(self.priority) else {
                return self.fall_off();
            };
            self.started = true;
            let here = format!(
                "{} ({}, {}, {})",
                step.at, ctx.name, self.exten, self.priority
            );
            self.priority += 1;
            match &step.app {
                App::Dial { targets, timeout } => {
                    let timeout = match dial_timeout(&self.substitute(timeout)) {
                        Ok(t) => t,
                        Err(e) => {
                            tracing::warn!(at = %here, "{e}; dialling without a timeout");
                            None
                        }
                    };
                    let targets: Vec<DialTarget> = targets
                        .iter()
                        .filter_map(|t| match self.substitute_target(t) {
                            Some(t) => dial_target(&t),
                            None => {
                                tracing::warn!(at = %here, target = %t,
                                    "a value substituted into a Dial target has @, /, & or a comma: not dialled");
                                None
                            }
                        })
                        .collect();
                    if targets.is_empty() {
                        tracing::info!(at = %here, "Dial has no target to ring");
                        self.dial_failed(DialStatus::ChanUnavail, 503);
                        continue;
                    }
                    self.dial_status = None;
                    return Decision::Dial {
                        targets,
                        timeout,
                        caller_num: self.caller_num.clone(),
                        at: step.at.clone(),
                    };
                }
                App::Goto {
                    context,
                    exten,
                    priority,
                } => {
                    let context = context
                        .as_ref()
                        .map(|c| self.substitute(c))
                        .unwrap_or_else(|| ctx.name.clone());
                    let exten = exten
                        .as_ref()
                        .map(|e| self.substitute(e))
                        .unwrap_or_else(|| self.exten.clone());
                    let priority = self.substitute(priority);
                    let number = match priority.parse::<u32>() {
                        Ok(p) => Some(p),
                        Err(_) => plan
                            .find_label(&context, &exten, &priority)
                            .and_then(|(_, e)| e.label(&priority)),
                    };
                    let Some(number) = number else {
                        return Decision::Respond {
                            code: 404,
                            why: format!(
                                "{here}: Goto to {context},{exten},{priority}, which does not exist"
                            ),
                        };
                    };
                    self.context = context;
                    self.exten = exten;
                    self.priority = number;
                }
                App::Set { name, value } => {
                    let value = self.substitute(value);
                    match name.as_str() {
                        "CALLERID(num)" => self.caller_num = value,
                        "CALLERID(name)" => self.caller_name = value,
                        _ => {
                            if self.variables.len() < MAX_VARIABLES
                                || self.variables.contains_key(name)
                            {
                                self.variables.insert(name.clone(), value);
                            }
                        }
                    }
                }
                App::Hangup(c) => {
                    let code = match c {
                        Some(c) => cause::to_sip(*c),
                        None => self
                            .hangup_code
                            .unwrap_or_else(|| cause::to_sip(cause::NORMAL_CLEARING)),
                    };
                    return Decision::Respond {
                        code,
                        why: format!("{here}: Hangup"),
                    };
                }
                App::Busy => {
                    return Decision::Respond {
                        code: 486,
                        why: format!("{here}: Busy"),
                    };
                }
                App::Congestion => {
                    return Decision::Respond {
                        code: 503,
                        why: format!("{here}: Congestion"),
                    };
                }
                App::Skip { name } => {
                    tracing::debug!(at = %here, application = %name, "skipped");
                }
            }
        }
    }

    /// No priority where the walk stands.
    fn fall_off(&self) -> Decision {
        if !self.started {
            return Decision::Respond {
                code: 404,
                why: format!("{} has no extension {}", self.context, self.exten),
            };
        }
        let code = match self.dial_status {
            Some(DialStatus::Busy) => 486,
            Some(DialStatus::Congestion | DialStatus::ChanUnavail) => 503,
            _ => self
                .hangup_code
                .unwrap_or_else(|| cause::to_sip(cause::NORMAL_CLEARING)),
        };
        Decision::Respond {
            code,
            why: format!(
                "the dialplan ends after {},{},{}",
                self.context,
                self.exten,
                self.priority - 1
            ),
        }
    }

    /// `text` with every `${...}` replaced by its value.
    pub fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            out.push_str(&self.expand(&after[..end]));
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        bounded(out)
    }

    /// `text` substituted for a `Dial` target, or `None` when a value put
    /// in it would change what the target means: `${EXTEN}` is what the
    /// caller dialled, and `1@provider` or `1&PJSIP/provider` must not
    /// turn a local extension into a call through a trunk.
    fn substitute_target(&self, text: &str) -> Option<String> {
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            if self.expand(&after[..end]).contains(['@', '/', '&', ',']) {
                return None;
            }
            rest = &after[end + 1..];
        }
        Some(self.substitute(text))
    }

    /// `NAME`, `NAME:offset` or `NAME:offset:length`.
    fn expand(&self, reference: &str) -> String {
        let (name, range) = split_reference(reference);
        let value = match name {
            "EXTEN" => self.exten.clone(),
            "CONTEXT" => self.context.clone(),
            "PRIORITY" => self.priority.saturating_sub(1).to_string(),
            "DIALSTATUS" => self
                .dial_status
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
            "CALLERID(num)" => self.caller_num.clone(),
            "CALLERID(name)" => self.caller_name.clone(),
            other => self
                .variables
                .get(other)
                .map(String::as_str)
                .or_else(|| self.plan.global(other))
                .unwrap_or_default()
                .to_string(),
        };
        match range {
            Some((offset, length)) => substring(&value, offset, length),
            None => value,
        }
    }
}

/// Names and ranges of `${NAME:offset:length}`: the name, and the numbers
/// when they parse (Asterisk reads what does not as 0).
fn split_reference(reference: &str) -> (&str, Option<(i64, Option<i64>)>) {
    // CALLERID(num) has no colon inside; a colon after the name starts
    // the range.
    let Some((name, range)) = reference.split_once(':') else {
        return (reference, None);
    };
    let mut parts = range.splitn(2, ':');
    let offset = parts
        .next()
        .and_then(|o| o.trim().parse().ok())
        .unwrap_or(0);
    let length = parts.next().map(|l| l.trim().parse().unwrap_or(0));
    (name, Some((offset, length)))
}

/// Asterisk's substring: a negative offset counts from the end; a
/// negative length leaves that many characters off the end.
fn substring(value: &str, offset: i64, length: Option<i64>) -> String {
    let chars: Vec<char> = value.chars().collect();
    let len = chars.len() as i64;
    let start = if offset < 0 {
        (len + offset).max(0)
    } else {
        offset.min(len)
    };
    let end = match length {
        None => len,
        Some(l) if l < 0 => (len + l).max(start),
        Some(l) => (start + l).min(len),
    };
    chars[start as usize..end as usize].iter().collect()
}

fn bounded(mut s: String) -> String {
    if s.len() > MAX_VALUE {
        let mut cut = MAX_VALUE;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// `PJSIP/endpoint` or `PJSIP/number@trunk`; anything else is not dialled.
fn dial_target(text: &str) -> Option<DialTarget> {
    let (tech, rest) = text.trim().split_once('/')?;
    if !tech.eq_ignore_ascii_case("pjsip") || rest.contains('/') || rest.is_empty() {
        return None;
    }
    match rest.split_once('@') {
        Some((number, trunk)) if !number.is_empty() && !trunk.is_empty() => {
            Some(DialTarget::Trunk {
                number: number.to_string(),
                trunk: trunk.to_string(),
            })
        }
        Some(_) => None,
        None => Some(DialTarget::Endpoint(rest.to_string())),
    }
}

/// The variable names `${...}` in `text` refers to.
pub(crate) fn variables(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        names.push(split_reference(&after[..end]).0);
        rest = &after[end + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::from_str;

    const PLAN: &str = "\
[globals]
TRUNK = provider

[office]
exten => _1XX,1,Dial(PJSIP/${EXTEN},20)
 same => n,Hangup()
exten => 150,1,Dial(PJSIP/alice&PJSIP/bob)
 same => n,Goto(${DIALSTATUS})
 same => n(BUSY),Busy
 same => n(NOANSWER),Hangup(19)
exten => _0.,1,Set(CALLERID(num)=4930123)
 same => n,Dial(PJSIP/${EXTEN:1}@${TRUNK})
exten => 200,1,Goto(services,s,1)
exten => 201,1,Goto(loop)
 same => n(loop),Goto(201,loop)
exten => 202,1,NoOp(nothing)
include => services

[services]
exten => s,1,Congestion
exten => 300,1,Hangup(21)
exten => 301,1,Busy
exten => _3XX,1,Dial(PJSIP/${EXTEN:-2:1}&PJSIP/${EXTEN:0:-1})
";

    fn plan() -> Arc<Dialplan> {
        let report = from_str("extensions.conf", PLAN);
        assert!(report.is_ok(), "{:?}", report.errors);
        Arc::new(report.plan)
    }

    fn start(number: &str) -> Execution {
        Execution::new(plan(), "office", number, "100", "Alice")
    }

    fn dial(d: Decision) -> (Vec<DialTarget>, Option<Duration>, String) {
        match d {
            Decision::Dial {
                targets,
                timeout,
                caller_num,
                ..
            } => (targets, timeout, caller_num),
            other => panic!("not a dial: {other:?}"),
        }
    }

    fn code(d: Decision) -> u16 {
        match d {
            Decision::Respond { code, .. } => code,
            other => panic!("not a response: {other:?}"),
        }
    }

    fn ep(name: &str) -> DialTarget {
        DialTarget::Endpoint(name.into())
    }

    #[test]
    fn a_phone_is_dialled_and_the_plan_goes_on_when_nobody_answers() {
        let mut call = start("101");
        let (targets, timeout, caller) = dial(call.step());
        assert_eq!(targets, [ep("101")]);
        assert_eq!(timeout, Some(Duration::from_secs(20)));
        assert_eq!(caller, "100");
        // It rang out: Hangup() hangs up with the dial's cause.
        call.dial_failed(DialStatus::NoAnswer, 480);
        assert_eq!(code(call.step()), 480);
        // Busy: Hangup() gives 486.
        let mut call = start("101");
        call.step();
        call.dial_failed(DialStatus::of(486, false), 486);
        assert_eq!(code(call.step()), 486);
    }

    #[test]
    fn dialstatus_picks_the_label() {
        let mut call = start("150");
        assert_eq!(dial(call.step()).0, [ep("alice"), ep("bob")]);
        call.dial_failed(DialStatus::Busy, 486);
        assert_eq!(code(call.step()), 486);
        let mut call = start("150");
        call.step();
        call.dial_failed(DialStatus::of(480, true), 480);
        assert_eq!(code(call.step()), 480);
    }

    #[test]
    fn a_trunk_call_has_the_number_the_trunk_and_the_caller_id_set() {
        let mut call = start("004930999");
        let (targets, timeout, caller) = dial(call.step());
        assert_eq!(
            targets,
            [DialTarget::Trunk {
                number: "04930999".into(),
                trunk: "provider".into()
            }]
        );
        assert_eq!(timeout, None);
        assert_eq!(caller, "4930123");
        // Falling off the end after congestion: 503.
        call.dial_failed(DialStatus::Congestion, 500);
        assert_eq!(code(call.step()), 503);
    }

    #[test]
    fn goto_include_and_the_end_of_the_plan() {
        assert_eq!(code(start("200").step()), 503, "Goto(services,s,1)");
        assert_eq!(code(start("300").step()), 403, "include, Hangup(21)");
        assert_eq!(code(start("301").step()), 486, "include, Busy");
        assert_eq!(code(start("999").step()), 404, "no such extension");
        assert_eq!(code(start("202").step()), 603, "ends without a dial");
        let mut looping = start("201");
        assert_eq!(code(looping.step()), 500, "a Goto loop is cut short");
        // The own context's match wins over an included one's.
        let (targets, _, _) = dial(start("150").step());
        assert_eq!(targets.len(), 2);
        // _3XX in the included context; substrings from the end.
        let (targets, _, _) = dial(start("345").step());
        assert_eq!(targets, [ep("4"), ep("34")]);
    }

    #[test]
    fn a_priority_the_best_match_lacks_comes_from_a_less_specific_one() {
        let report = from_str(
            "e.conf",
            "[c]\nexten => 123,1,NoOp\nexten => _1XX,1,Congestion\n same => n,Busy\n",
        );
        let plan = Arc::new(report.plan);
        let mut call = Execution::new(Arc::clone(&plan), "c", "123", "", "");
        assert_eq!(code(call.step()), 486, "123,1 then _1XX,2");
        let mut call = Execution::new(plan, "c", "124", "", "");
        assert_eq!(code(call.step()), 503);
    }

    #[test]
    fn substrings_follow_asterisk() {
        let call = Execution::new(plan(), "office", "0123456", "", "");
        let s = |t: &str| call.substitute(t);
        assert_eq!(s("${EXTEN}"), "0123456");
        assert_eq!(s("${EXTEN:1}"), "123456");
        assert_eq!(s("${EXTEN:1:3}"), "123");
        assert_eq!(s("${EXTEN:-4}"), "3456");
        assert_eq!(s("${EXTEN:-4:2}"), "34");
        assert_eq!(s("${EXTEN:0:-2}"), "01234");
        assert_eq!(s("${EXTEN:10}"), "");
        assert_eq!(s("${EXTEN:-10:2}"), "01");
        assert_eq!(s("x${TRUNK}y${UNSET}z"), "xprovideryz");
        assert_eq!(s("${EXTEN"), "${EXTEN");
        let long = "${EXTEN}".repeat(1_000);
        assert!(s(&long).len() <= MAX_VALUE);
    }

    #[test]
    fn a_dialled_number_cannot_rewrite_a_dial_target() {
        // _1XX is Dial(PJSIP/${EXTEN},20): a number that smuggles in a
        // trunk or a second target is not dialled at all.
        for number in ["1@provider", "1&PJSIP/provider", "1/sip:x@evil"] {
            let plan = from_str("e.conf", "[c]\nexten => _1.,1,Dial(PJSIP/${EXTEN})\n").plan;
            let mut call = Execution::new(Arc::new(plan), "c", number, "", "");
            assert_eq!(code(call.step()), 503, "{number}");
        }
        let mut call = start("004930");
        assert!(matches!(call.step(), Decision::Dial { .. }));
    }

    #[test]
    fn dial_targets_parse_or_are_not_dialled() {
        assert_eq!(dial_target("PJSIP/bob"), Some(ep("bob")));
        assert_eq!(dial_target("pjsip/bob"), Some(ep("bob")));
        assert_eq!(
            dial_target("PJSIP/123@trunk"),
            Some(DialTarget::Trunk {
                number: "123".into(),
                trunk: "trunk".into()
            })
        );
        assert_eq!(dial_target("PJSIP/"), None);
        assert_eq!(dial_target("PJSIP/@trunk"), None);
        assert_eq!(dial_target("SIP/bob"), None);
        assert_eq!(dial_target("PJSIP/bob/sip:bob@h"), None);
    }
}
