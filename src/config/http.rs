//! `[http]`, `[http.tls]` and `[http.cors]`: the listener, request limits
//! and timeouts, HTTPS and browsers.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the binary listens on (tests pass their own listener).
    pub listen: String,
    /// actix-web worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest request body accepted, after gzip decoding; larger → 413
    /// (before it is read, when its `Content-Length` says so).
    pub max_request_bytes: usize,
    /// Memory for request bodies being read and parsed, across all
    /// requests: each takes its length times 20 (the body, its parsed form,
    /// the encoded records). A body that does not fit waits up to
    /// `buffered_wait_ms`, then answers 429 with `Retry-After`, unread.
    pub max_buffered_bytes: usize,
    /// How long a body waits for room in `max_buffered_bytes`.
    pub buffered_wait_ms: u64,
    /// A request body must arrive within this (a v3 record stream: with no
    /// gap between chunks longer than this); else 408 and the connection
    /// closes.
    pub body_timeout_ms: u64,
    /// The request line and headers must arrive within this (actix-web's
    /// client request timeout); else 408 and the connection closes.
    pub head_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this.
    pub keep_alive_ms: u64,
    /// Connections open at once, across workers; past it new ones wait in
    /// the listen backlog.
    pub max_connections: usize,
    /// Connections the kernel queues before the gateway accepts them (the
    /// kernel caps it at `net.core.somaxconn`). Rust's default of 128 made
    /// some of 3,000 simultaneous connects fail while the gateway was busy.
    pub listen_backlog: u32,
    /// HTTPS on the listener (`[http.tls]`); plain HTTP when no certificate
    /// is configured.
    pub tls: TlsConfig,
    /// Cross-origin requests from browsers (`[http.cors]`).
    pub cors: CorsConfig,
    /// One log line per request (target `kafka_gateway::access`): method,
    /// path, status, time and principal. Off: a line per request costs
    /// more than the request at full load.
    pub access_log: bool,
    /// The URL clients reach the gateway at (a load balancer's, e.g.
    /// `https://kafka-rest.example.com`), used for the `base_uri` of new
    /// consumer instances. Empty: taken from the request (its `Host`, or
    /// the forwarding headers of a trusted proxy).
    pub public_url: String,
    /// Addresses (`10.0.0.7`) or networks (`10.0.0.0/8`, `::1/128`) of
    /// the proxies and load balancers whose `Forwarded`,
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` headers are believed.
    /// From anyone else those headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// On SIGTERM, how long the gateway keeps serving after `/readyz`
    /// starts failing, so that load balancers stop sending it requests
    /// before it stops accepting them (answers carry `Connection: close`
    /// meanwhile). Then it finishes in-flight requests and exits.
    pub shutdown_grace_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "0.0.0.0:8082".into(),
            workers: 0,
            max_request_bytes: 16 * 1024 * 1024,
            max_buffered_bytes: 320 * 1024 * 1024,
            buffered_wait_ms: 1_000,
            body_timeout_ms: 30_000,
            head_timeout_ms: 5_000,
            keep_alive_ms: 5_000,
            max_connections: 25_000,
            listen_backlog: 4096,
            tls: TlsConfig::default(),
            cors: CorsConfig::default(),
            access_log: false,
            public_url: String::new(),
            trusted_proxies: Vec::new(),
            shutdown_grace_ms: 0,
        }
    }
}

/// Whether and how the TLS listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A certificate is asked for; one that is sent must verify against
    /// `client_ca_file`, and a client without one is still served.
    Optional,
    /// A connection without a verified certificate is refused in the
    /// handshake.
    Required,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first. Empty: plain HTTP.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the certificate.
    pub key_file: String,
    /// PEM certificates of the CAs that sign client certificates.
    pub client_ca_file: String,
    pub client_auth: ClientAuth,
    /// How often the three files are checked for changes; a changed file is
    /// re-read and used for new connections (rotation without restart). A
    /// file that does not load keeps the old one, and the log says why.
    pub reload_interval_ms: u64,
    /// A TLS handshake not done in this time closes the connection.
    pub handshake_timeout_ms: u64,
    /// TLS handshakes in progress at once, per worker; past it the worker
    /// stops accepting until one finishes (actix-web's
    /// `max_connection_rate`).
    pub max_concurrent_handshakes: usize,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: String::new(),
            key_file: String::new(),
            client_ca_file: String::new(),
            client_auth: ClientAuth::None,
            reload_interval_ms: 10_000,
            handshake_timeout_ms: 3_000,
            max_concurrent_handshakes: 256,
        }
    }
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins (`https://app.example.com`) whose pages may call the API, or
    /// `"*"` for any. Empty: no cross-origin access (no
    /// `Access-Control-Allow-Origin` is ever sent).
    pub allowed_origins: Vec<String>,
    /// How long a browser may cache a preflight answer
    /// (`Access-Control-Max-Age`).
    pub max_age_seconds: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            max_age_seconds: 600,
        }
    }
}

/// An address or network of `http.trusted_proxies`: `10.0.0.7`,
/// `10.0.0.0/8`, `::1`, `fd00::/8`.
pub fn parse_network(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (address, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let address: std::net::IpAddr = address.trim().parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((address, bits))
}
