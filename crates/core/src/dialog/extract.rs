//! What a dialog takes from a message: the parties, the Contact, the
//! Record-Route set, and the proof that a response answers a request.

use sipjet_message::{
    Contact, HeaderName, Message, NameAddr, ParseError, SyntaxError, Uri, unfold,
};

use super::error::DialogError;
use super::state::Party;

/// A header error as the message crate words it.
fn in_header(name: HeaderName, problem: SyntaxError) -> DialogError {
    DialogError::Header(ParseError::Header {
        name: name.as_str().into(),
        problem,
    })
}

/// The URI and display name of a From or To value, the URI checked so
/// that every request built from it is valid.
pub(super) fn party(address: &NameAddr<'_>, header: HeaderName) -> Result<Party, DialogError> {
    address.uri().map_err(|p| in_header(header, p))?;
    Ok(Party {
        display_name: address.display_name.map(|n| unfold(n).into_owned()),
        uri: unfold(address.uri_str()).into_owned(),
    })
}

/// The first Contact of `message` (`what` names it in errors), if any;
/// `*` is refused, and the URI must parse.
fn contact<'a>(
    message: &'a Message,
    what: &'static str,
) -> Result<Option<NameAddr<'a>>, DialogError> {
    match message.contact().transpose()? {
        None => Ok(None),
        Some(Contact::Wildcard) => Err(DialogError::WildcardContact(what)),
        Some(Contact::Addr(address)) => {
            address
                .uri()
                .map_err(|p| in_header(HeaderName::Contact, p))?;
            Ok(Some(address))
        }
    }
}

/// The URI of the Contact: the remote target a message offers.
pub(super) fn target_of(
    message: &Message,
    what: &'static str,
) -> Result<Option<String>, DialogError> {
    Ok(contact(message, what)?.map(|a| unfold(a.uri_str()).into_owned()))
}

/// The whole Contact value, parameters included: the local contact this
/// side repeats in its target-refresh requests.
pub(super) fn contact_value(
    message: &Message,
    what: &'static str,
) -> Result<Option<String>, DialogError> {
    Ok(contact(message, what)?.map(|a| unfold(a.as_str()).into_owned()))
}

/// The Record-Route values in the order received, each checked to be a
/// `name-addr` with a URI that parses.
pub(super) fn record_route(message: &Message) -> Result<Vec<String>, DialogError> {
    message
        .record_routes()
        .map(|route| {
            let route = route?;
            if !route.bracketed {
                return Err(DialogError::UnbracketedRoute(
                    unfold(route.as_str()).into_owned(),
                ));
            }
            route
                .uri()
                .map_err(|p| in_header(HeaderName::RecordRoute, p))?;
            Ok(unfold(route.as_str()).into_owned())
        })
        .collect()
}

/// Checks that `response` answers `request`: same Call-ID, same From tag,
/// same CSeq number and method (§8.1.3.3, §17.1.3).
pub(super) fn check_answers(request: &Message, response: &Message) -> Result<(), DialogError> {
    if request.call_id()? != response.call_id()? {
        return Err(DialogError::Mismatch("Call-ID"));
    }
    if request.from_header()?.tag() != response.from_header()?.tag() {
        return Err(DialogError::Mismatch("From tag"));
    }
    if request.cseq()? != response.cseq()? {
        return Err(DialogError::Mismatch("CSeq"));
    }
    Ok(())
}

/// True when `request` was sent over TLS (its top Via says so: TLS, or WSS
/// for WebSocket over TLS) to a `sips:` Request-URI (§12.1.1, §12.1.2).
pub(super) fn sent_securely(request: &Message) -> bool {
    let sips = matches!(
        request.request_uri_parsed(),
        Some(Ok(Uri::Sip(uri))) if uri.secure
    );
    let over_tls = request.via().is_ok_and(|via| {
        via.transport.eq_ignore_ascii_case("TLS") || via.transport.eq_ignore_ascii_case("WSS")
    });
    sips && over_tls
}
