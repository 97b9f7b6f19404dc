//! The TLS client configuration of the http engine: rustls with the Mozilla roots (plus any
//! the deployment adds, for private CAs), HTTP/2 and HTTP/1.1 offered by ALPN, and a
//! session store that resumes sessions like rustls' own and also tells the connection
//! timer when a handshake starts: rustls asks the store for a key-share hint and a ticket
//! while it builds the ClientHello, which is the first step of every handshake.

use std::{path::Path, sync::Arc};

use rustls::{
    ClientConfig, NamedGroup, RootCertStore,
    client::{ClientSessionMemoryCache, ClientSessionStore, Resumption},
    client::{Tls12ClientSessionValue, Tls13ClientSessionValue},
    pki_types::{CertificateDer, ServerName, pem::PemObject},
};

use super::timing::mark_tls_start;
use crate::error::FetchError;

/// Sessions kept for resumption, across hosts.
const SESSIONS: usize = 256;

/// Reads every certificate of a PEM file (the deployment's extra trust anchors).
pub fn read_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, FetchError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| FetchError::Invalid(format!("CA file {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(FetchError::Invalid(format!(
            "CA file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The client configuration: Mozilla's roots and `extra_roots`, ALPN h2 then http/1.1.
pub fn client_config(extra_roots: &[CertificateDer<'static>]) -> Result<ClientConfig, FetchError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| FetchError::Invalid(format!("extra CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Invalid(format!("TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config.resumption = own_sessions();
    Ok(config)
}

/// A session cache of its own: a client that must not be linkable to others (a proxied job)
/// resumes only its own sessions.
pub fn own_sessions() -> Resumption {
    Resumption::store(Arc::new(TimedSessions(ClientSessionMemoryCache::new(
        SESSIONS,
    ))))
}

/// rustls' in-memory session cache, marking the start of each handshake.
#[derive(Debug)]
struct TimedSessions(ClientSessionMemoryCache);

impl ClientSessionStore for TimedSessions {
    fn set_kx_hint(&self, server_name: ServerName<'static>, group: NamedGroup) {
        self.0.set_kx_hint(server_name, group);
    }

    fn kx_hint(&self, server_name: &ServerName<'_>) -> Option<NamedGroup> {
        mark_tls_start();
        self.0.kx_hint(server_name)
    }

    fn set_tls12_session(&self, server_name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.0.set_tls12_session(server_name, value);
    }

    fn tls12_session(&self, server_name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        mark_tls_start();
        self.0.tls12_session(server_name)
    }

    fn remove_tls12_session(&self, server_name: &ServerName<'static>) {
        self.0.remove_tls12_session(server_name);
    }

    fn insert_tls13_ticket(
        &self,
        server_name: ServerName<'static>,
        value: Tls13ClientSessionValue,
    ) {
        self.0.insert_tls13_ticket(server_name, value);
    }

    fn take_tls13_ticket(
        &self,
        server_name: &ServerName<'static>,
    ) -> Option<Tls13ClientSessionValue> {
        mark_tls_start();
        self.0.take_tls13_ticket(server_name)
    }
}
