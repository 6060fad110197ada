//! The rdkafka producers and the context that receives their callbacks:
//! deliveries settle the records' slots, statistics feed the batch metrics.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CString};
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::IntoOpaque;
use rdkafka::{ClientContext, Message, Timestamp};
use rdkafka_sys as rdsys;
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
impl IntoOpaque for Slot {
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

/// A librdkafka topic handle, held for one hand-off: records produced
/// through it skip the lookup (a write lock on the client and a compare per
/// known topic) and the copy of the name into a C string that
/// `BaseProducer::send` makes for every record. It borrows its client, so
/// it cannot outlive it, and records go to that client only.
pub struct TopicHandle<'c> {
    client: *mut rdsys::rd_kafka_t,
    ptr: *mut rdsys::rd_kafka_topic_t,
    _client: PhantomData<&'c ()>,
}

impl<'c> TopicHandle<'c> {
    /// The handle of `topic` on `client` (created if librdkafka has none
    /// yet); `None` for a name librdkafka refuses.
    pub fn new<C: ClientContext>(
        client: &'c rdkafka::client::Client<C>,
        topic: &str,
    ) -> Option<Self> {
        let name = CString::new(topic).ok()?;
        // SAFETY: the client pointer is live while `client` is borrowed,
        // which the handle's lifetime keeps; a null configuration takes the
        // client's defaults.
        let ptr = unsafe {
            rdsys::rd_kafka_topic_new(client.native_ptr(), name.as_ptr(), std::ptr::null_mut())
        };
        (!ptr.is_null()).then_some(TopicHandle {
            client: client.native_ptr(),
            ptr,
            _client: PhantomData,
        })
    }
}

impl Drop for TopicHandle<'_> {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `rd_kafka_topic_new` and is released once.
        unsafe { rdsys::rd_kafka_topic_destroy(self.ptr) }
    }
}

/// One record for [`produce`]: the parts librdkafka copies.
pub struct Outgoing<'a> {
    pub partition: Option<i32>,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// Milliseconds since the epoch; `None` for the time of sending.
    pub timestamp: Option<i64>,
    /// Names and values; empty for none.
    pub headers: &'a [(&'a [u8], Option<&'a [u8]>)],
}

/// Hands one record to librdkafka through `topic` (on the client the
/// handle was taken from), with `opaque` as its delivery opaque. On an
/// error the opaque is given back, unsent.
pub fn produce<O: IntoOpaque>(
    topic: &TopicHandle<'_>,
    record: &Outgoing<'_>,
    opaque: O,
) -> Result<(), (RDKafkaErrorCode, O)> {
    fn parts(part: Option<&[u8]>) -> (*mut c_void, usize) {
        part.map_or((std::ptr::null_mut(), 0), |p| {
            (p.as_ptr() as *mut c_void, p.len())
        })
    }
    let (value, value_len) = parts(record.value);
    let (key, key_len) = parts(record.key);
    let headers = if record.headers.is_empty() {
        std::ptr::null_mut()
    } else {
        // SAFETY: a new header list, which librdkafka owns once the record
        // is accepted and which is destroyed below otherwise; names and
        // values are copied.
        unsafe {
            let list = rdsys::rd_kafka_headers_new(record.headers.len());
            for (name, value) in record.headers {
                let (v, v_len) = parts(*value);
                rdsys::rd_kafka_header_add(
                    list,
                    name.as_ptr() as *const c_char,
                    name.len() as isize,
                    v,
                    v_len as isize,
                );
            }
            list
        }
    };
    let opaque_ptr = opaque.into_ptr();
    // SAFETY: every pointer is valid for the call (librdkafka copies the
    // key and value: RD_KAFKA_MSG_F_COPY); the argument list is typed as
    // `rd_kafka_producev` reads it and ends with RD_KAFKA_VTYPE_END.
    let err = unsafe {
        rdsys::rd_kafka_producev(
            topic.client,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_RKT,
            topic.ptr,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_PARTITION,
            record.partition.unwrap_or(-1),
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_MSGFLAGS,
            rdsys::RD_KAFKA_MSG_F_COPY,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE,
            value,
            value_len,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_KEY,
            key,
            key_len,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_OPAQUE,
            opaque_ptr,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TIMESTAMP,
            record.timestamp.unwrap_or(0),
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_HEADERS,
            headers,
            rdsys::rd_kafka_vtype_t::RD_KAFKA_VTYPE_END,
        )
    };
    if err == rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Ok(());
    }
    if !headers.is_null() {
        // SAFETY: refused, so the list is still ours.
        unsafe { rdsys::rd_kafka_headers_destroy(headers) }
    }
    // SAFETY: librdkafka did not take the opaque `into_ptr` gave.
    Err((err.into(), unsafe { O::from_ptr(opaque_ptr) }))
}

impl Sink for KafkaProducer {
    fn send(
        &self,
        batch: &RecordBatch,
        from: usize,
        pending: &Arc<Pending>,
        wait: Option<&Deadline<'_>>,
    ) -> Result<(), usize> {
        // One topic handle for the whole hand-off, not a lookup per record.
        let Some(topic) = TopicHandle::new(self.client(), &batch.topic) else {
            let err = KafkaError::MessageProduction(RDKafkaErrorCode::InvalidTopic);
            for index in from..batch.records.len() {
                pending.slot(index).failed(&err);
            }
            return Ok(());
        };
        let data = &batch.data;
        let part =
            |r: &Option<Range<u32>>| r.as_ref().map(|r| &data[r.start as usize..r.end as usize]);
        let mut headers: Vec<(&[u8], Option<&[u8]>)> = Vec::new();
        for (index, record) in batch.records.iter().enumerate().skip(from) {
            headers.clear();
            let range = record.headers.start as usize..record.headers.end as usize;
            for header in &batch.headers[range] {
                let name = &data[header.name.start as usize..header.name.end as usize];
                headers.push((name, part(&header.value)));
            }
            let out = Outgoing {
                partition: record.partition,
                key: part(&record.key),
                value: part(&record.value),
                timestamp: record.timestamp,
                headers: &headers,
            };
            let mut slot = pending.slot(index);
            loop {
                match produce(&topic, &out, slot) {
                    Ok(()) => break,
                    Err((RDKafkaErrorCode::QueueFull, back)) => {
                        // librdkafka's queue is full: the slot goes back
                        // unsettled, and the caller parks the rest or waits
                        // for deliveries to make room. The HTTP side sees
                        // the budget and the queue fill up and answers 429.
                        let Some(deadline) = wait else {
                            drop(back);
                            return Err(index);
                        };
                        if deadline.passed() {
                            back.failed(&timed_out());
                            pending.expire(index + 1, batch.records.len());
                            return Ok(());
                        }
                        slot = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((code, back)) => {
                        back.failed(&KafkaError::MessageProduction(code));
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
