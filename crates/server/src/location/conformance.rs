//! What every [`LocationStore`] does, checked on each of them.

use std::time::{Duration, UNIX_EPOCH};

use super::testing::{TempDir, binding, now, sorted, upsert};
use super::{AorUpdate, LocationStore, StoreError};

const HOUR: Duration = Duration::from_secs(3600);

fn upsert_adds_a_binding(store: &dyn LocationStore) {
    assert!(store.is_empty());
    let alice = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 1);
    store
        .apply(upsert("alice", vec![alice.clone()]))
        .expect("stored");
    assert_eq!(store.bindings("alice", now()), vec![alice.clone()]);
    assert_eq!(store.all(now()), vec![alice]);
    assert_eq!(store.len(), 1);
    assert!(store.bindings("bob", now()).is_empty());
}

fn refresh_replaces_the_binding_of_the_same_contact(store: &dyn LocationStore) {
    let first = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 1);
    store.apply(upsert("alice", vec![first])).expect("stored");
    let mut refreshed = binding(
        "alice",
        "sip:alice@192.0.2.1:5060",
        now() + 2 * HOUR,
        "c1",
        2,
    );
    refreshed.user_agent = Some("TestPhone/2.2".into());
    refreshed.path.clear();
    store
        .apply(upsert("alice", vec![refreshed.clone()]))
        .expect("refreshed");
    assert_eq!(store.bindings("alice", now()), vec![refreshed]);
    assert_eq!(store.len(), 1);
}

fn an_aor_holds_several_contacts(store: &dyn LocationStore) {
    let desk = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 1);
    let mobile = binding(
        "alice",
        "sip:alice@203.0.113.9:40000;transport=tcp",
        now() + HOUR,
        "c2",
        7,
    );
    store
        .apply(upsert("alice", vec![desk.clone()]))
        .expect("stored");
    store
        .apply(upsert("alice", vec![mobile.clone()]))
        .expect("stored");
    assert_eq!(
        sorted(store.bindings("alice", now())),
        sorted(vec![desk, mobile])
    );
    assert_eq!(store.len(), 2);
}

fn removal_removes_one_contact(store: &dyn LocationStore) {
    let desk = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 1);
    let mobile = binding("alice", "sip:alice@192.0.2.2:5060", now() + HOUR, "c2", 1);
    store
        .apply(upsert("alice", vec![desk.clone(), mobile]))
        .expect("stored");
    let removal = AorUpdate {
        aor: "alice".into(),
        removals: vec![
            "sip:alice@192.0.2.2:5060".into(),
            "sip:alice@192.0.2.99".into(),
        ],
        ..Default::default()
    };
    store.apply(removal).expect("removed");
    assert_eq!(store.bindings("alice", now()), vec![desk]);
    assert_eq!(store.len(), 1);
}

fn remove_all_empties_only_its_aor(store: &dyn LocationStore) {
    let desk = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 1);
    let mobile = binding("alice", "sip:alice@192.0.2.2:5060", now() + HOUR, "c2", 1);
    let bob = binding("bob", "sip:bob@192.0.2.3:5060", now() + HOUR, "c3", 1);
    store
        .apply(upsert("alice", vec![desk, mobile]))
        .expect("stored");
    store
        .apply(upsert("bob", vec![bob.clone()]))
        .expect("stored");
    let all = AorUpdate {
        aor: "alice".into(),
        remove_all: true,
        ..Default::default()
    };
    store.apply(all.clone()).expect("removed all");
    assert!(store.bindings("alice", now()).is_empty());
    assert_eq!(store.all(now()), vec![bob]);
    assert_eq!(store.len(), 1);
    store
        .apply(all)
        .expect("nothing left to remove is no error");
}

fn remove_all_then_register_replaces_the_set(store: &dyn LocationStore) {
    let old = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 9);
    store.apply(upsert("alice", vec![old])).expect("stored");
    let new = binding("alice", "sip:alice@192.0.2.7:5060", now() + HOUR, "c1", 1);
    let replace = AorUpdate {
        remove_all: true,
        ..upsert("alice", vec![new.clone()])
    };
    store.apply(replace).expect("replaced");
    assert_eq!(store.bindings("alice", now()), vec![new]);
}

fn expired_bindings_are_never_returned(store: &dyn LocationStore) {
    let short = binding(
        "alice",
        "sip:alice@192.0.2.1:5060",
        now() + Duration::from_secs(60),
        "c1",
        1,
    );
    let long = binding("alice", "sip:alice@192.0.2.2:5060", now() + HOUR, "c2", 1);
    let gone = binding(
        "bob",
        "sip:bob@192.0.2.3:5060",
        now() + Duration::from_secs(60),
        "c3",
        1,
    );
    store
        .apply(upsert("alice", vec![short.clone(), long.clone()]))
        .expect("stored");
    store.apply(upsert("bob", vec![gone])).expect("stored");

    let before = now() + Duration::from_secs(59);
    assert_eq!(
        sorted(store.bindings("alice", before)),
        sorted(vec![short, long.clone()])
    );
    let at_expiry = now() + Duration::from_secs(60);
    assert_eq!(store.bindings("alice", at_expiry), vec![long.clone()]);
    assert!(store.bindings("bob", at_expiry).is_empty());
    assert_eq!(store.all(at_expiry), vec![long]);
    assert_eq!(store.len(), 3, "not pruned yet");
}

fn prune_removes_only_expired_bindings(store: &dyn LocationStore) {
    let short = binding(
        "alice",
        "sip:alice@192.0.2.1:5060",
        now() + Duration::from_secs(60),
        "c1",
        1,
    );
    let long = binding("alice", "sip:alice@192.0.2.2:5060", now() + HOUR, "c2", 1);
    let gone = binding(
        "bob",
        "sip:bob@192.0.2.3:5060",
        now() + Duration::from_secs(60),
        "c3",
        1,
    );
    store
        .apply(upsert("alice", vec![short, long.clone()]))
        .expect("stored");
    store.apply(upsert("bob", vec![gone])).expect("stored");

    assert_eq!(store.prune(now()).expect("pruned"), 0);
    assert_eq!(
        store
            .prune(now() + Duration::from_secs(60))
            .expect("pruned"),
        2
    );
    assert_eq!(store.len(), 1);
    assert_eq!(store.all(now()), vec![long]);
    assert_eq!(
        store
            .prune(now() + Duration::from_secs(60))
            .expect("pruned"),
        0
    );
}

fn a_refresh_revives_an_expired_unpruned_binding(store: &dyn LocationStore) {
    let old = binding("alice", "sip:alice@192.0.2.1:5060", now(), "c1", 1);
    store.apply(upsert("alice", vec![old])).expect("stored");
    let new = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 2);
    store
        .apply(upsert("alice", vec![new.clone()]))
        .expect("refreshed");
    assert_eq!(store.bindings("alice", now()), vec![new]);
    assert_eq!(store.prune(now()).expect("pruned"), 0);
}

fn a_stale_cseq_is_refused_and_changes_nothing(store: &dyn LocationStore) {
    let desk = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 5);
    let mobile = binding("alice", "sip:alice@192.0.2.2:5060", now() + HOUR, "c2", 1);
    store
        .apply(upsert("alice", vec![desk.clone(), mobile.clone()]))
        .expect("stored");

    let stale = binding(
        "alice",
        "sip:alice@192.0.2.1:5060",
        now() + 2 * HOUR,
        "c1",
        4,
    );
    let update = AorUpdate {
        removals: vec![mobile.contact.clone()],
        ..upsert("alice", vec![stale])
    };
    let err = store
        .apply(update)
        .expect_err("older CSeq of the same Call-ID");
    assert!(
        matches!(
            err,
            StoreError::StaleCSeq {
                stored: 5,
                offered: 4,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        sorted(store.bindings("alice", now())),
        sorted(vec![desk, mobile]),
        "nothing applied"
    );

    let other_call = binding(
        "alice",
        "sip:alice@192.0.2.1:5060",
        now() + 2 * HOUR,
        "c9",
        1,
    );
    store
        .apply(upsert("alice", vec![other_call.clone()]))
        .expect("another Call-ID may take over");
    assert!(store.bindings("alice", now()).contains(&other_call));
}

fn updates_that_cannot_be_stored_are_refused(store: &dyn LocationStore) {
    let foreign = binding("bob", "sip:bob@192.0.2.1:5060", now() + HOUR, "c1", 1);
    let err = store
        .apply(upsert("alice", vec![foreign]))
        .expect_err("binding of another AOR");
    assert!(matches!(err, StoreError::AorMismatch { .. }), "{err}");

    let before_1970 = binding(
        "alice",
        "sip:alice@192.0.2.1:5060",
        UNIX_EPOCH - HOUR,
        "c1",
        1,
    );
    let err = store
        .apply(upsert("alice", vec![before_1970]))
        .expect_err("unstorable expiry");
    assert!(matches!(err, StoreError::ExpiryOutOfRange { .. }), "{err}");
    assert!(store.is_empty());
}

fn aors_are_independent(store: &dyn LocationStore) {
    let mut expected = Vec::new();
    for n in 0..200 {
        let aor = format!("user{n}");
        let b = binding(
            &aor,
            &format!("sip:{aor}@192.0.2.{}:5060", n % 250),
            now() + HOUR,
            "c",
            1,
        );
        store.apply(upsert(&aor, vec![b.clone()])).expect("stored");
        expected.push(b);
    }
    assert_eq!(store.len(), 200);
    assert_eq!(sorted(store.all(now())), sorted(expected.clone()));
    for b in &expected {
        assert_eq!(store.bindings(&b.aor, now()), vec![b.clone()]);
    }
}

/// `apply_then` reports what `apply` would, once the change is visible.
fn apply_then_reports_once_applied(store: &dyn LocationStore) {
    let outcome = |update: AorUpdate| {
        let (tx, rx) = std::sync::mpsc::channel();
        store.apply_then(update, Box::new(move |r| tx.send(r).unwrap()));
        rx.recv_timeout(Duration::from_secs(30))
            .expect("done is called")
    };
    let alice = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 5);
    outcome(upsert("alice", vec![alice.clone()])).expect("stored");
    assert_eq!(store.bindings("alice", now()), vec![alice]);
    let older = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 4);
    let err = outcome(upsert("alice", vec![older])).expect_err("older CSeq");
    assert!(matches!(err, StoreError::StaleCSeq { .. }), "{err}");
    let mut foreign = binding("bob", "sip:bob@192.0.2.2:5060", now() + HOUR, "c2", 1);
    foreign.aor = "carol".into();
    let err = outcome(upsert("bob", vec![foreign])).expect_err("another AOR's binding");
    assert!(matches!(err, StoreError::AorMismatch { .. }), "{err}");
    assert_eq!(store.len(), 1);
}

macro_rules! for_each_store {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use crate::location::MemoryStore;
            $(
                #[test]
                fn $case() {
                    super::$case(&MemoryStore::new());
                }
            )*
        }
        mod sqlite {
            use crate::location::SqliteStore;
            use super::{TempDir, now, sorted};
            use crate::location::LocationStore;
            $(
                #[test]
                fn $case() {
                    let dir = TempDir::new(stringify!($case));
                    let store = SqliteStore::open(&dir.db()).expect("open");
                    super::$case(&store);
                    // Whatever the case left must come back from disk.
                    let left = (sorted(store.all(now())), store.len());
                    drop(store);
                    let reopened = SqliteStore::open(&dir.db()).expect("reopen");
                    assert_eq!((sorted(reopened.all(now())), reopened.len()), left);
                }
            )*
        }
        mod postgres {
            use crate::location::PgStore;
            use crate::location::testing::PgScratch;
            use super::{now, sorted};
            use crate::location::LocationStore;
            $(
                #[test]
                fn $case() {
                    let db = PgScratch::new(stringify!($case));
                    let store = PgStore::open(&db.target()).expect("open");
                    super::$case(&store);
                    // Whatever the case left must come back from the
                    // database (less what expired, which a node does not
                    // load: the cases' clock is far ahead of the real one,
                    // so nothing they store has).
                    let left = (sorted(store.all(now())), store.len());
                    drop(store);
                    let reopened = PgStore::open(&db.target()).expect("reopen");
                    assert_eq!((sorted(reopened.all(now())), reopened.len()), left);
                }
            )*
        }
    };
}

for_each_store!(
    upsert_adds_a_binding,
    refresh_replaces_the_binding_of_the_same_contact,
    an_aor_holds_several_contacts,
    removal_removes_one_contact,
    remove_all_empties_only_its_aor,
    remove_all_then_register_replaces_the_set,
    expired_bindings_are_never_returned,
    prune_removes_only_expired_bindings,
    a_refresh_revives_an_expired_unpruned_binding,
    a_stale_cseq_is_refused_and_changes_nothing,
    updates_that_cannot_be_stored_are_refused,
    aors_are_independent,
    apply_then_reports_once_applied,
);
