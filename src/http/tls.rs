//! HTTPS on the listener with rustls: the certificate and key, and the CAs
//! of client certificates, re-read when their files change (rotation
//! without a restart), and the client certificate's subject CN handed to
//! [`crate::auth`] as the connection's [`PeerCertificate`].
//!
//! The server configuration is built once; what changes lives behind two
//! swappable pieces it holds: the certificate resolver and the client
//! certificate verifier.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use actix_web::dev::Extensions;
use parking_lot::{Mutex, RwLock};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use crate::auth::PeerCertificate;
use crate::config::{ClientAuth, TlsConfig};
use crate::metrics::Metrics;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS side of the listener: build it with [`Tls::new`], give
/// [`Tls::server_config`] to the server and call [`Tls::reload_if_changed`]
/// now and then.
pub struct Tls {
    resolver: Arc<Resolver>,
    verifier: Option<Arc<Verifier>>,
    files: Vec<PathBuf>,
    stamps: Mutex<Vec<Option<(SystemTime, u64)>>>,
    config: TlsConfig,
    metrics: &'static Metrics,
}

impl Tls {
    /// Loads the files; any that does not load stops the start.
    pub fn new(config: &TlsConfig, metrics: &'static Metrics) -> Result<Tls, String> {
        let key = load_key(config)?;
        let verifier = match config.client_auth {
            ClientAuth::None => None,
            mode => Some(Arc::new(Verifier {
                inner: RwLock::new(load_verifier(config)?),
                mandatory: mode == ClientAuth::Required,
                metrics,
            })),
        };
        let mut files = vec![
            PathBuf::from(&config.cert_file),
            PathBuf::from(&config.key_file),
        ];
        if verifier.is_some() {
            files.push(PathBuf::from(&config.client_ca_file));
        }
        let stamps = files.iter().map(|f| stamp(f)).collect();
        Ok(Tls {
            resolver: Arc::new(Resolver {
                current: RwLock::new(key),
                metrics,
            }),
            verifier,
            files,
            stamps: Mutex::new(stamps),
            config: config.clone(),
            metrics,
        })
    }

    /// The rustls configuration for the listener (actix-web adds the ALPN
    /// protocols).
    pub fn server_config(&self) -> ServerConfig {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions");
        let builder = match &self.verifier {
            Some(v) => {
                builder.with_client_cert_verifier(Arc::clone(v) as Arc<dyn ClientCertVerifier>)
            }
            None => builder.with_no_client_auth(),
        };
        builder.with_cert_resolver(Arc::clone(&self.resolver) as Arc<dyn ResolvesServerCert>)
    }

    /// Re-reads the files if any changed. New connections get the new
    /// certificate or CAs; a file that does not load keeps the old ones
    /// and the log says why.
    pub fn reload_if_changed(&self) {
        let now: Vec<_> = self.files.iter().map(|f| stamp(f)).collect();
        {
            let mut stamps = self.stamps.lock();
            if *stamps == now {
                return;
            }
            *stamps = now;
        }
        let result = load_key(&self.config).and_then(|key| {
            let verifier = match &self.verifier {
                Some(_) => Some(load_verifier(&self.config)?),
                None => None,
            };
            Ok((key, verifier))
        });
        match result {
            Ok((key, verifier)) => {
                *self.resolver.current.write() = key;
                if let (Some(v), Some(new)) = (&self.verifier, verifier) {
                    *v.inner.write() = new;
                }
                self.metrics.tls_reloads_ok.increment(1);
                tracing::info!(cert_file = %self.config.cert_file, "TLS certificate files reloaded");
            }
            Err(e) => {
                self.metrics.tls_reloads_failed.increment(1);
                tracing::warn!(error = %e, "TLS files changed but do not load; keeping the previous ones");
            }
        }
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
}

fn load_key(config: &TlsConfig) -> Result<Arc<CertifiedKey>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert_file)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| format!("http.tls.cert_file {}: {e}", config.cert_file))?;
    if certs.is_empty() {
        return Err(format!(
            "http.tls.cert_file {}: no certificate in it",
            config.cert_file
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .map_err(|e| format!("http.tls.key_file {}: {e}", config.key_file))?;
    let key = CertifiedKey::from_der(certs, key, &provider())
        .map_err(|e| format!("http.tls.key_file {}: {e}", config.key_file))?;
    key.keys_match().map_err(|e| {
        format!(
            "http.tls.key_file {} is not the key of {}: {e}",
            config.key_file, config.cert_file
        )
    })?;
    Ok(Arc::new(key))
}

fn load_verifier(config: &TlsConfig) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let place = || format!("http.tls.client_ca_file {}", config.client_ca_file);
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&config.client_ca_file)
        .map_err(|e| format!("{}: {e}", place()))?
    {
        let cert = cert.map_err(|e| format!("{}: {e}", place()))?;
        roots.add(cert).map_err(|e| format!("{}: {e}", place()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate in it", place()));
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
    let builder = if config.client_auth == ClientAuth::Optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    builder.build().map_err(|e| format!("{}: {e}", place()))
}

/// Hands out the current certificate; counts handshakes as they start.
struct Resolver {
    current: RwLock<Arc<CertifiedKey>>,
    metrics: &'static Metrics,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.metrics.tls_handshake("started");
        Some(Arc::clone(&self.current.read()))
    }
}

/// The client-certificate verifier of the current CAs.
struct Verifier {
    inner: RwLock<Arc<dyn ClientCertVerifier>>,
    mandatory: bool,
    metrics: &'static Metrics,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Verifier")
    }
}

impl ClientCertVerifier for Verifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    /// No hints: the CAs can change under a running configuration, and
    /// clients send the certificate they are given either way.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let inner = Arc::clone(&self.inner.read());
        inner
            .verify_client_cert(end_entity, intermediates, now)
            .inspect_err(|_| self.metrics.tls_handshake("client_certificate_rejected"))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let inner = Arc::clone(&self.inner.read());
        inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let inner = Arc::clone(&self.inner.read());
        inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let inner = Arc::clone(&self.inner.read());
        inner.supported_verify_schemes()
    }
}

/// The connection's verified client certificate, for the server's
/// `on_connect`: runs when a handshake has finished.
pub fn on_connect(connection: &dyn Any, data: &mut Extensions) {
    type Stream = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    let Some(tls) = connection.downcast_ref::<Stream>() else {
        return;
    };
    crate::metrics::get().tls_handshake("completed");
    let (_, session) = tls.get_ref();
    if let Some(leaf) = session.peer_certificates().and_then(|c| c.first()) {
        data.insert(PeerCertificate {
            common_name: common_name(leaf),
        });
    }
}

/// The subject CN of a DER certificate (rustls verified it already).
fn common_name(der: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(String::from)
}
