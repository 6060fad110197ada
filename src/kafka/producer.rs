//! The rdkafka producers and the context that receives their callbacks:
//! deliveries settle the records' slots, statistics feed the batch metrics.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message, Timestamp};
use serde::Deserialize;

use crate::config::KafkaConfig;
use crate::pipeline::{timed_out, Deadline, Pending, RecordBatch, Sink, Slot};

/// The gateway's producer type. A `ThreadedProducer` runs its own polling
/// thread, so delivery callbacks are served while the feeding thread sends.
pub type KafkaProducer = ThreadedProducer<GatewayContext>;

/// Receives librdkafka's callbacks for one producer.
pub struct GatewayContext {
    /// Whether log-append times in produce responses are real: librdkafka's
    /// mock cluster (the embedded broker) answers a fixed 1234 ms.
    log_append_times: bool,
    /// Index into [`crate::metrics::SINKS`]: 0 sends at once, 1 lingers.
    sink: usize,
}

impl ClientContext for GatewayContext {
    fn stats_raw(&self, statistics: &[u8]) {
        match serde_json::from_slice::<Stats>(statistics) {
            Ok(stats) => stats.record(self.sink),
            Err(e) => tracing::warn!(error = %e, "unreadable librdkafka statistics"),
        }
    }
}

impl ProducerContext for GatewayContext {
    type DeliveryOpaque = Slot;

    fn delivery(&self, result: &DeliveryResult<'_>, slot: Slot) {
        match result {
            Ok(message) => {
                let timestamp = match message.timestamp() {
                    Timestamp::LogAppendTime(_) if !self.log_append_times => None,
                    t => t.to_millis(),
                };
                slot.delivered(message.partition(), message.offset(), timestamp)
            }
            Err((err, _)) => slot.failed(err),
        }
    }
}

/// A record's slot is its delivery opaque as it is, one pointer: no box
/// per record.
impl rdkafka::util::IntoOpaque for Slot {
    fn into_ptr(self) -> *mut std::ffi::c_void {
        self.into_raw()
    }

    unsafe fn from_ptr(ptr: *mut std::ffi::c_void) -> Slot {
        // SAFETY: librdkafka hands back each opaque `into_ptr` gave once.
        unsafe { Slot::from_raw(ptr) }
    }
}

/// The part of librdkafka's statistics the metrics use.
#[derive(Deserialize)]
struct Stats {
    /// Records in the producer's queues.
    msg_cnt: u64,
    #[serde(default)]
    topics: HashMap<String, TopicStats>,
    #[serde(default)]
    brokers: HashMap<String, BrokerStats>,
}

#[derive(Deserialize)]
struct TopicStats {
    /// Records per batch over the last interval (the window rolls over at
    /// every statistics emission, so `cnt` and `sum` add up across them).
    batchcnt: Window,
    /// Bytes per batch over the same interval.
    batchsize: Window,
}

#[derive(Deserialize)]
struct Window {
    cnt: u64,
    sum: u64,
    #[serde(default)]
    p50: u64,
    #[serde(default)]
    p99: u64,
}

#[derive(Deserialize)]
struct BrokerStats {
    /// -1 for the bootstrap entries, which are not brokers of the cluster.
    nodeid: i32,
    state: String,
}

impl Stats {
    fn record(&self, sink: usize) {
        let m = crate::metrics::get();
        // Quantiles do not add up across topics: the busiest one speaks.
        if let Some(busiest) = self
            .topics
            .values()
            .filter(|t| t.batchcnt.cnt > 0)
            .max_by_key(|t| t.batchcnt.cnt)
        {
            let records = &m.batch_size_records[sink];
            records[0].set(busiest.batchcnt.p50 as f64);
            records[1].set(busiest.batchcnt.p99 as f64);
            let bytes = &m.batch_size_bytes[sink];
            bytes[0].set(busiest.batchsize.p50 as f64);
            bytes[1].set(busiest.batchsize.p99 as f64);
        }
        let up = self
            .brokers
            .values()
            .filter(|b| b.nodeid >= 0 && b.state == "UP")
            .count();
        m.brokers_up.set(up as f64);
        let (batches, records) = self
            .topics
            .values()
            .fold((0, 0), |(b, r), t| (b + t.batchcnt.cnt, r + t.batchcnt.sum));
        m.kafka_batches.increment(batches);
        m.kafka_batch_records.increment(records);
        if batches > 0 {
            m.kafka_batch_records_avg
                .set(records as f64 / batches as f64);
        }
        m.kafka_queue_records.set(self.msg_cnt as f64);
    }
}

/// Creates `config.producers` producers for `bootstrap_servers`
/// (`embedded`: librdkafka's mock cluster); `at_once`: with `linger.ms` 0,
/// for the lanes' low-latency side (`pipeline::adaptive`).
pub fn create(
    config: &KafkaConfig,
    bootstrap_servers: &str,
    embedded: bool,
    at_once: bool,
) -> KafkaResult<Vec<Arc<KafkaProducer>>> {
    let mut client_config = ClientConfig::new();
    for (key, value) in config.librdkafka_settings(bootstrap_servers) {
        client_config.set(key, value);
    }
    if at_once {
        client_config.set("linger.ms", "0");
    }
    (0..config.producers)
        .map(|_| {
            client_config
                .create_with_context(GatewayContext {
                    log_append_times: !embedded,
                    sink: usize::from(!at_once),
                })
                .map(Arc::new)
        })
        .collect()
}

impl Sink for KafkaProducer {
    fn send(
        &self,
        batch: &RecordBatch,
        from: usize,
        pending: &Arc<Pending>,
        wait: Option<&Deadline<'_>>,
    ) -> Result<(), usize> {
        let data = &batch.data;
        let part =
            |r: &Option<Range<u32>>| r.as_ref().map(|r| &data[r.start as usize..r.end as usize]);
        for (index, record) in batch.records.iter().enumerate().skip(from) {
            let mut out: BaseRecord<'_, [u8], [u8], Slot> =
                BaseRecord::with_opaque_to(&batch.topic, pending.slot(index));
            if let Some(partition) = record.partition {
                out = out.partition(partition);
            }
            if let Some(key) = part(&record.key) {
                out = out.key(key);
            }
            if let Some(value) = part(&record.value) {
                out = out.payload(value);
            }
            if let Some(timestamp) = record.timestamp {
                out = out.timestamp(timestamp);
            }
            if !record.headers.is_empty() {
                let range = record.headers.start as usize..record.headers.end as usize;
                let mut headers = OwnedHeaders::new_with_capacity(range.len());
                for header in &batch.headers[range] {
                    let name = part(&Some(header.name.clone())).unwrap_or_default();
                    headers = headers.insert(Header {
                        key: std::str::from_utf8(name).unwrap_or_default(),
                        value: part(&header.value),
                    });
                }
                out = out.headers(headers);
            }
            loop {
                match self.send(out) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        // librdkafka's queue is full: the slot goes back
                        // unsettled, and the caller parks the rest or waits
                        // for deliveries to make room. The HTTP side sees
                        // the budget and the queue fill up and answers 429.
                        let Some(deadline) = wait else {
                            drop(back);
                            return Err(index);
                        };
                        if deadline.passed() {
                            back.delivery_opaque.failed(&timed_out());
                            pending.expire(index + 1, batch.records.len());
                            return Ok(());
                        }
                        out = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((err, back)) => {
                        back.delivery_opaque.failed(&err);
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    fn flush(&self, timeout: Duration) {
        if let Err(e) = Producer::flush(self, timeout) {
            tracing::error!(error = %e, "producer flush did not complete");
        }
    }

    fn fatal_error(&self) -> Option<String> {
        self.client()
            .fatal_error()
            .map(|(code, reason)| format!("{code}: {reason}"))
    }

    /// librdkafka's queued, in-flight and not yet reported records.
    fn in_flight(&self) -> usize {
        self.in_flight_count().max(0) as usize
    }
}
