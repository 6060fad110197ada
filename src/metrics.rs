//! Every metric the gateway exports: names, help texts, buckets, and the
//! handles the hot paths use. Names follow
//! `gateway_<subsystem>_<name>_<unit>[_total]`; label values come from fixed
//! sets (route names, status classes, error codes), never from user input.
//!
//! Hot paths record per request or per batch, never per record.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{describe_counter, describe_gauge, describe_histogram, Counter, Gauge, Histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const HTTP_REQUESTS: &str = "gateway_http_requests_total";
pub const HTTP_REQUEST_DURATION: &str = "gateway_http_request_duration_seconds";
pub const PRODUCE_RECORDS: &str = "gateway_produce_records_total";
pub const PRODUCE_BYTES: &str = "gateway_produce_bytes_total";
pub const PRODUCE_RECORDS_PER_REQUEST: &str = "gateway_produce_request_records";
pub const DELIVERY_DURATION: &str = "gateway_kafka_delivery_duration_seconds";
pub const KAFKA_BATCHES: &str = "gateway_kafka_batches_total";
pub const KAFKA_BATCH_RECORDS: &str = "gateway_kafka_batch_records_total";
pub const KAFKA_BATCH_RECORDS_AVG: &str = "gateway_kafka_batch_records";
pub const LANE_SWITCHES: &str = "gateway_pipeline_lane_switches_total";
pub const QUEUE_DEPTH: &str = "gateway_pipeline_queue_depth_requests";
pub const IN_FLIGHT_BYTES: &str = "gateway_pipeline_in_flight_bytes";
pub const KAFKA_QUEUE_RECORDS: &str = "gateway_kafka_queue_records";
pub const ERRORS: &str = "gateway_errors_total";
pub const AUTH_FAILURES: &str = "gateway_auth_failures_total";
pub const ACL_DENIALS: &str = "gateway_auth_acl_denials_total";
pub const QUOTA_REJECTIONS: &str = "gateway_auth_quota_rejections_total";
pub const TLS_HANDSHAKES: &str = "gateway_tls_handshakes_total";
pub const TLS_RELOADS: &str = "gateway_tls_reloads_total";
pub const HTTP_CONNECTIONS: &str = "gateway_http_connections";
pub const HTTP_CONNECTIONS_OPENED: &str = "gateway_http_connections_opened_total";
pub const HTTP_BODY_TIMEOUTS: &str = "gateway_http_body_timeouts_total";
pub const HTTP_BUFFERED_BYTES: &str = "gateway_http_buffered_bytes";
pub const HTTP_BUDGET_REJECTIONS: &str = "gateway_http_budget_rejections_total";
pub const HTTP_HANDLER_PANICS: &str = "gateway_http_handler_panics_total";
pub const CLUSTER_MEMBERS: &str = "gateway_cluster_members";
pub const CLUSTER_HEARTBEAT_FAILURES: &str = "gateway_cluster_heartbeat_failures_total";
pub const CLUSTER_FORWARDS: &str = "gateway_cluster_forwards_total";

/// `result` labels of [`CLUSTER_FORWARDS`]: answered by the owner, or
/// the owner could not be reached (answered 404 / 40403 here).
pub const FORWARD_RESULTS: &[&str] = &["answered", "owner_unreachable"];

/// `result` labels of [`TLS_HANDSHAKES`].
pub const TLS_RESULTS: &[&str] = &["started", "completed", "client_certificate_rejected"];

/// The routes named in labels; anything else is `other`.
pub const ROUTES: &[&str] = &[
    "produce", "consume", "metadata", "health", "metrics", "other",
];
const STATUS_CLASSES: &[&str] = &["2xx", "3xx", "4xx", "5xx"];

const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const RECORD_COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0];

/// Handles registered once, so hot paths do no name lookups.
pub struct Metrics {
    /// `requests[route][status class]`.
    requests: Vec<Vec<Counter>>,
    durations: Vec<Histogram>,
    pub produce_records: Counter,
    pub produce_bytes: Counter,
    pub records_per_request: Histogram,
    pub delivery_duration: Histogram,
    pub kafka_batches: Counter,
    pub kafka_batch_records: Counter,
    pub kafka_batch_records_avg: Gauge,
    pub lane_switches: Counter,
    pub queue_depth: Gauge,
    pub in_flight_bytes: Gauge,
    pub kafka_queue_records: Gauge,
    pub quota_rejections: Counter,
    /// By [`TLS_RESULTS`].
    tls_handshakes: Vec<Counter>,
    /// `ok` and `failed`.
    pub tls_reloads_ok: Counter,
    pub tls_reloads_failed: Counter,
    pub connections: Gauge,
    pub connections_opened: Counter,
    pub body_timeouts: Counter,
    pub buffered_bytes: Gauge,
    pub budget_rejections: Counter,
    pub handler_panics: Counter,
    /// Live gateways in this gateway's view (itself included).
    pub cluster_members: Gauge,
    pub cluster_heartbeat_failures: Counter,
    /// By [`FORWARD_RESULTS`].
    pub forwards_answered: Counter,
    pub forwards_unreachable: Counter,
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static METRICS: OnceLock<Metrics> = OnceLock::new();

/// Installs the Prometheus recorder once per process (tests start several
/// gateways in one process; they share it) and returns the handles.
pub fn init() -> &'static Metrics {
    HANDLE.get_or_init(|| {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(PRODUCE_RECORDS_PER_REQUEST.into()),
                    RECORD_COUNT_BUCKETS,
                )
            })
            .expect("bucket lists are not empty")
            .install_recorder()
            .expect("no other metrics recorder is installed");
        describe();
        handle
    });
    METRICS.get_or_init(Metrics::register)
}

/// The Prometheus text of every metric.
pub fn render() -> String {
    HANDLE.get().map(|h| h.render()).unwrap_or_default()
}

/// The registered handles; `init` must have run.
pub fn get() -> &'static Metrics {
    METRICS.get().expect("metrics::init ran at start-up")
}

/// Counts a lane switching producers (`pipeline::adaptive`); nothing if
/// metrics are not set up (benches, unit tests).
pub fn lane_switch() {
    if let Some(m) = METRICS.get() {
        m.lane_switches.increment(1);
    }
}

/// Whether [`init`] has run (benches and unit tests count nothing).
pub fn installed() -> bool {
    METRICS.get().is_some()
}

/// Counters of one metric, one per value of one label, registered together
/// so that every value is exported (at 0) before its first event and
/// `rate()` sees the first one. The values belong to the module that counts
/// (error codes to `error`, failure reasons and ACL operations to `auth`):
/// it lists them here as plain strings and counts by index into its list.
pub struct CounterFamily {
    counters: Box<[Counter]>,
}

impl CounterFamily {
    /// Registers `name{label="<value>"}` for every value; after [`init`].
    pub fn register(name: &'static str, label: &'static str, values: &[&'static str]) -> Self {
        CounterFamily {
            counters: values
                .iter()
                .map(|value| metrics::counter!(name, label => *value))
                .collect(),
        }
    }

    /// Counts one event of the value at `index` of the registered list.
    pub fn increment(&self, index: usize) {
        self.counters[index].increment(1);
    }
}

fn describe() {
    describe_gauge!(
        CLUSTER_MEMBERS,
        "Gateways of the cluster this gateway sees alive, itself included"
    );
    describe_counter!(
        CLUSTER_HEARTBEAT_FAILURES,
        "Heartbeats to the cluster topic that were not acknowledged"
    );
    describe_counter!(
        CLUSTER_FORWARDS,
        "Consumer-instance calls forwarded to the gateway holding the instance, by result"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route and status class"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from request start to response, by route"
    );
    describe_counter!(PRODUCE_RECORDS, "Records accepted for produce");
    describe_counter!(
        PRODUCE_BYTES,
        metrics::Unit::Bytes,
        "Key and value bytes accepted for produce"
    );
    describe_histogram!(PRODUCE_RECORDS_PER_REQUEST, "Records per produce request");
    describe_histogram!(
        DELIVERY_DURATION,
        metrics::Unit::Seconds,
        "Time from a request's records entering the queue to the broker's last acknowledgement"
    );
    describe_counter!(
        KAFKA_BATCHES,
        "Kafka produce batches sent (librdkafka statistics)"
    );
    describe_counter!(
        KAFKA_BATCH_RECORDS,
        "Records in the Kafka batches counted by gateway_kafka_batches_total"
    );
    describe_counter!(
        LANE_SWITCHES,
        "Switches of a lane between its producer that sends at once and the one that lingers (pipeline::adaptive)"
    );
    describe_gauge!(
        KAFKA_BATCH_RECORDS_AVG,
        "Average records per Kafka batch over the last statistics interval"
    );
    describe_gauge!(QUEUE_DEPTH, "Requests waiting for a producer thread");
    describe_gauge!(
        IN_FLIGHT_BYTES,
        metrics::Unit::Bytes,
        "Record bytes accepted and not yet acknowledged"
    );
    describe_gauge!(KAFKA_QUEUE_RECORDS, "Records held in librdkafka's queues");
    describe_counter!(ERRORS, "Errors answered, by Confluent error code");
    describe_counter!(
        AUTH_FAILURES,
        "Requests answered 401, by reason (missing, malformed, invalid, certificate_without_name)"
    );
    describe_counter!(
        ACL_DENIALS,
        "Requests an ACL did not allow (403, or 404 where names are hidden), by operation"
    );
    describe_counter!(
        QUOTA_REJECTIONS,
        "Produce requests (or stream chunks) answered 429 for a principal's quota"
    );
    describe_counter!(
        TLS_HANDSHAKES,
        "TLS handshakes: started (a ClientHello came), completed, client_certificate_rejected; started minus completed failed or timed out"
    );
    describe_gauge!(HTTP_CONNECTIONS, "HTTP connections open");
    describe_counter!(HTTP_CONNECTIONS_OPENED, "HTTP connections accepted");
    describe_counter!(
        HTTP_BODY_TIMEOUTS,
        "Requests answered 408 (and their connections closed) because the body did not arrive in http.body_timeout_ms"
    );
    describe_gauge!(
        HTTP_BUFFERED_BYTES,
        metrics::Unit::Bytes,
        "Bytes of the request-body budget (http.max_buffered_bytes) held"
    );
    describe_counter!(
        HTTP_BUDGET_REJECTIONS,
        "Requests answered 429 because their bodies did not fit http.max_buffered_bytes"
    );
    describe_counter!(HTTP_HANDLER_PANICS, "Handler panics answered 500");
    describe_counter!(
        TLS_RELOADS,
        "Reloads of changed certificate, key or CA files, by result"
    );
}

impl Metrics {
    fn register() -> Metrics {
        Metrics {
            requests: ROUTES
                .iter()
                .map(|route| {
                    STATUS_CLASSES
                        .iter()
                        .map(|class| {
                            metrics::counter!(HTTP_REQUESTS, "route" => *route, "status" => *class)
                        })
                        .collect()
                })
                .collect(),
            durations: ROUTES
                .iter()
                .map(|route| metrics::histogram!(HTTP_REQUEST_DURATION, "route" => *route))
                .collect(),
            produce_records: metrics::counter!(PRODUCE_RECORDS),
            produce_bytes: metrics::counter!(PRODUCE_BYTES),
            records_per_request: metrics::histogram!(PRODUCE_RECORDS_PER_REQUEST),
            delivery_duration: metrics::histogram!(DELIVERY_DURATION),
            kafka_batches: metrics::counter!(KAFKA_BATCHES),
            kafka_batch_records: metrics::counter!(KAFKA_BATCH_RECORDS),
            kafka_batch_records_avg: metrics::gauge!(KAFKA_BATCH_RECORDS_AVG),
            lane_switches: metrics::counter!(LANE_SWITCHES),
            queue_depth: metrics::gauge!(QUEUE_DEPTH),
            in_flight_bytes: metrics::gauge!(IN_FLIGHT_BYTES),
            kafka_queue_records: metrics::gauge!(KAFKA_QUEUE_RECORDS),
            quota_rejections: metrics::counter!(QUOTA_REJECTIONS),
            tls_handshakes: TLS_RESULTS
                .iter()
                .map(|r| metrics::counter!(TLS_HANDSHAKES, "result" => *r))
                .collect(),
            tls_reloads_ok: metrics::counter!(TLS_RELOADS, "result" => "ok"),
            tls_reloads_failed: metrics::counter!(TLS_RELOADS, "result" => "failed"),
            connections: metrics::gauge!(HTTP_CONNECTIONS),
            connections_opened: metrics::counter!(HTTP_CONNECTIONS_OPENED),
            body_timeouts: metrics::counter!(HTTP_BODY_TIMEOUTS),
            buffered_bytes: metrics::gauge!(HTTP_BUFFERED_BYTES),
            budget_rejections: metrics::counter!(HTTP_BUDGET_REJECTIONS),
            handler_panics: metrics::counter!(HTTP_HANDLER_PANICS),
            cluster_members: metrics::gauge!(CLUSTER_MEMBERS),
            cluster_heartbeat_failures: metrics::counter!(CLUSTER_HEARTBEAT_FAILURES),
            forwards_answered: metrics::counter!(CLUSTER_FORWARDS, "result" => FORWARD_RESULTS[0]),
            forwards_unreachable: metrics::counter!(CLUSTER_FORWARDS, "result" => FORWARD_RESULTS[1]),
        }
    }

    /// Counts a TLS handshake event, one of [`TLS_RESULTS`].
    pub fn tls_handshake(&self, result: &str) {
        if let Some(i) = TLS_RESULTS.iter().position(|r| *r == result) {
            self.tls_handshakes[i].increment(1);
        }
    }

    /// Records one answered request.
    pub fn request(&self, route: usize, status: u16, elapsed: Duration) {
        let class = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        self.requests[route][class].increment(1);
        self.durations[route].record(elapsed.as_secs_f64());
    }
}

/// Index into [`ROUTES`] for a request's method and path. Plain string
/// checks: re-matching the route patterns per request costs regex work.
pub fn route_index(is_post: bool, path: &str) -> usize {
    let segments = path.trim_matches('/').split('/').count();
    let name = match path {
        "/healthz" | "/readyz" => "health",
        "/metrics" => "metrics",
        "/brokers" | "/topics" => "metadata",
        p if p.starts_with("/topics/") => match (is_post, segments) {
            (true, 2) | (true, 4) => "produce",
            (false, 2..=5) => "metadata",
            _ => "other",
        },
        p if p.starts_with("/consumers/") => "consume",
        p if p.starts_with("/v3/") || p.starts_with("/kafka/v3/") => {
            match (is_post, p.ends_with("/records")) {
                (true, true) => "produce",
                (false, _) => "metadata",
                _ => "other",
            }
        }
        _ => "other",
    };
    ROUTES
        .iter()
        .position(|r| *r == name)
        .expect("every name is in ROUTES")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_named_from_method_and_path() {
        let name = |post, path| ROUTES[route_index(post, path)];
        assert_eq!(name(true, "/topics/t"), "produce");
        assert_eq!(name(true, "/topics/t/partitions/3"), "produce");
        assert_eq!(name(false, "/topics/t/partitions/3/offsets"), "metadata");
        assert_eq!(name(false, "/topics"), "metadata");
        assert_eq!(name(false, "/readyz"), "health");
        assert_eq!(name(false, "/metrics"), "metrics");
        assert_eq!(name(true, "/x"), "other");
        assert_eq!(name(true, "/v3/clusters/c/topics/t/records"), "produce");
        assert_eq!(
            name(true, "/kafka/v3/clusters/c/topics/t/records"),
            "produce"
        );
        assert_eq!(name(false, "/v3/clusters"), "metadata");
        assert_eq!(name(false, "/consumers/g/instances/i/records"), "consume");
    }
}
