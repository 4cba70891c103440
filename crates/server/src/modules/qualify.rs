//! Qualify: every contact of an AOR with `qualify_frequency` gets an
//! OPTIONS that often, and its status (reachable or not, round-trip time)
//! is kept for `sipjet show contacts`.
//!
//! Checks are spread over the period rather than sent all at once: each
//! contact gets its own phase the first time it is seen, so fifty thousand
//! contacts every minute are some eight hundred OPTIONS a second, not a
//! burst that would delay registrations.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use sipjet_core::{OutgoingRequest, SipStack};
use sipjet_message::Method;

use super::messaging::destination;
use crate::location::LocationStore;
use crate::model::Model;

/// How often the scheduler looks for contacts that are due.
const TICK: Duration = Duration::from_millis(250);

/// What the last check of a contact found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// True when it answered (any final response) within the timeout.
    pub reachable: bool,
    /// How long the answer took.
    pub rtt: Option<Duration>,
    /// When the check was made.
    pub checked_at: SystemTime,
}

/// Contact statuses by (AOR, contact URI), and when each is next due.
#[derive(Default)]
pub struct ContactStatus {
    status: RwLock<HashMap<(String, String), Status>>,
    due: RwLock<HashMap<(String, String), Instant>>,
}

impl ContactStatus {
    /// The last status of a contact, if it was checked.
    pub fn get(&self, aor: &str, contact: &str) -> Option<Status> {
        self.status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(aor.to_string(), contact.to_string()))
            .cloned()
    }

    fn set(&self, key: (String, String), status: Status) {
        self.status
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, status);
    }

    /// Contacts checked so far.
    pub fn len(&self) -> usize {
        self.status.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when none was checked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Starts the qualify scheduler; it runs for as long as the runtime.
pub fn start(
    stack: SipStack,
    model: Arc<Model>,
    store: Arc<dyn LocationStore>,
    status: Arc<ContactStatus>,
) {
    if !model.config.aors.iter().any(|a| a.qualify_frequency > 0) {
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(TICK).await;
            if !stack.is_running() {
                return;
            }
            for (aor, contact, received, timeout) in due_contacts(&model, store.as_ref(), &status) {
                check(&stack, &status, aor, contact, received, timeout);
            }
        }
    });
}

type Due = (String, String, Option<String>, Duration);

/// The contacts whose check is due now; new ones are given a phase.
fn due_contacts(model: &Model, store: &dyn LocationStore, status: &ContactStatus) -> Vec<Due> {
    let now = Instant::now();
    let wall = SystemTime::now();
    let mut out = Vec::new();
    let mut due = status.due.write().unwrap_or_else(|e| e.into_inner());
    let mut seen = std::collections::HashSet::new();
    for aor in model.config.aors.iter().filter(|a| a.qualify_frequency > 0) {
        let every = Duration::from_secs(u64::from(aor.qualify_frequency));
        let mut contacts: Vec<(String, Option<String>)> = store
            .bindings(&aor.name, wall)
            .into_iter()
            .map(|b| (b.contact, b.received))
            .collect();
        contacts.extend(aor.contacts.iter().map(|c| (c.clone(), None)));
        for (contact, received) in contacts {
            let key = (aor.name.clone(), contact.clone());
            seen.insert(key.clone());
            let next = *due.entry(key.clone()).or_insert_with(|| {
                // A phase from the contact itself, stable and spread out.
                let period = u64::try_from(every.as_millis()).unwrap_or(u64::MAX).max(1);
                let phase = fxhash(&contact) % period;
                now + Duration::from_millis(phase)
            });
            if next <= now {
                due.insert(key, now + every);
                out.push((aor.name.clone(), contact, received, aor.qualify_timeout));
            }
        }
    }
    // Contacts gone from the store are no longer checked.
    due.retain(|k, _| seen.contains(k));
    drop(due);
    status
        .status
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|k, _| seen.contains(k));
    out
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn check(
    stack: &SipStack,
    status: &Arc<ContactStatus>,
    aor: String,
    contact: String,
    received: Option<String>,
    timeout: Duration,
) {
    let mut req = OutgoingRequest::new(Method::Options, &contact);
    req.destination = destination(received.as_deref(), &contact);
    let started = Instant::now();
    let (tx, rx) = tokio::sync::oneshot::channel();
    stack.send_request(req, None, move |r| {
        let _ = tx.send(r.is_ok());
    });
    let status = Arc::clone(status);
    tokio::spawn(async move {
        let answered = tokio::time::timeout(timeout, rx).await;
        let (reachable, rtt) = match answered {
            Ok(Ok(true)) => (true, Some(started.elapsed())),
            _ => (false, None),
        };
        let was = status.get(&aor, &contact).map(|s| s.reachable);
        if was != Some(reachable) {
            tracing::info!(%aor, %contact, reachable, "contact status changed");
        }
        status.set(
            (aor, contact),
            Status {
                reachable,
                rtt,
                checked_at: SystemTime::now(),
            },
        );
    });
}
