//! The four kinds of transaction and the states they pass through
//! (RFC 3261 §17, figures 5 to 8, as corrected by RFC 6026).

use std::fmt;

/// The kind of a transaction: which side, and INVITE or not (§17).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Sends an INVITE and receives its responses (§17.1.1).
    ClientInvite,
    /// Sends any other request except ACK (§17.1.2).
    ClientNonInvite,
    /// Receives an INVITE and sends the TU's responses (§17.2.1).
    ServerInvite,
    /// Receives any other request except ACK (§17.2.2).
    ServerNonInvite,
}

impl Kind {
    /// True for the client kinds.
    pub fn is_client(self) -> bool {
        matches!(self, Kind::ClientInvite | Kind::ClientNonInvite)
    }
}

/// The state of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// INVITE client: request sent, no response yet.
    Calling,
    /// Non-INVITE client: request sent, no response yet; non-INVITE
    /// server: request received, the TU has not answered.
    Trying,
    /// A provisional response was received (client) or sent (server); an
    /// INVITE server transaction starts here.
    Proceeding,
    /// A non-2xx final response (INVITE) or any final response
    /// (non-INVITE) was received or sent; retransmissions are absorbed.
    Completed,
    /// INVITE server: the ACK for the non-2xx final response arrived.
    Confirmed,
    /// INVITE, RFC 6026: a 2xx was received or sent; further 2xx and
    /// their ACKs belong to the TU.
    Accepted,
    /// Finished; the transaction is gone after this.
    Terminated,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Calling => "Calling",
            State::Trying => "Trying",
            State::Proceeding => "Proceeding",
            State::Completed => "Completed",
            State::Confirmed => "Confirmed",
            State::Accepted => "Accepted",
            State::Terminated => "Terminated",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_kinds_and_state_names() {
        assert!(Kind::ClientInvite.is_client() && Kind::ClientNonInvite.is_client());
        assert!(!Kind::ServerInvite.is_client() && !Kind::ServerNonInvite.is_client());
        assert_eq!(State::Accepted.to_string(), "Accepted");
    }
}
