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

            fn from_lowercase(name: &[u8]) -> HeaderName {
                $(
                    if name.eq_ignore_ascii_case($name.as_bytes()) {
                        return HeaderName::$variant;
                    }
                )*
                HeaderName::Other
            }
        }
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

impl HeaderName {
    /// Maps a received name (any case, full or compact) to a header name.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        match name.len() {
            0 => HeaderName::Other,
            1 => HeaderName::from_compact(name[0]),
            // The most frequent names first: every message has them.
            _ => match (name.len(), name[0].to_ascii_lowercase()) {
                (3, b'v') if name.eq_ignore_ascii_case(b"via") => HeaderName::Via,
                (4, b'f') if name.eq_ignore_ascii_case(b"from") => HeaderName::From,
                (2, b't') if name.eq_ignore_ascii_case(b"to") => HeaderName::To,
                (7, b'c') if name.eq_ignore_ascii_case(b"call-id") => HeaderName::CallId,
                (4, b'c') if name.eq_ignore_ascii_case(b"cseq") => HeaderName::CSeq,
                (7, b'c') if name.eq_ignore_ascii_case(b"contact") => HeaderName::Contact,
                (12, b'm') if name.eq_ignore_ascii_case(b"max-forwards") => HeaderName::MaxForwards,
                (14, b'c') if name.eq_ignore_ascii_case(b"content-length") => {
                    HeaderName::ContentLength
                }
                (12, b'c') if name.eq_ignore_ascii_case(b"content-type") => HeaderName::ContentType,
                _ => HeaderName::from_lowercase(name),
            },
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
            ("z", HeaderName::Other),
            ("NewFangledHeader", HeaderName::Other),
        ] {
            assert_eq!(HeaderName::from_bytes(raw.as_bytes()), want, "{raw}");
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
