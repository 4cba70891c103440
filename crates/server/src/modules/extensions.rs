//! SIP extensions (option tags) a request requires: RFC 3261 §8.2.2.3
//! (`Require`, for what the server answers itself) and §16.3 step 5
//! (`Proxy-Require`, for what it forwards). A request that requires an
//! extension the server does not implement is refused with
//! `420 Bad Extension` naming it in `Unsupported`, so the sender knows
//! the server will not do what it asked.

use sipjet_core::{HeaderName, IncomingRequest, Message};

/// The option tags of `header` (`Require` or `Proxy-Require`) that are not
/// in `supported`.
pub fn unsupported<'a>(
    request: &'a IncomingRequest,
    header: HeaderName,
    supported: &[&str],
) -> Vec<&'a str> {
    unsupported_in(&request.message, header, supported)
}

/// [`unsupported`] of a request as a message.
pub fn unsupported_in<'a>(
    message: &'a Message,
    header: HeaderName,
    supported: &[&str],
) -> Vec<&'a str> {
    message
        .tokens(header)
        .filter(|t| !supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
        .collect()
}

/// Answers `420 Bad Extension` with `Unsupported` when the request
/// requires, in `header`, an extension not in `supported`; true when it
/// did.
pub fn refuse_unsupported(
    request: &IncomingRequest,
    header: HeaderName,
    supported: &[&str],
) -> bool {
    let missing = unsupported(request, header, supported);
    if missing.is_empty() {
        return false;
    }
    let mut r = request.response(420);
    // Option tags are tokens: no line breaks can reach the header.
    let _ = r.add_header("Unsupported", &missing.join(", "));
    if let Err(e) = request.respond_stateless(r) {
        tracing::warn!(error = %e, "cannot answer 420");
    }
    true
}
