//! TLS for Slipway, with rustls and its `ring` provider.
//!
//! - The server's side: a certificate chain and key from PEM files
//!   ([`server_config`]), held by a [`Reloadable`] so `SIGHUP` can swap in
//!   renewed files while connections keep being accepted (a failed reload
//!   keeps the old certificate).
//! - A client's side ([`client_config`]): the system's roots plus, when
//!   given, the certificates of a CA file (`--ca-file`), so a server with a
//!   private CA is verified, never skipped.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} from {path}: {message}")]
    Read {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("{path} holds no {what} (a PEM file with a \"-----BEGIN {pem}-----\" block)")]
    Empty {
        what: &'static str,
        pem: &'static str,
        path: PathBuf,
    },
    #[error("the certificate in {cert} and the key in {key} do not make a TLS identity: {message}")]
    Identity {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
    #[error("cannot set up TLS: {0}")]
    Setup(String),
}

/// The crypto every Slipway TLS endpoint uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Make `ring` the process's default provider, for libraries that build
/// their own rustls configs (reqwest). Idempotent.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The certificates of a PEM file, in order.
pub fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let read = |message: String| TlsError::Read {
        what: "certificates",
        path: path.to_path_buf(),
        message,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| read(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            what: "certificate",
            pem: "CERTIFICATE",
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// A server identity: the chain in `cert_file` (leaf first) and the
/// private key in `key_file` (PKCS#8, PKCS#1 or SEC1). HTTP/1.1 only.
pub fn server_config(cert_file: &Path, key_file: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = read_certificates(cert_file)?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => TlsError::Empty {
            what: "private key",
            pem: "PRIVATE KEY",
            path: key_file.to_path_buf(),
        },
        e => TlsError::Read {
            what: "the private key",
            path: key_file.to_path_buf(),
            message: e.to_string(),
        },
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Identity {
            cert: cert_file.to_path_buf(),
            key: key_file.to_path_buf(),
            message: e.to_string(),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The server's identity, swappable while it serves.
pub struct Reloadable {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
}

impl Reloadable {
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        Ok(Reloadable {
            current: RwLock::new(server_config(cert_file, key_file)?),
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
        })
    }

    /// Read the files again; on error the current identity stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = server_config(&self.cert_file, &self.key_file)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// An acceptor with the identity of now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }

    pub fn cert_file(&self) -> &Path {
        &self.cert_file
    }
}

/// A client's trust: the system's roots (those it can read) and every
/// certificate of `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, TlsError> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        for cert in read_certificates(path)? {
            roots.add(cert).map_err(|e| TlsError::Read {
                what: "a CA certificate",
                path: path.to_path_buf(),
                message: e.to_string(),
            })?;
        }
    }
    if roots.is_empty() {
        return Err(TlsError::Setup(
            "no trusted root certificate: the system has none readable (install ca-certificates) and no CA file was given".into(),
        ));
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not pem\n").unwrap();
        let e = read_certificates(&empty).unwrap_err().to_string();
        assert!(e.contains("holds no certificate"), "{e}");
        let gone = dir.path().join("gone.pem");
        let e = server_config(&gone, &gone).unwrap_err().to_string();
        assert!(e.contains("gone.pem"), "{e}");
        let e = client_config(Some(&empty)).unwrap_err().to_string();
        assert!(e.contains("empty.pem"), "{e}");
    }

    #[test]
    fn system_roots_are_enough_without_a_ca_file() {
        // Debian's ca-certificates is installed where the tests run.
        assert!(client_config(None).is_ok());
    }
}
