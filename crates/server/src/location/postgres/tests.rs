//! Two stores on one database are two nodes: what one stores the other
//! sees, whatever happens to the connections between them and the
//! database. (What every store does is in the conformance suite.)

use std::time::Duration;

use sipjet_testkit::within_patience_blocking;

use super::*;
use crate::location::LocationDb;
use crate::location::testing::{PgScratch, binding, now, sorted, upsert};

const HOUR: Duration = Duration::from_secs(3600);

/// Waits until `store` shows `aor` with exactly `expected`.
fn wait_for(store: &PgStore, aor: &str, expected: &[Binding]) {
    let expected = sorted(expected.to_vec());
    let seen =
        within_patience_blocking(|| (sorted(store.bindings(aor, now())) == expected).then_some(()));
    assert!(
        seen.is_some(),
        "{aor}: waited for {expected:?}, the store shows {:?}",
        store.bindings(aor, now())
    );
}

fn rows(db: &PgScratch) -> usize {
    let count = db.column(&format!(
        "SELECT count(*) FROM {}.sipjet_bindings",
        db.schema
    ));
    count[0].as_deref().unwrap_or("0").parse().expect("a count")
}

#[test]
fn a_change_at_one_node_is_seen_at_the_other_at_once() {
    let db = PgScratch::new("two-nodes");
    let a = PgStore::open(&db.target()).expect("node a");
    let b = PgStore::open(&db.target()).expect("node b");
    let desk = binding("alice", "sip:alice@192.0.2.1:5060", now() + HOUR, "c1", 1);
    a.apply(upsert("alice", vec![desk.clone()]))
        .expect("stored at a");
    wait_for(&b, "alice", std::slice::from_ref(&desk));

    let mut mobile = binding("alice", "sip:alice@192.0.2.2:5060", now() + HOUR, "c2", 1);
    mobile.node = Some("node-b".into());
    b.apply(upsert("alice", vec![mobile.clone()]))
        .expect("stored at b");
    wait_for(&a, "alice", &[desk.clone(), mobile.clone()]);

    let removal = AorUpdate {
        aor: "alice".into(),
        removals: vec![desk.contact.clone()],
        ..Default::default()
    };
    b.apply(removal).expect("removed at b");
    wait_for(&a, "alice", std::slice::from_ref(&mobile));
    let all = AorUpdate {
        aor: "alice".into(),
        remove_all: true,
        ..Default::default()
    };
    a.apply(all).expect("all removed at a");
    wait_for(&b, "alice", &[]);
    assert_eq!((a.len(), b.len(), rows(&db)), (0, 0, 0));
    assert!(b.stats().rereads > 0, "{:?}", b.stats());
}

/// Each node checks an update against the database, not against what it
/// has heard so far: a REGISTER replayed at another node is refused even
/// if that node has not yet heard of the newer one.
#[test]
fn a_stale_cseq_is_refused_at_every_node() {
    let db = PgScratch::new("stale-cseq");
    let a = PgStore::open(&db.target()).expect("node a");
    let b = PgStore::open(&db.target()).expect("node b");
    let contact = "sip:alice@192.0.2.1:5060";
    let newer = binding("alice", contact, now() + HOUR, "c1", 5);
    a.apply(upsert("alice", vec![newer.clone()]))
        .expect("stored at a");
    let older = binding("alice", contact, now() + 2 * HOUR, "c1", 4);
    let err = b
        .apply(upsert("alice", vec![older]))
        .expect_err("an older CSeq of the same Call-ID");
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
    wait_for(&b, "alice", std::slice::from_ref(&newer));
    wait_for(&a, "alice", &[newer]);
}

#[test]
fn expiry_at_one_node_is_seen_at_the_other() {
    let db = PgScratch::new("expiry");
    let a = PgStore::open(&db.target()).expect("node a");
    let b = PgStore::open(&db.target()).expect("node b");
    let short = binding("alice", "sip:alice@192.0.2.1", now() + HOUR, "c1", 1);
    let long = binding("alice", "sip:alice@192.0.2.2", now() + 3 * HOUR, "c2", 1);
    let bob = binding("bob", "sip:bob@192.0.2.3", now() + HOUR, "c3", 1);
    a.apply(upsert("alice", vec![short.clone(), long.clone()]))
        .expect("stored");
    a.apply(upsert("bob", vec![bob.clone()])).expect("stored");
    wait_for(&b, "alice", &[short, long.clone()]);
    wait_for(&b, "bob", &[bob]);
    assert_eq!(b.len(), 3);

    assert_eq!(a.prune(now() + 2 * HOUR).expect("pruned"), 2);
    assert_eq!(rows(&db), 1, "each expired binding deleted once");
    // b drops them from memory when told, without pruning itself.
    let dropped = within_patience_blocking(|| (b.len() == 1).then_some(()));
    assert!(dropped.is_some(), "b still holds {} bindings", b.len());
    assert_eq!(b.all(now()), vec![long]);
    assert_eq!(b.prune(now() + 2 * HOUR).expect("nothing left"), 0);
}

/// A node whose connections are cut, and who cannot connect again for a
/// while, misses the changes made meanwhile; once it connects again it
/// reads everything again. Meanwhile it serves reads from memory and
/// refuses updates as unavailable.
#[test]
fn a_lost_connection_is_followed_by_a_resync() {
    let db = PgScratch::new("resync");
    let role = format!("{}_a", db.schema);
    db.execute(&format!(
        "CREATE ROLE {role} LOGIN; ALTER SCHEMA {} OWNER TO {role}",
        db.schema
    ));
    let _role = DropRole(&db, role.clone());
    let a = PgStore::open(&db.target_with(Some(&role), "")).expect("node a");
    let b = PgStore::open(&db.target()).expect("node b");
    let alice = binding("alice", "sip:alice@192.0.2.1", now() + HOUR, "c1", 1);
    a.apply(upsert("alice", vec![alice.clone()]))
        .expect("stored");
    wait_for(&b, "alice", std::slice::from_ref(&alice));

    db.execute(&format!("ALTER ROLE {role} NOLOGIN"));
    db.execute(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'"
    ));
    let gone = within_patience_blocking(|| {
        let left = db.column(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{role}' AND state IS NOT NULL"
        ));
        (left[0].as_deref() == Some("0")).then_some(())
    });
    assert!(gone.is_some(), "a's connections are still there");

    let bob = binding("bob", "sip:bob@192.0.2.2", now() + HOUR, "c2", 1);
    b.apply(upsert("bob", vec![bob.clone()]))
        .expect("stored at b");
    b.apply(AorUpdate {
        aor: "alice".into(),
        remove_all: true,
        ..Default::default()
    })
    .expect("removed at b");

    // Cut off: a heard nothing, still serves what it had, and refuses to
    // store rather than pretend.
    assert_eq!(a.bindings("alice", now()), vec![alice]);
    let err = a
        .apply(upsert(
            "carol",
            vec![binding(
                "carol",
                "sip:carol@192.0.2.4",
                now() + HOUR,
                "c4",
                1,
            )],
        ))
        .expect_err("the database cannot be reached");
    assert!(err.is_unavailable(), "{err}");
    assert!(!a.stats().reachable);
    let resyncs = a.stats().resyncs;

    db.execute(&format!("ALTER ROLE {role} LOGIN"));
    wait_for(&a, "alice", &[]);
    wait_for(&a, "bob", &[bob]);
    assert!(a.stats().resyncs > resyncs, "{:?}", a.stats());
    assert!(a.bindings("carol", now()).is_empty());
    let carol = binding("carol", "sip:carol@192.0.2.4", now() + HOUR, "c4", 1);
    let stored = within_patience_blocking(|| a.apply(upsert("carol", vec![carol.clone()])).ok());
    assert!(stored.is_some(), "a stores again");
    wait_for(&b, "carol", &[carol]);
}

/// Drops a role made for a test (and what it owns) at the end.
struct DropRole<'a>(&'a PgScratch, String);

impl Drop for DropRole<'_> {
    fn drop(&mut self) {
        let role = &self.1;
        let sql = format!(
            "DROP SCHEMA IF EXISTS {} CASCADE; DROP OWNED BY {role}; DROP ROLE {role}",
            self.0.schema
        );
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.execute(&sql)));
    }
}

#[test]
fn tables_of_a_newer_sipjet_are_refused() {
    let db = PgScratch::new("newer-schema");
    drop(PgStore::open(&db.target()).expect("create"));
    db.execute(&format!(
        "UPDATE {}.sipjet_schema_version SET version = 99",
        db.schema
    ));
    let err = PgStore::open(&db.target()).expect_err("unknown schema");
    assert!(
        matches!(
            err,
            StoreError::UnsupportedSchema {
                found: 99,
                supported: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn unreadable_rows_are_deleted_at_open() {
    let db = PgScratch::new("unreadable");
    let good = binding("alice", "sip:alice@192.0.2.1", now() + HOUR, "c1", 1);
    {
        let store = PgStore::open(&db.target()).expect("open");
        store
            .apply(upsert("alice", vec![good.clone()]))
            .expect("stored");
    }
    let far = 5_000_000_000_000_000_000i64;
    db.execute(&format!(
        "INSERT INTO {s}.sipjet_bindings (aor, contact, expires_at, call_id, cseq, path) VALUES
            ('bob', 'sip:bob@h', {far}, 'c', 1, '\\x010000'::bytea),
            ('carol', 'sip:carol@h', {far}, 'c', 5000000000, ''::bytea)",
        s = db.schema
    ));
    assert_eq!(rows(&db), 3);
    let store = PgStore::open(&db.target()).expect("reopen");
    assert_eq!(store.all(now()), vec![good]);
    assert_eq!(rows(&db), 1);
}

/// Opens a store as the URL's TLS settings say; the test cluster offers
/// TLS with a certificate for `pg.sipjet.test` (only) from the CA in
/// `SIPJET_TEST_PG_CA`.
#[test]
fn tls_is_used_and_checked_as_the_url_asks() {
    let ca = std::env::var("SIPJET_TEST_PG_CA").unwrap_or_else(|_| {
        panic!("SIPJET_TEST_PG_CA is not set: run scripts/test.sh, which starts a cluster with TLS")
    });
    let db = PgScratch::new("tls");
    let url = db.url_with(None, "");
    let port = url
        .split_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(port, _)| port.to_owned())
        .expect("the test cluster is on 127.0.0.1");
    let by_name = |query: &str| -> PgTarget {
        let url = url.replace(
            &format!("127.0.0.1:{port}"),
            &format!("pg.sipjet.test:{port}"),
        );
        let url = format!("{url}&hostaddr=127.0.0.1{query}");
        match url.parse() {
            Ok(LocationDb::Postgres(t)) => *t,
            other => panic!("{other:?}"),
        }
    };
    let encrypted = || {
        db.column(&format!(
            "SELECT bool_and(ssl)::text FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) \
             WHERE application_name = '{}'",
            db.schema
        ))[0]
            .clone()
    };
    let ca = format!("&sslrootcert={ca}");

    let store = PgStore::open(&by_name(&format!("&sslmode=verify-full{ca}"))).expect("verify-full");
    assert_eq!(encrypted().as_deref(), Some("true"));
    drop(store);
    let store = PgStore::open(&db.target_with(None, "&sslmode=require")).expect("require");
    assert_eq!(encrypted().as_deref(), Some("true"));
    drop(store);
    let store = PgStore::open(&db.target_with(None, &format!("&sslmode=verify-ca{ca}")))
        .expect("verify-ca: the chain, not the name");
    drop(store);
    let store = PgStore::open(&db.target_with(None, "&sslmode=disable")).expect("disable");
    assert_eq!(encrypted().as_deref(), Some("false"));
    drop(store);

    for (refused, target) in [
        (
            "a certificate that does not name the host",
            db.target_with(None, &format!("&sslmode=verify-full{ca}")),
        ),
        (
            "a certificate from a CA the system does not trust",
            by_name("&sslmode=verify-full"),
        ),
    ] {
        let err = PgStore::open(&target).expect_err(refused);
        assert!(
            err.is_unavailable() && err.to_string().contains("certificate"),
            "{refused}: {err}"
        );
    }
}

#[test]
fn tables_of_version_1_are_migrated_and_nodes_beat() {
    let db = PgScratch::new("migrate-1");
    drop(PgStore::open(&db.target()).expect("create"));
    db.execute(&format!(
        "DROP TABLE {0}.sipjet_nodes; DROP TABLE {0}.sipjet_nonce_counts; \
         UPDATE {0}.sipjet_schema_version SET version = 1",
        db.schema
    ));
    let store = PgStore::open(&db.target()).expect("migrate");
    let version = db.column(&format!(
        "SELECT version FROM {}.sipjet_schema_version",
        db.schema
    ));
    assert_eq!(version, [Some("3".to_string())]);
    let t0 = now();
    let beat = |id: &str, at| NodeBeat {
        id: id.into(),
        address: Some(format!("sip:127.0.0.1:5060;n={id}")),
        started: t0,
        now: at,
    };
    store.heartbeat(&beat("b", t0)).expect("b beats");
    let later = t0 + Duration::from_secs(1);
    let nodes = store.heartbeat(&beat("a", later)).expect("a beats");
    assert_eq!(
        nodes,
        [
            NodeRecord::from(&beat("a", later)),
            NodeRecord::from(&beat("b", t0))
        ]
    );
}

#[test]
fn a_nonce_count_used_at_one_node_is_a_replay_at_the_other() {
    use crate::auth::nonce::SharedNonceCounts;
    let db = PgScratch::new("nonce-counts");
    let one = PgStore::open(&db.target()).expect("node one");
    let two = PgStore::open(&db.target()).expect("node two");
    let keep = now() + HOUR;
    assert_eq!(one.accept("n1", 1, keep), Some(true));
    assert_eq!(two.accept("n1", 1, keep), Some(false));
    assert_eq!(two.accept("n1", 2, keep), Some(true));
    assert_eq!(one.accept("n1", 2, keep), Some(false));
    assert_eq!(one.accept("n2", 1, keep), Some(true));
    // Forgotten once its time is over.
    assert_eq!(one.accept("old", 1, now() - HOUR), Some(true));
    one.prune(now()).expect("prune");
    let left = db.column(&format!(
        "SELECT nonce FROM {}.sipjet_nonce_counts ORDER BY nonce",
        db.schema
    ));
    assert_eq!(left, [Some("n1".to_string()), Some("n2".to_string())]);
}
