//! Helpers for the location tests: bindings to store and scratch directories.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{AorUpdate, Binding};

/// A fixed "now" for tests that do not involve the real clock; far enough
/// ahead (2096) that bindings expiring after it are still valid by the real
/// clock when a database is reopened.
pub(crate) fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(4_000_000_000)
}

/// A binding of `aor` for `contact`, expiring at `expires_at`.
pub(crate) fn binding(
    aor: &str,
    contact: &str,
    expires_at: SystemTime,
    call_id: &str,
    cseq: u32,
) -> Binding {
    Binding {
        aor: aor.into(),
        contact: contact.into(),
        expires_at,
        q: Some(1000),
        call_id: call_id.into(),
        cseq,
        path: vec!["<sip:edge.example.com;lr>".into()],
        instance_id: Some("<urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6>".into()),
        reg_id: Some(1),
        received: Some("udp:198.51.100.20:5060".into()),
        user_agent: Some("TestPhone/2.1".into()),
        endpoint: Some(aor.into()),
        node: Some("node-a".into()),
    }
}

/// An update that adds or refreshes these bindings of `aor`.
pub(crate) fn upsert(aor: &str, bindings: Vec<Binding>) -> AorUpdate {
    AorUpdate {
        aor: aor.into(),
        upserts: bindings,
        ..Default::default()
    }
}

/// Bindings sorted by AOR and contact, to compare sets.
pub(crate) fn sorted(mut bindings: Vec<Binding>) -> Vec<Binding> {
    bindings.sort_by(|a, b| (&a.aor, &a.contact).cmp(&(&b.aor, &b.contact)));
    bindings
}

/// A directory of its own under the system's temporary directory, removed
/// with everything in it when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(purpose: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "sipjet-location-{purpose}-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        Self(path)
    }

    /// The location database's path inside the directory.
    pub(crate) fn db(&self) -> PathBuf {
        self.path().join("location.db")
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The environment variable that gives the tests a PostgreSQL cluster's
/// URL (`scripts/test.sh` starts one and sets it).
pub(crate) const POSTGRES_ENV: &str = "SIPJET_TEST_POSTGRES";

/// The test cluster's URL; fails the test, saying how to get one, when
/// there is none.
pub(crate) fn postgres_url() -> String {
    std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_ENV} is not set: this test needs a PostgreSQL cluster; run scripts/test.sh, \
             which starts a throwaway one and sets it"
        )
    })
}

/// A schema of its own in the test cluster, dropped with everything in
/// it at the end, so that tests can run side by side on one database.
/// Stores opened on [`url`](Self::url) keep their tables there and name
/// themselves after it (`application_name`), so that a test can find
/// their connections.
pub(crate) struct PgScratch {
    base: String,
    pub(crate) schema: String,
}

impl PgScratch {
    pub(crate) fn new(purpose: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let purpose: String = purpose
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(30)
            .collect();
        let schema = format!(
            "t_{purpose}_{}_{}_{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        )
        .to_ascii_lowercase();
        let scratch = Self {
            base: postgres_url(),
            schema,
        };
        scratch.execute(&format!("CREATE SCHEMA {}", scratch.schema));
        scratch
    }

    /// The URL of a store in this schema, with more `key=value` parameters.
    pub(crate) fn url_with(&self, user: Option<&str>, extra: &str) -> String {
        let (scheme_user, rest) = self.base.split_once('@').expect("a URL with a user");
        let base = match user {
            Some(user) => format!("postgres://{user}@{rest}"),
            None => format!("{scheme_user}@{rest}"),
        };
        let join = if base.contains('?') { '&' } else { '?' };
        let schema = &self.schema;
        format!(
            "{base}{join}options=-c%20search_path%3D{schema}&application_name={schema}&sslmode=disable{extra}"
        )
    }

    /// The target of a store in this schema.
    pub(crate) fn target(&self) -> super::PgTarget {
        self.target_with(None, "")
    }

    pub(crate) fn target_with(&self, user: Option<&str>, extra: &str) -> super::PgTarget {
        match self.url_with(user, extra).parse() {
            Ok(super::LocationDb::Postgres(target)) => *target,
            other => panic!("not a PostgreSQL target: {other:?}"),
        }
    }

    /// Runs SQL statements as the cluster's superuser.
    pub(crate) fn execute(&self, sql: &str) {
        let sql = sql.to_owned();
        self.with_client(move |client| async move {
            client.batch_execute(&sql).await.expect("admin statement");
        });
    }

    /// The first column of every row of a query, as text.
    pub(crate) fn column(&self, sql: &str) -> Vec<Option<String>> {
        let sql = sql.to_owned();
        self.with_client(move |client| async move {
            client
                .simple_query(&sql)
                .await
                .expect("admin query")
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some(row.get(0).map(str::to_owned))
                    }
                    _ => None,
                })
                .collect()
        })
    }

    fn with_client<T, F: std::future::Future<Output = T>>(
        &self,
        work: impl FnOnce(std::sync::Arc<tokio_postgres::Client>) -> F,
    ) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(&self.base, tokio_postgres::NoTls)
                .await
                .expect("connect to the test cluster");
            let driver = tokio::spawn(connection);
            let out = work(std::sync::Arc::new(client)).await;
            driver.abort();
            out
        })
    }
}

impl Drop for PgScratch {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.execute(&sql)));
        if dropped.is_err() {
            eprintln!("could not drop test schema {}", self.schema);
        }
    }
}
