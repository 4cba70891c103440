//! The PostgreSQL form of the location store: its tables, created and
//! migrated by sipjet, and the statements that read and write them.
//!
//! Times are kept as they are in memory, nanoseconds since the Unix
//! epoch (`bigint`), so that a binding reads back exactly as it was
//! written (`timestamptz` keeps microseconds); `to_timestamp(expires_at /
//! 1e9)` shows one. The Path values are one `bytea` in the same
//! length-prefixed form as in SQLite.

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use futures_util::{StreamExt, pin_mut};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row};
use tracing::{info, warn};

use super::super::binding::Binding;
use super::super::entry::Entry;
use super::super::error::StoreError;
use super::super::node::NodeRecord;
use super::super::path_blob::{decode_path, encode_path};
use super::fault;

/// The version of the tables below. Older ones are migrated when a node
/// opens the database ([`MIGRATIONS`]); a newer one is refused rather than
/// misread (a node of an older sipjet among newer ones).
pub(crate) const SCHEMA_VERSION: i32 = 3;

/// The nodes sharing the database, and their heartbeats.
const CREATE_NODES: &str = "
    CREATE TABLE IF NOT EXISTS sipjet_nodes (
        node text PRIMARY KEY,
        address text,
        started bigint NOT NULL,
        heartbeat bigint NOT NULL
    );
";

/// The highest nonce-count used with each nonce, at any node, until it
/// may be forgotten (`expires`, nanoseconds since the epoch).
const CREATE_NONCE_COUNTS: &str = "
    CREATE TABLE IF NOT EXISTS sipjet_nonce_counts (
        nonce text PRIMARY KEY,
        nc bigint NOT NULL,
        expires bigint NOT NULL
    );
";

/// What takes the tables from version N to N + 1, at index N - 1.
const MIGRATIONS: [&str; (SCHEMA_VERSION - 1) as usize] = [CREATE_NODES, CREATE_NONCE_COUNTS];

/// The channel every node listens on and notifies changes to.
pub(crate) const CHANNEL: &str = "sipjet_location";

/// The longest notification payload PostgreSQL takes is 7999 bytes; an
/// AOR too long for it is announced as "re-read everything".
pub(crate) const MAX_PAYLOAD: usize = 7_900;

/// The first key of sipjet's advisory locks (the second is the AOR's
/// hash), so that they do not meet another application's.
const LOCK_CLASS: i32 = 0x0051_b7e7;

/// The advisory lock that serialises schema creation and migration
/// between nodes starting at once.
const SCHEMA_LOCK: i32 = 0;

const CREATE: &str = "
    CREATE TABLE IF NOT EXISTS sipjet_schema_version (version integer NOT NULL);
    CREATE TABLE IF NOT EXISTS sipjet_bindings (
        aor text NOT NULL,
        contact text NOT NULL,
        expires_at bigint NOT NULL,
        q integer,
        call_id text NOT NULL,
        cseq bigint NOT NULL,
        path bytea NOT NULL,
        instance_id text,
        reg_id bigint,
        received text,
        user_agent text,
        endpoint text,
        node text,
        PRIMARY KEY (aor, contact)
    );
    CREATE INDEX IF NOT EXISTS sipjet_bindings_expires_at ON sipjet_bindings (expires_at);
";

const COLUMNS: &str = "aor, contact, expires_at, q, call_id, cseq, path, instance_id, reg_id, \
    received, user_agent, endpoint, node";

/// The bindings of some AORs (`$1`), expired ones included.
pub(crate) fn select_aors() -> String {
    format!("SELECT {COLUMNS} FROM sipjet_bindings WHERE aor = ANY($1)")
}

/// Every binding valid at `$1`.
pub(crate) fn select_valid() -> String {
    format!("SELECT {COLUMNS} FROM sipjet_bindings WHERE expires_at > $1")
}

/// Takes the advisory locks of keys `$1` (sorted, so that two nodes
/// locking overlapping sets never wait for each other in a circle) until
/// the transaction ends.
pub(crate) const LOCK_AORS: &str =
    "SELECT count(pg_advisory_xact_lock($1, k)) FROM unnest($2::integer[]) AS k";

/// Removes the bindings `($1[i], $2[i])`.
pub(crate) const DELETE_KEYS: &str = "DELETE FROM sipjet_bindings \
    WHERE (aor, contact) IN (SELECT * FROM unnest($1::text[], $2::text[]))";

/// Adds or replaces the bindings given column by column.
pub(crate) const UPSERT: &str = "INSERT INTO sipjet_bindings \
    (aor, contact, expires_at, q, call_id, cseq, path, instance_id, reg_id, received, user_agent, endpoint, node) \
    SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::integer[], $5::text[], $6::bigint[], \
        $7::bytea[], $8::text[], $9::bigint[], $10::text[], $11::text[], $12::text[], $13::text[]) \
    ON CONFLICT (aor, contact) DO UPDATE SET expires_at = EXCLUDED.expires_at, q = EXCLUDED.q, \
        call_id = EXCLUDED.call_id, cseq = EXCLUDED.cseq, path = EXCLUDED.path, \
        instance_id = EXCLUDED.instance_id, reg_id = EXCLUDED.reg_id, received = EXCLUDED.received, \
        user_agent = EXCLUDED.user_agent, endpoint = EXCLUDED.endpoint, node = EXCLUDED.node";

/// Sends each payload of `$2` on channel `$1`, delivered when (and only
/// if) the transaction commits.
pub(crate) const NOTIFY: &str = "SELECT count(pg_notify($1, p)) FROM unnest($2::text[]) AS p";

/// Deletes the bindings expired at `$1` and tells the other nodes which
/// AORs lost some (`$2`: the channel, `$3`: this node's origin), in one
/// statement: whichever node runs it removes each binding once.
pub(crate) const PRUNE: &str = "WITH gone AS (
        DELETE FROM sipjet_bindings WHERE expires_at <= $1 RETURNING aor
    ), per_aor AS (
        SELECT aor, count(*) AS n FROM gone GROUP BY aor
    )
    SELECT n, pg_notify($2, CASE WHEN octet_length(aor) <= $4 THEN $3 || ' ' || aor ELSE $3 END)::text
    FROM per_aor";

/// Records a node's heartbeat (`$1` node, `$2` address, `$3` started,
/// `$4` now).
pub(crate) const BEAT: &str = "INSERT INTO sipjet_nodes (node, address, started, heartbeat) \
    VALUES ($1, $2, $3, $4) ON CONFLICT (node) DO UPDATE SET address = EXCLUDED.address, \
    started = EXCLUDED.started, heartbeat = EXCLUDED.heartbeat";

/// Records nonce-count `$2` of nonce `$1` (forgotten after `$3`): one
/// row changed when it is higher than any seen, none for a replay.
pub(crate) const COUNT_NONCE: &str = "INSERT INTO sipjet_nonce_counts (nonce, nc, expires) \
    VALUES ($1, $2, $3) ON CONFLICT (nonce) DO UPDATE SET nc = EXCLUDED.nc \
    WHERE sipjet_nonce_counts.nc < EXCLUDED.nc";

/// Forgets the nonce-counts whose nonces are long stale (`$1`: now).
pub(crate) const FORGET_NONCES: &str = "DELETE FROM sipjet_nonce_counts WHERE expires <= $1";

/// Every node, as last heard of.
pub(crate) const NODES: &str =
    "SELECT node, address, started, heartbeat FROM sipjet_nodes ORDER BY node";

/// Removes one binding that cannot be read back.
const DELETE_ONE: &str = "DELETE FROM sipjet_bindings WHERE aor = $1 AND contact = $2";

/// The second key of an AOR's advisory lock: a hash every node computes
/// alike (FNV-1a), unlike the standard library's, which is seeded.
pub(crate) fn lock_key(aor: &str) -> i32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in aor.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    match i32::from_ne_bytes(hash.to_ne_bytes()) {
        // Never the schema's key.
        SCHEMA_LOCK => 1,
        key => key,
    }
}

/// The class of sipjet's advisory locks.
pub(crate) fn lock_class() -> i32 {
    LOCK_CLASS
}

/// Creates the tables when absent, or migrates them, under a lock that
/// keeps two nodes starting together from doing it at once.
pub(crate) async fn create(client: &mut tokio_postgres::Client) -> Result<(), StoreError> {
    let during = "creating the location tables";
    let tx = client.transaction().await.map_err(fault(during))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&LOCK_CLASS, &SCHEMA_LOCK],
    )
    .await
    .map_err(fault(during))?;
    let versioned: bool = tx
        .query_one(
            "SELECT to_regclass('sipjet_schema_version') IS NOT NULL",
            &[],
        )
        .await
        .and_then(|row| row.try_get(0))
        .map_err(fault(during))?;
    let found: Option<i32> = if versioned {
        tx.query_one("SELECT max(version) FROM sipjet_schema_version", &[])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(fault(during))?
    } else {
        None
    };
    match found {
        None => {
            tx.batch_execute(CREATE).await.map_err(fault(during))?;
            for table in [CREATE_NODES, CREATE_NONCE_COUNTS] {
                tx.batch_execute(table).await.map_err(fault(during))?;
            }
            tx.execute("DELETE FROM sipjet_schema_version", &[])
                .await
                .map_err(fault(during))?;
            tx.execute(
                "INSERT INTO sipjet_schema_version (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )
            .await
            .map_err(fault(during))?;
        }
        Some(SCHEMA_VERSION) => {}
        Some(found) if (1..SCHEMA_VERSION).contains(&found) => {
            for step in &MIGRATIONS[(found - 1) as usize..] {
                tx.batch_execute(step).await.map_err(fault(during))?;
            }
            tx.execute(
                "UPDATE sipjet_schema_version SET version = $1",
                &[&SCHEMA_VERSION],
            )
            .await
            .map_err(fault(during))?;
            info!(
                from = found,
                to = SCHEMA_VERSION,
                "location tables migrated"
            );
        }
        Some(found) => {
            return Err(StoreError::UnsupportedSchema {
                found: i64::from(found),
                supported: i64::from(SCHEMA_VERSION),
            });
        }
    }
    tx.commit().await.map_err(fault(during))
}

/// Bindings by AOR.
pub(crate) type ByAor = HashMap<String, Vec<Entry>>;

/// Reads every binding valid at `now` (nanoseconds since the epoch),
/// streaming the rows rather than holding them all. A row that cannot be
/// read back (written by hand, or damaged) is logged and deleted: a
/// binding is soft state that its user agent refreshes anyway.
///
/// Each binding goes to `found` as it is read, so that loading 100,000 of
/// them holds no second copy of them all.
pub(crate) async fn load_valid(
    client: &Client,
    now: i64,
    found: &mut dyn FnMut(String, Entry),
) -> Result<(), tokio_postgres::Error> {
    let select = client.prepare(&select_valid()).await?;
    let rows = client
        .query_raw(&select, [&now as &(dyn ToSql + Sync)])
        .await?;
    pin_mut!(rows);
    let mut unreadable = Vec::new();
    while let Some(row) = rows.next().await {
        let row = row?;
        match read_entry(&row) {
            Some((aor, entry)) => found(aor, entry),
            None => unreadable.push(row),
        }
    }
    for row in unreadable {
        let (Ok(aor), Ok(contact)) = (row.try_get::<_, &str>(0), row.try_get::<_, &str>(1)) else {
            continue;
        };
        warn!(
            ?aor,
            ?contact,
            "deleting an unreadable binding from the location database"
        );
        client.execute(DELETE_ONE, &[&aor, &contact]).await?;
    }
    Ok(())
}

/// The AOR and entry of a row; `None` when a column does not hold what it
/// should.
pub(crate) fn read_entry(row: &Row) -> Option<(String, Entry)> {
    let expires_at: i64 = row.try_get(2).ok()?;
    let q: Option<i32> = row.try_get(3).ok()?;
    let cseq: i64 = row.try_get(5).ok()?;
    let reg_id: Option<i64> = row.try_get(8).ok()?;
    let binding = Binding {
        aor: row.try_get(0).ok()?,
        contact: row.try_get(1).ok()?,
        expires_at: UNIX_EPOCH + Duration::from_nanos(u64::try_from(expires_at).ok()?),
        q: q.map(u16::try_from).transpose().ok()?,
        call_id: row.try_get(4).ok()?,
        cseq: u32::try_from(cseq).ok()?,
        path: decode_path(row.try_get(6).ok()?)?,
        instance_id: row.try_get(7).ok()?,
        reg_id: reg_id.map(u32::try_from).transpose().ok()?,
        received: row.try_get(9).ok()?,
        user_agent: row.try_get(10).ok()?,
        endpoint: row.try_get(11).ok()?,
        node: row.try_get(12).ok()?,
    };
    let entry = Entry::new(&binding)?;
    Some((binding.aor, entry))
}

/// A row of [`NODES`]; `None` when a column does not hold what it should.
pub(crate) fn read_node(row: &Row) -> Option<NodeRecord> {
    let time = |n: i64| Some(UNIX_EPOCH + Duration::from_nanos(u64::try_from(n).ok()?));
    Some(NodeRecord {
        id: row.try_get(0).ok()?,
        address: row.try_get(1).ok()?,
        started: time(row.try_get(2).ok()?)?,
        heartbeat: time(row.try_get(3).ok()?)?,
    })
}

/// The bindings an [`UPSERT`] writes, column by column.
#[derive(Default)]
pub(crate) struct Columns<'a> {
    aor: Vec<&'a str>,
    contact: Vec<&'a str>,
    expires_at: Vec<i64>,
    q: Vec<Option<i32>>,
    call_id: Vec<&'a str>,
    cseq: Vec<i64>,
    path: Vec<Vec<u8>>,
    instance_id: Vec<Option<&'a str>>,
    reg_id: Vec<Option<i64>>,
    received: Vec<Option<&'a str>>,
    user_agent: Vec<Option<&'a str>>,
    endpoint: Vec<Option<&'a str>>,
    node: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    pub(crate) fn push(&mut self, aor: &'a str, entry: &'a Entry) {
        self.aor.push(aor);
        self.contact.push(entry.contact());
        self.expires_at.push(entry.expires_at());
        self.q.push(entry.q().map(i32::from));
        self.call_id.push(entry.call_id());
        self.cseq.push(i64::from(entry.cseq()));
        self.path.push(encode_path(entry.path()));
        self.instance_id.push(entry.instance_id());
        self.reg_id.push(entry.reg_id().map(i64::from));
        self.received.push(entry.received());
        self.user_agent.push(entry.user_agent());
        self.endpoint.push(entry.endpoint());
        self.node.push(entry.node());
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.aor.is_empty()
    }

    /// The parameters of [`UPSERT`].
    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.aor,
            &self.contact,
            &self.expires_at,
            &self.q,
            &self.call_id,
            &self.cseq,
            &self.path,
            &self.instance_id,
            &self.reg_id,
            &self.received,
            &self.user_agent,
            &self.endpoint,
            &self.node,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_the_same_on_every_node_and_never_the_schemas() {
        assert_eq!(lock_key("alice"), lock_key("alice"));
        assert_ne!(lock_key("alice"), lock_key("bob"));
        // FNV-1a of the empty string, as any implementation computes it.
        assert_eq!(
            lock_key(""),
            i32::from_ne_bytes(0x811c_9dc5u32.to_ne_bytes())
        );
        assert!((0..10_000).all(|n| lock_key(&format!("user{n}")) != SCHEMA_LOCK));
    }
}
