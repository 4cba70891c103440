//! Typed headers, parsed on demand from the header index. Each view
//! borrows the message, so reading a branch, a tag or a Call-ID copies
//! nothing.

mod auth;
mod cseq;
mod media_type;
mod misc;
mod name_addr;
mod via;

pub use auth::{AuthValue, Challenge, Credentials};
pub use cseq::{CSeq, MAX_CSEQ};
pub use media_type::MediaType;
pub use misc::{
    RetryAfter, check_call_id, check_date, check_warning, parse_delta_seconds, parse_max_forwards,
};
pub use name_addr::{Contact, NameAddr, parse_qvalue};
pub use via::{MAGIC_COOKIE, SentBy, Via};

pub(crate) use misc::check_token_list;

use crate::error::{ParseError, SyntaxError};
use crate::lex::CommaList;
use crate::message::Message;
use crate::name::HeaderName;

fn in_header(name: HeaderName) -> impl Fn(SyntaxError) -> ParseError {
    move |problem| ParseError::Header {
        name: name.as_str().into(),
        problem,
    }
}

impl Message {
    fn required(&self, name: HeaderName) -> Result<&str, ParseError> {
        self.header(name).ok_or(ParseError::Missing(name))
    }

    fn list<'a, T: 'a>(
        &'a self,
        name: HeaderName,
        parse: impl Fn(&'a str) -> Result<T, SyntaxError> + 'a,
    ) -> impl Iterator<Item = Result<T, ParseError>> + 'a {
        self.values(name)
            .map(move |v| v.and_then(&parse).map_err(in_header(name)))
    }

    /// The top Via value: the first element of the first Via header.
    pub fn via(&self) -> Result<Via<'_>, ParseError> {
        let line = self.required(HeaderName::Via)?;
        let first = CommaList::new(line)
            .next()
            .expect("a comma list has a first element");
        first
            .and_then(Via::parse)
            .map_err(in_header(HeaderName::Via))
    }

    /// Every Via value, top first.
    pub fn vias(&self) -> impl Iterator<Item = Result<Via<'_>, ParseError>> {
        self.list(HeaderName::Via, Via::parse)
    }

    /// The From header.
    pub fn from_header(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(self.required(HeaderName::From)?).map_err(in_header(HeaderName::From))
    }

    /// The To header.
    pub fn to_header(&self) -> Result<NameAddr<'_>, ParseError> {
        NameAddr::parse(self.required(HeaderName::To)?).map_err(in_header(HeaderName::To))
    }

    /// The Call-ID.
    pub fn call_id(&self) -> Result<&str, ParseError> {
        let v = self.required(HeaderName::CallId)?;
        check_call_id(v).map_err(in_header(HeaderName::CallId))?;
        Ok(v)
    }

    /// The CSeq header.
    pub fn cseq(&self) -> Result<CSeq<'_>, ParseError> {
        CSeq::parse(self.required(HeaderName::CSeq)?).map_err(in_header(HeaderName::CSeq))
    }

    /// Max-Forwards, when present.
    pub fn max_forwards(&self) -> Result<Option<u8>, ParseError> {
        self.header(HeaderName::MaxForwards)
            .map(|v| parse_max_forwards(v).map_err(in_header(HeaderName::MaxForwards)))
            .transpose()
    }

    /// Every Contact value.
    pub fn contacts(&self) -> impl Iterator<Item = Result<Contact<'_>, ParseError>> {
        self.list(HeaderName::Contact, Contact::parse)
    }

    /// The first Contact value, if any.
    pub fn contact(&self) -> Option<Result<Contact<'_>, ParseError>> {
        let line = self.header(HeaderName::Contact)?;
        let first = CommaList::new(line)
            .next()
            .expect("a comma list has a first element");
        Some(
            first
                .and_then(Contact::parse)
                .map_err(in_header(HeaderName::Contact)),
        )
    }

    /// Content-Type, when present.
    pub fn content_type(&self) -> Result<Option<MediaType<'_>>, ParseError> {
        self.header(HeaderName::ContentType)
            .map(|v| MediaType::parse(v).map_err(in_header(HeaderName::ContentType)))
            .transpose()
    }

    /// Expires, when present.
    pub fn expires(&self) -> Result<Option<u32>, ParseError> {
        self.header(HeaderName::Expires)
            .map(|v| parse_delta_seconds(v).map_err(in_header(HeaderName::Expires)))
            .transpose()
    }

    /// Min-Expires, when present.
    pub fn min_expires(&self) -> Result<Option<u32>, ParseError> {
        self.header(HeaderName::MinExpires)
            .map(|v| parse_delta_seconds(v).map_err(in_header(HeaderName::MinExpires)))
            .transpose()
    }

    /// Retry-After, when present.
    pub fn retry_after(&self) -> Result<Option<RetryAfter<'_>>, ParseError> {
        self.header(HeaderName::RetryAfter)
            .map(|v| RetryAfter::parse(v).map_err(in_header(HeaderName::RetryAfter)))
            .transpose()
    }

    /// Every Route value, in order.
    pub fn routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> {
        self.list(HeaderName::Route, NameAddr::parse)
    }

    /// Every Record-Route value, in order.
    pub fn record_routes(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> {
        self.list(HeaderName::RecordRoute, NameAddr::parse)
    }

    /// Every Path value (RFC 3327), in order.
    pub fn paths(&self) -> impl Iterator<Item = Result<NameAddr<'_>, ParseError>> {
        self.list(HeaderName::Path, NameAddr::parse)
    }

    /// The tokens of a list header such as Allow, Supported, Require,
    /// Proxy-Require or Unsupported.
    pub fn tokens(&self, name: HeaderName) -> impl Iterator<Item = &str> {
        self.values(name)
            .filter_map(Result::ok)
            .filter(|t| !t.is_empty())
    }

    /// Authorization values.
    pub fn authorizations(&self) -> impl Iterator<Item = Result<Credentials<'_>, ParseError>> {
        self.auth_values(HeaderName::Authorization)
    }

    /// Proxy-Authorization values.
    pub fn proxy_authorizations(
        &self,
    ) -> impl Iterator<Item = Result<Credentials<'_>, ParseError>> {
        self.auth_values(HeaderName::ProxyAuthorization)
    }

    /// WWW-Authenticate values.
    pub fn www_authenticates(&self) -> impl Iterator<Item = Result<Challenge<'_>, ParseError>> {
        self.auth_values(HeaderName::WwwAuthenticate)
    }

    /// Proxy-Authenticate values.
    pub fn proxy_authenticates(&self) -> impl Iterator<Item = Result<Challenge<'_>, ParseError>> {
        self.auth_values(HeaderName::ProxyAuthenticate)
    }

    /// Auth headers hold comma-separated parameters, so each header line
    /// is one value.
    fn auth_values(
        &self,
        name: HeaderName,
    ) -> impl Iterator<Item = Result<AuthValue<'_>, ParseError>> {
        self.headers(name)
            .map(move |v| AuthValue::parse(v).map_err(in_header(name)))
    }

    /// The Request-URI, parsed.
    pub fn request_uri_parsed(&self) -> Option<Result<crate::Uri<'_>, ParseError>> {
        self.request_uri()
            .map(|u| crate::Uri::parse(u).map_err(ParseError::RequestUri))
    }
}
