//! `[shutdown]`: how long a stop waits for what is in flight.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// Time given to in-flight HTTP requests after the signal.
    pub drain_timeout_ms: u64,
    /// Time given to the producers to deliver what they hold.
    pub flush_timeout_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            drain_timeout_ms: 30_000,
            flush_timeout_ms: 30_000,
        }
    }
}
