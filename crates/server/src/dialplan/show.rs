//! What a context holds and what a number runs: the answer of `sipjet
//! show dialplan CONTEXT [NUMBER]` and `GET /api/dialplan/CONTEXT[/NUMBER]`.

use serde::{Deserialize, Serialize};

use super::{Context, Dialplan, Extension};

/// A context's extensions, or the one a number runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DialplanView {
    /// The context asked about.
    pub context: String,
    /// The number asked about, if one was.
    pub number: Option<String>,
    /// For a number: the extension it runs (none when it matches nothing).
    /// Without one: every extension of the context and of what it
    /// includes, in the order they are tried.
    pub extensions: Vec<ExtensionView>,
}

/// One extension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionView {
    /// The context it is written in.
    pub context: String,
    /// The extension or pattern.
    pub extension: String,
    /// Its priorities.
    pub steps: Vec<StepView>,
}

/// One priority.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepView {
    /// Its number.
    pub priority: u32,
    /// Its label.
    pub label: Option<String>,
    /// The application, as written.
    pub application: String,
    /// File and line.
    pub at: String,
}

fn extension_view(ctx: &Context, e: &Extension) -> ExtensionView {
    ExtensionView {
        context: ctx.name.clone(),
        extension: e.pattern.as_str().to_string(),
        steps: e
            .steps
            .iter()
            .map(|s| StepView {
                priority: s.priority,
                label: s.label.clone(),
                application: s.text.clone(),
                at: s.at.to_string(),
            })
            .collect(),
    }
}

/// What `context` holds, or what `number` runs in it; `None` when there
/// is no such context.
pub fn describe(plan: &Dialplan, context: &str, number: Option<&str>) -> Option<DialplanView> {
    plan.context(context)?;
    let extensions = match number {
        Some(n) => plan
            .find(context, n, 1)
            .map(|(c, e)| vec![extension_view(c, e)])
            .unwrap_or_default(),
        None => {
            let mut out = Vec::new();
            let mut seen: Vec<&str> = Vec::new();
            let mut queue = vec![context];
            while let Some(name) = queue.pop() {
                let Some(ctx) = plan.context(name) else {
                    continue;
                };
                if seen.contains(&name) {
                    continue;
                }
                seen.push(&ctx.name);
                out.extend(ctx.extensions.iter().map(|e| extension_view(ctx, e)));
                // Depth first, in the order included.
                queue.extend(ctx.includes.iter().rev().map(|(n, _)| n.as_str()));
            }
            out
        }
    };
    Some(DialplanView {
        context: context.to_string(),
        number: number.map(str::to_string),
        extensions,
    })
}

/// The view as text, one line per priority.
pub fn render(view: &DialplanView) -> String {
    let mut out = String::new();
    if view.extensions.is_empty() {
        match &view.number {
            Some(n) => out.push_str(&format!(
                "{n} matches no extension in [{}]: 404\n",
                view.context
            )),
            None => out.push_str(&format!("[{}] has no extensions\n", view.context)),
        }
        return out;
    }
    for e in &view.extensions {
        out.push_str(&format!("[{}] {}\n", e.context, e.extension));
        for s in &e.steps {
            let priority = match &s.label {
                Some(l) => format!("{}({l})", s.priority),
                None => s.priority.to_string(),
            };
            out.push_str(&format!(
                "  {priority:<10} {:<40} {}\n",
                s.application, s.at
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::from_str;

    #[test]
    fn a_number_shows_the_extension_it_runs_and_a_context_all_it_tries() {
        let report = from_str(
            "e.conf",
            "[a]\nexten => _X.,1,Busy\nexten => 100,1,Dial(PJSIP/bob)\n same => n(x),Hangup(17)\n\
             include => b\n[b]\nexten => _2XX,1,Congestion\n",
        );
        assert!(report.is_ok(), "{:?}", report.errors);
        let plan = report.plan;
        let v = describe(&plan, "a", Some("100")).unwrap();
        assert_eq!(v.extensions.len(), 1);
        assert_eq!(v.extensions[0].extension, "100");
        assert_eq!(v.extensions[0].steps[1].label.as_deref(), Some("x"));
        assert_eq!(v.extensions[0].steps[1].at, "e.conf:4");
        let text = render(&v);
        assert!(text.contains("[a] 100\n"), "{text}");
        assert!(text.contains("2(x)"), "{text}");
        assert!(text.contains("Dial(PJSIP/bob)"), "{text}");
        // Own extensions first, then the included context's.
        let all = describe(&plan, "a", None).unwrap();
        let names: Vec<(&str, &str)> = all
            .extensions
            .iter()
            .map(|e| (e.context.as_str(), e.extension.as_str()))
            .collect();
        assert_eq!(names, [("a", "100"), ("a", "_X."), ("b", "_2XX")]);
        // _X. in [a] wins over _2XX in [b].
        assert_eq!(
            describe(&plan, "a", Some("250")).unwrap().extensions[0].extension,
            "_X."
        );
        assert!(describe(&plan, "nope", None).is_none());
        let none = describe(&plan, "b", Some("999")).unwrap();
        assert!(render(&none).contains("404"));
    }
}
