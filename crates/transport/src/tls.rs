//! TLS configuration for SIP over TLS and WSS: the server's certificate
//! chain and key, the trust roots for connections this side opens, and
//! the handshakes. rustls with the ring provider, chosen per
//! configuration, so that no process-wide default has to be installed.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::net::TcpStream;

use crate::error::TransportError;
use crate::protocol::Protocol;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read_pem(what: &'static str, path: &Path) -> Result<Vec<u8>, TransportError> {
    std::fs::read(path).map_err(|source| TransportError::PemFile {
        what,
        path: path.to_path_buf(),
        source,
    })
}

fn certificates(
    what: &'static str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TransportError::Pem {
            what,
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TransportError::Pem {
            what,
            reason: "no CERTIFICATE section found".into(),
        });
    }
    Ok(certs)
}

/// The certificate chain and private key of a TLS or WSS listener.
#[derive(Clone)]
pub struct TlsServerConfig {
    pub(crate) config: Arc<ServerConfig>,
}

impl TlsServerConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1) from files.
    pub fn from_pem_files(
        cert_chain: impl AsRef<Path>,
        private_key: impl AsRef<Path>,
    ) -> Result<TlsServerConfig, TransportError> {
        let certs = read_pem("certificate chain", cert_chain.as_ref())?;
        let key = read_pem("private key", private_key.as_ref())?;
        TlsServerConfig::from_pem(&certs, &key)
    }

    /// Reads a PEM certificate chain (leaf first) and a PEM private key.
    pub fn from_pem(
        cert_chain: &[u8],
        private_key: &[u8],
    ) -> Result<TlsServerConfig, TransportError> {
        let certs = certificates("certificate chain", cert_chain)?;
        let key = PrivateKeyDer::from_pem_slice(private_key).map_err(|e| TransportError::Pem {
            what: "private key",
            reason: e.to_string(),
        })?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(certs, key)?;
        Ok(TlsServerConfig::from_rustls(Arc::new(config)))
    }

    /// Uses a rustls configuration as it is (client certificates, ALPN,
    /// another crypto provider).
    pub fn from_rustls(config: Arc<ServerConfig>) -> TlsServerConfig {
        TlsServerConfig { config }
    }
}

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsServerConfig { .. }")
    }
}

/// The trust roots for TLS and WSS connections this side opens. Every
/// configuration built here checks the server's certificate chain up to
/// a trusted CA and the server name in it: the destination's
/// `server_name`, or its IP address when it has none.
#[derive(Clone)]
pub struct TlsClientConfig {
    pub(crate) config: Arc<ClientConfig>,
}

/// Adds the CA certificates of a PEM file to `roots`; an error names the
/// file.
fn add_pem_file(roots: &mut RootCertStore, path: &Path) -> Result<(), TransportError> {
    const WHAT: &str = "CA certificates";
    let pem = read_pem(WHAT, path)?;
    let invalid = |reason: String| TransportError::PemFile {
        what: WHAT,
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
    };
    for cert in certificates(WHAT, &pem).map_err(|e| invalid(e.to_string()))? {
        roots.add(cert).map_err(|e| invalid(e.to_string()))?;
    }
    Ok(())
}

fn client_config(roots: RootCertStore) -> Result<TlsClientConfig, TransportError> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsClientConfig::from_rustls(Arc::new(config)))
}

impl TlsClientConfig {
    /// Trusts every CA certificate in these PEM files.
    pub fn from_pem_files<P: AsRef<Path>>(
        ca_files: &[P],
    ) -> Result<TlsClientConfig, TransportError> {
        let mut roots = RootCertStore::empty();
        for path in ca_files {
            add_pem_file(&mut roots, path.as_ref())?;
        }
        client_config(roots)
    }

    /// Trusts the system's CA certificates and every CA certificate in
    /// these PEM files (a private CA, a peer's self-signed certificate).
    ///
    /// The system's are those of the platform's store, as
    /// `rustls-native-certs` finds them (on Linux and BSD the OpenSSL
    /// bundle and directory, or the file and directory that
    /// `SSL_CERT_FILE` and `SSL_CERT_DIR` name). A system store that
    /// cannot be read, wholly or in part, is logged, not fatal: the files
    /// given may be all the trust a deployment needs. A file that cannot
    /// be read or holds no valid certificate is an error naming it.
    pub fn with_system_roots<P: AsRef<Path>>(
        ca_files: &[P],
    ) -> Result<TlsClientConfig, TransportError> {
        let mut roots = RootCertStore::empty();
        let system = rustls_native_certs::load_native_certs();
        for e in &system.errors {
            tracing::warn!(error = %e, "cannot load the system's CA certificates");
        }
        let (added, refused) = roots.add_parsable_certificates(system.certs);
        if refused > 0 {
            tracing::debug!(
                refused,
                "system CA certificates rustls cannot use are left out"
            );
        }
        for path in ca_files {
            add_pem_file(&mut roots, path.as_ref())?;
        }
        tracing::debug!(
            system = added,
            total = roots.len(),
            "CA certificates trusted for outgoing TLS"
        );
        if roots.is_empty() {
            tracing::warn!(
                "no CA certificate is trusted: outgoing TLS and WSS connections will fail"
            );
        }
        client_config(roots)
    }

    /// Trusts every CA certificate in this PEM text.
    pub fn from_pem(ca_certificates: &[u8]) -> Result<TlsClientConfig, TransportError> {
        let mut roots = RootCertStore::empty();
        for cert in certificates("CA certificates", ca_certificates)? {
            roots.add(cert)?;
        }
        client_config(roots)
    }

    /// Uses a rustls configuration as it is (system roots, client
    /// certificates, another crypto provider).
    pub fn from_rustls(config: Arc<ClientConfig>) -> TlsClientConfig {
        TlsClientConfig { config }
    }
}

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsClientConfig { .. }")
    }
}

/// Runs the server side of a TLS handshake.
pub(crate) async fn accept(
    config: &TlsServerConfig,
    tcp: TcpStream,
) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    tokio_rustls::TlsAcceptor::from(Arc::clone(&config.config))
        .accept(tcp)
        .await
}

/// The name a server must prove: `server_name`, or the IP address.
pub(crate) fn server_name(
    name: Option<&str>,
    addr: SocketAddr,
) -> Result<ServerName<'static>, TransportError> {
    match name {
        Some(n) => ServerName::try_from(n.to_string())
            .map_err(|_| TransportError::InvalidServerName(n.to_string())),
        None => Ok(ServerName::IpAddress(addr.ip().into())),
    }
}

/// Runs the client side of a TLS handshake with `addr`.
pub(crate) async fn connect(
    config: &TlsClientConfig,
    protocol: Protocol,
    addr: SocketAddr,
    name: ServerName<'static>,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, TransportError> {
    tokio_rustls::TlsConnector::from(Arc::clone(&config.config))
        .connect(name, tcp)
        .await
        .map_err(|e| TransportError::Handshake {
            protocol,
            addr,
            reason: e.to_string(),
        })
}
