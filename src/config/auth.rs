//! `[auth]`: how clients prove who they are, and the file of users, ACLs
//! and quotas.

use serde::{Deserialize, Serialize};

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// No credentials are asked for; a client without a verified
    /// certificate is `User:ANONYMOUS`.
    None,
    /// HTTP Basic, checked against the users of `auth.file`; a verified
    /// client certificate counts too.
    Basic,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub method: AuthMethod,
    /// The users, ACLs and quotas (TOML; see docs/security.md).
    /// Set, every request is authorized against its ACLs and what none
    /// allows is denied. Empty (only with method "none"): everything is
    /// allowed. Re-read when it changes.
    pub file: String,
    /// Paths served without authentication or authorization (exact).
    pub public_paths: Vec<String>,
    /// How often `file` is checked for changes.
    pub reload_interval_ms: u64,
    /// How long a verified Basic credential is remembered, so that argon2
    /// (milliseconds of CPU) runs once per client, not once per request.
    pub credential_cache_ttl_ms: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            method: AuthMethod::None,
            file: String::new(),
            public_paths: ["/healthz", "/readyz", "/metrics"]
                .map(String::from)
                .to_vec(),
            reload_interval_ms: 10_000,
            credential_cache_ttl_ms: 300_000,
        }
    }
}
