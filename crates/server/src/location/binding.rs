//! The registrar's records: a binding (one registered contact) and the
//! change a REGISTER makes to one address-of-record.

use std::time::SystemTime;

/// One registered contact of an address-of-record (RFC 3261 §10.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The AOR's name (its user part, which is the name of its `aor` section).
    pub aor: String,
    /// The Contact URI as registered. It is the binding's key within the AOR;
    /// the registrar compares URIs per RFC 3261 §19.1.4 before it gets here,
    /// the store compares the strings as given.
    pub contact: String,
    /// When the binding expires (absolute).
    pub expires_at: SystemTime,
    /// The Contact's `q` parameter, in thousandths (`q=0.5` is 500).
    pub q: Option<u16>,
    /// Call-ID of the REGISTER that made or last refreshed the binding.
    pub call_id: String,
    /// CSeq of that REGISTER: for the same Call-ID, an update with a CSeq
    /// that is not higher is refused (RFC 3261 §10.3 step 7).
    pub cseq: u32,
    /// RFC 3327 Path header values, in order.
    pub path: Vec<String>,
    /// RFC 5626 `+sip.instance` of the Contact.
    pub instance_id: Option<String>,
    /// RFC 5626 `reg-id` of the Contact.
    pub reg_id: Option<u32>,
    /// The flow the REGISTER came from, `proto:ip:port`, for NAT traversal,
    /// qualify and outbound.
    pub received: Option<String>,
    /// The REGISTER's User-Agent.
    pub user_agent: Option<String>,
    /// The endpoint that registered the contact.
    pub endpoint: Option<String>,
    /// The sipjet node that received the REGISTER, and so holds the flow
    /// (the connection or NAT binding) the contact is reached over: its
    /// `node_id`. `None` for a binding stored before nodes were recorded.
    pub node: Option<String>,
}

/// What one REGISTER changes in one AOR, applied atomically: first
/// `remove_all`, then `removals`, then `upserts` in order.
///
/// ```
/// use sipjet_server::location::AorUpdate;
///
/// let unregister_all = AorUpdate { aor: "alice".into(), remove_all: true, ..Default::default() };
/// assert!(unregister_all.upserts.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AorUpdate {
    /// The AOR every binding of the update belongs to.
    pub aor: String,
    /// Bindings to add, or to replace when the AOR has one with the same contact.
    pub upserts: Vec<Binding>,
    /// Contacts whose bindings are removed (`Expires: 0` on that Contact).
    pub removals: Vec<String>,
    /// Remove every binding of the AOR (`Contact: *` with `Expires: 0`).
    pub remove_all: bool,
    /// The Call-ID and CSeq of the REGISTER that makes the removals. A
    /// removal (or `remove_all`) of a binding that the same Call-ID made
    /// with a CSeq at least as high is refused as out of order, like an
    /// upsert (RFC 3261 §10.3 steps 6 and 7). `None` removes unchecked.
    pub removed_by: Option<(String, u32)>,
}
