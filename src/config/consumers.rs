//! `[consumers]`: the v2 HTTP consumer instances.

use serde::{Deserialize, Serialize};

/// v2 HTTP consumer instances (`/consumers/...`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumersConfig {
    /// An instance not used for this long is closed (Confluent's
    /// `consumer.instance.timeout.ms`).
    pub instance_timeout_ms: u64,
    /// How long a `GET .../records` waits for records by default
    /// (`consumer.request.timeout.ms`); a request's `timeout` (or an
    /// instance's own `consumer.request.timeout.ms`) may ask for another
    /// wait, up to `max_request_timeout_ms`.
    pub request_timeout_ms: u64,
    /// The longest wait a records request may ask for.
    pub max_request_timeout_ms: u64,
    /// Most records bytes one `GET .../records` returns by default
    /// (`consumer.request.max.bytes`); a request may ask for less.
    pub max_bytes: usize,
    /// Instances open at once on this gateway, at most.
    pub max_instances: usize,
    /// Records each instance's librdkafka consumer fetches ahead of the
    /// reads, at most, in KiB (`queued.max.messages.kbytes`). A deep
    /// read-ahead is what lets one instance read at the broker's pace: 4 MiB
    /// read 28k records/s against tansu, 64 MiB 122k (loadtest/RESULTS.md).
    pub prefetch_kbytes: usize,
    /// The read-ahead of all instances together, in KiB: a new instance
    /// gets `prefetch_kbytes` or what is left of this, and at least 1 MiB.
    /// So the read-ahead of a thousand instances is bounded by this plus
    /// 1 MiB each, not by a thousand times 64 MiB.
    pub prefetch_total_kbytes: usize,
    /// Longest a fetch waits at the broker for `fetch.min.bytes`
    /// (librdkafka `fetch.wait.max.ms`). Kafka answers as soon as there is
    /// data; tansu holds every fetch this long, so against it this bounds
    /// an instance's read rate (500 ms: 120k records/s, 10 ms: 630k).
    pub fetch_wait_max_ms: u64,
}

impl Default for ConsumersConfig {
    fn default() -> Self {
        ConsumersConfig {
            instance_timeout_ms: 300_000,
            request_timeout_ms: 1_000,
            max_request_timeout_ms: 30_000,
            max_bytes: 64 * 1024 * 1024,
            max_instances: 1_000,
            prefetch_kbytes: 65_536,
            prefetch_total_kbytes: 1_048_576,
            fetch_wait_max_ms: 500,
        }
    }
}
