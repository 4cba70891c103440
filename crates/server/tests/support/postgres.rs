//! The test PostgreSQL cluster that `scripts/test.sh` starts: a schema of
//! its own for each test, queries as its superuser, and the command that
//! stops and starts the cluster.

use sipjet_server::location::LocationDb;

/// The cluster's URL; fails the test, saying how to get one, when there
/// is none.
pub fn url() -> String {
    std::env::var("SIPJET_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "SIPJET_TEST_POSTGRES is not set: this test needs a PostgreSQL cluster; \
             run scripts/test.sh, which starts a throwaway one and sets it"
        )
    })
}

/// Stops (`"stop"`) or starts (`"start"`) the cluster, waiting until done.
pub fn pg_ctl(action: &str) {
    let ctl = std::env::var("SIPJET_TEST_PG_CTL").unwrap_or_else(|_| {
        panic!("SIPJET_TEST_PG_CTL is not set: run scripts/test.sh, which sets it")
    });
    let status = std::process::Command::new(&ctl)
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("{ctl} {action}: {e}"));
    assert!(status.success(), "{ctl} {action}: {status}");
}

/// A schema of its own, dropped at the end (when the cluster is up).
pub struct Schema {
    pub name: String,
}

impl Schema {
    pub async fn new(label: &str) -> Schema {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!("it_{label}_{}_{nanos}", std::process::id());
        execute(&format!("CREATE SCHEMA {name}")).await;
        Schema { name }
    }

    /// The location database of a node whose tables are in this schema.
    pub fn location_db(&self) -> LocationDb {
        self.url().parse().unwrap()
    }

    /// [`Schema::location_db`] as a URL, for `sipjet run --location-db`.
    pub fn url(&self) -> String {
        let name = &self.name;
        format!(
            "{}?options=-c%20search_path%3D{name}&application_name={name}&sslmode=disable",
            url()
        )
    }

    /// Rows of the schema's bindings: (aor, contact, node).
    pub async fn bindings(&self) -> Vec<(String, String, Option<String>)> {
        let client = connect().await;
        client
            .query(
                &format!(
                    "SELECT aor, contact, node FROM {}.sipjet_bindings",
                    self.name
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect()
    }

    pub async fn drop_now(self) {
        execute(&format!("DROP SCHEMA {} CASCADE", self.name)).await;
    }
}

async fn connect() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the test cluster");
    tokio::spawn(connection);
    client
}

/// Runs SQL as the cluster's superuser.
pub async fn execute(sql: &str) {
    connect().await.batch_execute(sql).await.unwrap();
}
