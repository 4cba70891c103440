//! Header names: case-insensitive, with the compact forms of RFC 3261 §7.3.3
//! and its extensions mapped to the full names.

use std::fmt;

macro_rules! header_names {
    ($( $variant:ident => $name:literal $(, $compact:literal)? ; )*) => {
        /// A header field name. Known names are an enum variant whatever the
        /// case or compact form they were received in; every other name is
        /// [`HeaderName::Other`] and keeps its text in the message.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
            /// A name sipjet has no special knowledge of.
            Other,
        }

        impl HeaderName {
            /// The canonical full name (empty for [`HeaderName::Other`]).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( HeaderName::$variant => $name, )*
                    HeaderName::Other => "",
                }
            }

            /// The compact form, if the header has one.
            pub const fn compact(self) -> Option<u8> {
                match self {
                    $( $( HeaderName::$variant => Some($compact), )? )*
                    _ => None,
                }
            }

            fn from_compact(b: u8) -> HeaderName {
                match b.to_ascii_lowercase() {
                    $( $( $compact => HeaderName::$variant, )? )*
                    _ => HeaderName::Other,
                }
            }

        }

        /// Every known header, in declaration order.
        const ALL: &[HeaderName] = &[$( HeaderName::$variant, )*];

        /// The canonical names of [`ALL`], same order.
        const NAMES: &[&str] = &[$( $name, )*];
    };
}

header_names! {
    Accept => "Accept";
    AcceptContact => "Accept-Contact", b'a';
    AcceptEncoding => "Accept-Encoding";
    AcceptLanguage => "Accept-Language";
    AlertInfo => "Alert-Info";
    Allow => "Allow";
    AllowEvents => "Allow-Events", b'u';
    AuthenticationInfo => "Authentication-Info";
    Authorization => "Authorization";
    CallId => "Call-ID", b'i';
    CallInfo => "Call-Info";
    Contact => "Contact", b'm';
    ContentDisposition => "Content-Disposition";
    ContentEncoding => "Content-Encoding", b'e';
    ContentLanguage => "Content-Language";
    ContentLength => "Content-Length", b'l';
    ContentType => "Content-Type", b'c';
    CSeq => "CSeq";
    Date => "Date";
    ErrorInfo => "Error-Info";
    Event => "Event", b'o';
    Expires => "Expires";
    From => "From", b'f';
    Identity => "Identity", b'y';
    IdentityInfo => "Identity-Info", b'n';
    InReplyTo => "In-Reply-To";
    MaxForwards => "Max-Forwards";
    MimeVersion => "MIME-Version";
    MinExpires => "Min-Expires";
    MinSe => "Min-SE";
    Organization => "Organization";
    Path => "Path";
    Priority => "Priority";
    ProxyAuthenticate => "Proxy-Authenticate";
    ProxyAuthorization => "Proxy-Authorization";
    ProxyRequire => "Proxy-Require";
    RAck => "RAck";
    Reason => "Reason";
    RecordRoute => "Record-Route";
    ReferTo => "Refer-To", b'r';
    ReferredBy => "Referred-By", b'b';
    RejectContact => "Reject-Contact", b'j';
    ReplyTo => "Reply-To";
    RequestDisposition => "Request-Disposition", b'd';
    Require => "Require";
    RetryAfter => "Retry-After";
    Route => "Route";
    RSeq => "RSeq";
    Server => "Server";
    ServiceRoute => "Service-Route";
    SessionExpires => "Session-Expires", b'x';
    SipETag => "SIP-ETag";
    SipIfMatch => "SIP-If-Match";
    Subject => "Subject", b's';
    SubscriptionState => "Subscription-State";
    Supported => "Supported", b'k';
    Timestamp => "Timestamp";
    To => "To", b't';
    Unsupported => "Unsupported";
    UserAgent => "User-Agent";
    Via => "Via", b'v';
    Warning => "Warning";
    WwwAuthenticate => "WWW-Authenticate";
}

/// The lookup key of a name: its length and its first and last bytes
/// without case. Header lookup runs for every header of every message, so
/// the key costs nothing per byte and almost every known name has a slot
/// of its own; one case-insensitive comparison confirms the match.
#[inline(always)]
pub(crate) const fn name_hash(name: &[u8]) -> u32 {
    match name.len() {
        0 => 0,
        n => {
            let first = name[0].to_ascii_lowercase() as u32;
            let last = name[n - 1].to_ascii_lowercase() as u32;
            (n as u32).wrapping_mul(0x9e37_79b9)
                ^ first.wrapping_mul(0x85eb_ca6b)
                ^ last.wrapping_mul(0xc2b2_ae35)
        }
    }
}

const TABLE_SIZE: usize = 1024;

/// Table slot of a key.
const fn slot_of(hash: u32) -> usize {
    ((hash ^ (hash >> 16)) as usize) % TABLE_SIZE
}

/// Open-addressing table from name hash to `ALL` index + 1 (0 is empty).
static TABLE: [u8; TABLE_SIZE] = {
    let mut t = [0u8; TABLE_SIZE];
    let mut i = 0;
    while i < ALL.len() {
        let mut slot = slot_of(name_hash(NAMES[i].as_bytes()));
        while t[slot] != 0 {
            slot = (slot + 1) % TABLE_SIZE;
        }
        t[slot] = (i + 1) as u8;
        i += 1;
    }
    t
};

/// Longest known name ("Authentication-Info", "Request-Disposition": 19).
const MAX_KNOWN: usize = 24;

/// The known names as little-endian words, zero-padded, so that a received
/// name can be compared a word at a time straight from the message buffer.
static WORDS: [[u64; 3]; ALL.len()] = {
    let mut out = [[0u64; 3]; ALL.len()];
    let mut i = 0;
    while i < ALL.len() {
        let b = NAMES[i].as_bytes();
        assert!(b.len() <= MAX_KNOWN);
        let mut j = 0;
        while j < b.len() {
            out[i][j / 8] |= (b[j] as u64) << ((j % 8) * 8);
            j += 1;
        }
        i += 1;
    }
    out
};

impl HeaderName {
    /// Maps a received name (any case, full or compact) to a header name;
    /// anything that is not a known name is [`HeaderName::Other`].
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        HeaderName::lookup(name, None)
    }

    /// [`HeaderName::from_bytes`] for `buf[start..end]`. Names nearly
    /// always arrive in their canonical case; that case is recognised by
    /// comparing whole words read from `buf`, without a call or a copy.
    #[inline]
    pub(crate) fn from_buffer(buf: &[u8], start: usize, end: usize) -> HeaderName {
        let len = end - start;
        let words = (len <= MAX_KNOWN && start + MAX_KNOWN <= buf.len()).then(|| {
            let word = |i: usize| {
                let at = start + i * 8;
                let w = u64::from_le_bytes(buf[at..at + 8].try_into().expect("eight bytes"));
                let keep = len.saturating_sub(i * 8).min(8);
                if keep == 8 {
                    w
                } else {
                    w & ((1u64 << (keep * 8)) - 1)
                }
            };
            [word(0), word(1), word(2)]
        });
        HeaderName::lookup(&buf[start..end], words)
    }

    #[inline]
    fn lookup(name: &[u8], words: Option<[u64; 3]>) -> HeaderName {
        if name.len() == 1 {
            return HeaderName::from_compact(name[0]);
        }
        if name.is_empty() || name.len() > MAX_KNOWN {
            return HeaderName::Other;
        }
        let mut slot = slot_of(name_hash(name));
        loop {
            let entry = TABLE[slot] as usize;
            if entry == 0 {
                return HeaderName::Other;
            }
            let known = NAMES[entry - 1].as_bytes();
            if known.len() == name.len() {
                let exact = match words {
                    Some(w) => w == WORDS[entry - 1],
                    None => known == name,
                };
                if exact || known.eq_ignore_ascii_case(name) {
                    return ALL[entry - 1];
                }
            }
            slot = (slot + 1) % TABLE_SIZE;
        }
    }

    /// Headers that may appear at most once and never hold a list, and
    /// whose repetition leaves the message ambiguous (RFC 4475 §3.3.8). Other
    /// single-valued headers of RFC 3261 (Subject, User-Agent, ...) are
    /// informational, so a repeated one is tolerated rather than refused.
    pub const fn is_single(self) -> bool {
        matches!(
            self,
            HeaderName::CallId
                | HeaderName::ContentDisposition
                | HeaderName::ContentLength
                | HeaderName::ContentType
                | HeaderName::CSeq
                | HeaderName::Date
                | HeaderName::Expires
                | HeaderName::From
                | HeaderName::MaxForwards
                | HeaderName::MinExpires
                | HeaderName::RAck
                | HeaderName::RetryAfter
                | HeaderName::RSeq
                | HeaderName::SessionExpires
                | HeaderName::To
        )
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_and_compact() {
        for (raw, want) in [
            ("MaX-fOrWaRdS", HeaderName::MaxForwards),
            ("v", HeaderName::Via),
            ("V", HeaderName::Via),
            ("i", HeaderName::CallId),
            ("m", HeaderName::Contact),
            ("e", HeaderName::ContentEncoding),
            ("l", HeaderName::ContentLength),
            ("c", HeaderName::ContentType),
            ("f", HeaderName::From),
            ("s", HeaderName::Subject),
            ("k", HeaderName::Supported),
            ("t", HeaderName::To),
            ("o", HeaderName::Event),
            ("u", HeaderName::AllowEvents),
            ("r", HeaderName::ReferTo),
            ("b", HeaderName::ReferredBy),
            ("x", HeaderName::SessionExpires),
            ("y", HeaderName::Identity),
            ("a", HeaderName::AcceptContact),
            ("www-authenticate", HeaderName::WwwAuthenticate),
            ("CALL-ID", HeaderName::CallId),
            ("cseq", HeaderName::CSeq),
            ("C%6Fntact", HeaderName::Other),
            ("Call\rID", HeaderName::Other),
            ("Call-ID\0", HeaderName::Other),
            ("cALL-iD", HeaderName::CallId),
            ("z", HeaderName::Other),
            ("NewFangledHeader", HeaderName::Other),
        ] {
            assert_eq!(HeaderName::from_bytes(raw.as_bytes()), want, "{raw}");
        }
    }

    #[test]
    fn every_known_name_maps_back_in_any_case() {
        for &name in ALL {
            assert_eq!(HeaderName::from_bytes(name.as_str().as_bytes()), name);
            let upper = name.as_str().to_ascii_uppercase();
            assert_eq!(HeaderName::from_bytes(upper.as_bytes()), name);
        }
    }

    #[test]
    fn canonical_names_round_trip() {
        for name in [
            HeaderName::CallId,
            HeaderName::WwwAuthenticate,
            HeaderName::CSeq,
        ] {
            assert_eq!(HeaderName::from_bytes(name.as_str().as_bytes()), name);
        }
        assert_eq!(HeaderName::Contact.compact(), Some(b'm'));
    }
}
