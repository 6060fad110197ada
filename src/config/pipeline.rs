//! `[pipeline]`: the queue between HTTP workers and producer threads, and
//! the byte budget of records in flight.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// `queue`: records go through the bounded queue to one thread per
    /// producer. `direct`: HTTP workers call the producer themselves (kept
    /// to measure the queue against; see loadtest/RESULTS.md).
    pub mode: PipelineMode,
    /// Bound of the queue between HTTP workers and producer threads, in
    /// requests (each request enters the queue as one item).
    pub queue_capacity: usize,
    /// Bytes of records accepted but not yet acknowledged, across all
    /// requests (keys and values count twice, plus 256 bytes per record of
    /// bookkeeping). Past it a request answers 429 with `Retry-After`; a
    /// request that alone needs more answers 413.
    pub max_in_flight_bytes: usize,
    /// The `Retry-After` value, in seconds, sent with a 429.
    pub retry_after_seconds: u64,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            mode: PipelineMode::Queue,
            queue_capacity: 8192,
            max_in_flight_bytes: 64 * 1024 * 1024,
            retry_after_seconds: 1,
        }
    }
}

/// How requests reach the sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PipelineMode {
    /// Through the bounded queue, drained by flat combining (the default).
    Queue,
    /// The HTTP worker calls the sink itself, with no queue; a full
    /// librdkafka queue fails records at once. Kept to measure the queue
    /// against (loadtest/RESULTS.md).
    Direct,
}
