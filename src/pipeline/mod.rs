//! Server-side batching: records from every HTTP request go through one
//! bounded lock-free queue (crossbeam) to a few producer threads, each
//! feeding one rdkafka `ThreadedProducer`. librdkafka then packs records
//! from thousands of requests into large Kafka batches (`kafka.linger_ms`).
//!
//! A request enters the queue as a single [`Job`], so it is either queued
//! whole or refused whole. Each record carries a [`Slot`] (its request and
//! index) as librdkafka's delivery opaque; the delivery callback fills the
//! slot, and the request is answered when its last slot is filled. Nothing
//! awaits one future per record.
//!
//! Memory is bounded three times: the byte budget ([`budget`]) refuses new
//! requests with 429 when the accepted-but-unacknowledged bytes reach
//! `pipeline.max_in_flight_bytes`; the queue holds at most
//! `pipeline.queue_capacity` requests; librdkafka's queue holds at most
//! `kafka.queue_max_records` / `kafka.queue_max_kbytes`, and a full
//! librdkafka queue blocks the producer thread (back-pressure), never drops.

pub mod budget;

use std::ops::Range;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseRecord, Producer};
use tokio::sync::oneshot;

use crate::error::{ApiError, ErrorCode};
use crate::kafka::producer::KafkaProducer;
use budget::Permit;

/// One request's records, ready for Kafka. Keys and values of all records
/// live back to back in `data`: one allocation per request.
#[derive(Debug, Default)]
pub struct RecordBatch {
    pub topic: String,
    pub data: Vec<u8>,
    pub records: Vec<RecordRef>,
}

/// Where one record's parts are in [`RecordBatch::data`].
#[derive(Debug, Clone)]
pub struct RecordRef {
    /// Target partition, or `None` for the partitioner to choose.
    pub partition: Option<i32>,
    pub key: Option<Range<u32>>,
    pub value: Option<Range<u32>>,
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The broker acknowledged it under the configured `acks`.
    Delivered {
        partition: i32,
        offset: i64,
    },
    Failed {
        code: ErrorCode,
        message: String,
    },
}

/// The bookkeeping of one request whose records are in flight.
pub struct Pending {
    state: Mutex<PendingState>,
    enqueued_at: Instant,
}

struct PendingState {
    outcomes: Vec<Option<Outcome>>,
    remaining: usize,
    done: Option<oneshot::Sender<Vec<Outcome>>>,
    /// Returned to the budget when the last record is settled.
    permit: Option<Permit>,
}

impl Pending {
    fn new(records: usize, permit: Permit) -> (Arc<Pending>, oneshot::Receiver<Vec<Outcome>>) {
        let (tx, rx) = oneshot::channel();
        let pending = Pending {
            state: Mutex::new(PendingState {
                outcomes: vec![None; records],
                remaining: records,
                done: Some(tx),
                permit: Some(permit),
            }),
            enqueued_at: Instant::now(),
        };
        (Arc::new(pending), rx)
    }

    /// Settles record `index`; the last one answers the request.
    fn settle(&self, index: usize, outcome: Outcome) {
        let mut state = self.state.lock();
        if state.outcomes[index].is_some() {
            return;
        }
        state.outcomes[index] = Some(outcome);
        state.remaining -= 1;
        if state.remaining > 0 {
            return;
        }
        let outcomes: Vec<Outcome> = std::mem::take(&mut state.outcomes)
            .into_iter()
            .map(|o| o.expect("every record is settled"))
            .collect();
        let done = state.done.take();
        let permit = state.permit.take();
        drop(state);
        drop(permit);
        crate::metrics::get()
            .delivery_duration
            .record(self.enqueued_at.elapsed().as_secs_f64());
        if let Some(done) = done {
            // The receiver is gone for ?async=true requests; that is fine.
            let _ = done.send(outcomes);
        }
    }
}

/// librdkafka's delivery opaque: which record of which request.
pub struct Slot {
    pending: Arc<Pending>,
    index: usize,
}

impl Slot {
    pub fn delivered(self, partition: i32, offset: i64) {
        self.pending
            .settle(self.index, Outcome::Delivered { partition, offset });
    }

    pub fn failed(self, err: &KafkaError) {
        let code = ErrorCode::from_kafka_error(err);
        crate::metrics::error(code);
        self.pending.settle(
            self.index,
            Outcome::Failed {
                code,
                message: err.to_string(),
            },
        );
    }
}

enum Job {
    Produce(RecordBatch, Arc<Pending>),
    /// Ends one producer thread after it has flushed its producer.
    Stop,
}

/// The queue and the producer threads behind it.
pub struct Pipeline {
    jobs: Sender<Job>,
    /// Kept to report the queue depth.
    queue: Receiver<Job>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    budget: Arc<budget::ByteBudget>,
    retry_after_seconds: u64,
}

impl Pipeline {
    /// Starts one feeding thread per producer.
    pub fn start(
        producers: &[Arc<KafkaProducer>],
        queue_capacity: usize,
        max_in_flight_bytes: usize,
        retry_after_seconds: u64,
        flush_timeout: Duration,
    ) -> std::io::Result<Pipeline> {
        let (jobs, queue) = crossbeam_channel::bounded(queue_capacity);
        let mut threads = Vec::new();
        for (i, producer) in producers.iter().enumerate() {
            let producer = Arc::clone(producer);
            let queue = queue.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("producer-{i}"))
                    .spawn(move || feed(&producer, &queue, flush_timeout))?,
            );
        }
        Ok(Pipeline {
            jobs,
            queue,
            threads: Mutex::new(threads),
            budget: budget::ByteBudget::new(max_in_flight_bytes),
            retry_after_seconds,
        })
    }

    /// Reserves the budget for a request of `bytes` record bytes.
    pub fn reserve(&self, bytes: usize) -> Result<Permit, ApiError> {
        self.budget.try_acquire(bytes).ok_or_else(|| {
            ApiError::throttled(
                format!(
                    "the gateway holds {} of its {} in-flight bytes; retry later",
                    self.budget.used(),
                    self.budget.capacity()
                ),
                self.retry_after_seconds,
            )
        })
    }

    /// Queues a request's records. The receiver yields every record's
    /// outcome, in request order, once the last one is settled.
    pub fn submit(
        &self,
        batch: RecordBatch,
        permit: Permit,
    ) -> Result<oneshot::Receiver<Vec<Outcome>>, ApiError> {
        let (pending, done) = Pending::new(batch.records.len(), permit);
        match self.jobs.try_send(Job::Produce(batch, pending)) {
            Ok(()) => Ok(done),
            Err(TrySendError::Full(_)) => Err(ApiError::throttled(
                "the produce queue is full; retry later",
                self.retry_after_seconds,
            )),
            Err(TrySendError::Disconnected(_)) => Err(ApiError::new(
                ErrorCode::BrokerNotAvailable,
                "the gateway is shutting down",
            )),
        }
    }

    /// Requests waiting for a producer thread.
    pub fn queue_depth(&self) -> usize {
        self.queue.len()
    }

    pub fn in_flight_bytes(&self) -> usize {
        self.budget.used()
    }

    /// Lets every producer thread drain the queue, flush its producer and
    /// exit. Blocks; call after the HTTP server has stopped.
    pub fn shutdown(&self) {
        let threads = std::mem::take(&mut *self.threads.lock());
        for _ in &threads {
            // The queue is FIFO: every job queued before is handled first.
            let _ = self.jobs.send(Job::Stop);
        }
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// A producer thread: hands queued records to librdkafka until told to stop.
fn feed(producer: &KafkaProducer, queue: &Receiver<Job>, flush_timeout: Duration) {
    while let Ok(job) = queue.recv() {
        match job {
            Job::Produce(batch, pending) => send_batch(producer, batch, &pending),
            Job::Stop => break,
        }
    }
    if let Err(e) = producer.flush(flush_timeout) {
        tracing::error!(error = %e, "producer flush at shutdown did not complete");
    }
}

fn send_batch(producer: &KafkaProducer, batch: RecordBatch, pending: &Arc<Pending>) {
    let data = &batch.data;
    let part = |r: &Option<Range<u32>>| r.as_ref().map(|r| &data[r.start as usize..r.end as usize]);
    for (index, record) in batch.records.iter().enumerate() {
        let slot = Box::new(Slot {
            pending: Arc::clone(pending),
            index,
        });
        let mut out: BaseRecord<'_, [u8], [u8], Box<Slot>> =
            BaseRecord::with_opaque_to(&batch.topic, slot);
        if let Some(partition) = record.partition {
            out = out.partition(partition);
        }
        if let Some(key) = part(&record.key) {
            out = out.key(key);
        }
        if let Some(value) = part(&record.value) {
            out = out.payload(value);
        }
        loop {
            match producer.send(out) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // librdkafka's queue is full: wait for deliveries to make
                    // room. The HTTP side sees the budget and queue fill up
                    // and answers 429; nothing is dropped.
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
}
