//! The compact in-memory form of a binding.
//!
//! A server holds every binding in memory (100,000 of them in well under
//! 100 MB is the goal), so an entry keeps all its text in one allocation
//! and its expiry as an integer, and does not repeat the AOR, which is the
//! key of the map that holds it. [`Binding`] is made from it on demand.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::binding::Binding;

/// Which optional texts are present (an empty text is not an absent one).
const HAS_INSTANCE_ID: u8 = 1;
const HAS_RECEIVED: u8 = 2;
const HAS_USER_AGENT: u8 = 4;
const HAS_ENDPOINT: u8 = 8;
const HAS_NODE: u8 = 16;

/// Index in [`Entry::ends`] of each text.
const CONTACT: usize = 0;
const CALL_ID: usize = 1;
const INSTANCE_ID: usize = 2;
const RECEIVED: usize = 3;
const USER_AGENT: usize = 4;
const ENDPOINT: usize = 5;
const NODE: usize = 6;
/// How many fixed texts an entry has.
const FIXED: usize = 7;

/// One binding of an AOR, as the index keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Contact, Call-ID, instance id, received, User-Agent, endpoint, node,
    /// then the Path values, one after the other.
    text: Box<str>,
    /// Where each of the fixed texts ends in `text`.
    ends: [usize; FIXED],
    /// Where each Path value ends in `text` (no allocation when there is no Path).
    path_ends: Box<[usize]>,
    /// Absolute expiry in nanoseconds since the Unix epoch.
    expires_at: i64,
    cseq: u32,
    reg_id: Option<u32>,
    q: Option<u16>,
    present: u8,
}

impl Entry {
    /// The entry of `binding`; `None` when its expiry cannot be stored
    /// (before 1970 or after 2262).
    pub(crate) fn new(binding: &Binding) -> Option<Self> {
        let expires_at = unix_nanos(binding.expires_at)?;
        let mut present = 0;
        let optional = [
            (&binding.instance_id, HAS_INSTANCE_ID),
            (&binding.received, HAS_RECEIVED),
            (&binding.user_agent, HAS_USER_AGENT),
            (&binding.endpoint, HAS_ENDPOINT),
            (&binding.node, HAS_NODE),
        ];
        for (value, bit) in &optional {
            if value.is_some() {
                present |= bit;
            }
        }
        let texts = [binding.contact.as_str(), binding.call_id.as_str()]
            .into_iter()
            .chain(
                optional
                    .iter()
                    .map(|(value, _)| value.as_deref().unwrap_or("")),
            );
        let capacity = texts.clone().map(str::len).sum::<usize>()
            + binding.path.iter().map(String::len).sum::<usize>();
        let mut text = String::with_capacity(capacity);
        let mut ends = [0; FIXED];
        for (end, value) in ends.iter_mut().zip(texts) {
            text.push_str(value);
            *end = text.len();
        }
        let path_ends = binding
            .path
            .iter()
            .map(|value| {
                text.push_str(value);
                text.len()
            })
            .collect();
        Some(Self {
            text: text.into_boxed_str(),
            ends,
            path_ends,
            expires_at,
            cseq: binding.cseq,
            reg_id: binding.reg_id,
            q: binding.q,
            present,
        })
    }

    /// The binding this entry holds for `aor`.
    pub(crate) fn to_binding(&self, aor: &str) -> Binding {
        let owned = |text: Option<&str>| text.map(str::to_owned);
        Binding {
            aor: aor.to_owned(),
            contact: self.contact().to_owned(),
            expires_at: UNIX_EPOCH + Duration::from_nanos(self.expires_at.unsigned_abs()),
            q: self.q,
            call_id: self.call_id().to_owned(),
            cseq: self.cseq,
            path: self.path().map(str::to_owned).collect(),
            instance_id: owned(self.instance_id()),
            reg_id: self.reg_id,
            received: owned(self.received()),
            user_agent: owned(self.user_agent()),
            endpoint: owned(self.endpoint()),
            node: owned(self.node()),
        }
    }

    /// The text ending at `ends[index]`.
    fn fixed(&self, index: usize) -> &str {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
        self.text.get(start..self.ends[index]).unwrap_or_default()
    }

    fn optional(&self, index: usize, bit: u8) -> Option<&str> {
        (self.present & bit != 0).then(|| self.fixed(index))
    }

    pub(crate) fn contact(&self) -> &str {
        self.fixed(CONTACT)
    }

    pub(crate) fn call_id(&self) -> &str {
        self.fixed(CALL_ID)
    }

    pub(crate) fn instance_id(&self) -> Option<&str> {
        self.optional(INSTANCE_ID, HAS_INSTANCE_ID)
    }

    pub(crate) fn received(&self) -> Option<&str> {
        self.optional(RECEIVED, HAS_RECEIVED)
    }

    pub(crate) fn user_agent(&self) -> Option<&str> {
        self.optional(USER_AGENT, HAS_USER_AGENT)
    }

    pub(crate) fn endpoint(&self) -> Option<&str> {
        self.optional(ENDPOINT, HAS_ENDPOINT)
    }

    pub(crate) fn node(&self) -> Option<&str> {
        self.optional(NODE, HAS_NODE)
    }

    /// The Path values, in order.
    pub(crate) fn path(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(self.ends[FIXED - 1]).chain(self.path_ends.iter().copied());
        starts
            .zip(self.path_ends.iter().copied())
            .map(|(start, end)| self.text.get(start..end).unwrap_or_default())
    }

    /// Expiry in nanoseconds since the Unix epoch.
    pub(crate) fn expires_at(&self) -> i64 {
        self.expires_at
    }

    pub(crate) fn cseq(&self) -> u32 {
        self.cseq
    }

    pub(crate) fn reg_id(&self) -> Option<u32> {
        self.reg_id
    }

    pub(crate) fn q(&self) -> Option<u16> {
        self.q
    }

    /// Whether the binding has expired at `now` (nanoseconds since the epoch):
    /// a binding is valid strictly before its expiry.
    pub(crate) fn is_expired(&self, now: i64) -> bool {
        self.expires_at <= now
    }
}

/// `time` in nanoseconds since the Unix epoch, if it is between 1970 and 2262.
pub(crate) fn unix_nanos(time: SystemTime) -> Option<i64> {
    let since_epoch = time.duration_since(UNIX_EPOCH).ok()?;
    i64::try_from(since_epoch.as_nanos()).ok()
}

/// `now` in nanoseconds since the Unix epoch, clamped to what an expiry can
/// be, so that comparing it with expiries gives the same answer as comparing
/// the times: before 1970 nothing has expired, after 2262 everything has.
pub(crate) fn unix_nanos_clamped(now: SystemTime) -> i64 {
    match now.duration_since(UNIX_EPOCH) {
        Ok(since_epoch) => i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding() -> Binding {
        Binding {
            aor: "alice".into(),
            contact: "sip:alice@192.0.2.10:5060;transport=udp".into(),
            expires_at: UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789),
            q: Some(500),
            call_id: "a84b4c76e66710@pc33".into(),
            cseq: 314_159,
            path: vec![
                "<sip:p1.example.com;lr>".into(),
                "<sip:p2.example.com;lr>".into(),
            ],
            instance_id: Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>".into()),
            reg_id: Some(1),
            received: Some("udp:198.51.100.7:40123".into()),
            user_agent: Some("Softphone/1.0".into()),
            endpoint: Some("alice".into()),
            node: Some("node-a".into()),
        }
    }

    #[test]
    fn round_trips_every_field() {
        let original = binding();
        let entry = Entry::new(&original).expect("storable expiry");
        assert_eq!(entry.to_binding("alice"), original);
    }

    #[test]
    fn keeps_absent_apart_from_empty() {
        let mut original = binding();
        original.instance_id = None;
        original.received = Some(String::new());
        original.user_agent = None;
        original.endpoint = Some(String::new());
        original.node = None;
        original.path.clear();
        original.q = None;
        original.reg_id = None;
        let entry = Entry::new(&original).expect("storable expiry");
        assert_eq!(entry.to_binding("alice"), original);
        assert_eq!(entry.path().count(), 0);
    }

    #[test]
    fn keeps_empty_path_values_in_place() {
        let mut original = binding();
        original.path = vec![
            String::new(),
            "<sip:p.example.com;lr>".into(),
            String::new(),
        ];
        let entry = Entry::new(&original).expect("storable expiry");
        assert_eq!(entry.to_binding("alice"), original);
    }

    #[test]
    fn refuses_expiries_it_cannot_store() {
        let mut original = binding();
        original.expires_at = UNIX_EPOCH - Duration::from_secs(1);
        assert!(Entry::new(&original).is_none());
        original.expires_at = UNIX_EPOCH + Duration::from_secs(300 * 365 * 86_400);
        assert!(Entry::new(&original).is_none());
    }

    #[test]
    fn expires_at_its_expiry_not_after() {
        let entry = Entry::new(&binding()).expect("storable expiry");
        let expiry = unix_nanos(binding().expires_at).expect("in range");
        assert!(!entry.is_expired(expiry - 1));
        assert!(entry.is_expired(expiry));
    }

    #[test]
    fn clamps_now_outside_the_storable_range() {
        let entry = Entry::new(&binding()).expect("storable expiry");
        assert!(!entry.is_expired(unix_nanos_clamped(UNIX_EPOCH - Duration::from_secs(5))));
        let far = UNIX_EPOCH + Duration::from_secs(400 * 365 * 86_400);
        assert!(entry.is_expired(unix_nanos_clamped(far)));
    }
}
