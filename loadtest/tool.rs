//! `loadtest-tool`: what the load tests need besides the gateway.
//!
//! - `body SCENARIO`: prints the HTTP request body of a scenario, and with
//!   `--content-type` its content type; the wrk and k6 scripts send it.
//! - `create-topic`: creates a topic (tansu does not auto-create).
//! - `stream`: scenario (e), v3 streaming. Each connection sends one
//!   chunked POST of scenario (a)'s record as v3 objects, 100 per chunk,
//!   for as long as asked, reads the answers as they come, and prints
//!   records/s, errors and per-record latency (sent to answered).
//! - `hostile`: the hostile load of issue "Hardening": many concurrent
//!   large bodies of tiny records and many senders that stall mid-body,
//!   against a running gateway; prints what each got, the gateway's peak
//!   RSS, and fails past the thresholds.
//! - `soak`: a long mixed load (v2 produce, v3 records, consumers, Schema
//!   Registry calls, a share of bad requests) against a running gateway,
//!   sampling its RSS, open descriptors and threads; fails if any grows
//!   steadily or a request answers 5xx.
//! - `native`: the yardstick. Produces the scenario's records straight to
//!   the broker with rdkafka and the gateway's own producer settings (same
//!   config file and environment), as fast as it can, and prints records/s.
//! - `preload`: scenarios (f) and (g)'s topic: N JSON records of about
//!   `--size` bytes, round-robin over the partitions, produced natively in
//!   large batches; waits for every delivery.
//! - `consume`: scenarios (f) and (g), the v2 consumer. Creates instances
//!   (one per connection, each assigned its share of the partitions), reads
//!   `GET .../records` until every record up to the partitions' end offsets
//!   has come back, checks that offsets are contiguous per partition, and
//!   prints records/s and the GETs' latency.
//!
//! - `tracked`: produce load whose every record is named: each connection
//!   sends one record per request, `{"value": {"id": "<c>-<n>"}}`, for as
//!   long as asked (or until a stop file appears), and writes what each id
//!   was answered (partition and offset, or the status), transport errors
//!   and requests whose connection broke, as JSON, for a test to read the
//!   records back against (the rolling restart behind a balancer).
//!
//! - `bare`: the floor for scenario (a). A bare actix-web server with the
//!   gateway's worker count that reads a `POST /topics/{topic}` body and
//!   answers a constant v2 produce response: what HTTP alone costs here.
//!
//! The records are built here once, so the gateway and the native producer
//! write exactly the same bytes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use kafka_gateway::config::Config;
use kafka_gateway::kafka::producer::{produce, Outgoing, TopicHandle};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::ClientContext;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(about = "Helpers for kafka-gateway's load tests")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print a scenario's HTTP request body (or its content type).
    Body {
        scenario: Scenario,
        #[arg(long)]
        content_type: bool,
        /// Scenario d: the id the Avro schema was registered under.
        #[arg(long, default_value_t = 0)]
        schema_id: u32,
    },
    /// Print the registry request that registers scenario d's Avro schema.
    AvroSchema,
    /// Serve a constant produce answer with bare actix-web (the floor).
    Bare {
        /// host:port to listen on.
        #[arg(long)]
        listen: String,
        /// HTTP workers; 0 is the gateway's default (one per core).
        #[arg(long, default_value_t = 0)]
        workers: usize,
    },
    /// Create a topic.
    CreateTopic {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 3)]
        partitions: i32,
    },
    /// Scenario e: stream v3 records over `connections` chunked POSTs.
    Stream {
        /// host:port of the gateway.
        #[arg(long)]
        addr: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 8)]
        connections: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Records per chunk of the body.
        #[arg(long, default_value_t = 100)]
        chunk: usize,
    },
    /// Many concurrent large bodies and stalled senders at once.
    Hostile {
        /// host:port of the gateway.
        #[arg(long)]
        addr: String,
        #[arg(long)]
        topic: String,
        /// Concurrent POSTs of a large body each.
        #[arg(long, default_value_t = 150)]
        connections: usize,
        /// Size of each body, in MiB, of records like {"value":1}.
        #[arg(long, default_value_t = 15)]
        body_mib: usize,
        /// Connections that send their headers and part of a body, then
        /// stall.
        #[arg(long, default_value_t = 0)]
        slow: usize,
        /// How long a stalled sender may stay open (the gateway's
        /// http.body_timeout_ms plus a margin for thousands of connections
        /// to be accepted), in seconds.
        #[arg(long, default_value_t = 45)]
        slow_deadline: u64,
        /// The gateway's pid, to read its peak RSS.
        #[arg(long)]
        pid: u32,
        /// Fail if the peak RSS exceeds this.
        #[arg(long, default_value_t = 600)]
        max_rss_mib: u64,
    },
    /// A long mixed load; samples the gateway's RSS, descriptors, threads.
    Soak {
        /// http://host:port of the gateway.
        #[arg(long)]
        url: String,
        /// A topic (3 partitions) the load writes and the consumers read.
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// The gateway's pid.
        #[arg(long)]
        pid: u32,
        /// Concurrent producing clients.
        #[arg(long, default_value_t = 16)]
        clients: usize,
        /// Fail if the RSS peak of the last quarter of the run exceeds the
        /// peak of the second quarter by more than this.
        #[arg(long, default_value_t = 64.0)]
        max_rss_growth_mib: f64,
        /// Fail if RSS rises faster than this over the second half of the
        /// run, in MiB per minute: the least-squares slope of the medians of
        /// its windows (a tenth of the half each, at least 3 s), which
        /// consumers' read-ahead coming and going does not tilt.
        #[arg(long, default_value_t = 1.0)]
        max_rss_slope_mib_per_minute: f64,
        /// Write each sample (seconds, RSS MiB, fds, threads) here as CSV.
        #[arg(long)]
        samples: Option<PathBuf>,
        /// Which loads to run: produce, consumers, registry.
        #[arg(long, default_value = "produce,consumers,registry")]
        parts: String,
    },
    /// Named records, one per request, and what each was answered.
    Tracked {
        /// http://host:port of the gateway or its balancer.
        #[arg(long)]
        url: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Stop after this long...
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// ...or as soon as this file exists.
        #[arg(long)]
        stop_file: Option<PathBuf>,
        /// Where the JSON report goes.
        #[arg(long)]
        out: PathBuf,
    },
    /// Produce the scenario's records natively as fast as possible.
    Native {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        scenario: Scenario,
        /// How long to produce.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// The gateway's configuration file, for its producer settings.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Scenario d: the schema id framed into each record.
        #[arg(long, default_value_t = 0)]
        schema_id: u32,
    },
    /// Scenarios f and g: fill a topic natively with JSON records.
    Preload {
        #[arg(long)]
        bootstrap: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 1_000_000)]
        records: u64,
        /// Bytes of each record's value (a JSON object padded to this).
        #[arg(long, default_value_t = 150)]
        size: usize,
        /// The topic's partitions; records go round-robin over them.
        #[arg(long, default_value_t = 3)]
        partitions: i32,
    },
    /// Scenarios f and g: read a preloaded topic through v2 consumers.
    Consume {
        /// http://host:port of the gateway.
        #[arg(long)]
        url: String,
        #[arg(long)]
        group: String,
        #[arg(long)]
        topic: String,
        #[arg(long, default_value_t = 3)]
        partitions: i32,
        #[arg(long, value_enum, default_value_t = ConsumeFormat::Json)]
        format: ConsumeFormat,
        /// Records the topic holds, round-robin over its partitions as
        /// `preload` writes them (tansu 0.6's end offsets fall short of
        /// the last batch, so they cannot tell).
        #[arg(long)]
        records: u64,
        /// Consumer instances in the group, each reading its share of the
        /// partitions over its own sequence of GETs.
        #[arg(long, default_value_t = 1)]
        connections: usize,
        /// `max_bytes` of each GET.
        #[arg(long, default_value_t = 16 * 1024 * 1024)]
        max_bytes: usize,
        /// `timeout` of each GET, in ms.
        #[arg(long, default_value_t = 1000)]
        timeout_ms: u64,
        /// Give up (and fail) after this long.
        #[arg(long, default_value_t = 300)]
        max_seconds: u64,
        /// Read the records through this gateway instead (another gateway
        /// of the cluster, which forwards the reads to the instances').
        #[arg(long)]
        read_url: Option<String>,
    },
}

/// The v2 consumer's embedded formats that scenarios f and g read.
#[derive(Clone, Copy, ValueEnum)]
enum ConsumeFormat {
    Json,
    Binary,
}

impl ConsumeFormat {
    fn name(self) -> &'static str {
        match self {
            ConsumeFormat::Json => "json",
            ConsumeFormat::Binary => "binary",
        }
    }
}

/// The load-test scenarios (issue "Performance" (a)-(d)).
#[derive(Clone, Copy, ValueEnum)]
enum Scenario {
    /// One JSON record of about 250 bytes per request.
    A,
    /// 100 JSON records per request.
    B,
    /// 10 binary records of 1 KiB per request.
    C,
    /// 100 Avro records per request, by schema id.
    D,
    /// v3 streaming: scenario (a)'s record as one v3 object per record.
    E,
}

/// Scenario d's schema: the 10 fields of [`json_value`].
const AVRO_SCHEMA: &str = r#"{"type": "record", "name": "Customer", "fields": [
    {"name": "id", "type": "long"}, {"name": "name", "type": "string"},
    {"name": "email", "type": "string"}, {"name": "country", "type": "string"},
    {"name": "plan", "type": "string"}, {"name": "active", "type": "boolean"},
    {"name": "score", "type": "double"}, {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "created", "type": "string"}, {"name": "note", "type": "string"}]}"#;

fn json_value(i: usize) -> Value {
    json!({
        "id": 42 + i, "name": "Jane Doe", "email": "jane.doe@example.com",
        "country": "NL", "plan": "pro", "active": true, "score": 97.5,
        "tags": ["a", "b", "c"], "created": "2026-11-22T02:00:00Z",
        "note": "a record of about two hundred and fifty bytes, give or take"
    })
}

/// One record as Kafka receives it: key and value bytes.
type KafkaRecord = (Option<Vec<u8>>, Vec<u8>);

/// The content type, the HTTP body and the records Kafka receives.
fn scenario(s: Scenario, schema_id: u32) -> (&'static str, Value, Vec<KafkaRecord>) {
    match s {
        Scenario::D => {
            use gateway_codecs::Codec;
            let codec = gateway_codecs::avro::AvroCodec::new(AVRO_SCHEMA, schema_id).unwrap();
            let values: Vec<Value> = (0..100).map(json_value).collect();
            let kafka = values
                .iter()
                .map(|v| {
                    let mut text = serde_json::to_vec(v).unwrap();
                    let tape = simd_json::to_tape(&mut text).unwrap();
                    let mut out = Vec::new();
                    codec.encode(&tape.as_value(), &mut out).unwrap();
                    (None, out)
                })
                .collect();
            let records: Vec<Value> = values.into_iter().map(|v| json!({"value": v})).collect();
            (
                "application/vnd.kafka.avro.v2+json",
                json!({"value_schema_id": schema_id, "records": records}),
                kafka,
            )
        }
        Scenario::E => {
            let (_, _, kafka) = scenario(Scenario::A, 0);
            let record = json!({"key": {"type": "JSON", "data": "user-0"},
                                "value": {"type": "JSON", "data": json_value(0)}});
            ("application/json", record, kafka)
        }
        Scenario::A | Scenario::B => {
            let n = if matches!(s, Scenario::A) { 1 } else { 100 };
            let records: Vec<Value> = (0..n)
                .map(|i| json!({"key": format!("user-{i}"), "value": json_value(i)}))
                .collect();
            let kafka = records
                .iter()
                .map(|r| {
                    (
                        Some(serde_json::to_vec(&r["key"]).unwrap()),
                        serde_json::to_vec(&r["value"]).unwrap(),
                    )
                })
                .collect();
            (
                "application/vnd.kafka.json.v2+json",
                json!({"records": records}),
                kafka,
            )
        }
        Scenario::C => {
            let values: Vec<Vec<u8>> = (0..10)
                .map(|i| (0..1024).map(|b| ((b * 31 + i * 7) % 251) as u8).collect())
                .collect();
            let records: Vec<Value> = values
                .iter()
                .map(|v| json!({"value": base64_simd::STANDARD.encode_to_string(v)}))
                .collect();
            (
                "application/vnd.kafka.binary.v2+json",
                json!({"records": records}),
                values.into_iter().map(|v| (None, v)).collect(),
            )
        }
    }
}

struct Counting {
    delivered: AtomicU64,
    failed: AtomicU64,
}

struct CountingContext(Arc<Counting>);

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.0.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => self.0.failed.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn native(
    bootstrap: &str,
    topic: &str,
    s: Scenario,
    seconds: u64,
    config: Option<PathBuf>,
    schema_id: u32,
) {
    let config = Config::load(config.as_deref(), std::env::vars()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    let mut client = ClientConfig::new();
    for (k, v) in config.kafka.librdkafka_settings(bootstrap) {
        client.set(k, v);
    }
    // The gateway's statistics callback is not part of the yardstick.
    client.set("statistics.interval.ms", "0");
    let counts = Arc::new(Counting {
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let producer: ThreadedProducer<CountingContext> = client
        .create_with_context(CountingContext(counts.clone()))
        .expect("producer");
    let (_, _, records) = scenario(s, schema_id);
    // Tuned as the gateway is: one topic handle, no name looked up (nor
    // copied into a C string) per record.
    let handle = TopicHandle::new(producer.client(), topic).expect("a valid topic name");
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut sent = 0u64;
    'outer: while Instant::now() < until {
        for (key, value) in &records {
            let record = Outgoing {
                partition: None,
                key: key.as_deref(),
                value: Some(value),
                timestamp: None,
                headers: &[],
            };
            if !send_retrying(&handle, &record, Some(until)) {
                break 'outer;
            }
            sent += 1;
        }
    }
    let (delivered, failed, elapsed) = finish(&producer, &counts, started, 60);
    println!(
        "{{\"records\": {delivered}, \"sent\": {sent}, \"failed\": {failed}, \"seconds\": {elapsed:.3}, \"records_per_second\": {:.0}}}",
        delivered as f64 / elapsed
    );
}

/// Waits up to `flush_seconds` for every delivery; gives the records
/// delivered, failed, and the seconds since `started`.
fn finish(
    producer: &ThreadedProducer<CountingContext>,
    counts: &Counting,
    started: Instant,
    flush_seconds: u64,
) -> (u64, u64, f64) {
    producer
        .flush(Duration::from_secs(flush_seconds))
        .expect("everything sent is delivered");
    (
        counts.delivered.load(Ordering::Relaxed),
        counts.failed.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64(),
    )
}

/// Sends one record, waiting while librdkafka's queue is full; false if
/// `until` passed first (the record is then not sent).
fn send_retrying(topic: &TopicHandle<'_>, record: &Outgoing<'_>, until: Option<Instant>) -> bool {
    loop {
        match produce(topic, record, ()) {
            Ok(()) => return true,
            Err((RDKafkaErrorCode::QueueFull, ())) => {
                std::thread::sleep(Duration::from_millis(1));
                if until.is_some_and(|u| Instant::now() >= u) {
                    return false;
                }
            }
            Err((e, ())) => panic!("produce: {e}"),
        }
    }
}

/// Scenarios f and g's record `i`: a JSON object like scenario a's, its
/// note padded so that the whole is `size` bytes.
fn preload_value(i: u64, size: usize) -> Vec<u8> {
    const NOTE: &[u8] = b"a record of about one hundred and fifty bytes, give or take, ";
    let mut value = format!(
        r#"{{"id":{},"name":"Jane Doe","email":"jane.doe@example.com","country":"NL","plan":"pro","active":true,"score":97.5,"note":""#,
        42 + i
    )
    .into_bytes();
    let pad = size.saturating_sub(value.len() + 2);
    value.extend(NOTE.iter().cycle().take(pad));
    value.extend_from_slice(b"\"}");
    value
}

/// Fills `topic` with `records` records (JSON string keys, JSON object
/// values), round-robin over its partitions, in large batches, and waits
/// for every delivery.
fn preload(bootstrap: &str, topic: &str, records: u64, size: usize, partitions: i32) {
    let counts = Arc::new(Counting {
        delivered: AtomicU64::new(0),
        failed: AtomicU64::new(0),
    });
    let producer: ThreadedProducer<CountingContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set("batch.size", "1048576")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("statistics.interval.ms", "0")
        .create_with_context(CountingContext(counts.clone()))
        .expect("producer");
    let handle = TopicHandle::new(producer.client(), topic).expect("a valid topic name");
    let started = Instant::now();
    for i in 0..records {
        let key = format!("\"user-{}\"", i % 1000);
        let value = preload_value(i, size);
        let record = Outgoing {
            partition: Some((i % partitions as u64) as i32),
            key: Some(key.as_bytes()),
            value: Some(&value),
            timestamp: None,
            headers: &[],
        };
        send_retrying(&handle, &record, None);
    }
    let (delivered, failed, elapsed) = finish(&producer, &counts, started, 120);
    println!(
        "{}",
        json!({"records": delivered, "failed": failed, "seconds": elapsed,
               "records_per_second": delivered as f64 / elapsed,
               "value_bytes": preload_value(0, size).len()})
    );
    if delivered != records {
        eprintln!("preload: {delivered} of {records} records delivered, {failed} failed");
        std::process::exit(1);
    }
}

/// The two fields of a v2 consumer's record that the check needs; the rest
/// (topic, key, value, timestamp) is skipped unparsed.
#[derive(serde::Deserialize)]
struct ConsumedRecord {
    partition: i32,
    offset: i64,
}

/// What one consumer instance's reads came to.
#[derive(Default)]
struct ConsumeCounts {
    records: u64,
    requests: u64,
    errors: u64,
    empty: u64,
    bytes: u64,
    latencies: Vec<f64>,
}

/// Whether the first record of an answer is scenario f or g's record in
/// the format asked for: a JSON object, or base64 of its bytes.
fn looks_right(format: ConsumeFormat, body: &[u8]) -> bool {
    // The array's first element alone: a stream of values stops there.
    let Some(Ok(first)) = body.get(1..).and_then(|rest| {
        serde_json::Deserializer::from_slice(rest)
            .into_iter::<Value>()
            .next()
    }) else {
        return false;
    };
    match format {
        ConsumeFormat::Json => first["value"]["id"].is_u64() && first["key"].is_string(),
        ConsumeFormat::Binary => first["value"]
            .as_str()
            .and_then(|v| base64_simd::STANDARD.decode_to_vec(v).ok())
            .is_some_and(|v| v.starts_with(b"{\"id\":")),
    }
}

/// Scenarios f and g: `connections` v2 consumer instances in `group`, each
/// assigned its share of the partitions, read with `GET .../records?query`
/// until every partition's end offset; each partition's offsets must come
/// back contiguous (nothing lost, nothing twice). Prints one JSON line:
/// records/s over the reads and the GETs' latency.
#[allow(clippy::too_many_arguments)]
async fn consume(
    url: &str,
    read_url: Option<&str>,
    group: &str,
    topic: &str,
    partitions: i32,
    format: ConsumeFormat,
    records: u64,
    connections: usize,
    query: &str,
    limit: Duration,
) {
    use std::collections::HashMap;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let v2 = "application/vnd.kafka.v2+json";
    // Where each partition begins, and where it ends: `records` spread
    // round-robin from there.
    let mut ranges = Vec::new();
    for p in 0..partitions {
        let offsets: Value = http
            .get(format!("{url}/topics/{topic}/partitions/{p}/offsets"))
            .send()
            .await
            .expect("gateway answers")
            .error_for_status()
            .expect("partition offsets")
            .json()
            .await
            .expect("offsets JSON");
        let begin = offsets["beginning_offset"].as_i64().expect("an offset");
        let share =
            records / partitions as u64 + u64::from((p as u64) < records % partitions as u64);
        ranges.push((begin, begin + share as i64));
    }
    let connections = connections.clamp(1, partitions.max(1) as usize);
    let mut instances = Vec::new();
    for c in 0..connections {
        let name = format!("lt-{c}");
        let created = http
            .post(format!("{url}/consumers/{group}"))
            .header("Content-Type", v2)
            .body(
                json!({"name": name, "format": format.name(),
                       "auto.offset.reset": "earliest", "auto.commit.enable": "false"})
                .to_string(),
            )
            .send()
            .await
            .expect("gateway answers");
        assert!(
            created.status().is_success(),
            "create: {}",
            created.text().await.unwrap_or_default()
        );
        let base = format!("{url}/consumers/{group}/instances/{name}");
        let mine: Vec<i32> = (0..partitions)
            .filter(|p| *p as usize % connections == c)
            .collect();
        let assignment: Vec<Value> = mine
            .iter()
            .map(|p| json!({"topic": topic, "partition": p}))
            .collect();
        let assigned = http
            .post(format!("{base}/assignments"))
            .header("Content-Type", v2)
            .body(json!({ "partitions": assignment }).to_string())
            .send()
            .await
            .expect("gateway answers");
        assert!(
            assigned.status().is_success(),
            "assign: {}",
            assigned.text().await.unwrap_or_default()
        );
        let reader = read_url.unwrap_or(url);
        instances.push((format!("{reader}/consumers/{group}/instances/{name}"), mine));
    }
    let accept = format!("application/vnd.kafka.{}.v2+json", format.name());
    let started = Instant::now();
    let deadline = started + limit;
    let tasks: Vec<_> = instances
        .iter()
        .map(|(base, mine)| {
            let (http, accept) = (http.clone(), accept.clone());
            let records_url = format!("{base}/records?{query}");
            let ends: HashMap<i32, i64> =
                mine.iter().map(|p| (*p, ranges[*p as usize].1)).collect();
            let mut next: HashMap<i32, i64> =
                mine.iter().map(|p| (*p, ranges[*p as usize].0)).collect();
            tokio::spawn(async move {
                let mut counts = ConsumeCounts::default();
                let mut checked = false;
                let complain = |counts: &mut ConsumeCounts, what: String| {
                    if counts.errors < 5 {
                        eprintln!("consume: {what}");
                    }
                    counts.errors += 1;
                };
                while next.iter().any(|(p, n)| *n < ends[p]) {
                    if Instant::now() >= deadline || counts.errors >= 20 {
                        complain(
                            &mut counts,
                            format!("gave up with {next:?} of {ends:?} read"),
                        );
                        break;
                    }
                    let sent = Instant::now();
                    let answer = match http
                        .get(&records_url)
                        .header("Accept", &accept)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            r.bytes().await.map_err(|e| e.to_string())
                        }
                        Ok(r) => {
                            let status = r.status();
                            Err(format!("{status}: {}", r.text().await.unwrap_or_default()))
                        }
                        Err(e) => Err(e.to_string()),
                    };
                    counts.latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                    counts.requests += 1;
                    let body = match answer {
                        Ok(body) => body,
                        Err(e) => {
                            complain(&mut counts, e);
                            continue;
                        }
                    };
                    counts.bytes += body.len() as u64;
                    let got: Vec<ConsumedRecord> = match serde_json::from_slice(&body) {
                        Ok(got) => got,
                        Err(e) => {
                            complain(&mut counts, format!("answer is not a records array: {e}"));
                            continue;
                        }
                    };
                    if got.is_empty() {
                        counts.empty += 1;
                        continue;
                    }
                    if !checked {
                        checked = true;
                        if !looks_right(format, &body) {
                            let head =
                                String::from_utf8_lossy(&body[..body.len().min(300)]).to_string();
                            complain(&mut counts, format!("unexpected record: {head}"));
                        }
                    }
                    for r in &got {
                        match next.get_mut(&r.partition) {
                            Some(n) if *n == r.offset => *n += 1,
                            Some(n) => {
                                let what = format!(
                                    "partition {}: offset {} where {} was next",
                                    r.partition, r.offset, *n
                                );
                                *n = (*n).max(r.offset + 1);
                                complain(&mut counts, what);
                            }
                            None => complain(
                                &mut counts,
                                format!("a record of partition {}, not assigned", r.partition),
                            ),
                        }
                    }
                    counts.records += got.len() as u64;
                }
                counts
            })
        })
        .collect();
    let mut total = ConsumeCounts::default();
    for task in tasks {
        let c = task.await.expect("consume task");
        total.records += c.records;
        total.requests += c.requests;
        total.errors += c.errors;
        total.empty += c.empty;
        total.bytes += c.bytes;
        total.latencies.extend(c.latencies);
    }
    let elapsed = started.elapsed().as_secs_f64();
    for (base, _) in &instances {
        let _ = http.delete(base).send().await;
    }
    if total.records != records {
        eprintln!(
            "consume: {} records came back, not {records}",
            total.records
        );
        total.errors += 1;
    }
    total.latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let l = &total.latencies;
        l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{}",
        json!({"records": total.records, "requests": total.requests, "seconds": elapsed,
               "records_per_second": total.records as f64 / elapsed,
               "errors": total.errors, "empty_responses": total.empty, "bytes": total.bytes,
               "records_per_request": total.records as f64 / total.requests.max(1) as f64,
               "p50_ms": pct(0.50), "p99_ms": pct(0.99), "p999_ms": pct(0.999)})
    );
}

#[tokio::main]
async fn main() {
    match Args::parse().command {
        Command::AvroSchema => println!("{}", json!({ "schema": AVRO_SCHEMA })),
        Command::Bare { listen, workers } => bare(&listen, workers).await,
        Command::Stream {
            addr,
            topic,
            connections,
            seconds,
            chunk,
        } => stream(&addr, &topic, connections, seconds, chunk).await,
        Command::Body {
            scenario: s,
            content_type,
            schema_id,
        } => {
            let (ct, body, _) = scenario(s, schema_id);
            if content_type {
                println!("{ct}");
            } else {
                println!("{body}");
            }
        }
        Command::CreateTopic {
            bootstrap,
            topic,
            partitions,
        } => {
            let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .expect("admin client");
            let results = admin
                .create_topics(
                    &[NewTopic::new(
                        &topic,
                        partitions,
                        TopicReplication::Fixed(1),
                    )],
                    &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
                )
                .await
                .expect("create topics");
            for r in results {
                match r {
                    Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                    Err((t, e)) => panic!("create {t}: {e}"),
                }
            }
        }
        Command::Hostile {
            addr,
            topic,
            connections,
            body_mib,
            slow,
            slow_deadline,
            pid,
            max_rss_mib,
        } => {
            hostile(
                &addr,
                &topic,
                connections,
                body_mib,
                slow,
                Duration::from_secs(slow_deadline),
                pid,
                max_rss_mib,
            )
            .await
        }
        Command::Soak {
            url,
            topic,
            seconds,
            pid,
            clients,
            max_rss_growth_mib,
            max_rss_slope_mib_per_minute,
            samples,
            parts,
        } => {
            soak(
                &url,
                &topic,
                Duration::from_secs(seconds),
                pid,
                if parts.contains("produce") {
                    clients
                } else {
                    0
                },
                max_rss_growth_mib,
                max_rss_slope_mib_per_minute,
                samples,
                parts.contains("consumers"),
                parts.contains("registry"),
            )
            .await
        }
        Command::Tracked {
            url,
            topic,
            connections,
            seconds,
            stop_file,
            out,
        } => tracked(&url, &topic, connections, seconds, stop_file, &out).await,
        Command::Native {
            bootstrap,
            topic,
            scenario: s,
            seconds,
            config,
            schema_id,
        } => tokio::task::spawn_blocking(move || {
            native(&bootstrap, &topic, s, seconds, config, schema_id)
        })
        .await
        .unwrap(),
        Command::Preload {
            bootstrap,
            topic,
            records,
            size,
            partitions,
        } => tokio::task::spawn_blocking(move || {
            preload(&bootstrap, &topic, records, size, partitions)
        })
        .await
        .unwrap(),
        Command::Consume {
            url,
            group,
            topic,
            partitions,
            format,
            records,
            connections,
            max_bytes,
            timeout_ms,
            max_seconds,
            read_url,
        } => {
            consume(
                &url,
                read_url.as_deref(),
                &group,
                &topic,
                partitions,
                format,
                records,
                connections,
                &format!("max_bytes={max_bytes}&timeout={timeout_ms}"),
                Duration::from_secs(max_seconds),
            )
            .await
        }
    }
}

/// Scenario (e): `connections` streams of v3 records; prints the result in
/// the shape the load-test script reads from wrk.
async fn stream(addr: &str, topic: &str, connections: usize, seconds: u64, chunk: usize) {
    let client = reqwest::Client::new();
    let clusters: Value = client
        .get(format!("http://{addr}/v3/clusters"))
        .send()
        .await
        .expect("GET /v3/clusters")
        .json()
        .await
        .expect("clusters JSON");
    let cluster = clusters["data"][0]["cluster_id"]
        .as_str()
        .expect("a cluster id")
        .to_string();
    let path = format!("/v3/clusters/{cluster}/topics/{topic}/records");
    let record = scenario(Scenario::E, 0).1.to_string();
    let body: String = std::iter::repeat_n(record.as_str(), chunk)
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(one_stream(
                addr.to_string(),
                path.clone(),
                body.clone(),
                chunk,
                deadline,
            ))
        })
        .collect();
    let (mut answered, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
    for task in tasks {
        let (a, e, l) = task.await.expect("stream task");
        answered += a;
        errors += e;
        latencies.extend(l);
    }
    let elapsed = start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{}",
        json!({"requests": answered, "seconds": elapsed, "errors": errors,
               "p50_ms": pct(0.50), "p99_ms": pct(0.99), "p999_ms": pct(0.999)})
    );
}

/// Records one stream may have sent and not yet seen answered.
const WINDOW: usize = 500;

/// One chunked POST: a writer sends chunks until the deadline while this
/// task reads the answers. Returns (answers, errors, latencies in ms).
async fn one_stream(
    addr: String,
    path: String,
    body: String,
    chunk: usize,
    deadline: Instant,
) -> (u64, u64, Vec<f64>) {
    use std::collections::VecDeque;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let stream = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    stream.set_nodelay(true).ok();
    let (read, mut write) = stream.into_split();
    let sent = Arc::new(parking_lot::Mutex::new(VecDeque::<Instant>::new()));
    let writer = {
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            let head = format!(
                "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            write.write_all(head.as_bytes()).await.expect("write");
            let framed = format!("{:x}\r\n{body}\r\n", body.len());
            while Instant::now() < deadline {
                // A window of unanswered records, so latency is the
                // gateway's and not queueing in socket buffers.
                while sent.lock().len() >= WINDOW {
                    tokio::time::sleep(Duration::from_micros(200)).await;
                }
                let now = Instant::now();
                sent.lock().extend(std::iter::repeat_n(now, chunk));
                if write.write_all(framed.as_bytes()).await.is_err() {
                    return write;
                }
            }
            let _ = write.write_all(b"0\r\n\r\n").await;
            // Kept open (not shut down) until the answers are read, as
            // HTTP clients do.
            write
        })
    };
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let (mut answered, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
    let mut pending: Vec<u8> = Vec::new();
    let mut settle = |item: &[u8], answered: &mut u64, errors: &mut u64| {
        let at = sent.lock().pop_front();
        if let Some(at) = at {
            latencies.push(at.elapsed().as_secs_f64() * 1000.0);
        }
        *answered += 1;
        const OK: &[u8] = br#""error_code":200,"#;
        if !item.windows(OK.len()).any(|w| w == OK) {
            if *errors < 3 {
                eprintln!("error answer: {}", String::from_utf8_lossy(item));
            }
            *errors += 1;
        }
    };
    loop {
        line.clear();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            break;
        }
        let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let mut data = vec![0; size + 2];
        if reader.read_exact(&mut data).await.is_err() {
            break;
        }
        pending.extend_from_slice(&data[..size]);
        while let Some(pos) = pending.windows(2).position(|w| w == b"\r\n") {
            let item: Vec<u8> = pending.drain(..pos + 2).collect();
            // Empty: the separator after an answer settled as it came.
            if pos > 0 {
                settle(&item[..pos], &mut answered, &mut errors);
            }
        }
        if serde_json::from_slice::<Value>(&pending).is_ok() {
            let item = std::mem::take(&mut pending);
            settle(&item, &mut answered, &mut errors);
        }
    }
    drop(writer.await);
    (answered, errors, latencies)
}

/// The hostile load: `connections` concurrent bodies of `body_mib` MiB of
/// tiny records and `slow` stalled senders; every large request must be
/// answered (413, 429 or 200, never dropped), every stalled one closed by
/// the gateway within `slow_deadline`, and the gateway's peak RSS must stay
/// under `max_rss_mib`.
#[allow(clippy::too_many_arguments)]
async fn hostile(
    addr: &str,
    topic: &str,
    connections: usize,
    body_mib: usize,
    slow: usize,
    slow_deadline: Duration,
    pid: u32,
    max_rss_mib: u64,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut body = String::from("{\"records\":[");
    while body.len() < body_mib << 20 {
        body.push_str("{\"value\":1},");
    }
    body.pop();
    body.push_str("]}");
    let body = Arc::new(body.into_bytes());
    let head = |length: usize| {
        format!(
            "POST /topics/{topic} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/vnd.kafka.json.v2+json\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
        )
    };
    // Reads the status line, then until the gateway closes.
    async fn answer(mut s: tokio::net::TcpStream, limit: Duration) -> Option<u16> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let read = tokio::time::timeout(limit, async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        if read.is_err() {
            return None;
        }
        std::str::from_utf8(&out)
            .ok()?
            .strip_prefix("HTTP/1.1 ")?
            .get(..3)?
            .parse()
            .ok()
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..slow {
        let (addr, head) = (addr.to_string(), head(1000));
        tasks.push(tokio::spawn(async move {
            let sent = async {
                let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
                s.write_all(head.as_bytes()).await.ok()?;
                s.write_all(b"{\"records\":[{\"val").await.ok()?;
                answer(s, slow_deadline).await
            };
            (true, sent.await)
        }));
    }
    for _ in 0..connections {
        let (addr, head, body) = (addr.to_string(), head(body.len()), Arc::clone(&body));
        tasks.push(tokio::spawn(async move {
            let sent = async {
                let mut s = tokio::net::TcpStream::connect(&addr).await.ok()?;
                s.write_all(head.as_bytes()).await.ok()?;
                // A refusal may come before the body is sent; then the
                // write fails and the answer is still there to read.
                let _ = s.write_all(&body).await;
                answer(s, Duration::from_secs(300)).await
            };
            (false, sent.await)
        }));
    }
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let peak = Arc::clone(&peak);
        tokio::spawn(async move {
            loop {
                if let Some(kib) = rss_kib(pid, "VmRSS:") {
                    peak.fetch_max(kib, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let mut statuses = std::collections::BTreeMap::<String, u64>::new();
    let (mut dropped, mut slow_closed) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            (true, Some(_)) => slow_closed += 1,
            (true, None) => {}
            (false, Some(code)) => *statuses.entry(code.to_string()).or_default() += 1,
            (false, None) => dropped += 1,
        }
    }
    sampler.abort();
    let hwm = rss_kib(pid, "VmHWM:").unwrap_or(0);
    let peak_mib = peak.load(Ordering::Relaxed).max(hwm) / 1024;
    println!(
        "{}",
        json!({"statuses": statuses, "dropped": dropped, "slow": slow,
               "slow_closed": slow_closed, "peak_rss_mib": peak_mib,
               "seconds": started.elapsed().as_secs_f64()})
    );
    let mut failed = Vec::new();
    if peak_mib > max_rss_mib {
        failed.push(format!("peak RSS {peak_mib} MiB is over {max_rss_mib} MiB"));
    }
    if dropped > 0 {
        failed.push(format!("{dropped} requests were dropped without an answer"));
    }
    if slow_closed < slow {
        failed.push(format!(
            "{} stalled senders were still open",
            slow - slow_closed
        ));
    }
    if !failed.is_empty() {
        eprintln!("HOSTILE LOAD FAILED: {}", failed.join("; "));
        std::process::exit(1);
    }
}

fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// What one soak client saw.
#[derive(Default)]
struct SoakCounts {
    by_status: std::collections::BTreeMap<u16, u64>,
    transport_errors: u64,
}

/// The soak: clients loop over a mix of calls until the time is up, while
/// the gateway's RSS, descriptors and threads are sampled every second.
/// The second half of the run (after warm-up) must not grow: RSS by more
/// than `max_rss_growth_mib` from peak to peak, nor faster than
/// `max_rss_slope_mib_per_minute` in its trend; descriptors and threads by
/// more than a few.
/// What `tracked` saw.
#[derive(Default)]
struct Tracked {
    /// id -> (partition, offset) of a 200 without a per-record error.
    acked: serde_json::Map<String, Value>,
    /// HTTP status (or per-record error code) -> count.
    failed: std::collections::BTreeMap<String, u64>,
    /// Could not connect or send: nothing reached a gateway.
    transport_errors: u64,
    /// Sent, then the connection broke before an answer.
    unanswered: Vec<String>,
    requests: u64,
}

async fn tracked(
    url: &str,
    topic: &str,
    connections: usize,
    seconds: u64,
    stop_file: Option<PathBuf>,
    out: &std::path::Path,
) {
    let until = Instant::now() + Duration::from_secs(seconds);
    let report = Arc::new(parking_lot::Mutex::new(Tracked::default()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            while Instant::now() < until && !stop_file.as_ref().is_some_and(|f| f.exists()) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            stop.store(true, Ordering::Release);
        })
    };
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            let (report, stop) = (Arc::clone(&report), Arc::clone(&stop));
            let target = format!("{url}/topics/{topic}");
            tokio::spawn(async move {
                // One keep-alive connection per task, as a client has.
                let http = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .timeout(Duration::from_secs(60))
                    .build()
                    .unwrap();
                let mut n = 0u64;
                while !stop.load(Ordering::Acquire) {
                    n += 1;
                    let id = format!("c{c}-{n}");
                    let body = json!({"records": [{"value": {"id": id}}]}).to_string();
                    let sent = http
                        .post(&target)
                        .header("Content-Type", "application/vnd.kafka.json.v2+json")
                        .body(body)
                        .send()
                        .await;
                    // None: a transport error; Some(Err(id)): unanswered.
                    let outcome = match sent {
                        Err(e) if e.is_connect() => None,
                        Err(_) => Some(Err(id)),
                        Ok(response) => {
                            let status = response.status().as_u16();
                            let answer: Value = response.json().await.unwrap_or(Value::Null);
                            Some(Ok((id, status, answer)))
                        }
                    };
                    let mut r = report.lock();
                    r.requests += 1;
                    match outcome {
                        None => r.transport_errors += 1,
                        Some(Err(id)) => r.unanswered.push(id),
                        Some(Ok((id, status, answer))) => {
                            let entry = &answer["offsets"][0];
                            if status == 200 && entry["error_code"].is_null() {
                                r.acked
                                    .insert(id, json!([entry["partition"], entry["offset"]]));
                            } else if status == 200 {
                                *r.failed.entry(entry["error_code"].to_string()).or_default() += 1;
                            } else {
                                *r.failed.entry(status.to_string()).or_default() += 1;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let _ = watcher.await;
    let elapsed = started.elapsed().as_secs_f64();
    let r = report.lock();
    let summary = json!({
        "requests": r.requests,
        "acked_count": r.acked.len(),
        "failed": r.failed,
        "transport_errors": r.transport_errors,
        "unanswered": r.unanswered,
        "seconds": elapsed,
        "acked": r.acked,
    });
    std::fs::write(out, summary.to_string()).expect("writes the report");
    println!(
        "tracked: {} requests in {elapsed:.1} s, {} acknowledged, failed {:?}, {} transport errors, {} unanswered",
        r.requests,
        r.acked.len(),
        r.failed,
        r.transport_errors,
        r.unanswered.len()
    );
}

#[allow(clippy::too_many_arguments)]
async fn soak(
    url: &str,
    topic: &str,
    duration: Duration,
    pid: u32,
    clients: usize,
    max_rss_growth_mib: f64,
    max_rss_slope_mib_per_minute: f64,
    samples_file: Option<PathBuf>,
    with_consumers: bool,
    with_registry: bool,
) {
    // Idle connections are dropped before the gateway's keep-alive (5 s)
    // closes them: reusing one the server is closing at that moment fails
    // in transport, a race of the client, not the gateway's.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .pool_idle_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let cluster = http
        .get(format!("{url}/v3/clusters"))
        .send()
        .await
        .expect("gateway answers")
        .json::<Value>()
        .await
        .unwrap()["data"][0]["cluster_id"]
        .as_str()
        .unwrap()
        .to_string();
    let until = Instant::now() + duration;
    let counts = Arc::new(parking_lot::Mutex::new(SoakCounts::default()));
    let note = |counts: &parking_lot::Mutex<SoakCounts>,
                r: Result<reqwest::Response, reqwest::Error>| {
        let mut c = counts.lock();
        match r {
            Ok(r) => *c.by_status.entry(r.status().as_u16()).or_default() += 1,
            Err(e) => {
                c.transport_errors += 1;
                if c.transport_errors <= 5 {
                    eprintln!("soak: transport error: {e:?}");
                }
            }
        }
    };
    let mut tasks = Vec::new();
    // Producers: v2 single and batched, v3 single, and a share of bad
    // requests (malformed, unknown topic, unknown field, wrong type,
    // unacceptable Accept).
    for client in 0..clients {
        let (http, url, topic, cluster, counts) = (
            http.clone(),
            url.to_string(),
            topic.to_string(),
            cluster.clone(),
            Arc::clone(&counts),
        );
        tasks.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            while Instant::now() < until {
                n += 1;
                let v2 = format!("{url}/topics/{topic}");
                let json_type = "application/vnd.kafka.json.v2+json";
                let r = match n % 20 {
                    0 => http.post(&v2).header("Content-Type", json_type).body("{\"records\":[{\"value\":").send().await,
                    1 => http.post(format!("{url}/topics/no-such-topic")).header("Content-Type", json_type).body("{\"records\":[{\"value\":1}]}").send().await,
                    2 => http.post(&v2).header("Content-Type", json_type).body("{\"records\":[{\"valu\":1}]}").send().await,
                    3 => http.post(&v2).header("Content-Type", "text/plain").body("hello").send().await,
                    4 => http.get(format!("{url}/topics/{topic}")).header("Accept", "text/html").send().await,
                    5..=9 => {
                        let records: Vec<Value> = (0..50).map(|i| json!({"key": format!("k{i}"), "value": {"client": client, "n": n, "i": i}})).collect();
                        http.post(&v2).header("Content-Type", json_type).body(json!({"records": records}).to_string()).send().await
                    }
                    10..=13 => http
                        .post(format!("{url}/v3/clusters/{cluster}/topics/{topic}/records"))
                        .header("Content-Type", "application/json")
                        .body(json!({"key": {"type": "STRING", "data": format!("c{client}")}, "value": {"type": "JSON", "data": {"n": n}}}).to_string())
                        .send()
                        .await,
                    _ => http.post(&v2).header("Content-Type", json_type).body(json!({"records": [{"value": {"client": client, "n": n}}]}).to_string()).send().await,
                };
                note(&counts, r);
            }
        }));
    }
    // Consumers: create, subscribe, read, commit, delete, again and again,
    // each in a group of its own (a group of several would rebalance at
    // every join, and a commit during a rebalance fails, rightly, in 5xx).
    if with_consumers {
        let (http, url, topic, counts) = (
            http.clone(),
            url.to_string(),
            topic.to_string(),
            Arc::clone(&counts),
        );
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            let v2 = "application/vnd.kafka.v2+json";
            while Instant::now() < until {
                n += 1;
                let group = format!("soak-{}-{n}", std::process::id());
                let base = format!("{url}/consumers/{group}/instances/c{n}");
                let r = http.post(format!("{url}/consumers/{group}")).header("Content-Type", v2)
                    .body(json!({"name": format!("c{n}"), "format": "binary", "auto.offset.reset": "earliest"}).to_string()).send().await;
                note(&counts, r);
                let r = http.post(format!("{base}/subscription")).header("Content-Type", v2)
                    .body(json!({"topics": [topic]}).to_string()).send().await;
                note(&counts, r);
                for _ in 0..3 {
                    let r = http.get(format!("{base}/records?timeout=500&max_bytes=65536"))
                        .header("Accept", "application/vnd.kafka.binary.v2+json").send().await;
                    if let Ok(r) = r {
                        *counts.lock().by_status.entry(r.status().as_u16()).or_default() += 1;
                        let _ = r.bytes().await;
                    }
                }
                let r = http.post(format!("{base}/offsets")).header("Content-Type", v2).send().await;
                note(&counts, r);
                let r = http.delete(&base).send().await;
                note(&counts, r);
            }
        }));
    }
    // Schema Registry: idempotent registrations, lookups, latest, by id,
    // and a malformed schema now and then.
    if with_registry {
        let (http, url, counts) = (http.clone(), url.to_string(), Arc::clone(&counts));
        tasks.push(tokio::spawn(async move {
            let sr = "application/vnd.schemaregistry.v1+json";
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                let subject = format!("soak-{}-value", n % 8);
                let schema = json!({"schema": json!({"type": "record", "name": format!("S{}", n % 8), "fields": [{"name": "a", "type": "int"}]}).to_string()});
                let r = http.post(format!("{url}/subjects/{subject}/versions")).header("Content-Type", sr).body(schema.to_string()).send().await;
                note(&counts, r);
                let r = http.post(format!("{url}/subjects/{subject}")).header("Content-Type", sr).body(schema.to_string()).send().await;
                note(&counts, r);
                let r = http.get(format!("{url}/subjects/{subject}/versions/latest")).send().await;
                note(&counts, r);
                let r = http.post(format!("{url}/subjects/{subject}/versions")).header("Content-Type", sr).body("{\"schema\": \"{not avro\"}").send().await;
                note(&counts, r);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    // Samples: (seconds, RSS MiB, descriptors, threads).
    let started = Instant::now();
    let mut samples: Vec<(f64, f64, f64, f64)> = Vec::new();
    while Instant::now() < until {
        let rss = rss_kib(pid, "VmRSS:").unwrap_or(0) as f64 / 1024.0;
        let threads = rss_kib(pid, "Threads:").unwrap_or(0) as f64;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.count())
            .unwrap_or(0) as f64;
        samples.push((started.elapsed().as_secs_f64(), rss, fds, threads));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    for t in tasks {
        let _ = t.await;
    }
    if let Some(path) = samples_file {
        let mut csv = String::from("seconds,rss_mib,fds,threads\n");
        for (t, r, f, th) in &samples {
            csv.push_str(&format!("{t:.0},{r:.1},{f},{th}\n"));
        }
        std::fs::write(path, csv).unwrap();
    }
    // Least-squares slope over the second half, per minute.
    let half = &samples[samples.len() / 2..];
    let slope = |pick: fn(&(f64, f64, f64, f64)) -> f64| -> f64 {
        let n = half.len() as f64;
        let (mx, my) = (
            half.iter().map(|s| s.0).sum::<f64>() / n,
            half.iter().map(pick).sum::<f64>() / n,
        );
        let num: f64 = half.iter().map(|s| (s.0 - mx) * (pick(s) - my)).sum();
        let den: f64 = half.iter().map(|s| (s.0 - mx).powi(2)).sum();
        if den == 0.0 {
            0.0
        } else {
            num / den * 60.0
        }
    };
    let (rss_slope, fd_slope, thread_slope) = (slope(|s| s.1), slope(|s| s.2), slope(|s| s.3));
    // The trend under the swings: the same slope through the median RSS of
    // each window of the second half.
    let window = (half.len() / 10).max(3);
    let medians: Vec<(f64, f64)> = half
        .chunks(window)
        .filter(|w| w.len() == window)
        .map(|w| {
            let mut rss: Vec<f64> = w.iter().map(|s| s.1).collect();
            rss.sort_by(f64::total_cmp);
            ((w[0].0 + w[window - 1].0) / 2.0, rss[window / 2])
        })
        .collect();
    let rss_trend = {
        let n = medians.len() as f64;
        let (mx, my) = (
            medians.iter().map(|m| m.0).sum::<f64>() / n,
            medians.iter().map(|m| m.1).sum::<f64>() / n,
        );
        let num: f64 = medians.iter().map(|m| (m.0 - mx) * (m.1 - my)).sum();
        let den: f64 = medians.iter().map(|m| (m.0 - mx).powi(2)).sum();
        if den == 0.0 {
            0.0
        } else {
            num / den * 60.0
        }
    };
    // Growth: the peak of the last quarter over the peak of the second.
    // RSS swings by tens of MiB as consumers come and go; peaks compare
    // what a line through the swings would not.
    let q = samples.len() / 4;
    let peak = |range: &[(f64, f64, f64, f64)], pick: fn(&(f64, f64, f64, f64)) -> f64| {
        range.iter().map(pick).fold(f64::MIN, f64::max)
    };
    let growth = |pick: fn(&(f64, f64, f64, f64)) -> f64| {
        peak(&samples[3 * q..], pick) - peak(&samples[q..2 * q], pick)
    };
    let (rss_growth, fd_growth, thread_growth) =
        (growth(|s| s.1), growth(|s| s.2), growth(|s| s.3));
    let c = counts.lock();
    let requests: u64 = c.by_status.values().sum();
    let server_errors: u64 = c
        .by_status
        .iter()
        .filter(|(s, _)| **s >= 500)
        .map(|(_, n)| n)
        .sum();
    let first = samples[0];
    let last = *samples.last().unwrap();
    println!(
        "{}",
        json!({
            "seconds": started.elapsed().as_secs_f64(), "requests": requests,
            "requests_per_second": requests as f64 / started.elapsed().as_secs_f64(),
            "by_status": c.by_status.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "transport_errors": c.transport_errors,
            "rss_mib": {"start": first.1, "end": last.1, "max": samples.iter().map(|s| s.1).fold(0.0, f64::max), "slope_per_minute_second_half": rss_slope, "median_slope_per_minute_second_half": rss_trend, "window_seconds": window, "peak_growth_last_quarter": rss_growth},
            "fds": {"start": first.2, "end": last.2, "max": samples.iter().map(|s| s.2).fold(0.0, f64::max), "slope_per_minute_second_half": fd_slope, "peak_growth_last_quarter": fd_growth},
            "threads": {"start": first.3, "end": last.3, "max": samples.iter().map(|s| s.3).fold(0.0, f64::max), "slope_per_minute_second_half": thread_slope, "peak_growth_last_quarter": thread_growth},
        })
    );
    let mut failed = Vec::new();
    if server_errors > 0 || c.transport_errors > 0 {
        failed.push(format!(
            "{server_errors} answers were 5xx and {} requests failed in transport",
            c.transport_errors
        ));
    }
    if rss_growth > max_rss_growth_mib {
        failed.push(format!(
            "RSS peaks grew {rss_growth:.1} MiB from the second quarter to the last"
        ));
    }
    if rss_trend > max_rss_slope_mib_per_minute {
        failed.push(format!(
            "RSS rose {rss_trend:.1} MiB/min over the second half (medians of {window} s windows), more than {max_rss_slope_mib_per_minute}"
        ));
    }
    if fd_growth > 8.0 {
        failed.push(format!(
            "descriptors grew by {fd_growth:.0} from the second quarter to the last"
        ));
    }
    if thread_growth > 4.0 {
        failed.push(format!(
            "threads grew by {thread_growth:.0} from the second quarter to the last"
        ));
    }
    if !failed.is_empty() {
        eprintln!("SOAK FAILED: {}", failed.join("; "));
        std::process::exit(1);
    }
}

/// The floor: what actix-web costs for scenario (a)'s request with no
/// gateway behind it. The body is read whole and the answer is the
/// gateway's for one record, so both sides move the same bytes.
async fn bare(listen: &str, workers: usize) {
    use actix_web::{web, App, HttpResponse, HttpServer};
    const ANSWER: &str = r#"{"offsets":[{"partition":0,"offset":0,"error_code":null,"error":null}],"key_schema_id":null,"value_schema_id":null}"#;
    async fn produce(_topic: web::Path<String>, body: web::Bytes) -> HttpResponse {
        std::hint::black_box(body);
        HttpResponse::Ok()
            .content_type("application/vnd.kafka.v2+json")
            .body(ANSWER)
    }
    let workers = match workers {
        0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
        n => n,
    };
    HttpServer::new(|| App::new().route("/topics/{topic}", web::post().to(produce)))
        .workers(workers)
        .backlog(4096)
        .bind(listen)
        .expect("bind")
        .run()
        .await
        .expect("serve");
}
