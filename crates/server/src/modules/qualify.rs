//! Qualify: every contact of an AOR with `qualify_frequency` gets an
//! OPTIONS that often, and its status (reachable or not, round-trip time)
//! is kept for `sipjet show contacts`.
//!
//! Checks are spread over the period rather than sent all at once: each
//! contact gets its own phase the first time it is seen, so fifty thousand
//! contacts every minute are some eight hundred OPTIONS a second, not a
//! burst that would delay registrations.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use sipjet_core::{Method, OutgoingRequest, SipStack};

use super::reach::destination;
use crate::config::pjsip::AorConf;
use crate::location::LocationStore;
use crate::model::Model;

/// How often the scheduler looks for contacts that are due: often, so that
/// checks leave one or two at a time. Their answers are handled on the
/// thread that receives requests, and a bunch of them arriving together
/// holds up the requests queued behind (fifty thousand contacts a minute
/// are eight hundred a second: every 10 ms that made bunches of eight,
/// which showed in the p99 of OPTIONS answered meanwhile).
const TICK: Duration = Duration::from_millis(2);

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

/// Contact statuses by (AOR, contact URI).
#[derive(Default)]
pub struct ContactStatus {
    status: RwLock<HashMap<(String, String), Status>>,
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

    /// Forgets contacts of `aor` that are no longer scheduled.
    fn forget(&self, aor: &str, contacts: Vec<String>) {
        if contacts.is_empty() {
            return;
        }
        let mut status = self.status.write().unwrap_or_else(|e| e.into_inner());
        for contact in contacts {
            status.remove(&(aor.to_string(), contact));
        }
    }

    /// Contacts checked so far.
    pub fn len(&self) -> usize {
        self.status.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when none was checked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Contacts with a result, and how many of them answered.
    pub fn summary(&self) -> (usize, usize) {
        let status = self.status.read().unwrap_or_else(|e| e.into_inner());
        (
            status.len(),
            status.values().filter(|s| s.reachable).count(),
        )
    }
}

/// Starts the qualify scheduler; it runs for as long as the runtime.
/// It qualifies the contacts registered through this node (`node_id`)
/// and the configured ones: each node qualifies the flows it holds, and
/// no contact is qualified by every node.
pub fn start(
    stack: SipStack,
    model: Arc<Model>,
    store: Arc<dyn LocationStore>,
    status: Arc<ContactStatus>,
    node_id: Arc<str>,
) {
    if !model.config.aors.iter().any(|a| a.qualify_frequency > 0) {
        return;
    }
    // A thread of its own: walking the store to find new contacts takes
    // milliseconds with tens of thousands of them, which must not hold up
    // a runtime worker that is receiving requests.
    let runtime = tokio::runtime::Handle::current();
    let spawned = std::thread::Builder::new()
        .name("sipjet-qualify".into())
        .spawn(move || {
            let _runtime = runtime.enter();
            let mut schedule = Schedule::default();
            let qualified: Vec<usize> = (0..model.config.aors.len())
                .filter(|&i| model.config.aors[i].qualify_frequency > 0)
                .collect();
            // The store is compared with the schedule a few AORs per tick,
            // a whole pass every RESCAN: a pass over every binding at once
            // is a burst of milliseconds that delays requests on a small
            // machine; a slice per tick is not noticed.
            let per_tick = qualified
                .len()
                .div_ceil((RESCAN.as_millis() / TICK.as_millis()).max(1) as usize)
                .max(1);
            let mut cursor = 0;
            while stack.is_running() {
                let now = Instant::now();
                for _ in 0..per_tick.min(qualified.len()) {
                    let aor = &model.config.aors[qualified[cursor]];
                    cursor = (cursor + 1) % qualified.len();
                    let gone = schedule.rescan_aor(target(aor, store.as_ref(), &node_id), now);
                    status.forget(&aor.name, gone);
                }
                for due in schedule.due(now) {
                    check(&stack, &status, due);
                }
                std::thread::sleep(TICK);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the qualify thread; contacts are not qualified");
    }
}

/// An AOR's current contacts this node qualifies, from the store (those
/// registered through node `node_id`) and the configuration.
fn target<'a>(aor: &'a AorConf, store: &dyn LocationStore, node_id: &str) -> Target<'a> {
    let mut contacts: Vec<(String, Via)> = store
        .bindings(&aor.name, SystemTime::now())
        .into_iter()
        .filter(|b| b.node.as_deref().is_none_or(|n| n == node_id))
        .map(|b| {
            let via = Via {
                received: b.received,
                path: b.path,
            };
            (b.contact, via)
        })
        .collect();
    contacts.extend(aor.contacts.iter().map(|c| (c.clone(), Via::default())));
    Target {
        aor: &aor.name,
        every: Duration::from_secs(u64::from(aor.qualify_frequency)),
        timeout: aor.qualify_timeout,
        contacts,
    }
}

/// How often the schedule is compared with the location store: a new
/// binding waits at most this long (plus its phase) for its first check.
const RESCAN: Duration = Duration::from_secs(5);

/// One AOR's contacts as the store and the configuration give them.
struct Target<'a> {
    aor: &'a str,
    every: Duration,
    timeout: Duration,
    /// Contact URI and how it is reached.
    contacts: Vec<(String, Via)>,
}

/// How a contact is reached: the flow it registered from, if any, and the
/// Path its REGISTER recorded (RFC 3327), which the check's Route follows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Via {
    received: Option<String>,
    path: Vec<String>,
}

/// A contact check that is due.
#[derive(Debug, PartialEq, Eq)]
struct Due {
    aor: String,
    contact: String,
    via: Via,
    timeout: Duration,
}

/// A scheduled contact.
struct Entry {
    via: Via,
    every: Duration,
    timeout: Duration,
    next: Instant,
}

/// When each contact is next checked: the contacts by AOR, and a queue
/// ordered by due time, so that a tick costs only the checks it sends
/// rather than a walk over every contact. Queue items whose time no longer
/// matches their contact's are stale and skipped.
#[derive(Default)]
struct Schedule {
    contacts: HashMap<String, HashMap<String, Entry>>,
    queue: BinaryHeap<Reverse<(Instant, String, String)>>,
}

impl Schedule {
    /// Takes in an AOR's current contacts: new ones get a phase within
    /// their period, derived from the contact so that restarts keep the
    /// spread; known ones keep their time. Returns the contacts that are
    /// gone.
    fn rescan_aor(&mut self, target: Target<'_>, now: Instant) -> Vec<String> {
        let period_ms = u64::try_from(target.every.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut before = self.contacts.remove(target.aor).unwrap_or_default();
        let mut now_known = HashMap::with_capacity(target.contacts.len());
        for (contact, via) in target.contacts {
            let entry = match before.remove(&contact) {
                Some(mut entry) => {
                    entry.via = via;
                    entry
                }
                None => {
                    let next = now + Duration::from_millis(fnv1a(&contact) % period_ms);
                    self.queue
                        .push(Reverse((next, target.aor.to_string(), contact.clone())));
                    Entry {
                        via,
                        every: target.every,
                        timeout: target.timeout,
                        next,
                    }
                }
            };
            now_known.insert(contact, entry);
        }
        if !now_known.is_empty() {
            self.contacts.insert(target.aor.to_string(), now_known);
        }
        before.into_keys().collect()
    }

    /// The checks due at `now`, each rescheduled one period later.
    fn due(&mut self, now: Instant) -> Vec<Due> {
        let mut out = Vec::new();
        while let Some(Reverse((at, _, _))) = self.queue.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, aor, contact))) = self.queue.pop() else {
                break;
            };
            let Some(entry) = self
                .contacts
                .get_mut(&aor)
                .and_then(|c| c.get_mut(&contact))
            else {
                continue;
            };
            if entry.next != at {
                continue;
            }
            // Keep the phase, unless the scheduler fell a whole period behind.
            entry.next = (at + entry.every).max(now);
            self.queue
                .push(Reverse((entry.next, aor.clone(), contact.clone())));
            out.push(Due {
                via: entry.via.clone(),
                timeout: entry.timeout,
                aor,
                contact,
            });
        }
        out
    }
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn check(stack: &SipStack, status: &Arc<ContactStatus>, due: Due) {
    let Due {
        aor,
        contact,
        via,
        timeout,
    } = due;
    let mut req = OutgoingRequest::new(Method::Options, &contact);
    req.destination = destination(via.received.as_deref(), &contact);
    req.headers = via
        .path
        .into_iter()
        .map(|p| ("Route".to_string(), p))
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn scheduled(schedule: &Schedule, aor: &str, contact: &str) -> bool {
        schedule
            .contacts
            .get(aor)
            .is_some_and(|c| c.contains_key(contact))
    }

    fn target(aor: &str, contacts: std::ops::Range<usize>) -> Target<'_> {
        Target {
            aor,
            every: MINUTE,
            timeout: Duration::from_secs(3),
            contacts: contacts
                .map(|n| (format!("sip:c{n}@192.0.2.1:5060"), Via::default()))
                .collect(),
        }
    }

    #[test]
    fn every_contact_is_checked_once_per_period_spread_over_it() {
        let t0 = Instant::now();
        let mut schedule = Schedule::default();
        schedule.rescan_aor(target("a", 0..600), t0);
        // Over the first period each contact comes due exactly once, and
        // not all at once: no ten seconds hold more than a third of them.
        let mut seen = std::collections::HashSet::new();
        let mut busiest = 0;
        let just_before = |period: u32| t0 + period * MINUTE - Duration::from_millis(1);
        for at in (0..60)
            .map(|s| t0 + Duration::from_secs(s))
            .chain([just_before(1)])
        {
            let due = schedule.due(at);
            for d in &due {
                assert!(seen.insert(d.contact.clone()), "{} twice", d.contact);
            }
            busiest = busiest.max(due.len());
        }
        assert_eq!(seen.len(), 600);
        assert!(busiest < 200, "{busiest} checks in one second");
        // The next period brings each one again, and only once.
        assert_eq!(schedule.due(just_before(2)).len(), 600);
        assert!(schedule.due(just_before(2)).is_empty());
        assert_eq!(schedule.queue.len(), 600);
    }

    #[test]
    fn contacts_gone_from_the_store_are_no_longer_checked() {
        let t0 = Instant::now();
        let mut schedule = Schedule::default();
        schedule.rescan_aor(target("a", 0..10), t0);
        schedule.rescan_aor(target("b", 0..5), t0);
        schedule.rescan_aor(target("a", 0..4), t0);
        schedule.rescan_aor(target("b", 0..0), t0);
        assert!(scheduled(&schedule, "a", "sip:c3@192.0.2.1:5060"));
        assert!(!scheduled(&schedule, "a", "sip:c4@192.0.2.1:5060"));
        assert!(!scheduled(&schedule, "b", "sip:c0@192.0.2.1:5060"));
        let due = schedule.due(t0 + MINUTE);
        assert_eq!(due.len(), 4);
        assert!(due.iter().all(|d| d.aor == "a"));
        // The stale queue items are gone once their time passed.
        assert_eq!(schedule.queue.len(), 4);
        // One AOR at a time: it says which contacts went, for their status.
        let mut gone = schedule.rescan_aor(target("a", 0..2), t0);
        gone.sort();
        assert_eq!(gone, ["sip:c2@192.0.2.1:5060", "sip:c3@192.0.2.1:5060"]);
        assert!(schedule.rescan_aor(target("a", 0..0), t0).len() == 2);
        assert!(!scheduled(&schedule, "a", "sip:c0@192.0.2.1:5060"));
    }

    #[test]
    fn a_known_contact_keeps_its_time_and_takes_its_new_source() {
        let t0 = Instant::now();
        let mut schedule = Schedule::default();
        schedule.rescan_aor(target("a", 0..1), t0);
        let first = schedule.due(t0 + MINUTE);
        assert_eq!(first.len(), 1);
        let mut moved = target("a", 0..1);
        moved.contacts[0].1.received = Some("198.51.100.7:5062".into());
        schedule.rescan_aor(moved, t0 + MINUTE);
        assert!(
            schedule.due(t0 + MINUTE).is_empty(),
            "rescan reset the time"
        );
        let second = schedule.due(t0 + 2 * MINUTE);
        assert_eq!(second[0].via.received.as_deref(), Some("198.51.100.7:5062"));
    }
}
