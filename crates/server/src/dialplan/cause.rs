//! Hangup causes: the ISDN (Q.850) cause a dialplan names in
//! `Hangup(cause)`, and the SIP status an unanswered caller gets for it,
//! as Asterisk's `chan_pjsip` sends them (RFC 3398 §7.2.4.1 for the causes
//! it leaves unmapped); and the cause a callee's SIP status stands for,
//! which is what a caller hears when a `Dial` fails and the dialplan ends
//! (a callee's 603 reaches the caller as 21, call rejected: 403).

/// Q.850 16, normal call clearing: what `Hangup()` without a cause means.
pub const NORMAL_CLEARING: u16 = 16;

/// The causes Asterisk accepts by name in `Hangup`, and their numbers.
const NAMES: &[(&str, u16)] = &[
    ("UNALLOCATED", 1),
    ("NO_ROUTE_TRANSIT_NET", 2),
    ("NO_ROUTE_DESTINATION", 3),
    ("NORMAL_CLEARING", 16),
    ("USER_BUSY", 17),
    ("BUSY", 17),
    ("NO_USER_RESPONSE", 18),
    ("NO_ANSWER", 19),
    ("SUBSCRIBER_ABSENT", 20),
    ("CALL_REJECTED", 21),
    ("NUMBER_CHANGED", 22),
    ("DESTINATION_OUT_OF_ORDER", 27),
    ("INVALID_NUMBER_FORMAT", 28),
    ("FACILITY_REJECTED", 29),
    ("NORMAL_UNSPECIFIED", 31),
    ("NORMAL_CIRCUIT_CONGESTION", 34),
    ("CONGESTION", 34),
    ("NETWORK_OUT_OF_ORDER", 38),
    ("NORMAL_TEMPORARY_FAILURE", 41),
    ("SWITCH_CONGESTION", 42),
    ("BEARERCAPABILITY_NOTAVAIL", 58),
    ("CHAN_NOT_IMPLEMENTED", 66),
    ("INTERWORKING", 127),
];

/// A cause as `Hangup` takes it: a number (1–127) or a name.
pub fn parse(text: &str) -> Option<u16> {
    let text = text.trim();
    if let Ok(n) = text.parse::<u16>() {
        return (1..=127).contains(&n).then_some(n);
    }
    let name = text.to_ascii_uppercase();
    let name = name.strip_prefix("AST_CAUSE_").unwrap_or(&name);
    NAMES.iter().find(|(n, _)| *n == name).map(|&(_, c)| c)
}

/// The SIP status for a cause: Asterisk's, else RFC 3398 §7.2.4.1's.
/// Causes neither maps, normal clearing among them, are 603 Decline, as
/// Asterisk declines a call it hangs up without a cause it can map.
pub fn to_sip(cause: u16) -> u16 {
    match cause {
        1..=3 | 26 => 404,
        17 => 486,
        18 => 408,
        19 | 20 | 31 => 480,
        21 | 55 | 57 | 87 => 403,
        22 => 410,
        27 => 502,
        28 => 484,
        29 | 69 | 79 => 501,
        34 | 41 | 42 | 47 | 66 | 88 => 503,
        38 | 111 | 127 => 500,
        58 | 65 | 70 => 488,
        102 => 504,
        _ => 603,
    }
}

/// The cause a SIP final status stands for, as Asterisk's `chan_pjsip`
/// reads a callee's answer.
pub fn from_sip(code: u16) -> u16 {
    match code {
        401 | 403 | 407 | 603 => 21,
        404 | 485 | 604 => 1,
        408 => 18,
        409 => 41,
        410 => 22,
        420 => 3,
        480 | 483 => 19,
        484 => 28,
        486 | 600 => 17,
        488 | 606 => 58,
        500 => 38,
        501 => 29,
        502 => 27,
        503 => 34,
        504 => 102,
        // The rest of a class: a fault of the request (interworking), or
        // of the far end (congestion).
        _ if (400..500).contains(&code) || (600..700).contains(&code) => 127,
        _ if (500..600).contains(&code) => 34,
        _ => NORMAL_CLEARING,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_map_as_rfc_3398_says() {
        assert_eq!(parse("17").map(to_sip), Some(486));
        assert_eq!(parse("USER_BUSY").map(to_sip), Some(486));
        assert_eq!(parse("no_answer").map(to_sip), Some(480));
        assert_eq!(parse("AST_CAUSE_CONGESTION").map(to_sip), Some(503));
        assert_eq!(parse("1").map(to_sip), Some(404));
        assert_eq!(parse("21").map(to_sip), Some(403));
        assert_eq!(parse("28").map(to_sip), Some(484));
        assert_eq!(to_sip(NORMAL_CLEARING), 603);
        assert_eq!(
            parse("38").map(to_sip),
            Some(500),
            "Asterisk's, not the RFC's 503"
        );
        // A callee's status, through its cause, to the caller.
        let relayed = |code| to_sip(from_sip(code));
        assert_eq!(relayed(603), 403);
        assert_eq!(relayed(404), 404);
        assert_eq!(relayed(480), 480);
        assert_eq!(relayed(407), 403);
        assert_eq!(relayed(487), 500);
        assert_eq!(relayed(599), 503);
        assert_eq!(parse("0"), None);
        assert_eq!(parse("128"), None);
        assert_eq!(parse("SOMETHING"), None);
    }
}
