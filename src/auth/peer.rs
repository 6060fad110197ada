//! Proof that a call comes from another gateway of the cluster, carrying
//! the principal that gateway authenticated. A forwarded call on a consumer
//! instance (the HTTP layer's forwarding middleware) carries two headers:
//!
//! - [`PRINCIPAL_HEADER`]: the caller's principal (`User:alice`);
//! - [`PROOF_HEADER`]: `t=<unix seconds>,v1=<hex HMAC-SHA256>` over the
//!   method, the path and query, the principal and the time, keyed by the
//!   secret every gateway of the cluster shares (`cluster.secret_file`).
//!
//! The receiving gateway believes the principal only when the proof
//! verifies and is at most [`MAX_SKEW_SECONDS`] old (or early); any other
//! request that carries either header is refused with 401. A client
//! without the secret cannot make a proof, and one seen on the wire names
//! one call within a minute.

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const PRINCIPAL_HEADER: &str = "kafka-gateway-forwarded-principal";
pub const PROOF_HEADER: &str = "kafka-gateway-forward-proof";

/// How far a proof's time may be from the receiver's clock.
pub const MAX_SKEW_SECONDS: u64 = 30;

/// The shortest secret accepted.
pub const MIN_SECRET_BYTES: usize = 32;

/// Marks a request whose principal came from a verified peer proof: it is
/// served here, never forwarded again.
#[derive(Debug, Clone, Copy)]
pub struct Forwarded;

/// The cluster's shared secret.
pub struct PeerSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for PeerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerSecret(..)")
    }
}

impl PeerSecret {
    /// The secret is the file's content without its trailing whitespace.
    pub fn load(path: &str) -> Result<PeerSecret, String> {
        let text = std::fs::read(path).map_err(|e| format!("cluster.secret_file {path}: {e}"))?;
        let end = text
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        PeerSecret::new(&text[..end]).map_err(|e| format!("cluster.secret_file {path}: {e}"))
    }

    pub fn new(key: &[u8]) -> Result<PeerSecret, String> {
        if key.len() < MIN_SECRET_BYTES {
            return Err(format!(
                "the secret has {} bytes; at least {MIN_SECRET_BYTES} are needed \
                 (e.g. `openssl rand -hex 32`)",
                key.len()
            ));
        }
        Ok(PeerSecret { key: key.to_vec() })
    }

    fn mac(&self, method: &str, path_and_query: &str, principal: &str, time: u64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        // Fields separated by a byte none of them can hold.
        for part in [method, path_and_query, principal, &time.to_string()] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac
    }

    /// The proof header's value for a call made at `now` (unix seconds).
    pub fn sign(&self, method: &str, path_and_query: &str, principal: &str, now: u64) -> String {
        let tag = self
            .mac(method, path_and_query, principal, now)
            .finalize()
            .into_bytes();
        let mut hex = String::with_capacity(64);
        for b in tag {
            hex.push_str(&format!("{b:02x}"));
        }
        format!("t={now},v1={hex}")
    }

    /// Whether `proof` was made with this secret for this call, within
    /// [`MAX_SKEW_SECONDS`] of `now`. The tag is compared in constant time.
    pub fn verify(
        &self,
        method: &str,
        path_and_query: &str,
        principal: &str,
        proof: &str,
        now: u64,
    ) -> bool {
        let Some((time, tag)) = parse_proof(proof) else {
            return false;
        };
        if time.abs_diff(now) > MAX_SKEW_SECONDS {
            return false;
        }
        self.mac(method, path_and_query, principal, time)
            .verify_slice(&tag)
            .is_ok()
    }
}

fn parse_proof(proof: &str) -> Option<(u64, Vec<u8>)> {
    let (t, v1) = proof.trim().split_once(',')?;
    let time = t.strip_prefix("t=")?.parse().ok()?;
    let hex = v1.strip_prefix("v1=")?;
    if hex.len() != 64 {
        return None;
    }
    let tag = (0..32)
        .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((time, tag))
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> PeerSecret {
        PeerSecret::new(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    #[test]
    fn a_proof_verifies_for_its_own_call_only() {
        let s = secret();
        let path = "/consumers/g/instances/i/records?timeout=1000";
        let proof = s.sign("GET", path, "User:alice", 1_000_000);
        assert!(s.verify("GET", path, "User:alice", &proof, 1_000_000));
        assert!(s.verify("GET", path, "User:alice", &proof, 1_000_029));
        // Another principal, path, method or secret: refused.
        assert!(!s.verify("GET", path, "User:bob", &proof, 1_000_000));
        assert!(!s.verify(
            "GET",
            "/consumers/g/instances/j/records?timeout=1000",
            "User:alice",
            &proof,
            1_000_000
        ));
        assert!(!s.verify("DELETE", path, "User:alice", &proof, 1_000_000));
        let other = PeerSecret::new(b"another secret of thirty-two bytes!!").unwrap();
        assert!(!other.verify("GET", path, "User:alice", &proof, 1_000_000));
        // Too old or too early.
        assert!(!s.verify("GET", path, "User:alice", &proof, 1_000_031));
        assert!(!s.verify("GET", path, "User:alice", &proof, 999_969));
    }

    #[test]
    fn malformed_proofs_and_short_secrets_are_refused() {
        let s = secret();
        for proof in [
            "",
            "t=1",
            "t=x,v1=00",
            "v1=00,t=1",
            &format!("t=1,v1={}", "zz".repeat(32)),
            &format!("t=1,v1={}", "00".repeat(31)),
        ] {
            assert!(!s.verify("GET", "/", "User:a", proof, 1), "{proof:?}");
        }
        assert!(PeerSecret::new(b"short").is_err());
    }

    #[test]
    fn the_secret_file_loses_its_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("gw-peer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("secret");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        let loaded = PeerSecret::load(path.to_str().unwrap()).unwrap();
        let proof = secret().sign("GET", "/", "User:a", 5);
        assert!(loaded.verify("GET", "/", "User:a", &proof, 5));
        std::fs::write(&path, "too short\n").unwrap();
        assert!(PeerSecret::load(path.to_str().unwrap()).is_err());
    }
}
