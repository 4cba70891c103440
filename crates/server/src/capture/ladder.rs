//! A flow drawn as sngrep draws it: one column per party (address, port
//! and transport), one arrow per message, in the order captured, with its
//! time from the flow's first message. A message sent or received again
//! with the same bytes is marked as a retransmission.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sipjet_core::transport::Direction;

use super::ring::{Label, Record};

/// A party: one column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// `127.0.0.1:5060/UDP`.
    pub address: String,
    /// True for this server's own side.
    pub local: bool,
}

/// A message: one arrow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arrow {
    /// The record's number in the ring.
    pub seq: u64,
    /// The column it leaves.
    pub from: usize,
    /// The column it reaches.
    pub to: usize,
    /// `INVITE` or `180 Ringing`.
    pub label: String,
    /// True for a request.
    pub request: bool,
    /// Milliseconds since the flow's first message.
    pub offset_ms: u64,
    /// Seconds since the Unix epoch, with microseconds.
    pub time: f64,
    /// The same bytes went the same way before.
    pub retransmission: bool,
    /// The whole message.
    pub message: String,
}

/// A flow's ladder diagram (`GET /api/flows/CALLID`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ladder {
    /// The Call-ID.
    pub call_id: String,
    /// The parties, in order of appearance.
    pub columns: Vec<Column>,
    /// The messages, in order.
    pub arrows: Vec<Arrow>,
}

fn unix(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The ladder of `records`, the messages of one flow, drawn in the order
/// of their times (a message sent is recorded once it is out, maybe after
/// its answer came).
pub fn ladder(call_id: &str, records: &[Arc<Record>]) -> Ladder {
    let mut records = records.to_vec();
    records.sort_by_key(|r| r.at);
    let mut columns: Vec<Column> = Vec::new();
    let mut column = |address: String, local: bool| -> usize {
        match columns.iter().position(|c| c.address == address) {
            Some(i) => i,
            None => {
                columns.push(Column { address, local });
                columns.len() - 1
            }
        }
    };
    let start = records.first().map(|r| r.at);
    let mut seen: HashSet<(bool, &[u8])> = HashSet::new();
    let mut arrows = Vec::with_capacity(records.len());
    for r in &records {
        let proto = r.protocol.via_name();
        let local = column(format!("{}/{proto}", r.local), true);
        let remote = column(format!("{}/{proto}", r.remote), false);
        let sent = r.direction == Direction::Sent;
        let (from, to) = if sent {
            (local, remote)
        } else {
            (remote, local)
        };
        let offset = start
            .and_then(|s| r.at.duration_since(s).ok())
            .unwrap_or_default();
        arrows.push(Arrow {
            seq: r.seq,
            from,
            to,
            label: r.label.text(),
            request: matches!(r.label, Label::Request { .. }),
            offset_ms: u64::try_from(offset.as_millis()).unwrap_or(u64::MAX),
            time: unix(r.at),
            retransmission: !seen.insert((sent, &r.wire)),
            message: String::from_utf8_lossy(&r.wire).into_owned(),
        });
    }
    Ladder {
        call_id: call_id.to_string(),
        columns,
        arrows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sipjet_core::Protocol;
    use std::time::Duration;

    fn record(
        seq: u64,
        direction: Direction,
        remote: &str,
        label: &str,
        wire: &str,
    ) -> Arc<Record> {
        Arc::new(Record {
            seq,
            at: SystemTime::UNIX_EPOCH + Duration::from_millis(1_000 + seq * 250),
            direction,
            protocol: Protocol::Udp,
            local: "127.0.0.1:5060".parse().unwrap(),
            remote: remote.parse().unwrap(),
            call_id: Arc::from("c"),
            label: Label::Request {
                method: label.into(),
            },
            wire: wire.as_bytes().into(),
        })
    }

    #[test]
    fn columns_by_appearance_arrows_in_order_retransmissions_marked() {
        let alice = "127.0.0.1:5062";
        let bob = "127.0.0.1:5064";
        let records = [
            record(4, Direction::Received, alice, "MESSAGE", "m1"),
            record(5, Direction::Sent, bob, "MESSAGE", "m2"),
            record(6, Direction::Sent, bob, "MESSAGE", "m2"),
            record(7, Direction::Received, alice, "MESSAGE", "m1"),
        ];
        let l = ladder("c", &records);
        let names: Vec<&str> = l.columns.iter().map(|c| c.address.as_str()).collect();
        assert_eq!(
            names,
            [
                "127.0.0.1:5060/UDP",
                "127.0.0.1:5062/UDP",
                "127.0.0.1:5064/UDP"
            ]
        );
        assert!(l.columns[0].local && !l.columns[1].local);
        let arrows: Vec<(usize, usize, u64, bool)> = l
            .arrows
            .iter()
            .map(|a| (a.from, a.to, a.offset_ms, a.retransmission))
            .collect();
        assert_eq!(
            arrows,
            [
                (1, 0, 0, false),
                (0, 2, 250, false),
                (0, 2, 500, true),
                (1, 0, 750, true)
            ]
        );
        assert_eq!(l.arrows[0].message, "m1");
        assert!(l.arrows[0].request);
        assert!(ladder("none", &[]).arrows.is_empty());
    }

    #[test]
    fn arrows_follow_the_times_not_the_order_recorded() {
        let alice = "127.0.0.1:5062";
        let answer = record(9, Direction::Received, alice, "200", "ok");
        let mut request =
            Arc::into_inner(record(10, Direction::Sent, alice, "OPTIONS", "o")).unwrap();
        // Sent before the answer came, recorded after it.
        request.at = answer.at - Duration::from_millis(1);
        let l = ladder("c", &[answer, Arc::new(request)]);
        let order: Vec<(u64, u64)> = l.arrows.iter().map(|a| (a.seq, a.offset_ms)).collect();
        assert_eq!(order, [(10, 0), (9, 1)]);
    }
}
