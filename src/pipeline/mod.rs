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

use std::sync::atomic::{AtomicUsize, Ordering};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::Mutex;
use rdkafka::error::KafkaError;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::error::{ApiError, ErrorCode};
use budget::Permit;

/// Where records leave the pipeline: an rdkafka producer
/// (`kafka::producer`), or in benches a sink that acknowledges at once.
pub trait Sink: Send + Sync + 'static {
    /// Hands every record of `batch` on; each record's [`Slot`] must be
    /// settled exactly once, now or later. A record that cannot be handed
    /// on by `deadline` (the sink stayed full) is failed as timed out, never
    /// sent later: the client may already have been told it failed.
    fn send_batch(&self, batch: RecordBatch, pending: &Arc<Pending>, deadline: &Deadline<'_>);
    /// Waits up to `timeout` for everything handed on to be settled.
    fn flush(&self, timeout: Duration);
    /// Why the sink can never deliver again (e.g. a fatal idempotent
    /// producer error), if so.
    fn fatal_error(&self) -> Option<String> {
        None
    }
}

/// How requests reach the sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Through the bounded queue to one thread per sink (the default).
    Queue,
    /// The HTTP worker calls the sink itself. Kept to measure what the
    /// queue is worth (loadtest/RESULTS.md).
    Direct,
}

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

    /// The delivery opaque for record `index`.
    pub fn slot(self: &Arc<Self>, index: usize) -> Slot {
        Slot {
            pending: Arc::clone(self),
            index,
        }
    }

    /// Fails every record not yet settled, without sending it.
    pub fn expire(self: &Arc<Self>, from: usize, records: usize) {
        let err = timed_out();
        for index in from..records {
            self.slot(index).failed(&err);
        }
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

/// The error of a record that could not be handed to Kafka in time.
pub fn timed_out() -> KafkaError {
    KafkaError::MessageProduction(rdkafka::error::RDKafkaErrorCode::MessageTimedOut)
}

enum Job {
    /// A request's records, to be handed on before the deadline.
    Produce(RecordBatch, Arc<Pending>, Instant),
    /// Ends one producer thread after it has flushed its producer.
    Stop,
}

/// Bookkeeping bytes charged to the budget per record, beyond its key and
/// value.
const RECORD_OVERHEAD_BYTES: usize = 256;

/// The queue and the producer threads behind it.
pub struct Pipeline {
    mode: Mode,
    sinks: Vec<Arc<dyn Sink>>,
    /// Round robin over `sinks` in direct mode.
    next_sink: AtomicUsize,
    jobs: Sender<Job>,
    /// Kept to report the queue depth.
    queue: Receiver<Job>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    budget: Arc<budget::ByteBudget>,
    retry_after_seconds: u64,
    delivery_timeout: Duration,
    flush_timeout: Duration,
    stop_by: Arc<StopBy>,
}

/// When a request's records must have been handed to the sink: its own
/// deadline, or the shutdown deadline if that comes first (read afresh at
/// every check, since shutdown may begin while a batch waits).
pub struct Deadline<'a> {
    at: Instant,
    stop_by: Option<&'a StopBy>,
}

impl Deadline<'_> {
    /// A deadline that has already passed: never wait.
    pub fn immediate() -> Deadline<'static> {
        Deadline {
            at: Instant::now(),
            stop_by: None,
        }
    }

    pub fn passed(&self) -> bool {
        let at = match self.stop_by {
            Some(stop_by) => stop_by.cap(self.at),
            None => self.at,
        };
        Instant::now() >= at
    }
}

/// The shutdown deadline, shared with the producer threads: once set, no
/// record is handed on after it, however long librdkafka's queue stays full.
pub struct StopBy {
    epoch: Instant,
    /// Milliseconds after `epoch`; `u64::MAX` while running.
    at_ms: std::sync::atomic::AtomicU64,
}

impl StopBy {
    fn cap(&self, deadline: Instant) -> Instant {
        match self.at_ms.load(Ordering::Acquire) {
            u64::MAX => deadline,
            ms => deadline.min(self.epoch + Duration::from_millis(ms)),
        }
    }

    fn set(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.epoch).as_millis() as u64;
        self.at_ms.store(ms, Ordering::Release);
    }
}

/// What [`Pipeline::start`] needs besides its sinks.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub mode: Mode,
    pub queue_capacity: usize,
    pub max_in_flight_bytes: usize,
    pub retry_after_seconds: u64,
    /// A request's records must reach librdkafka within this time of being
    /// queued (and librdkafka then has this long again to deliver them).
    pub delivery_timeout: Duration,
    pub flush_timeout: Duration,
}

impl Pipeline {
    /// Starts one feeding thread per sink (none in direct mode).
    pub fn start(
        sinks: Vec<Arc<dyn Sink>>,
        settings: PipelineSettings,
    ) -> std::io::Result<Pipeline> {
        let (jobs, queue) = crossbeam_channel::bounded(settings.queue_capacity);
        let stop_by = Arc::new(StopBy {
            epoch: Instant::now(),
            at_ms: std::sync::atomic::AtomicU64::new(u64::MAX),
        });
        let mut threads = Vec::new();
        if settings.mode == Mode::Queue {
            for (i, sink) in sinks.iter().enumerate() {
                let sink = Arc::clone(sink);
                let queue = queue.clone();
                let flush_timeout = settings.flush_timeout;
                let stop_by = Arc::clone(&stop_by);
                threads.push(
                    std::thread::Builder::new()
                        .name(format!("producer-{i}"))
                        .spawn(move || feed(sink.as_ref(), &queue, &stop_by, flush_timeout))?,
                );
            }
        }
        Ok(Pipeline {
            mode: settings.mode,
            sinks,
            next_sink: AtomicUsize::new(0),
            jobs,
            queue,
            threads: Mutex::new(threads),
            budget: budget::ByteBudget::new(settings.max_in_flight_bytes),
            retry_after_seconds: settings.retry_after_seconds,
            delivery_timeout: settings.delivery_timeout,
            flush_timeout: settings.flush_timeout,
            stop_by,
        })
    }

    /// Reserves the in-flight budget for a request of `records` records
    /// holding `bytes` of keys and values.
    pub fn reserve(&self, records: usize, bytes: usize) -> Result<Permit, ApiError> {
        // Keys and values are held twice until acknowledged (our buffer and
        // librdkafka's copy), plus bookkeeping per record (slot, outcome,
        // librdkafka's message header, the response entry).
        let cost = 2 * bytes + records * RECORD_OVERHEAD_BYTES;
        self.budget
            .try_acquire(cost)
            .map_err(|refused| match refused {
                budget::Refused::Busy => ApiError::throttled(
                    format!(
                        "the gateway holds {} of its {} in-flight bytes; retry later",
                        self.budget.used(),
                        self.budget.capacity()
                    ),
                    self.retry_after_seconds,
                ),
                budget::Refused::TooLarge => ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!(
                    "{records} records of {bytes} bytes need {cost} bytes in flight, more than \
                     the gateway's whole budget of {}; split the request",
                    self.budget.capacity()
                ),
                ),
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
        if self.mode == Mode::Direct {
            // An HTTP worker must not wait for room in librdkafka's queue:
            // a full queue fails the records at once (retriable).
            let i = self.next_sink.fetch_add(1, Ordering::Relaxed) % self.sinks.len();
            self.sinks[i].send_batch(batch, &pending, &Deadline::immediate());
            return Ok(done);
        }
        let deadline = Instant::now() + self.delivery_timeout;
        match self.jobs.try_send(Job::Produce(batch, pending, deadline)) {
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

    /// The first fatal sink error, if any.
    pub fn fatal_error(&self) -> Option<String> {
        self.sinks.iter().find_map(|s| s.fatal_error())
    }

    pub fn in_flight_bytes(&self) -> usize {
        self.budget.used()
    }

    /// The longest a request can wait for its records' outcomes: the time
    /// to reach librdkafka, then librdkafka's own delivery timeout.
    pub fn max_wait(&self) -> Duration {
        self.delivery_timeout * 2
    }

    /// Lets every producer thread drain the queue, flush its sink and exit,
    /// all within the flush timeout: what cannot be handed on by then fails
    /// as timed out. Blocks; call after the HTTP server has stopped.
    pub fn shutdown(&self) {
        self.stop_by.set(Instant::now() + self.flush_timeout);
        let threads = std::mem::take(&mut *self.threads.lock());
        if threads.is_empty() {
            for sink in &self.sinks {
                sink.flush(self.flush_timeout);
            }
            return;
        }
        for _ in &threads {
            // The queue is FIFO: every job queued before is handled first.
            let _ = self.jobs.send(Job::Stop);
        }
        for thread in threads {
            let _ = thread.join();
        }
    }
}

/// A producer thread: hands queued records to its sink until told to stop.
fn feed(sink: &dyn Sink, queue: &Receiver<Job>, stop_by: &StopBy, flush_timeout: Duration) {
    while let Ok(job) = queue.recv() {
        match job {
            Job::Produce(batch, pending, at) => {
                let deadline = Deadline {
                    at,
                    stop_by: Some(stop_by),
                };
                if deadline.passed() {
                    pending.expire(0, batch.records.len());
                } else {
                    sink.send_batch(batch, &pending, &deadline);
                }
            }
            Job::Stop => break,
        }
    }
    sink.flush(flush_timeout);
}
