//! The rules a configuration must keep, every section's and those across
//! sections, checked together so every broken one is reported at once.

use super::kafka::OWNED_LIBRDKAFKA_KEYS;
use super::{
    parse_network, valid_topic_name, Acks, AuthMethod, ClientAuth, Config, ConfigError,
    ConfigProblem,
};

impl Config {
    /// Checks every rule and reports all broken ones together.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut check = |ok: bool, key: &str, message: &str| {
            if !ok {
                problems.push(ConfigProblem {
                    key: key.into(),
                    message: message.into(),
                });
            }
        };
        check(
            self.http.listen.parse::<std::net::SocketAddr>().is_ok(),
            "http.listen",
            "must be an address like 0.0.0.0:8082",
        );
        check(
            (1024..=1 << 30).contains(&self.http.max_request_bytes),
            "http.max_request_bytes",
            "must be between 1024 and 1073741824",
        );
        check(
            self.http.max_buffered_bytes >= self.http.max_request_bytes,
            "http.max_buffered_bytes",
            "must be at least http.max_request_bytes",
        );
        check(
            self.http.body_timeout_ms >= 100,
            "http.body_timeout_ms",
            "must be at least 100",
        );
        check(
            self.http.head_timeout_ms >= 100,
            "http.head_timeout_ms",
            "must be at least 100",
        );
        check(
            self.http.max_connections >= 1,
            "http.max_connections",
            "must be positive",
        );
        check(
            self.pipeline.max_in_flight_bytes >= 2 * self.http.max_request_bytes,
            "pipeline.max_in_flight_bytes",
            "must be at least twice http.max_request_bytes (records are held twice until \
             acknowledged), or a large request could never be admitted",
        );
        check(
            self.pipeline.queue_capacity > 0,
            "pipeline.queue_capacity",
            "must be positive",
        );
        check(
            self.consumers.max_instances > 0,
            "consumers.max_instances",
            "must be positive",
        );
        check(
            (1024..=1_048_576).contains(&self.consumers.prefetch_kbytes),
            "consumers.prefetch_kbytes",
            "must be between 1024 and 1048576",
        );
        check(
            self.consumers.prefetch_total_kbytes >= 1024,
            "consumers.prefetch_total_kbytes",
            "must be at least 1024",
        );
        check(
            (1..=30_000).contains(&self.consumers.fetch_wait_max_ms),
            "consumers.fetch_wait_max_ms",
            "must be between 1 and 30000",
        );
        check(
            self.consumers.request_timeout_ms <= 60_000,
            "consumers.request_timeout_ms",
            "must be at most 60000",
        );
        check(
            (1..=64).contains(&self.kafka.producers),
            "kafka.producers",
            "must be between 1 and 64",
        );
        check(
            self.kafka.linger_ms <= 900_000,
            "kafka.linger_ms",
            "must be at most 900000",
        );
        check(
            self.kafka.batch_max_records >= 1 && self.kafka.batch_max_records <= 1_000_000,
            "kafka.batch_max_records",
            "must be between 1 and 1000000",
        );
        check(
            self.kafka.batch_max_bytes >= 1,
            "kafka.batch_max_bytes",
            "must be positive",
        );
        check(
            (1..=10_000_000).contains(&self.kafka.queue_max_records),
            "kafka.queue_max_records",
            "must be between 1 and 10000000",
        );
        check(
            self.kafka.queue_max_kbytes >= 1,
            "kafka.queue_max_kbytes",
            "must be positive",
        );
        check(
            (1000..=1_000_000_000).contains(&self.kafka.message_max_bytes),
            "kafka.message_max_bytes",
            "must be between 1000 and 1000000000",
        );
        check(
            self.kafka.delivery_timeout_ms >= 1000,
            "kafka.delivery_timeout_ms",
            "must be at least 1000",
        );
        check(
            self.kafka.metadata_refresh_interval_ms >= 100,
            "kafka.metadata_refresh_interval_ms",
            "must be at least 100",
        );
        check(
            self.kafka.metadata_timeout_ms >= 100,
            "kafka.metadata_timeout_ms",
            "must be at least 100",
        );
        check(
            !(self.kafka.enable_idempotence && self.kafka.acks != Acks::All),
            "kafka.acks",
            "idempotence (kafka.enable_idempotence) requires acks = \"all\"",
        );
        check(
            [
                "random",
                "consistent",
                "consistent_random",
                "murmur2",
                "murmur2_random",
                "fnv1a",
                "fnv1a_random",
            ]
            .contains(&self.kafka.partitioner.as_str()),
            "kafka.partitioner",
            "must be one of random, consistent, consistent_random, murmur2, murmur2_random, fnv1a, fnv1a_random",
        );
        check(
            (1..=16).contains(&self.embedded.brokers),
            "embedded.brokers",
            "must be between 1 and 16",
        );
        check(
            (1..=1000).contains(&self.embedded.partitions),
            "embedded.partitions",
            "must be between 1 and 1000",
        );
        for topic in &self.embedded.topics {
            check(
                valid_topic_name(topic),
                "embedded.topics",
                &format!("{topic:?} is not a legal Kafka topic name"),
            );
        }
        let url = &self.schema_registry.url;
        check(
            url.is_empty() || url.starts_with("http://") || url.starts_with("https://"),
            "schema_registry.url",
            "must be empty (embedded registry) or an http:// or https:// URL",
        );
        let user_info = &self.schema_registry.basic_auth_user_info;
        check(
            user_info.is_empty() || user_info.contains(':'),
            "schema_registry.basic_auth_user_info",
            "must be user:password",
        );
        check(
            self.schema_registry.timeout_ms >= 100,
            "schema_registry.timeout_ms",
            "must be at least 100",
        );
        let tls = &self.http.tls;
        check(
            tls.cert_file.is_empty() == tls.key_file.is_empty(),
            "http.tls.key_file",
            "cert_file and key_file go together: set both (HTTPS) or neither (plain HTTP)",
        );
        check(
            tls.client_auth == ClientAuth::None || !tls.client_ca_file.is_empty(),
            "http.tls.client_ca_file",
            "client_auth \"optional\" or \"required\" needs the CAs that sign client certificates",
        );
        check(
            tls.client_auth == ClientAuth::None || tls.enabled(),
            "http.tls.client_auth",
            "client certificates need TLS: set cert_file and key_file",
        );
        check(
            tls.reload_interval_ms >= 100,
            "http.tls.reload_interval_ms",
            "must be at least 100",
        );
        check(
            tls.handshake_timeout_ms >= 100,
            "http.tls.handshake_timeout_ms",
            "must be at least 100",
        );
        check(
            tls.max_concurrent_handshakes >= 1,
            "http.tls.max_concurrent_handshakes",
            "must be positive",
        );
        for origin in &self.http.cors.allowed_origins {
            check(
                origin == "*"
                    || ((origin.starts_with("http://") || origin.starts_with("https://"))
                        && !origin.ends_with('/')
                        && origin.matches('/').count() == 2),
                "http.cors.allowed_origins",
                &format!(
                    "{origin:?} is not an origin: \"*\" or scheme://host[:port], without a path"
                ),
            );
        }
        check(
            self.auth.method == AuthMethod::None || !self.auth.file.is_empty(),
            "auth.file",
            "method \"basic\" needs the file that lists the users",
        );
        check(
            self.auth.reload_interval_ms >= 100,
            "auth.reload_interval_ms",
            "must be at least 100",
        );
        for path in &self.auth.public_paths {
            check(
                path.starts_with('/'),
                "auth.public_paths",
                &format!("{path:?} must start with /"),
            );
        }
        for proxy in &self.http.trusted_proxies {
            check(
                parse_network(proxy).is_some(),
                "http.trusted_proxies",
                &format!("{proxy:?} is not an address or a network like 10.0.0.0/8"),
            );
        }
        let public = &self.http.public_url;
        check(
            public.is_empty() || public.starts_with("http://") || public.starts_with("https://"),
            "http.public_url",
            "must be empty or an http:// or https:// URL",
        );
        let cluster = &self.cluster;
        if cluster.enabled() {
            check(
                cluster.advertised_url.starts_with("http://")
                    || cluster.advertised_url.starts_with("https://"),
                "cluster.advertised_url",
                "must be an http:// or https:// URL other gateways reach this one at",
            );
            check(
                !cluster.secret_file.is_empty(),
                "cluster.secret_file",
                "gateways of a cluster prove forwarded calls with a shared secret: name the file holding it",
            );
            check(
                !self.uses_embedded_broker(),
                "cluster.advertised_url",
                "gateways find each other through a shared Kafka cluster: set kafka.bootstrap_servers",
            );
            check(
                valid_topic_name(&cluster.topic),
                "cluster.topic",
                "is not a legal Kafka topic name",
            );
            check(
                cluster.heartbeat_interval_ms >= 100,
                "cluster.heartbeat_interval_ms",
                "must be at least 100",
            );
            check(
                cluster.member_timeout_ms >= 3 * cluster.heartbeat_interval_ms,
                "cluster.member_timeout_ms",
                "must be at least three heartbeat intervals",
            );
        }
        check(
            (0.0..=1.0).contains(&self.tracing.sample_ratio),
            "tracing.sample_ratio",
            "must be between 0 and 1",
        );
        let endpoint = &self.tracing.endpoint;
        check(
            endpoint.is_empty()
                || endpoint.starts_with("http://")
                || endpoint.starts_with("https://"),
            "tracing.endpoint",
            "must be empty (the OTEL_EXPORTER_OTLP_* variables) or an http:// or https:// URL",
        );
        for key in self.kafka.librdkafka.keys() {
            if let Some((_, owner)) = OWNED_LIBRDKAFKA_KEYS.iter().find(|(k, _)| k == key) {
                check(
                    false,
                    &format!("kafka.librdkafka.\"{key}\""),
                    &format!("conflicts with {owner}; set that instead"),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError { problems })
        }
    }
}
