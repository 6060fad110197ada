//! Every metric the gateway exports: names, help texts, buckets, and the
//! handles the hot paths use. Names follow
//! `gateway_<subsystem>_<name>_<unit>[_total]`; label values come from fixed
//! sets (route names, status classes, error codes), never from user input.
//!
//! Hot paths record per request or per batch, never per record.

use std::collections::HashMap;
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
pub const QUEUE_CAPACITY: &str = "gateway_pipeline_queue_capacity_requests";
pub const IN_FLIGHT_LIMIT: &str = "gateway_pipeline_in_flight_limit_bytes";
pub const HTTP_BUFFERED_LIMIT: &str = "gateway_http_buffered_limit_bytes";
pub const KAFKA_BATCH_SIZE_RECORDS: &str = "gateway_kafka_batch_size_records";
pub const KAFKA_BATCH_SIZE_BYTES: &str = "gateway_kafka_batch_size_bytes";
pub const KAFKA_BROKERS_UP: &str = "gateway_kafka_brokers_up";
pub const CONSUMER_INSTANCES: &str = "gateway_consumer_instances";
pub const CONSUMER_LAG: &str = "gateway_consumer_lag_records";
pub const CONSUMER_READ_DURATION: &str = "gateway_consumer_read_duration_seconds";
pub const TRACING_EXPORT_FAILURES: &str = "gateway_tracing_export_failures_total";

/// `sink` labels of the batch-size gauges: the producer that sends at once
/// and the one that lingers (`pipeline::adaptive`).
pub const SINKS: [&str; 2] = ["at_once", "linger"];
/// `quantile` labels of the batch-size gauges.
pub const BATCH_QUANTILES: [&str; 2] = ["0.5", "0.99"];

/// `result` labels of [`CLUSTER_FORWARDS`]: answered by the owner, or
/// the owner could not be reached (answered 404 / 40403 here).
pub const FORWARD_RESULTS: &[&str] = &["answered", "owner_unreachable"];

/// `result` labels of [`TLS_HANDSHAKES`].
pub const TLS_RESULTS: &[&str] = &["started", "completed", "client_certificate_rejected"];

const STATUS_CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// Every `_seconds` histogram's buckets, from measurement: one client's
/// produce answers in 0.4 ms at the median, a loaded gateway's in 3 to
/// 10 ms, p99.9 under 30 ms (loadtest/RESULTS.md), and consumer reads wait
/// up to their timeout (1 s by default, 30 s at most). Doubling from
/// 0.125 ms keeps any quantile within a factor of two where requests are;
/// the exporter keeps samples, so buckets cost nothing per observation.
const LATENCY_BUCKETS: &[f64] = &[
    0.000125, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256,
    0.512, 1.024, 2.048, 5.0, 10.0, 30.0,
];
const RECORD_COUNT_BUCKETS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0];

/// The `route` label of requests no route matched (404s, preflights).
pub const UNMATCHED: &str = "unmatched";

/// Route templates counted separately, at most.
pub const MAX_ROUTES: usize = 512;

/// One route template's request counters and durations, by status class.
pub struct RouteMetrics {
    template: String,
    requests: [Counter; 4],
    durations: [Histogram; 4],
}

impl RouteMetrics {
    fn register(template: String) -> RouteMetrics {
        let labels = |class: &'static str| {
            [
                metrics::Label::new("route", template.clone()),
                metrics::Label::new("status", class),
            ]
        };
        RouteMetrics {
            requests: STATUS_CLASSES.map(|c| metrics::counter!(HTTP_REQUESTS, labels(c).to_vec())),
            durations: STATUS_CLASSES
                .map(|c| metrics::histogram!(HTTP_REQUEST_DURATION, labels(c).to_vec())),
            template,
        }
    }

    pub fn template(&self) -> &str {
        &self.template
    }

    /// Records one answered request.
    pub fn record(&self, status: u16, elapsed: Duration) {
        let class = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        self.requests[class].increment(1);
        self.durations[class].record(elapsed.as_secs_f64());
    }
}

/// Handles registered once, so hot paths do no name lookups.
pub struct Metrics {
    /// By route template, registered as routes are first answered.
    routes: parking_lot::Mutex<HashMap<String, &'static RouteMetrics>>,
    /// Requests no route matched, and routes past [`MAX_ROUTES`].
    unmatched: &'static RouteMetrics,
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
    pub queue_capacity: Gauge,
    pub in_flight_limit: Gauge,
    pub buffered_limit: Gauge,
    /// `[sink][quantile]`, by [`SINKS`] and [`BATCH_QUANTILES`].
    pub batch_size_records: [[Gauge; 2]; 2],
    pub batch_size_bytes: [[Gauge; 2]; 2],
    pub brokers_up: Gauge,
    pub consumer_instances: Gauge,
    /// Summed over this gateway's instances, each adding what its last
    /// read left behind.
    pub consumer_lag: Gauge,
    pub consumer_read_duration: Histogram,
    pub tracing_export_failures: Counter,
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
        start_upkeep(handle.clone());
        handle
    });
    METRICS.get_or_init(Metrics::register)
}

/// How often histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The exporter keeps every histogram observation (8 bytes, in blocks)
/// until it folds them into buckets, which it does only when asked: on a
/// scrape, or here. Without this, a gateway nobody scrapes grows by the
/// bytes of every request it serves (the soak's RSS slope, #18). Folding
/// once a second bounds the samples held to one second's.
fn start_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_INTERVAL);
            handle.run_upkeep();
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the metrics upkeep thread");
    }
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

/// The handles, when [`init`] has run (benches and unit tests count
/// nothing).
pub fn try_get() -> Option<&'static Metrics> {
    METRICS.get()
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
    describe_counter!(
        TRACING_EXPORT_FAILURES,
        "Batches of spans the OTLP exporter could not deliver (dropped)"
    );
    describe_gauge!(
        QUEUE_CAPACITY,
        "Bound of the pipeline queue (pipeline.queue_capacity)"
    );
    describe_gauge!(
        IN_FLIGHT_LIMIT,
        metrics::Unit::Bytes,
        "Bound of the record bytes in flight (pipeline.max_in_flight_bytes)"
    );
    describe_gauge!(
        HTTP_BUFFERED_LIMIT,
        metrics::Unit::Bytes,
        "Bound of the request-body budget (http.max_buffered_bytes)"
    );
    describe_gauge!(
        KAFKA_BATCH_SIZE_RECORDS,
        "Records per Kafka batch over the last statistics interval, by sink and quantile (librdkafka's window, the busiest topic)"
    );
    describe_gauge!(
        KAFKA_BATCH_SIZE_BYTES,
        metrics::Unit::Bytes,
        "Bytes per Kafka batch over the last statistics interval, by sink and quantile (librdkafka's window, the busiest topic)"
    );
    describe_gauge!(
        KAFKA_BROKERS_UP,
        "Brokers the producers are connected to (librdkafka state UP)"
    );
    describe_gauge!(
        CONSUMER_INSTANCES,
        "v2 consumer instances this gateway holds"
    );
    describe_gauge!(
        CONSUMER_LAG,
        "Records behind the end of their partitions, over this gateway's consumer instances, as of each one's last read"
    );
    describe_histogram!(
        CONSUMER_READ_DURATION,
        metrics::Unit::Seconds,
        "Time a v2 consumer read spends fetching records"
    );
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
        "HTTP requests answered, by route template and status class"
    );
    describe_histogram!(
        HTTP_REQUEST_DURATION,
        metrics::Unit::Seconds,
        "Time from request start to response, by route template and status class"
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
            routes: parking_lot::Mutex::new(HashMap::new()),
            unmatched: Box::leak(Box::new(RouteMetrics::register(UNMATCHED.to_string()))),
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
            queue_capacity: metrics::gauge!(QUEUE_CAPACITY),
            in_flight_limit: metrics::gauge!(IN_FLIGHT_LIMIT),
            buffered_limit: metrics::gauge!(HTTP_BUFFERED_LIMIT),
            batch_size_records: SINKS.map(|sink| {
                BATCH_QUANTILES.map(
                    |q| metrics::gauge!(KAFKA_BATCH_SIZE_RECORDS, "sink" => sink, "quantile" => q),
                )
            }),
            batch_size_bytes: SINKS.map(|sink| {
                BATCH_QUANTILES.map(
                    |q| metrics::gauge!(KAFKA_BATCH_SIZE_BYTES, "sink" => sink, "quantile" => q),
                )
            }),
            brokers_up: metrics::gauge!(KAFKA_BROKERS_UP),
            consumer_instances: metrics::gauge!(CONSUMER_INSTANCES),
            consumer_lag: metrics::gauge!(CONSUMER_LAG),
            consumer_read_duration: metrics::histogram!(CONSUMER_READ_DURATION),
            tracing_export_failures: metrics::counter!(TRACING_EXPORT_FAILURES),
        }
    }

    /// Counts a TLS handshake event, one of [`TLS_RESULTS`].
    pub fn tls_handshake(&self, result: &str) {
        if let Some(i) = TLS_RESULTS.iter().position(|r| *r == result) {
            self.tls_handshakes[i].increment(1);
        }
    }

    /// The handles of one route template (`/topics/{topic}`), registered
    /// on first use and kept for the process's life: templates come from
    /// the route table, so there are as many as routes. Past
    /// [`MAX_ROUTES`] (a template built wrongly from a client's path must
    /// not grow the label set), requests count as unmatched.
    pub fn route(&self, template: &str) -> &'static RouteMetrics {
        let mut routes = self.routes.lock();
        if let Some(route) = routes.get(template) {
            return route;
        }
        if routes.len() >= MAX_ROUTES {
            return self.unmatched;
        }
        let route: &'static RouteMetrics =
            Box::leak(Box::new(RouteMetrics::register(template.to_string())));
        routes.insert(template.to_string(), route);
        route
    }

    /// The handles of requests that no route matched.
    pub fn unmatched(&self) -> &'static RouteMetrics {
        self.unmatched
    }
}
