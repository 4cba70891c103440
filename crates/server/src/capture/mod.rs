//! Capture: every message the transports receive or send, kept in a
//! bounded ring for the console's flows and ladder diagrams.
//!
//! The ring is on unless `capture_buffer_mib = 0`: the flow an operator
//! needs is the one that already went wrong, and a capture that must be
//! switched on first always comes too late. Its cost is a copy of each
//! message and a short lock (see [`ring`]); with the ring off no tap is
//! installed and the transports do nothing more per message.
//!
//! - [`ring`]: the messages within a byte budget, and their flows;
//! - [`ladder`]: one flow as a ladder diagram;
//! - [`hep`]: the same messages sent to a HEP capture server (Homer,
//!   sngrep) when `hep_server` is set.

pub mod hep;
pub mod ladder;
pub mod ring;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sipjet_core::transport::{Tap, Tapped};

use hep::HepExporter;
use ring::{NewRecord, Ring};

/// The capture of a running server.
#[derive(Debug)]
pub struct Capture {
    ring: Option<Mutex<Ring>>,
    hep: Option<HepExporter>,
}

impl Capture {
    /// A capture keeping at most `budget` bytes (none with 0) and
    /// sending to `hep` when given.
    pub fn new(budget: usize, hep: Option<HepExporter>) -> Capture {
        Capture {
            ring: (budget > 0).then(|| Mutex::new(Ring::new(budget))),
            hep,
        }
    }

    /// True when it keeps or sends anything: only then is it worth a tap.
    pub fn is_on(&self) -> bool {
        self.ring.is_some() || self.hep.is_some()
    }

    /// The HEP exporter, when there is one.
    pub fn hep(&self) -> Option<&HepExporter> {
        self.hep.as_ref()
    }

    /// The ring, when there is one.
    pub fn ring(&self) -> Option<MutexGuard<'_, Ring>> {
        self.ring
            .as_ref()
            .map(|r| r.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Tap for Capture {
    fn active(&self) -> bool {
        self.is_on()
    }

    fn on_message(&self, t: Tapped<'_>) {
        if let Some(hep) = &self.hep {
            hep.export(&t);
        }
        let Some(ring) = &self.ring else {
            return;
        };
        let record = NewRecord {
            at: t.at,
            direction: t.direction,
            protocol: t.flow.protocol,
            local: t.flow.local,
            remote: t.flow.remote,
            call_id: t.message.call_id().unwrap_or(""),
            wire: t.wire,
        };
        ring.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(record);
    }
}

/// The tap to give the transports: none when nothing is captured.
pub fn tap_of(capture: &Arc<Capture>) -> Option<Arc<dyn Tap>> {
    capture.is_on().then(|| Arc::clone(capture) as Arc<dyn Tap>)
}
