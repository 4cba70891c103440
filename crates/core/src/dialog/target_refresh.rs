//! Target-refresh requests: the requests whose Contact replaces the remote
//! target of the dialog they are sent in (§12.2, glossary of RFC 3261 §6).

use sipjet_message::Method;

/// True for INVITE (RFC 3261), UPDATE (RFC 3311), SUBSCRIBE and NOTIFY
/// (RFC 6665) and REFER (RFC 3515, which creates a subscription the way
/// SUBSCRIBE does). Their senders put a Contact in them, and their 2xx
/// carry the answerer's; BYE, INFO, MESSAGE, PRACK or OPTIONS move
/// nothing.
pub fn is_target_refresh(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refreshing_and_other_methods() {
        for method in ["INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"] {
            assert!(
                is_target_refresh(&Method::parse(method).unwrap()),
                "{method}"
            );
        }
        for method in [
            "BYE", "INFO", "MESSAGE", "PRACK", "OPTIONS", "ACK", "CANCEL", "invite",
        ] {
            assert!(
                !is_target_refresh(&Method::parse(method).unwrap()),
                "{method}"
            );
        }
    }
}
