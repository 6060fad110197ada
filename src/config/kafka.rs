//! `[kafka]`: the cluster and the producers' tuning. Batching settings are
//! translated to librdkafka names here and nowhere else
//! ([`KafkaConfig::librdkafka_settings`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Acks {
    /// Leader and all in-sync replicas: a 200 means the record survives the
    /// loss of the leader.
    All,
    /// Leader only.
    #[serde(rename = "1")]
    One,
    /// No acknowledgement: offsets in responses are not known (-1).
    #[serde(rename = "0")]
    Zero,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list. Empty starts the embedded in-memory
    /// broker (see `[embedded]`).
    pub bootstrap_servers: String,
    pub client_id: String,
    pub acks: Acks,
    /// Idempotent producers: no duplicates or reordering on retries.
    pub enable_idempotence: bool,
    pub compression: Compression,
    /// How long librdkafka waits to fill a batch. 2 ms turns thousands of
    /// small HTTP requests into batches of 100+ records at a latency cost far
    /// below the 100 ms of other proxies; measured best of 0/1/2/5/20 for
    /// single-record requests (loadtest/RESULTS.md).
    pub linger_ms: u64,
    /// Below this many records in flight, a lane sends at once (a second
    /// producer per lane with `linger.ms` 0), so a lone client waits one
    /// round trip instead of the linger; from it on, the lane lingers
    /// (`pipeline::adaptive`). 0: always linger, one producer per lane.
    pub linger_above_in_flight: usize,
    /// Largest Kafka batch (librdkafka `batch.size`).
    pub batch_max_bytes: u64,
    /// Most records per Kafka batch (librdkafka `batch.num.messages`).
    pub batch_max_records: u64,
    /// Bound of librdkafka's own queue, per producer, in records.
    pub queue_max_records: u64,
    /// Bound of librdkafka's own queue, per producer, in KiB.
    pub queue_max_kbytes: u64,
    /// Largest record the producer accepts (librdkafka `message.max.bytes`);
    /// larger records get a per-record 50002.
    pub message_max_bytes: u64,
    /// Time a record may take to be acknowledged, retries included
    /// (librdkafka `message.timeout.ms`).
    pub delivery_timeout_ms: u64,
    /// Partitioner for records without a partition. `murmur2_random` places
    /// keyed records where Java producers (and Confluent's proxy) do.
    pub partitioner: String,
    /// Ask the broker to create unknown topics on first use (it must allow
    /// it too). Off: an unknown topic answers 404/40401.
    pub allow_auto_create_topics: bool,
    /// How often the cached topic metadata is refreshed in the background.
    pub metadata_refresh_interval_ms: u64,
    /// Time allowed for one metadata request.
    pub metadata_timeout_ms: u64,
    /// Number of rdkafka producers (each with its own feeding thread).
    pub producers: usize,
    /// Any other librdkafka setting, passed through as is. Keys owned by a
    /// typed setting above are refused.
    pub librdkafka: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: String::new(),
            client_id: "kafka-gateway".into(),
            acks: Acks::All,
            enable_idempotence: true,
            compression: Compression::Lz4,
            linger_ms: 2,
            linger_above_in_flight: 64,
            batch_max_bytes: 1024 * 1024,
            batch_max_records: 10_000,
            queue_max_records: 200_000,
            queue_max_kbytes: 256 * 1024,
            message_max_bytes: 1_000_000,
            delivery_timeout_ms: 30_000,
            partitioner: "murmur2_random".into(),
            allow_auto_create_topics: false,
            metadata_refresh_interval_ms: 30_000,
            metadata_timeout_ms: 5_000,
            producers: 1,
            librdkafka: BTreeMap::new(),
        }
    }
}

/// librdkafka keys that typed settings own; the pass-through map may not
/// set them, so one setting never silently overrides another.
pub(super) const OWNED_LIBRDKAFKA_KEYS: &[(&str, &str)] = &[
    ("bootstrap.servers", "kafka.bootstrap_servers"),
    ("metadata.broker.list", "kafka.bootstrap_servers"),
    ("client.id", "kafka.client_id"),
    ("acks", "kafka.acks"),
    ("request.required.acks", "kafka.acks"),
    ("enable.idempotence", "kafka.enable_idempotence"),
    ("compression.type", "kafka.compression"),
    ("compression.codec", "kafka.compression"),
    ("linger.ms", "kafka.linger_ms"),
    ("queue.buffering.max.ms", "kafka.linger_ms"),
    ("batch.size", "kafka.batch_max_bytes"),
    ("batch.num.messages", "kafka.batch_max_records"),
    ("queue.buffering.max.messages", "kafka.queue_max_records"),
    ("queue.buffering.max.kbytes", "kafka.queue_max_kbytes"),
    ("message.max.bytes", "kafka.message_max_bytes"),
    ("message.timeout.ms", "kafka.delivery_timeout_ms"),
    ("delivery.timeout.ms", "kafka.delivery_timeout_ms"),
    ("partitioner", "kafka.partitioner"),
    ("allow.auto.create.topics", "kafka.allow_auto_create_topics"),
    (
        "statistics.interval.ms",
        "(set by the gateway for its metrics)",
    ),
];

impl KafkaConfig {
    /// The settings of [`Self::librdkafka_settings`] that any client needs
    /// to reach the cluster (address, client id, security, sockets), for
    /// the admin client and the HTTP consumers: the producer's tuning means
    /// nothing to them.
    pub fn connection_settings(&self, bootstrap_servers: &str) -> Vec<(String, String)> {
        self.librdkafka_settings(bootstrap_servers)
            .into_iter()
            .filter(|(key, _)| {
                ["bootstrap.servers", "client.id"].contains(&key.as_str())
                    || ["security.", "sasl.", "ssl.", "socket.", "broker."]
                        .iter()
                        .any(|p| key.starts_with(p))
            })
            .collect()
    }

    /// The producer's librdkafka settings: typed settings translated to
    /// librdkafka names, then the pass-through map.
    pub fn librdkafka_settings(&self, bootstrap_servers: &str) -> Vec<(String, String)> {
        let acks = match self.acks {
            Acks::All => "all",
            Acks::One => "1",
            Acks::Zero => "0",
        };
        let compression = match self.compression {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        };
        let mut settings: Vec<(String, String)> = [
            ("bootstrap.servers", bootstrap_servers.to_string()),
            ("client.id", self.client_id.clone()),
            ("acks", acks.to_string()),
            ("enable.idempotence", self.enable_idempotence.to_string()),
            ("compression.type", compression.to_string()),
            ("linger.ms", self.linger_ms.to_string()),
            ("batch.size", self.batch_max_bytes.to_string()),
            ("batch.num.messages", self.batch_max_records.to_string()),
            (
                "queue.buffering.max.messages",
                self.queue_max_records.to_string(),
            ),
            (
                "queue.buffering.max.kbytes",
                self.queue_max_kbytes.to_string(),
            ),
            ("message.max.bytes", self.message_max_bytes.to_string()),
            ("message.timeout.ms", self.delivery_timeout_ms.to_string()),
            ("partitioner", self.partitioner.clone()),
            (
                "allow.auto.create.topics",
                self.allow_auto_create_topics.to_string(),
            ),
            // Per-batch figures for the metrics (records per Kafka batch).
            ("statistics.interval.ms", "1000".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        settings.extend(self.librdkafka.iter().map(|(k, v)| (k.clone(), v.clone())));
        settings
    }
}

/// Kafka's rule for topic names: 1 to 249 characters of `[a-zA-Z0-9._-]`,
/// and not `.` or `..`.
pub fn valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 249
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}
