//! The plain-text tables `sipjet show` prints: one row per record,
//! columns aligned.
//!
//! Some cells come from the network (a User-Agent, a contact URI): their
//! control characters are replaced, so that a peer cannot send escape
//! sequences to the operator's terminal.

use super::views::{
    AorView, AuthView, CallView, ContactKind, ContactView, EndpointView, NodeView, Reachability,
    RegistrationView, TransportView, UnidentifiedView,
};

/// A record shown as a table row.
pub trait Row {
    /// The column headings.
    const HEADERS: &'static [&'static str];
    /// The cells, one per heading.
    fn cells(&self) -> Vec<String>;
}

/// What an absent value shows as.
const NONE: &str = "-";

fn list(items: &[String]) -> String {
    if items.is_empty() {
        NONE.to_string()
    } else {
        items.join(",")
    }
}

fn or_none(v: Option<&str>) -> String {
    v.unwrap_or(NONE).to_string()
}

fn clean(cell: String) -> String {
    if cell.chars().any(char::is_control) {
        cell.chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    } else {
        cell
    }
}

/// The table of `rows`: a heading line, then one line per row, columns
/// separated by two spaces; `(none)` under the headings when there is no
/// row.
pub fn render<R: Row>(rows: &[R]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.cells().into_iter().map(clean).collect())
        .collect();
    let mut widths: Vec<usize> = R::HEADERS.iter().map(|h| h.chars().count()).collect();
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |row: &[&str]| {
        let mut text = String::new();
        for (i, (cell, width)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = width.saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(R::HEADERS);
    for row in &cells {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    if cells.is_empty() {
        out.push_str("(none)\n");
    }
    out
}

impl Row for EndpointView {
    const HEADERS: &'static [&'static str] = &[
        "ENDPOINT",
        "AORS",
        "AUTHS",
        "TRANSPORT",
        "CONTEXT",
        "IDENTIFY BY",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            list(&self.aors),
            list(&self.auths),
            or_none(self.transport.as_deref()),
            self.context.clone(),
            list(&self.identify_by),
        ]
    }
}

impl Row for AuthView {
    const HEADERS: &'static [&'static str] = &[
        "AUTH",
        "USERNAME",
        "REALM",
        "TYPE",
        "ALGORITHMS",
        "NONCE LIFETIME",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.username.clone(),
            self.realm.clone(),
            self.auth_type.clone(),
            list(&self.algorithms),
            format!("{}s", self.nonce_lifetime),
        ]
    }
}

impl Row for AorView {
    const HEADERS: &'static [&'static str] = &[
        "AOR",
        "MAX CONTACTS",
        "REMOVE EXISTING",
        "EXPIRATION MIN/DEFAULT/MAX",
        "QUALIFY",
        "STATIC CONTACTS",
        "REGISTERED",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.max_contacts.to_string(),
            if self.remove_existing { "yes" } else { "no" }.to_string(),
            format!(
                "{}/{}/{}",
                self.minimum_expiration, self.default_expiration, self.maximum_expiration
            ),
            if self.qualify_frequency == 0 {
                "off".to_string()
            } else {
                format!("{}s", self.qualify_frequency)
            },
            list(&self.static_contacts),
            self.registered_contacts.to_string(),
        ]
    }
}

impl Row for ContactView {
    const HEADERS: &'static [&'static str] = &[
        "AOR",
        "CONTACT",
        "KIND",
        "EXPIRES",
        "STATUS",
        "RTT",
        "ENDPOINT",
        "NODE",
        "RECEIVED",
        "USER AGENT",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.aor.clone(),
            self.contact.clone(),
            match self.kind {
                ContactKind::Dynamic => "dynamic",
                ContactKind::Static => "static",
            }
            .to_string(),
            self.expires_in
                .map_or_else(|| NONE.to_string(), |s| format!("{s}s")),
            match self.status {
                Reachability::Reachable => "reachable",
                Reachability::Unreachable => "unreachable",
                Reachability::Unknown => "unknown",
            }
            .to_string(),
            self.rtt_ms
                .map_or_else(|| NONE.to_string(), |ms| format!("{ms:.1}ms")),
            or_none(self.endpoint.as_deref()),
            or_none(self.node.as_deref()),
            or_none(self.received.as_deref()),
            or_none(self.user_agent.as_deref()),
        ]
    }
}

impl Row for TransportView {
    const HEADERS: &'static [&'static str] = &["TRANSPORT", "PROTOCOL", "BIND", "BOUND"];
    fn cells(&self) -> Vec<String> {
        vec![
            self.name.clone(),
            self.protocol.clone(),
            self.bind.clone(),
            or_none(self.bound.as_deref()),
        ]
    }
}

impl Row for UnidentifiedView {
    const HEADERS: &'static [&'static str] = &[
        "ADDRESS",
        "TOTAL",
        "IN PERIOD",
        "LAST ACCOUNT",
        "REPORTED",
        "LAST SEEN",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.address.clone(),
            self.total.to_string(),
            self.in_period.to_string(),
            self.last_account.clone(),
            if self.reported { "yes" } else { "no" }.to_string(),
            format!("{}s ago", self.last_seen_seconds_ago),
        ]
    }
}

impl Row for RegistrationView {
    const HEADERS: &'static [&'static str] = &[
        "NAME", "SERVER", "CLIENT", "STATE", "EXPIRES", "NEXT", "CODE", "RETRIES", "REASON",
    ];
    fn cells(&self) -> Vec<String> {
        let secs = |v: Option<u64>| v.map_or_else(|| NONE.to_string(), |s| format!("{s}s"));
        vec![
            self.name.clone(),
            self.server_uri.clone(),
            self.client_uri.clone(),
            self.state.clone(),
            secs(self.expires_in_seconds),
            secs(self.next_attempt_in_seconds),
            self.last_code
                .map_or_else(|| NONE.to_string(), |c| c.to_string()),
            self.retries.to_string(),
            or_none(self.reason.as_deref()),
        ]
    }
}

impl Row for CallView {
    const HEADERS: &'static [&'static str] = &[
        "CALLER", "CALLEE", "STATE", "STARTED", "DURATION", "CODE", "CALL-ID",
    ];
    fn cells(&self) -> Vec<String> {
        vec![
            self.caller.clone(),
            self.callee.clone(),
            self.state.clone(),
            format!("{}s ago", self.started_seconds_ago),
            format!("{}s", self.duration_seconds),
            self.final_code
                .map_or_else(|| NONE.to_string(), |c| c.to_string()),
            self.call_id.clone(),
        ]
    }
}

impl Row for NodeView {
    const HEADERS: &'static [&'static str] = &["NODE", "ADDRESS", "HEARTBEAT", "STATE"];
    fn cells(&self) -> Vec<String> {
        let state = match (self.alive, self.this_node) {
            (_, true) => "this node",
            (true, false) => "alive",
            (false, false) => "dead",
        };
        vec![
            self.node.clone(),
            self.address.clone().unwrap_or_else(|| NONE.to_string()),
            format!("{}s ago", self.last_heartbeat_seconds_ago),
            state.to_string(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(name: &str, bound: Option<&str>) -> TransportView {
        TransportView {
            name: name.into(),
            protocol: "udp".into(),
            bind: "0.0.0.0:5060".into(),
            bound: bound.map(str::to_string),
        }
    }

    #[test]
    fn columns_are_aligned() {
        let t = render(&[
            transport("transport-udp", Some("127.0.0.1:5060")),
            transport("t", None),
        ]);
        assert_eq!(
            t,
            "\
TRANSPORT      PROTOCOL  BIND          BOUND
transport-udp  udp       0.0.0.0:5060  127.0.0.1:5060
t              udp       0.0.0.0:5060  -
"
        );
    }

    #[test]
    fn an_empty_table_says_so() {
        assert_eq!(
            render::<TransportView>(&[]),
            "TRANSPORT  PROTOCOL  BIND  BOUND\n(none)\n"
        );
    }

    #[test]
    fn control_characters_from_the_network_are_replaced() {
        let c = ContactView {
            aor: "alice".into(),
            contact: "sip:a@127.0.0.1".into(),
            kind: ContactKind::Dynamic,
            expires_in: Some(5),
            user_agent: Some("evil\u{1b}[2J\r\nphone".into()),
            received: None,
            endpoint: None,
            node: Some("node-1".into()),
            status: Reachability::Reachable,
            rtt_ms: Some(2.34),
            last_check_seconds_ago: Some(1),
        };
        let t = render(&[c]);
        let row = t.lines().nth(1).unwrap();
        assert!(row.ends_with("evil?[2J??phone"), "{row}");
        assert_eq!(
            row.split_whitespace().collect::<Vec<_>>(),
            [
                "alice",
                "sip:a@127.0.0.1",
                "dynamic",
                "5s",
                "reachable",
                "2.3ms",
                "-",
                "node-1",
                "-",
                "evil?[2J??phone"
            ]
        );
        assert_eq!(t.lines().count(), 2);
    }
}
