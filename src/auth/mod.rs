//! Who may do what: the one place that authenticates clients, authorizes
//! requests against ACLs and applies produce quotas.
//!
//! - [`file`]: the auth file (users, ACLs, quotas), parsed and matched.
//! - [`routes`]: every route's (operation, resource) pairs, as Kafka's ACLs
//!   name them.
//! - [`Access::require`]: one check's verdict, and the answer to a denial.
//!
//! The one middleware that runs it all before a handler is the HTTP
//! layer's (its `authorize` middleware): it takes the request apart and asks
//! this module; this module knows nothing of the HTTP layer's state.
//! - [`quota`]: per-principal token buckets.
//!
//! Handlers never check permissions. The middleware denies what a route
//! needs; listings take an [`Access`] (an extractor) to filter what the
//! principal may not describe, and a produce charges its records to
//! [`Access::charge_produce`].

pub mod file;
pub mod peer;
pub mod quota;
pub mod routes;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use actix_web::{dev::Payload, FromRequest, HttpMessage, HttpRequest};
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};

use crate::config::{AuthConfig, AuthMethod};
use crate::error::{ApiError, ErrorCode};
use crate::metrics;
pub use file::{AuthFile, Operation, Resource, ResourceKind};

/// The auth metrics whose label values this module owns: failures by
/// reason and ACL denials by operation.
struct Counters {
    failures: metrics::CounterFamily,
    denials: metrics::CounterFamily,
}

fn counters() -> Option<&'static Counters> {
    static COUNTERS: OnceLock<Counters> = OnceLock::new();
    if let Some(counters) = COUNTERS.get() {
        return Some(counters);
    }
    if !metrics::installed() {
        return None;
    }
    Some(COUNTERS.get_or_init(|| Counters {
        failures: metrics::CounterFamily::register(
            metrics::AUTH_FAILURES,
            "reason",
            &AuthFailure::ALL.map(AuthFailure::label),
        ),
        denials: metrics::CounterFamily::register(
            metrics::ACL_DENIALS,
            "operation",
            &Operation::ALL.map(Operation::label),
        ),
    }))
}

/// Registers the auth counters, so each label value is exported (at 0)
/// from start-up.
pub fn register_metrics() {
    counters();
}

impl Operation {
    /// Counts one request an ACL did not allow in
    /// `gateway_auth_acl_denials_total`.
    pub fn count_denial(self) {
        if let Some(counters) = counters() {
            let index = Operation::ALL
                .iter()
                .position(|o| *o == self)
                .expect("ALL lists every operation");
            counters.denials.increment(index);
        }
    }
}

/// The principal of a client that proved nothing (Kafka's name for it).
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// Verified Basic credentials remembered at most; past it the cache is
/// emptied (a flood of distinct passwords cannot grow memory).
const MAX_CACHED_CREDENTIALS: usize = 10_000;

/// A verified certificate's subject CN, put in the connection's data when
/// the TLS handshake finishes.
#[derive(Debug, Clone)]
pub struct PeerCertificate {
    pub common_name: Option<String>,
}

/// Why authentication failed, as the metric labels it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credentials where they are required.
    Missing,
    /// An Authorization header that is not Basic base64 `user:password`.
    Malformed,
    /// An unknown user or a wrong password.
    Invalid,
    /// A verified certificate without a subject CN.
    CertificateWithoutName,
    /// A forwarding header without a proof made with the cluster's
    /// secret (a client posing as a gateway).
    ForwardProof,
}

impl AuthFailure {
    /// Counts one request answered 401 for this reason in
    /// `gateway_auth_failures_total`.
    pub fn count(self) {
        if let Some(counters) = counters() {
            let index = AuthFailure::ALL
                .iter()
                .position(|f| *f == self)
                .expect("ALL lists every failure");
            counters.failures.increment(index);
        }
    }

    pub const ALL: [AuthFailure; 5] = [
        AuthFailure::Missing,
        AuthFailure::Malformed,
        AuthFailure::Invalid,
        AuthFailure::CertificateWithoutName,
        AuthFailure::ForwardProof,
    ];

    pub fn label(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing",
            AuthFailure::Malformed => "malformed",
            AuthFailure::Invalid => "invalid",
            AuthFailure::CertificateWithoutName => "certificate_without_name",
            AuthFailure::ForwardProof => "forward_proof",
        }
    }

    fn message(self) -> &'static str {
        match self {
            AuthFailure::Missing => "authentication required",
            AuthFailure::Malformed => "the Authorization header is not HTTP Basic credentials",
            AuthFailure::Invalid => "invalid credentials",
            AuthFailure::CertificateWithoutName => "the client certificate has no subject CN",
            AuthFailure::ForwardProof => {
                "a forwarded call without a valid proof from a gateway of this cluster"
            }
        }
    }
}

/// A remembered credential: its principal, and until when.
type Verified = (Arc<str>, Instant);

/// The security state every request consults: settings, the current auth
/// file, the credential cache and the quota buckets.
pub struct Security {
    method: AuthMethod,
    /// The file's path; `None`: no ACLs, everything is allowed.
    path: Option<PathBuf>,
    public_paths: Vec<String>,
    /// Replaced whole when the file changes and parses.
    file: RwLock<Arc<AuthFile>>,
    /// When and how large the file was when last read.
    stamp: Mutex<Option<(SystemTime, u64)>>,
    /// SHA-256 of an Authorization header → (user, verified until).
    /// Emptied when the file changes, so a removed user or changed
    /// password stops working at once.
    verified: Mutex<HashMap<[u8; 32], Verified>>,
    credential_ttl: Duration,
    /// argon2 runs off the HTTP workers, at most this many at once: each
    /// takes about 19 MiB and milliseconds of CPU.
    hashing: tokio::sync::Semaphore,
    pub quotas: quota::Quotas,
    /// The cluster's shared secret: proves forwarded calls
    /// ([`peer`]). `None`: this gateway works alone and believes no
    /// forwarding header.
    peer: Option<peer::PeerSecret>,
}

impl Security {
    /// Loads the auth file (if any); a file that does not load stops the
    /// start.
    pub fn new(config: &AuthConfig) -> Result<Security, String> {
        let path = (!config.file.is_empty()).then(|| PathBuf::from(&config.file));
        let (file, stamp) = match &path {
            Some(p) => {
                let (file, stamp) = read(p)?;
                (file, Some(stamp))
            }
            None => (AuthFile::default(), None),
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Security {
            method: config.method,
            path,
            public_paths: config.public_paths.clone(),
            file: RwLock::new(Arc::new(file)),
            stamp: Mutex::new(stamp),
            verified: Mutex::new(HashMap::new()),
            credential_ttl: Duration::from_millis(config.credential_cache_ttl_ms),
            hashing: tokio::sync::Semaphore::new(cores),
            quotas: quota::Quotas::default(),
            peer: None,
        })
    }

    /// With the cluster's secret: forwarded calls are proven with it.
    pub fn with_peer_secret(mut self, secret: peer::PeerSecret) -> Security {
        self.peer = Some(secret);
        self
    }

    /// Whether requests need the middleware at all: with no method, no
    /// file, no client certificates and no cluster, everything is open.
    pub fn is_active(&self) -> bool {
        self.method != AuthMethod::None || self.path.is_some() || self.peer.is_some()
    }

    /// The proof headers' values for forwarding a call of `principal` to
    /// another gateway; `None` without a cluster secret.
    pub fn forward_proof(
        &self,
        method: &str,
        path_and_query: &str,
        principal: &str,
    ) -> Option<String> {
        self.peer
            .as_ref()
            .map(|p| p.sign(method, path_and_query, principal, peer::unix_now()))
    }

    /// The principal a forwarded call carries, if its proof verifies.
    pub fn forwarded_principal(
        &self,
        method: &str,
        path_and_query: &str,
        principal: Option<&[u8]>,
        proof: Option<&[u8]>,
    ) -> Result<Arc<str>, AuthFailure> {
        let (Some(peer), Some(principal), Some(proof)) = (&self.peer, principal, proof) else {
            return Err(AuthFailure::ForwardProof);
        };
        let (Ok(principal), Ok(proof)) =
            (std::str::from_utf8(principal), std::str::from_utf8(proof))
        else {
            return Err(AuthFailure::ForwardProof);
        };
        if principal.is_empty()
            || !peer.verify(method, path_and_query, principal, proof, peer::unix_now())
        {
            return Err(AuthFailure::ForwardProof);
        }
        Ok(Arc::from(principal))
    }

    /// Whether ACLs decide (an auth file is configured).
    pub fn authorizes(&self) -> bool {
        self.path.is_some()
    }

    pub fn is_public(&self, path: &str) -> bool {
        self.public_paths.iter().any(|p| p == path)
    }

    pub fn file(&self) -> Arc<AuthFile> {
        Arc::clone(&self.file.read())
    }

    /// Re-reads the auth file if it changed; a file that does not load
    /// keeps the old one and the error is logged.
    pub fn reload_if_changed(&self) {
        let Some(path) = &self.path else { return };
        let now = std::fs::metadata(path)
            .ok()
            .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()));
        if now.is_none() || now == *self.stamp.lock() {
            return;
        }
        match read(path) {
            Ok((file, stamp)) => {
                *self.file.write() = Arc::new(file);
                *self.stamp.lock() = Some(stamp);
                self.verified.lock().clear();
                self.quotas.clear();
                tracing::info!(file = %path.display(), "auth file reloaded");
            }
            Err(e) => {
                *self.stamp.lock() = now;
                tracing::warn!(file = %path.display(), error = %e, "auth file changed but does not load; keeping the previous one");
            }
        }
    }

    /// Who the request is: a Basic credential if it sends one (it must
    /// verify), else a verified certificate's CN, else anonymous where the
    /// method allows it.
    pub async fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        certificate: Option<&PeerCertificate>,
    ) -> Result<Arc<str>, AuthFailure> {
        if let Some(header) = authorization {
            return self.basic(header).await;
        }
        if let Some(cert) = certificate {
            return match &cert.common_name {
                Some(cn) => Ok(Arc::from(format!("User:{cn}"))),
                None => Err(AuthFailure::CertificateWithoutName),
            };
        }
        match self.method {
            AuthMethod::None => Ok(Arc::from(ANONYMOUS)),
            AuthMethod::Basic => Err(AuthFailure::Missing),
        }
    }

    async fn basic(&self, header: &[u8]) -> Result<Arc<str>, AuthFailure> {
        let key: [u8; 32] = Sha256::digest(header).into();
        if let Some((principal, until)) = self.verified.lock().get(&key) {
            if *until > Instant::now() {
                return Ok(Arc::clone(principal));
            }
        }
        let (user, password) = parse_basic(header).ok_or(AuthFailure::Malformed)?;
        let file = self.file();
        // An unknown user is hashed too, so a wrong name takes as long as a
        // wrong password and names cannot be probed by timing.
        let hash = file.password_hash(&user).unwrap_or(DUMMY_HASH).to_string();
        let known = file.password_hash(&user).is_some();
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|_| AuthFailure::Invalid)?;
        // Clients open many connections with the same credential at once:
        // the first to hash it lets the others through.
        if let Some((principal, until)) = self.verified.lock().get(&key) {
            if *until > Instant::now() {
                return Ok(Arc::clone(principal));
            }
        }
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        if !(ok && known) {
            return Err(AuthFailure::Invalid);
        }
        let principal: Arc<str> = Arc::from(format!("User:{user}"));
        let mut verified = self.verified.lock();
        if verified.len() >= MAX_CACHED_CREDENTIALS {
            verified.clear();
        }
        verified.insert(
            key,
            (Arc::clone(&principal), Instant::now() + self.credential_ttl),
        );
        Ok(principal)
    }

    pub fn unauthorized(failure: AuthFailure) -> ApiError {
        ApiError::new(ErrorCode::Unauthenticated, failure.message())
    }
}

/// A hash that matches no password a client sends, for unknown users.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$a2Fma2EtZ2F0ZXdheQ$0m3SFGWTStf3Dd7/Cv4vmWvAIvd16bQ89VEtY/ZB+sE";

fn read(path: &std::path::Path) -> Result<(AuthFile, (SystemTime, u64)), String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file = AuthFile::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((
        file,
        (
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            meta.len(),
        ),
    ))
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64_simd::STANDARD
        .decode_to_vec(encoded.trim().as_bytes())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// argon2's own check: the hash's parameters, and a constant-time compare.
fn verify_password(password: &str, phc: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(phc)
        .map(|hash| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

/// The PHC string of `password` (argon2id, the crate's default parameters:
/// 19 MiB, 2 passes), with a random salt: what `kafka-gateway
/// hash-password` prints.
pub fn hash_password(password: &str) -> Result<String, String> {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// What a handler may ask of the request's principal: its name (an
/// owner for what it creates), whether it may describe a listed resource,
/// and its produce quota. With security off it allows everything.
#[derive(Clone)]
pub struct Access {
    principal: Arc<str>,
    /// `None`: no ACLs, everything is allowed.
    file: Option<Arc<AuthFile>>,
    security: Option<Arc<Security>>,
}

impl Access {
    pub fn new(principal: Arc<str>, security: &Arc<Security>) -> Access {
        Access {
            principal,
            file: security.authorizes().then(|| security.file()),
            security: Some(Arc::clone(security)),
        }
    }

    fn open() -> Access {
        Access {
            principal: Arc::from(ANONYMOUS),
            file: None,
            security: None,
        }
    }

    pub fn principal(&self) -> &str {
        &self.principal
    }

    /// Whether the principal may do `operation` on `resource`.
    pub fn allows(&self, operation: Operation, resource: &Resource) -> bool {
        self.file
            .as_ref()
            .is_none_or(|f| f.allows(&self.principal, operation, resource))
    }

    /// What a route's check says: `Ok` when allowed; else the answer to
    /// send (403, or the not-found the check hides the resource behind),
    /// with the denial counted.
    pub fn require(&self, check: &routes::Check) -> Result<(), ApiError> {
        if self.allows(check.operation, &check.resource) {
            return Ok(());
        }
        check.operation.count_denial();
        Err(match check.hidden_as {
            Some(ErrorCode::SubjectNotFound) => ApiError::new(
                ErrorCode::SubjectNotFound,
                format!("Subject '{}' not found.", check.resource.name),
            ),
            Some(code) => ApiError::new(code, "not found"),
            None => ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "{} may not {} {}",
                    self.principal(),
                    check.operation.label(),
                    check.resource
                ),
            ),
        })
    }

    /// For listings: whether `name` of `kind` may be shown.
    pub fn may_describe(&self, kind: ResourceKind, name: &str) -> bool {
        self.allows(
            Operation::Describe,
            &Resource {
                kind,
                name: name.to_string(),
            },
        )
    }

    /// Takes `records` and `bytes` from the principal's produce quota, or
    /// answers 429 with the seconds until they would fit.
    pub fn charge_produce(&self, records: usize, bytes: usize) -> Result<(), ApiError> {
        let (Some(security), Some(file)) = (&self.security, &self.file) else {
            return Ok(());
        };
        let Some(limits) = file.quota(&self.principal) else {
            return Ok(());
        };
        security
            .quotas
            .charge(&self.principal, limits, records as u64, bytes as u64)
            .map_err(|retry_after| {
                metrics::get().quota_rejections.increment(1);
                ApiError::quota_exceeded(
                    format!(
                        "produce quota of {} exceeded ({} records/s, {} bytes/s; 0 = unlimited)",
                        self.principal, limits.records_per_second, limits.bytes_per_second
                    ),
                    retry_after,
                )
            })
    }
}

impl FromRequest for Access {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Access, actix_web::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Access::of(req)))
    }
}

impl Access {
    /// The access the middleware put on the request; open when security
    /// is off (or the path is public).
    pub fn of(req: &HttpRequest) -> Access {
        req.extensions()
            .get::<Access>()
            .cloned()
            .unwrap_or_else(Access::open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_headers_parse() {
        assert_eq!(
            parse_basic(b"Basic YWxpY2U6czNjcjN0"),
            Some(("alice".into(), "s3cr3t".into()))
        );
        // A password may hold colons; the user may not.
        assert_eq!(
            parse_basic(b"basic YTpiOmM="),
            Some(("a".into(), "b:c".into()))
        );
        assert_eq!(parse_basic(b"Bearer xyz"), None);
        assert_eq!(parse_basic(b"Basic !!!"), None);
        assert_eq!(parse_basic(b"Basic bm9jb2xvbg=="), None);
    }

    #[test]
    fn hashes_verify_their_password_only() {
        let hash = hash_password("s3cr3t").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("s3cr3t", &hash));
        assert!(!verify_password("s3cr3T", &hash));
        assert!(!verify_password("anything", DUMMY_HASH));
        assert!(AuthFile::parse(&format!(
            "[[users]]\nname = \"a\"\npassword_hash = \"{hash}\"\n"
        ))
        .is_ok());
    }
}
