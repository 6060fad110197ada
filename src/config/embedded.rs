//! `[embedded]`: the in-memory broker started when no cluster is
//! configured.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddedConfig {
    /// Brokers in the in-memory cluster.
    pub brokers: u32,
    /// Topics created at start. The embedded broker, like most production
    /// clusters, does not create topics on first use (unless
    /// `kafka.allow_auto_create_topics`); these are the names used by
    /// Confluent's quickstart and the README.
    pub topics: Vec<String>,
    /// Partitions of each topic above.
    pub partitions: u32,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            brokers: 1,
            topics: [
                "jsontest",
                "binarytest",
                "avrotest",
                "avrokeytest2",
                "test",
                "test-bin",
                "test-avro",
                "helloTopic",
                "orders",
            ]
            .map(String::from)
            .to_vec(),
            partitions: 1,
        }
    }
}
