//! The gateway's configuration: one typed tree, loaded from a TOML file,
//! overridden by `KAFKA_GATEWAY_<SECTION>_<KEY>` environment variables, then
//! validated with every problem reported at once.
//!
//! `config/gateway.toml` lists every option with its default; a test parses
//! every file in `config/` so the reference never drifts from the code.
//! Batching settings are translated to librdkafka names here and nowhere
//! else ([`KafkaConfig::librdkafka_settings`]).

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Deserialize;

/// Prefix of the environment variables that override file settings.
pub const ENV_PREFIX: &str = "KAFKA_GATEWAY_";

#[derive(Debug, Clone, Default, Deserialize)]
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the binary listens on (tests pass their own listener).
    pub listen: String,
    /// actix-web worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest request body accepted, after gzip decoding; larger → 413
    /// (before it is read, when its `Content-Length` says so).
    pub max_request_bytes: usize,
    /// Memory for request bodies being read and parsed, across all
    /// requests: each takes its length times 20 (the body, its parsed form,
    /// the encoded records). A body that does not fit waits up to
    /// `buffered_wait_ms`, then answers 429 with `Retry-After`, unread.
    pub max_buffered_bytes: usize,
    /// How long a body waits for room in `max_buffered_bytes`.
    pub buffered_wait_ms: u64,
    /// A request body must arrive within this (a v3 record stream: with no
    /// gap between chunks longer than this); else 408 and the connection
    /// closes.
    pub body_timeout_ms: u64,
    /// The request line and headers must arrive within this (actix-web's
    /// client request timeout); else 408 and the connection closes.
    pub head_timeout_ms: u64,
    /// An idle keep-alive connection is closed after this.
    pub keep_alive_ms: u64,
    /// Connections open at once, across workers; past it new ones wait in
    /// the listen backlog.
    pub max_connections: usize,
    /// Connections the kernel queues before the gateway accepts them (the
    /// kernel caps it at `net.core.somaxconn`). Rust's default of 128 made
    /// some of 3,000 simultaneous connects fail while the gateway was busy.
    pub listen_backlog: u32,
    /// HTTPS on the listener (`[http.tls]`); plain HTTP when no certificate
    /// is configured.
    pub tls: TlsConfig,
    /// Cross-origin requests from browsers (`[http.cors]`).
    pub cors: CorsConfig,
    /// One log line per request (target `kafka_gateway::access`): method,
    /// path, status, time and principal. Off: a line per request costs
    /// more than the request at full load.
    pub access_log: bool,
    /// The URL clients reach the gateway at (a load balancer's, e.g.
    /// `https://kafka-rest.example.com`), used for the `base_uri` of new
    /// consumer instances. Empty: taken from the request (its `Host`, or
    /// the forwarding headers of a trusted proxy).
    pub public_url: String,
    /// Addresses (`10.0.0.7`) or networks (`10.0.0.0/8`, `::1/128`) of
    /// the proxies and load balancers whose `Forwarded`,
    /// `X-Forwarded-Proto` and `X-Forwarded-Host` headers are believed.
    /// From anyone else those headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// On SIGTERM, how long the gateway keeps serving after `/readyz`
    /// starts failing, so that load balancers stop sending it requests
    /// before it stops accepting them (answers carry `Connection: close`
    /// meanwhile). Then it finishes in-flight requests and exits.
    pub shutdown_grace_ms: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: "0.0.0.0:8082".into(),
            workers: 0,
            max_request_bytes: 16 * 1024 * 1024,
            max_buffered_bytes: 320 * 1024 * 1024,
            buffered_wait_ms: 1_000,
            body_timeout_ms: 30_000,
            head_timeout_ms: 5_000,
            keep_alive_ms: 5_000,
            max_connections: 25_000,
            listen_backlog: 4096,
            tls: TlsConfig::default(),
            cors: CorsConfig::default(),
            access_log: false,
            public_url: String::new(),
            trusted_proxies: Vec::new(),
            shutdown_grace_ms: 0,
        }
    }
}

/// Whether and how the TLS listener asks for client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No client certificate is asked for.
    None,
    /// A certificate is asked for; one that is sent must verify against
    /// `client_ca_file`, and a client without one is still served.
    Optional,
    /// A connection without a verified certificate is refused in the
    /// handshake.
    Required,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first. Empty: plain HTTP.
    pub cert_file: String,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of the certificate.
    pub key_file: String,
    /// PEM certificates of the CAs that sign client certificates.
    pub client_ca_file: String,
    pub client_auth: ClientAuth,
    /// How often the three files are checked for changes; a changed file is
    /// re-read and used for new connections (rotation without restart). A
    /// file that does not load keeps the old one, and the log says why.
    pub reload_interval_ms: u64,
    /// A TLS handshake not done in this time closes the connection.
    pub handshake_timeout_ms: u64,
    /// TLS handshakes in progress at once, per worker; past it the worker
    /// stops accepting until one finishes (actix-web's
    /// `max_connection_rate`).
    pub max_concurrent_handshakes: usize,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert_file: String::new(),
            key_file: String::new(),
            client_ca_file: String::new(),
            client_auth: ClientAuth::None,
            reload_interval_ms: 10_000,
            handshake_timeout_ms: 3_000,
            max_concurrent_handshakes: 256,
        }
    }
}

impl TlsConfig {
    pub fn enabled(&self) -> bool {
        !self.cert_file.is_empty()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CorsConfig {
    /// Origins (`https://app.example.com`) whose pages may call the API, or
    /// `"*"` for any. Empty: no cross-origin access (no
    /// `Access-Control-Allow-Origin` is ever sent).
    pub allowed_origins: Vec<String>,
    /// How long a browser may cache a preflight answer
    /// (`Access-Control-Max-Age`).
    pub max_age_seconds: u64,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            allowed_origins: Vec::new(),
            max_age_seconds: 600,
        }
    }
}

/// How clients prove who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// No credentials are asked for; a client without a verified
    /// certificate is `User:ANONYMOUS`.
    None,
    /// HTTP Basic, checked against the users of `auth.file`; a verified
    /// client certificate counts too.
    Basic,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub method: AuthMethod,
    /// The users, ACLs and quotas (TOML; see the README's security section).
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

#[derive(Debug, Clone, Deserialize)]
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
const OWNED_LIBRDKAFKA_KEYS: &[(&str, &str)] = &[
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PipelineConfig {
    /// `queue`: records go through the bounded queue to one thread per
    /// producer. `direct`: HTTP workers call the producer themselves (kept
    /// to measure the queue against; see loadtest/RESULTS.md).
    pub mode: crate::pipeline::Mode,
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
            mode: crate::pipeline::Mode::Queue,
            queue_capacity: 8192,
            max_in_flight_bytes: 64 * 1024 * 1024,
            retry_after_seconds: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchemaRegistryConfig {
    /// An external Confluent-compatible registry (Confluent, Karapace,
    /// Apicurio, Redpanda). Empty: the gateway's embedded registry, kept in
    /// the `_schemas` topic and served on the gateway's own port.
    pub url: String,
    /// `user:password` for HTTP basic auth to the external registry.
    pub basic_auth_user_info: String,
    /// Time allowed for one call to the external registry.
    pub timeout_ms: u64,
    /// The subjects schemas are registered under when a request does not
    /// name one: TOPIC_NAME (`<topic>-key`, `<topic>-value`), RECORD_NAME
    /// (the record's full name) or TOPIC_RECORD_NAME (`<topic>-<record>`).
    /// v2 always uses it; a v3 record may choose its own.
    pub subject_name_strategy: crate::schemas::naming::SubjectNameStrategy,
}

impl Default for SchemaRegistryConfig {
    fn default() -> Self {
        SchemaRegistryConfig {
            url: String::new(),
            basic_auth_user_info: String::new(),
            timeout_ms: 10_000,
            subject_name_strategy: Default::default(),
        }
    }
}

/// v2 HTTP consumer instances (`/consumers/...`).
#[derive(Debug, Clone, Deserialize)]
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
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
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

/// Several gateways in front of one Kafka cluster (`[cluster]`): they find
/// each other through a topic of the cluster and forward calls on a v2
/// consumer instance to the gateway that holds it.
#[derive(Debug, Clone, Deserialize)]
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

/// An address or network of `http.trusted_proxies`: `10.0.0.7`,
/// `10.0.0.0/8`, `::1`, `fd00::/8`.
pub fn parse_network(text: &str) -> Option<(std::net::IpAddr, u8)> {
    let (address, bits) = match text.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (text, None),
    };
    let address: std::net::IpAddr = address.trim().parse().ok()?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((address, bits))
}

/// One problem with the configuration, naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

/// Everything wrong with a configuration, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for p in &self.problems {
            writeln!(f, "  {}: {}", p.key, p.message)?;
        }
        Ok(())
    }
}

impl ConfigError {
    fn one(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![ConfigProblem {
                key: key.into(),
                message: message.into(),
            }],
        }
    }
}

const SECTIONS: &[&str] = &[
    "http",
    "kafka",
    "pipeline",
    "embedded",
    "schema_registry",
    "consumers",
    "shutdown",
    "auth",
    "cluster",
];

/// Tables inside a section, reached from the environment as
/// `KAFKA_GATEWAY_<SECTION>_<TABLE>_<KEY>`.
const SUBSECTIONS: &[(&str, &str)] = &[("http", "tls"), ("http", "cors")];

impl Config {
    /// Loads `file` (if any), applies the environment overrides in `env`,
    /// and validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let text = match file {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| ConfigError::one(path.display().to_string(), e.to_string()))?,
            None => String::new(),
        };
        Config::from_toml_and_env(&text, env)
    }

    /// Parses TOML text, applies environment overrides and validates.
    pub fn from_toml_and_env(
        text: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::one("(file)", e.to_string()))?;
        let mut problems = Vec::new();
        for (name, raw) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            let rest = rest.to_ascii_lowercase();
            let Some((section, key)) = SECTIONS.iter().find_map(|s| {
                rest.strip_prefix(s)
                    .and_then(|r| r.strip_prefix('_'))
                    .map(|k| (*s, k.to_string()))
            }) else {
                problems.push(ConfigProblem {
                    key: name.clone(),
                    message: format!("no such section; expected one of {}", SECTIONS.join(", ")),
                });
                continue;
            };
            let mut path = vec![section.to_string()];
            let mut key = key;
            if let Some((_, sub)) = SUBSECTIONS.iter().find(|(s, sub)| {
                *s == section && key.strip_prefix(sub).is_some_and(|r| r.starts_with('_'))
            }) {
                path.push(sub.to_string());
                key = key[sub.len() + 1..].to_string();
            }
            if let Err(name) = insert_at(&mut table, &path, key, env_value(&raw)) {
                problems.push(ConfigProblem {
                    key: name,
                    message: "must be a table".into(),
                });
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                let key = e.path().to_string();
                ConfigError::one(key, e.into_inner().message().to_string())
            })?;
        config.validate()?;
        Ok(config)
    }

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

    /// True when the gateway must start its own in-memory broker.
    pub fn uses_embedded_broker(&self) -> bool {
        self.kafka.bootstrap_servers.trim().is_empty()
    }
}

/// Puts `value` at `key` in the table at `path` (made where missing);
/// `Err(name)` if something on the path is not a table.
fn insert_at(
    table: &mut toml::Table,
    path: &[String],
    key: String,
    value: toml::Value,
) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        table.insert(key, value);
        return Ok(());
    };
    match table
        .entry(first.as_str())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(inner) => insert_at(inner, rest, key, value),
        _ => Err(first.clone()),
    }
}

/// An environment value as TOML when it parses as one (numbers, booleans,
/// arrays), else as a plain string.
fn env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_file_in_config_dir_parses_and_matches_the_defaults() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let config = Config::load(Some(&path), Vec::new())
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if path.file_name().unwrap() == "gateway.toml" {
                    // The reference file lists the defaults; it must not drift.
                    assert_eq!(format!("{config:?}"), format!("{:?}", Config::default()));
                }
                seen += 1;
            }
        }
        assert!(seen >= 1, "no config files found in {}", dir.display());
    }

    #[test]
    fn environment_overrides_the_file() {
        let config = Config::from_toml_and_env(
            "[kafka]\nlinger_ms = 20\n",
            env(&[
                ("KAFKA_GATEWAY_KAFKA_LINGER_MS", "7"),
                ("KAFKA_GATEWAY_KAFKA_BOOTSTRAP_SERVERS", "broker:9092"),
                ("KAFKA_GATEWAY_EMBEDDED_TOPICS", r#"["a", "b"]"#),
                ("UNRELATED", "x"),
            ]),
        )
        .unwrap();
        assert_eq!(config.kafka.linger_ms, 7);
        assert_eq!(config.kafka.bootstrap_servers, "broker:9092");
        assert_eq!(config.embedded.topics, vec!["a", "b"]);
        assert!(!config.uses_embedded_broker());
    }

    #[test]
    fn environment_reaches_tables_inside_sections() {
        let config = Config::from_toml_and_env(
            "[auth]\nfile = \"users.toml\"\n",
            env(&[
                ("KAFKA_GATEWAY_HTTP_TLS_CERT_FILE", "/etc/gw/cert.pem"),
                ("KAFKA_GATEWAY_HTTP_TLS_KEY_FILE", "/etc/gw/key.pem"),
                (
                    "KAFKA_GATEWAY_HTTP_CORS_ALLOWED_ORIGINS",
                    r#"["https://app.example"]"#,
                ),
                ("KAFKA_GATEWAY_HTTP_MAX_REQUEST_BYTES", "2048"),
                ("KAFKA_GATEWAY_AUTH_METHOD", "basic"),
            ]),
        )
        .unwrap();
        assert_eq!(config.http.tls.cert_file, "/etc/gw/cert.pem");
        assert!(config.http.tls.enabled());
        assert_eq!(config.http.cors.allowed_origins, ["https://app.example"]);
        assert_eq!(config.http.max_request_bytes, 2048);
        assert_eq!(config.auth.method, AuthMethod::Basic);
    }

    #[test]
    fn security_settings_are_checked_together() {
        let err = Config::from_toml_and_env(
            r#"
            [http.tls]
            cert_file = "cert.pem"
            client_auth = "required"
            [http.cors]
            allowed_origins = ["https://app.example/"]
            [auth]
            method = "basic"
            "#,
            Vec::new(),
        )
        .unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "http.tls.key_file",
                "http.tls.client_ca_file",
                "http.cors.allowed_origins",
                "auth.file"
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = Config::from_toml_and_env("[kafka]\nlingr_ms = 3\n", Vec::new()).unwrap_err();
        assert_eq!(err.problems[0].key, "kafka.lingr_ms", "{err}");
        let err =
            Config::from_toml_and_env("[kafka]\nlinger_ms = \"soon\"\n", Vec::new()).unwrap_err();
        assert_eq!(err.problems[0].key, "kafka.linger_ms", "{err}");
        let err = Config::from_toml_and_env("", env(&[("KAFKA_GATEWAY_NOPE_X", "1")])).unwrap_err();
        assert!(err.to_string().contains("KAFKA_GATEWAY_NOPE_X"), "{err}");
    }

    #[test]
    fn all_validation_errors_are_reported_at_once() {
        let err = Config::from_toml_and_env(
            r#"
            [kafka]
            producers = 0
            acks = "1"
            librdkafka = { "linger.ms" = "3", "socket.keepalive.enable" = "true" }
            [http]
            listen = "nowhere"
            "#,
            Vec::new(),
        )
        .unwrap_err();
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "http.listen",
                "kafka.producers",
                "kafka.acks",
                "kafka.librdkafka.\"linger.ms\""
            ]
        );
    }

    #[test]
    fn other_clients_take_only_the_connection_settings() {
        let mut config = Config::default();
        config
            .kafka
            .librdkafka
            .insert("security.protocol".into(), "SASL_SSL".into());
        let settings = config.kafka.connection_settings("b:9092");
        let keys: Vec<&str> = settings.iter().map(|(k, _)| k.as_str()).collect();
        assert!(keys.contains(&"bootstrap.servers"));
        assert!(keys.contains(&"security.protocol"));
        assert!(!keys.contains(&"linger.ms"));
        assert!(!keys.contains(&"acks"));
    }

    #[test]
    fn typed_settings_map_to_librdkafka_names() {
        let mut config = Config::default();
        config
            .kafka
            .librdkafka
            .insert("socket.keepalive.enable".into(), "true".into());
        let settings = config.kafka.librdkafka_settings("b:9092");
        let get = |k: &str| {
            settings
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("bootstrap.servers"), Some("b:9092"));
        assert_eq!(get("acks"), Some("all"));
        assert_eq!(get("enable.idempotence"), Some("true"));
        assert_eq!(get("compression.type"), Some("lz4"));
        assert_eq!(get("linger.ms"), Some("2"));
        assert_eq!(get("socket.keepalive.enable"), Some("true"));
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        assert!(valid_topic_name("orders.v1_eu-west"));
        assert!(!valid_topic_name(""));
        assert!(!valid_topic_name(".."));
        assert!(!valid_topic_name("has space"));
        assert!(!valid_topic_name(&"x".repeat(250)));
    }
}
