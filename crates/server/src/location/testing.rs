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
