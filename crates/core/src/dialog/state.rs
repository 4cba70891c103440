//! The dialog state of RFC 3261 §12: what one UA remembers about a
//! peer-to-peer relationship between requests.

use super::id::{DialogId, Role};

/// Where a dialog is in its life (§12, §15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DialogState {
    /// Created by a provisional response with a To tag; a 2xx confirms it.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended by a BYE, a failure of the dialog-creating request, or a
    /// `481`/`408` to a request inside it.
    Terminated,
}

/// One end of the dialog as written in From and To: the URI, and the
/// display name kept only so that in-dialog requests read like the
/// initial one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Party {
    /// The display name as written, quotes included.
    pub display_name: Option<String>,
    pub uri: String,
}

impl Party {
    /// The From or To value of a request in the dialog; an empty tag is
    /// the null tag of an RFC 2543 peer and is left out.
    pub fn header_value(&self, tag: &str) -> String {
        let mut value = String::with_capacity(self.uri.len() + tag.len() + 32);
        if let Some(name) = &self.display_name {
            value.push_str(name);
            value.push(' ');
        }
        value.push('<');
        value.push_str(&self.uri);
        value.push('>');
        if !tag.is_empty() {
            value.push_str(";tag=");
            value.push_str(tag);
        }
        value
    }
}

/// A dialog at one of its ends: plain data, changed only by the messages
/// given to it. Sans-IO: nothing here sends, receives or reads a clock.
///
/// Created with [`Dialog::from_uac`] or [`Dialog::from_uas`]; requests
/// inside it are built with [`Dialog::request`] and [`Dialog::ack`] and
/// taken in with [`Dialog::receive_request`] and
/// [`Dialog::receive_response`].
#[derive(Clone, Debug)]
pub struct Dialog {
    pub(super) id: DialogId,
    /// The side this UA played in the dialog-creating transaction.
    pub(super) role: Role,
    pub(super) state: DialogState,
    /// CSeq number and method of the dialog-creating request, whose 2xx
    /// alone may confirm an early dialog.
    pub(super) creating_cseq: (u32, String),
    pub(super) local: Party,
    pub(super) remote: Party,
    pub(super) local_seq: Option<u32>,
    pub(super) remote_seq: Option<u32>,
    pub(super) remote_target: String,
    pub(super) route_set: Vec<String>,
    pub(super) secure: bool,
    pub(super) local_contact: String,
}

impl Dialog {
    /// Call-ID, local tag and remote tag.
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// Early, confirmed or terminated.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// The URI of this side: From of the requests it sends.
    pub fn local_uri(&self) -> &str {
        &self.local.uri
    }

    /// The URI of the peer: To of the requests this side sends.
    pub fn remote_uri(&self) -> &str {
        &self.remote.uri
    }

    /// The CSeq number of the last request this side sent in the dialog
    /// (`None` until it sends one, for a dialog created as UAS).
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The highest CSeq number received from the peer (`None` until the
    /// peer sends a request, for a dialog created as UAC).
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// Where requests of this side go: the peer's Contact URI, updated by
    /// target-refresh requests and their 2xx.
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The Route values of every request this side sends, in the order
    /// they are visited; each is a `name-addr` as it was record-routed.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// The URI this side's requests go to first (RFC 3261 §12.2.1.1):
    /// the first route's, else the remote target.
    pub fn next_hop(&self) -> String {
        match self.route_set.first() {
            Some(route) => route
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or_default()
                .to_string(),
            None => self.remote_target.clone(),
        }
    }

    /// True when the dialog-creating request went over TLS to a `sips:`
    /// Request-URI (§12.1.1, §12.1.2).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// The Contact value this side gives in target-refresh requests.
    pub fn local_contact(&self) -> &str {
        &self.local_contact
    }

    /// Ends the dialog: after a BYE sent or received, a failed
    /// dialog-creating request, or a request that timed out (§12.3, §15).
    /// A terminated dialog refuses to build or take requests; it still
    /// builds the ACK a late 2xx retransmission is owed.
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_values_keep_the_display_name_and_leave_out_a_null_tag() {
        let alice = Party {
            display_name: Some("\"Alice A.\"".to_string()),
            uri: "sip:alice@atlanta.example.com".to_string(),
        };
        assert_eq!(
            alice.header_value("9fxced76sl"),
            "\"Alice A.\" <sip:alice@atlanta.example.com>;tag=9fxced76sl"
        );
        let anonymous = Party {
            display_name: None,
            uri: "sip:bob@biloxi.example.com".to_string(),
        };
        assert_eq!(anonymous.header_value(""), "<sip:bob@biloxi.example.com>");
    }
}
