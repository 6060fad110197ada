//! `[cluster]`: several gateways in front of one Kafka cluster.

use serde::{Deserialize, Serialize};

/// Several gateways in front of one Kafka cluster (`[cluster]`): they find
/// each other through a topic of the cluster and forward calls on a v2
/// consumer instance to the gateway that holds it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// The URL other gateways reach this one at (`http://10.0.0.7:8082`).
    /// Empty: this gateway works alone (and ignores `[cluster]`).
    pub advertised_url: String,
    /// A file holding the secret every gateway of the cluster shares
    /// (at least 32 bytes); forwarded calls carry a proof made with it.
    /// Required with `advertised_url`.
    pub secret_file: String,
    /// The compacted topic the gateways announce themselves in (made at
    /// start when missing: one partition, `cleanup.policy=compact`).
    pub topic: String,
    /// How often a gateway announces itself (and its consumer instances).
    pub heartbeat_interval_ms: u64,
    /// A gateway not heard from for this long has left the view: its
    /// instances answer 404 / 40403 from the others.
    pub member_timeout_ms: u64,
    /// Time allowed for a forwarded call beyond the records read's own
    /// wait.
    pub forward_timeout_ms: u64,
    /// PEM CAs that sign the other gateways' certificates, when their
    /// advertised URLs are `https://` with a private CA. Empty: the
    /// public web roots. With `http.tls.client_auth` set, forwarded calls
    /// present this gateway's own certificate (`http.tls.cert_file`).
    pub ca_file: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            advertised_url: String::new(),
            secret_file: String::new(),
            topic: "_kafka-gateway-members".into(),
            heartbeat_interval_ms: 1_000,
            member_timeout_ms: 6_000,
            forward_timeout_ms: 10_000,
            ca_file: String::new(),
        }
    }
}

impl ClusterConfig {
    pub fn enabled(&self) -> bool {
        !self.advertised_url.is_empty()
    }
}
