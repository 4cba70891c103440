//! SIPp's message log (`-trace_msg -message_file FILE`) read back as
//! messages, so that a test can check what a peer we did not write sent and
//! received, byte for byte.
//!
//! Each logged message is introduced by a line that gives its exact size:
//! `UDP message sent (330 bytes):` or `UDP message received [436] bytes :`,
//! then an empty line, then the message. The size is what delimits it, so
//! a body that contains SIPp's own separator lines cannot confuse the
//! reader. The `Dead call ... received` entries repeat a message already
//! logged and are skipped.

use sipjet_core::{Message, Method};

/// Which way a logged message went, seen from SIPp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// SIPp sent it.
    Sent,
    /// SIPp received it.
    Received,
}

/// One message of the log.
#[derive(Clone, Debug)]
pub struct Logged {
    /// Sent or received.
    pub direction: Direction,
    /// The message as parsed.
    pub message: Message,
}

/// Every message of a SIPp message log, in order. Panics on an entry that
/// is not a SIP message: the log is SIPp's, so that would be a fault of
/// this reader.
pub fn parse(log: &[u8]) -> Vec<Logged> {
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((direction, size, start)) = next_entry(log, at) {
        let end = start + size;
        if end > log.len() {
            // SIPp is still writing it: the log is read while SIPp plays.
            break;
        }
        let message = Message::parse(log[start..end].to_vec()).unwrap_or_else(|e| {
            panic!(
                "SIPp logged a message that does not parse ({e}):\n{}",
                String::from_utf8_lossy(&log[start..end])
            )
        });
        out.push(Logged { direction, message });
        at = end;
    }
    out
}

/// The next entry at or after `from`: its direction, its size in bytes and
/// where its message starts.
fn next_entry(log: &[u8], from: usize) -> Option<(Direction, usize, usize)> {
    let mut line_start = from;
    while line_start < log.len() {
        let line_end = find(&log[line_start..], b"\n").map_or(log.len(), |i| line_start + i);
        let line = String::from_utf8_lossy(&log[line_start..line_end]);
        if let Some((direction, size)) = entry_header(&line) {
            // The header line, then an empty line, then the message.
            let start = (line_end + 2).min(log.len());
            return Some((direction, size, start));
        }
        line_start = line_end + 1;
    }
    None
}

/// `UDP message sent (330 bytes):` → (Sent, 330);
/// `TCP message received [436] bytes :` → (Received, 436).
fn entry_header(line: &str) -> Option<(Direction, usize)> {
    let (_, rest) = line.split_once(" message ")?;
    let (direction, digits) = if let Some(r) = rest.strip_prefix("sent (") {
        (Direction::Sent, r.split_once(' ')?.0)
    } else if let Some(r) = rest.strip_prefix("received [") {
        (Direction::Received, r.split_once(']')?.0)
    } else {
        return None;
    };
    Some((direction, digits.parse().ok()?))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The received responses among `log`, in order.
pub fn responses_received(log: &[Logged]) -> Vec<&Message> {
    log.iter()
        .filter(|l| l.direction == Direction::Received && l.message.status().is_some())
        .map(|l| &l.message)
        .collect()
}

/// The requests of `method` that went `direction`, in order.
pub fn requests<'a>(log: &'a [Logged], direction: Direction, method: &Method) -> Vec<&'a Message> {
    log.iter()
        .filter(|l| l.direction == direction && l.message.method() == Some(method))
        .map(|l| &l.message)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "----------------------------------------------- 2026-11-26 14:45:00.776537\n\
UDP message sent (73 bytes):\n\n\
OPTIONS sip:127.0.0.1 SIP/2.0\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\n--\r\n\n\n\
----------------------------------------------- 2026-11-26 14:45:00.778168\n\
UDP message received [37] bytes :\n\n\
SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n\n\n\
-----------------------------------------------\n\
Dead call 1-1@127.0.0.1 received a UDP message:\n\n\
SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n\n";

    #[test]
    fn reads_entries_by_their_size_and_skips_dead_calls() {
        let log = parse(LOG.as_bytes());
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].direction, Direction::Sent);
        assert_eq!(log[0].message.method(), Some(&Method::Options));
        assert_eq!(&log[0].message.body()[..], b"--\r\n");
        assert_eq!(log[1].direction, Direction::Received);
        assert_eq!(log[1].message.status(), Some(200));
        assert_eq!(responses_received(&log).len(), 1);
        assert_eq!(requests(&log, Direction::Sent, &Method::Options).len(), 1);
    }

    #[test]
    fn an_entry_still_being_written_is_left_for_later() {
        let cut = LOG.find("SIP/2.0 200 OK").unwrap() + 10;
        let log = parse(&LOG.as_bytes()[..cut]);
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].message.method(), Some(&Method::Options));
    }
}
