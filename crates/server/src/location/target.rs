//! Where the location store lives, as the operator names it: a file path
//! (SQLite, the embedded default) or a `postgres://` URL (a PostgreSQL
//! database that several sipjet nodes can share).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// How the connection to PostgreSQL is protected, as libpq's `sslmode`
/// names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// `disable`: no TLS.
    Disable,
    /// `prefer` (the default, as in libpq): TLS when the server offers it,
    /// its certificate not checked (as `require`).
    Prefer,
    /// `require`: TLS, the certificate not checked, unless `sslrootcert`
    /// is given, when it is checked as with `verify-ca` (as in libpq).
    /// With SCRAM authentication, channel binding still keeps a man in the
    /// middle from relaying the password exchange.
    Require,
    /// `verify-ca`: TLS, the certificate chain checked up to a trusted CA.
    VerifyCa,
    /// `verify-full`: as `verify-ca`, and the certificate names the host.
    VerifyFull,
}

/// The CA certificates a checked connection trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCerts {
    /// The system's store (`sslrootcert` absent or `system`).
    System,
    /// The certificates of a PEM file (`sslrootcert=PATH`).
    File(PathBuf),
}

/// A PostgreSQL database for the location store: the connection settings
/// of its URL, and the TLS settings sipjet handles itself.
#[derive(Clone)]
pub struct PgTarget {
    /// What tokio-postgres connects with (the URL without `sslmode` and
    /// `sslrootcert`, whose meaning sipjet implements).
    pub(crate) config: tokio_postgres::Config,
    /// `sslmode`.
    pub ssl_mode: SslMode,
    /// `sslrootcert`.
    pub root_certs: RootCerts,
    /// The URL as given, its password hidden: for logs and errors.
    shown: String,
}

impl PgTarget {
    /// Whether certificates are checked against CA certificates.
    pub(crate) fn verifies_chain(&self) -> bool {
        match self.ssl_mode {
            SslMode::Disable | SslMode::Prefer => false,
            SslMode::Require => matches!(self.root_certs, RootCerts::File(_)),
            SslMode::VerifyCa | SslMode::VerifyFull => true,
        }
    }
}

impl fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PgTarget").field(&self.shown).finish()
    }
}

impl fmt::Display for PgTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// Where the location store lives.
///
/// ```
/// use sipjet_server::location::LocationDb;
///
/// let file: LocationDb = "/var/lib/sipjet/location.db".parse()?;
/// assert!(matches!(file, LocationDb::Sqlite(_)));
/// let shared: LocationDb = "postgres://sipjet:secret@db.example.com/sip?sslmode=verify-full".parse()?;
/// assert_eq!(shared.to_string(), "postgres://sipjet:***@db.example.com/sip?sslmode=verify-full");
/// # Ok::<(), sipjet_server::location::BadLocationDb>(())
/// ```
#[derive(Clone, Debug)]
pub enum LocationDb {
    /// A SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL database.
    Postgres(Box<PgTarget>),
}

impl fmt::Display for LocationDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocationDb::Sqlite(path) => write!(f, "{}", path.display()),
            LocationDb::Postgres(target) => target.fmt(f),
        }
    }
}

/// A location database that cannot be used as written.
#[derive(Debug, thiserror::Error)]
#[error("{shown}: {reason}")]
pub struct BadLocationDb {
    /// The value, its password hidden.
    shown: String,
    /// What is wrong with it.
    reason: String,
}

const SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

impl FromStr for LocationDb {
    type Err = BadLocationDb;

    /// A `postgres://` or `postgresql://` URL selects PostgreSQL; anything
    /// else is the path of a SQLite file.
    fn from_str(value: &str) -> Result<Self, BadLocationDb> {
        if !SCHEMES.iter().any(|s| starts_with_ignore_case(value, s)) {
            if value.is_empty() {
                return Err(BadLocationDb {
                    shown: String::new(),
                    reason: "no path or URL given".into(),
                });
            }
            return Ok(LocationDb::Sqlite(PathBuf::from(value)));
        }
        let shown = hide_password(value);
        let bad = |reason: String| BadLocationDb {
            shown: shown.clone(),
            reason,
        };
        let (base, query) = value.split_once('?').unwrap_or((value, ""));
        let mut ssl_mode = SslMode::Prefer;
        let mut root_certs = RootCerts::System;
        let mut rest = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => {
                    ssl_mode = match raw {
                        "disable" => SslMode::Disable,
                        "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(bad(format!(
                                "sslmode {other:?} is not disable, prefer, require, verify-ca or verify-full"
                            )));
                        }
                    }
                }
                "sslrootcert" => {
                    let path = percent_decode(raw)
                        .ok_or_else(|| bad("sslrootcert is not a well-formed path".into()))?;
                    root_certs = if path == "system" {
                        RootCerts::System
                    } else {
                        RootCerts::File(PathBuf::from(path))
                    };
                }
                _ => rest.push(pair),
            }
        }
        // Schemes are case-insensitive (RFC 3986 §3.1); tokio-postgres
        // takes them in lower case.
        let (scheme, after) = base.split_once("://").unwrap_or((base, ""));
        let mut url = format!("{}://{after}", scheme.to_ascii_lowercase());
        if !rest.is_empty() {
            url.push('?');
            url.push_str(&rest.join("&"));
        }
        let mut config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| bad(super::postgres::describe(&e)))?;
        // sipjet decides about TLS itself; tokio-postgres only needs to
        // know whether to ask for it.
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        if config.get_hosts().is_empty() {
            return Err(bad("the URL names no host".into()));
        }
        if config.get_user().is_none() {
            return Err(bad("the URL names no user (postgres://USER@HOST/DB)".into()));
        }
        if config.get_application_name().is_none() {
            config.application_name("sipjet");
        }
        Ok(LocationDb::Postgres(Box::new(PgTarget {
            config,
            ssl_mode,
            root_certs,
            shown,
        })))
    }
}

fn starts_with_ignore_case(value: &str, prefix: &str) -> bool {
    value
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// The URL with the password of its user information replaced by `***`.
fn hide_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, hosts)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{hosts}{tail}"),
        None => url.to_owned(),
    }
}

/// `%XX` escapes decoded; `None` when one is malformed or the result is
/// not UTF-8.
fn percent_decode(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str) -> PgTarget {
        match url.parse::<LocationDb>() {
            Ok(LocationDb::Postgres(t)) => *t,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn a_path_is_sqlite_and_a_url_postgres() {
        assert!(matches!(
            "location.db".parse::<LocationDb>(),
            Ok(LocationDb::Sqlite(p)) if p == std::path::Path::new("location.db")
        ));
        assert!(matches!(
            "./postgres/location.db".parse::<LocationDb>(),
            Ok(LocationDb::Sqlite(_))
        ));
        let t = pg("postgres://sipjet@127.0.0.1:5433/sip");
        assert_eq!(t.config.get_user(), Some("sipjet"));
        assert_eq!(t.config.get_dbname(), Some("sip"));
        assert_eq!(t.config.get_ports(), &[5433]);
        assert_eq!(t.config.get_application_name(), Some("sipjet"));
        assert_eq!(t.ssl_mode, SslMode::Prefer);
        pg("POSTGRESQL://sipjet@db/sip");
        assert!("".parse::<LocationDb>().is_err());
    }

    #[test]
    fn sipjet_reads_the_tls_parameters_itself() {
        let t = pg(
            "postgres://u@db.example.com/sip?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
        );
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(t.root_certs, RootCerts::File("/etc/ca.pem".into()));
        assert!(t.verifies_chain());
        assert_eq!(
            t.config.get_connect_timeout(),
            Some(&std::time::Duration::from_secs(3))
        );
        let t = pg("postgres://u@db/sip?sslmode=require&sslrootcert=system");
        assert_eq!(t.root_certs, RootCerts::System);
        assert!(!t.verifies_chain(), "require checks only with a CA file");
        assert!(pg("postgres://u@db/sip?sslmode=require&sslrootcert=ca.pem").verifies_chain());
        assert_eq!(
            pg("postgres://u@db/sip?sslmode=disable")
                .config
                .get_ssl_mode(),
            tokio_postgres::config::SslMode::Disable
        );
        assert_eq!(
            pg("postgres://u@db/sip?application_name=node1")
                .config
                .get_application_name(),
            Some("node1")
        );
    }

    #[test]
    fn a_bad_url_is_refused_with_its_password_hidden() {
        for (url, says) in [
            (
                "postgres://u:hunter2@db/sip?sslmode=maybe",
                "sslmode \"maybe\"",
            ),
            ("postgres://u:hunter2@db/sip?frobnicate=1", "frobnicate"),
            ("postgres://db/sip", "no user"),
            ("postgres://u:hunter2@db/sip?sslrootcert=%zz", "sslrootcert"),
        ] {
            let err = url.parse::<LocationDb>().expect_err(url).to_string();
            assert!(err.contains(says), "{url}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        assert_eq!(
            pg("postgres://u:hunter2@db:5432/sip").to_string(),
            "postgres://u:***@db:5432/sip"
        );
    }
}
