//! The gateway's configuration: one typed tree, loaded from a TOML file,
//! overridden by `KAFKA_GATEWAY_<SECTION>_<KEY>` environment variables, then
//! validated with every problem reported at once.
//!
//! One file per section holds its plain-data settings and their defaults
//! (`http`, `kafka`, `pipeline`, ...); [`load`] reads files and the
//! environment; [`validate`] holds every rule. The layer that owns a
//! setting maps it into its runtime types; this module imports nothing of
//! the gateway's.
//!
//! `config/gateway.toml` lists every option with its default; a test parses
//! every file in `config/`, and `docs/configuration.md` is generated from it
//! and checked against [`Config::default`] (tests/docs.rs), so the reference
//! never drifts from the code.

mod auth;
mod cluster;
mod consumers;
mod embedded;
mod http;
mod kafka;
mod load;
mod pipeline;
mod schema_registry;
mod shutdown;
mod telemetry;
mod validate;

#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

pub use auth::{AuthConfig, AuthMethod};
pub use cluster::ClusterConfig;
pub use consumers::ConsumersConfig;
pub use embedded::EmbeddedConfig;
pub use http::{parse_network, ClientAuth, CorsConfig, HttpConfig, TlsConfig};
pub use kafka::{valid_topic_name, Acks, Compression, KafkaConfig};
pub use load::{ConfigError, ConfigProblem, ENV_PREFIX};
pub use pipeline::{PipelineConfig, PipelineMode};
pub use schema_registry::{SchemaRegistryConfig, SubjectNameStrategy};
pub use shutdown::ShutdownConfig;
pub use telemetry::{LogConfig, LogFormat, TracingConfig};

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    pub kafka: KafkaConfig,
    pub pipeline: PipelineConfig,
    pub embedded: EmbeddedConfig,
    pub schema_registry: SchemaRegistryConfig,
    pub consumers: ConsumersConfig,
    pub shutdown: ShutdownConfig,
    pub auth: AuthConfig,
    pub cluster: ClusterConfig,
    pub log: LogConfig,
    pub tracing: TracingConfig,
}

impl Config {
    /// True when the gateway must start its own in-memory broker.
    pub fn uses_embedded_broker(&self) -> bool {
        self.kafka.bootstrap_servers.trim().is_empty()
    }
}
