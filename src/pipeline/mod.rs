//! Server-side batching: records from every HTTP request go through one
//! bounded lock-free queue (crossbeam) into a few rdkafka producers.
//! librdkafka then packs records from thousands of requests into large Kafka
//! batches (`kafka.linger_ms`).
//!
//! A request enters the queue as a single [`Job`], so it is either queued
//! whole or refused whole (429). Each record carries a [`Slot`] (its request
//! and index) as librdkafka's delivery opaque; the delivery callback fills
//! the slot, and the request is answered when its last slot is filled.
//! Nothing awaits one future per record.
//!
//! Who moves jobs from the queue into a producer: flat combining. Each
//! producer has a lane lock. An HTTP worker that has queued a job tries the
//! lock; if it is free, the worker drains the queue into that producer
//! itself, without ever waiting (a full librdkafka queue parks the job for
//! the lane's thread). If the lock is taken, its holder drains the job too.
//! One thread per lane finishes parked jobs, waiting for room as long as
//! the job's deadline allows, and sweeps the queue every millisecond. This
//! keeps the queue's bounds and atomic admission while sparing each request
//! a cross-thread wake-up, which cost 20% of throughput on a 2-core machine
//! (loadtest/RESULTS.md).
//!
//! Memory is bounded three times: the byte budget ([`budget`]) refuses new
//! requests with 429 when the accepted-but-unacknowledged bytes reach
//! `pipeline.max_in_flight_bytes`; the queue holds at most
//! `pipeline.queue_capacity` requests; librdkafka's queue holds at most
//! `kafka.queue_max_records` / `kafka.queue_max_kbytes`, and when it is full
//! jobs wait (back-pressure), never dropped.

pub mod adaptive;
pub mod budget;

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use parking_lot::{Mutex, RwLock};
use rdkafka::error::KafkaError;

use crate::error::{ApiError, ErrorCode};
use crate::telemetry::{self, TraceParent};
use budget::Permit;

/// Where records leave the pipeline: an rdkafka producer
/// (`kafka::producer`), or in benches a sink that acknowledges at once.
pub trait Sink: Send + Sync + 'static {
    /// Hands records `from..` of `batch` on, in order; each one's [`Slot`]
    /// (`pending.slot(i)`) must be settled exactly once, now or later.
    ///
    /// When the sink is full: with `wait = None`, returns `Err(i)`, the
    /// first record not handed on. With a deadline, waits for room until it
    /// passes, then fails the rest as timed out, never sending them later:
    /// the client may already have been told they failed.
    fn send(
        &self,
        batch: &RecordBatch,
        from: usize,
        pending: &Arc<Pending>,
        wait: Option<&Deadline<'_>>,
    ) -> Result<(), usize>;
    /// Waits up to `timeout` for everything handed on to be settled.
    fn flush(&self, timeout: Duration);
    /// Why the sink can never deliver again (e.g. a fatal idempotent
    /// producer error), if so.
    fn fatal_error(&self) -> Option<String> {
        None
    }
    /// Records handed on and not yet settled (0 if the sink cannot tell).
    fn in_flight(&self) -> usize {
        0
    }
}

/// What one drain handed to a producer, for its PRODUCER span: the sampled
/// requests' contexts, the records, and the topic when there is one.
struct HandOff {
    start: std::time::SystemTime,
    contexts: Vec<TraceParent>,
    records: usize,
    topic: Option<String>,
    mixed: bool,
}

impl HandOff {
    fn new() -> HandOff {
        HandOff {
            start: std::time::SystemTime::now(),
            contexts: Vec::new(),
            records: 0,
            topic: None,
            mixed: false,
        }
    }

    fn add(&mut self, job: &Job) {
        self.records += job.batch.records.len() - job.next;
        if let Some(trace) = job.batch.trace.filter(|t| t.sampled) {
            if self.contexts.len() < telemetry::MAX_LINKS {
                self.contexts.push(trace);
            }
        }
        match &self.topic {
            None if !self.mixed => self.topic = Some(job.batch.topic.clone()),
            Some(topic) if *topic != job.batch.topic => {
                self.topic = None;
                self.mixed = true;
            }
            _ => {}
        }
    }

    fn emit(self) {
        if !self.contexts.is_empty() {
            telemetry::sent(
                self.topic.as_deref(),
                &self.contexts,
                self.records,
                self.start,
            );
        }
    }
}

/// How requests reach the sinks (`pipeline.mode`).
pub use crate::config::PipelineMode as Mode;

/// One request's records, ready for Kafka. Keys, values and header bytes
/// of all records live back to back in `data`: one allocation per request.
#[derive(Debug, Default)]
pub struct RecordBatch {
    pub topic: String,
    pub data: Vec<u8>,
    pub records: Vec<RecordRef>,
    /// Every record's headers, in order; a record names its run (runs may
    /// be shared).
    pub headers: Vec<HeaderRef>,
    /// The trace context of the request the records come from, for the
    /// span of their hand-off (`crate::telemetry`).
    pub trace: Option<TraceParent>,
}

impl RecordBatch {
    /// Gives every record that has no `traceparent` header one naming
    /// `trace`, and keeps `trace` for the hand-off's span. The name and
    /// value are written once and shared by the records' runs.
    pub fn carry_trace(&mut self, trace: TraceParent) {
        self.trace = Some(trace);
        let at = |data: &Vec<u8>| data.len() as u32;
        let name_start = at(&self.data);
        self.data
            .extend_from_slice(telemetry::TRACEPARENT.as_bytes());
        let value_start = at(&self.data);
        self.data.extend_from_slice(&trace.header_value());
        let header = HeaderRef {
            name: name_start..value_start,
            value: Some(value_start..at(&self.data)),
        };
        if self.headers.is_empty() {
            // No record has headers (every v2 record): one shared run.
            self.headers.push(header);
            for record in &mut self.records {
                record.headers = 0..1;
            }
            return;
        }
        let mut headers = Vec::with_capacity(self.headers.len() + self.records.len());
        for record in &mut self.records {
            let own = &self.headers[record.headers.start as usize..record.headers.end as usize];
            let start = headers.len() as u32;
            headers.extend_from_slice(own);
            let has_one = own.iter().any(|h| {
                self.data[h.name.start as usize..h.name.end as usize]
                    .eq_ignore_ascii_case(telemetry::TRACEPARENT.as_bytes())
            });
            if !has_one {
                headers.push(header.clone());
            }
            record.headers = start..headers.len() as u32;
        }
        self.headers = headers;
    }
}

/// Where one record's parts are in [`RecordBatch::data`].
#[derive(Debug, Clone, Default)]
pub struct RecordRef {
    /// Target partition, or `None` for the partitioner to choose.
    pub partition: Option<i32>,
    pub key: Option<Range<u32>>,
    pub value: Option<Range<u32>>,
    /// This record's headers in [`RecordBatch::headers`] (empty: none).
    pub headers: Range<u32>,
    /// Milliseconds since the epoch; `None` for the time of sending.
    pub timestamp: Option<i64>,
}

/// One header: its name and value (`None`: a null value) in
/// [`RecordBatch::data`]; the name is UTF-8.
#[derive(Debug, Clone)]
pub struct HeaderRef {
    pub name: Range<u32>,
    pub value: Option<Range<u32>>,
}

/// What happened to one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The broker acknowledged it under the configured `acks`.
    Delivered {
        partition: i32,
        offset: i64,
        /// The record's timestamp as Kafka keeps it, if known.
        timestamp: Option<i64>,
    },
    Failed {
        code: ErrorCode,
        message: String,
    },
}

/// The bookkeeping of one request whose records are in flight, and its
/// completion: [`Done`] waits on the same lock the deliveries settle under,
/// so a request costs one allocation here, not a channel besides.
pub struct Pending {
    state: Mutex<PendingState>,
    enqueued_at: Instant,
    /// One cell per record, each holding this `Pending`'s own address: a
    /// record's delivery opaque points at its cell, which gives back both
    /// the request and the record's index ([`Slot::into_raw`]) without an
    /// allocation per record.
    cells: Box<[usize]>,
}

struct PendingState {
    outcomes: Vec<Option<Outcome>>,
    remaining: usize,
    /// Every outcome, in request order, once the last one is settled,
    /// until [`Done`] takes them.
    settled: Option<Vec<Outcome>>,
    /// The task waiting in [`Done`], woken by the last settlement.
    waiter: Option<Waker>,
    /// Returned to the budget when the last record is settled.
    permit: Option<Permit>,
}

impl Pending {
    fn new(records: usize, permit: Permit) -> (Arc<Pending>, Done) {
        let pending = Arc::new_cyclic(|me| Pending {
            state: Mutex::new(PendingState {
                outcomes: vec![None; records],
                remaining: records,
                settled: None,
                waiter: None,
                permit: Some(permit),
            }),
            enqueued_at: Instant::now(),
            cells: vec![me.as_ptr() as usize; records].into_boxed_slice(),
        });
        (Arc::clone(&pending), Done(pending))
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
        state.settled = Some(outcomes);
        let waiter = state.waiter.take();
        let permit = state.permit.take();
        drop(state);
        drop(permit);
        crate::metrics::get()
            .delivery_duration
            .record(self.enqueued_at.elapsed().as_secs_f64());
        // No waiter for ?async=true requests; that is fine.
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

/// A request's completion: every record's outcome, in request order, once
/// the last one is settled. Every record is settled (delivered, failed, or
/// expired at its deadline), so this always completes.
pub struct Done(Arc<Pending>);

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Done")
    }
}

impl Future for Done {
    type Output = Vec<Outcome>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<Outcome>> {
        let mut state = self.0.state.lock();
        if let Some(outcomes) = state.settled.take() {
            return Poll::Ready(outcomes);
        }
        match &state.waiter {
            Some(waiter) if waiter.will_wake(cx.waker()) => {}
            _ => state.waiter = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

/// librdkafka's delivery opaque: which record of which request.
pub struct Slot {
    pending: Arc<Pending>,
    index: usize,
}

impl Slot {
    /// The slot as one pointer, for librdkafka's delivery opaque: the
    /// address of its record's cell in the request's [`Pending`]. The
    /// slot's hold on the `Pending` goes with it, so the cell stays valid
    /// until [`Slot::from_raw`] takes it back.
    pub fn into_raw(self) -> *mut std::ffi::c_void {
        let cell = &self.pending.cells[self.index] as *const usize;
        // The strong count the slot held is now the pointer's.
        let _ = Arc::into_raw(self.pending);
        cell as *mut std::ffi::c_void
    }

    /// Takes back a slot [`Slot::into_raw`] gave.
    ///
    /// # Safety
    ///
    /// `ptr` must come from `into_raw` and be taken back only once.
    pub unsafe fn from_raw(ptr: *mut std::ffi::c_void) -> Slot {
        let cell = ptr as *const usize;
        // SAFETY: the cell lives in a `Pending` whose strong count
        // `into_raw` kept, and holds that `Pending`'s address, which
        // `Arc::into_raw` gave (the pointer `Weak::as_ptr` gives too).
        let pending = unsafe { Arc::from_raw(*cell as *const Pending) };
        // SAFETY: the cell is an element of `pending.cells`.
        let index = unsafe { cell.offset_from(pending.cells.as_ptr()) } as usize;
        Slot { pending, index }
    }

    pub fn delivered(self, partition: i32, offset: i64, timestamp: Option<i64>) {
        self.pending.settle(
            self.index,
            Outcome::Delivered {
                partition,
                offset,
                timestamp,
            },
        );
    }

    pub fn failed(self, err: &KafkaError) {
        let code = ErrorCode::from_kafka_error(err);
        code.count();
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

/// A request's records on their way to a sink.
struct Job {
    batch: RecordBatch,
    pending: Arc<Pending>,
    /// The records must be handed on by then.
    deadline: Instant,
    /// The first record not yet handed on.
    next: usize,
}

/// When a request's records must have been handed to the sink: its own
/// deadline, or the shutdown deadline if that comes first (read afresh at
/// every check, since shutdown may begin while a job waits).
pub struct Deadline<'a> {
    at: Instant,
    stop_by: Option<&'a StopBy>,
}

impl Deadline<'_> {
    pub fn new(at: Instant) -> Deadline<'static> {
        Deadline { at, stop_by: None }
    }

    pub fn passed(&self) -> bool {
        let at = match self.stop_by {
            Some(stop_by) => stop_by.cap(self.at),
            None => self.at,
        };
        Instant::now() >= at
    }
}

/// The shutdown deadline, shared with the lane threads: once set, no record
/// is handed on after it, however long librdkafka's queue stays full.
pub struct StopBy {
    epoch: Instant,
    /// Milliseconds after `epoch`; `u64::MAX` while running.
    at_ms: AtomicU64,
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

/// One sink and the lock that orders what is handed to it. The lock also
/// holds the job parked because the sink was full; while one is parked,
/// only the lane's thread hands jobs on, so order is kept.
struct Lane {
    sink: Arc<dyn Sink>,
    parked: Mutex<Option<Job>>,
    /// The lane's thread, woken when a job is parked for it.
    thread: std::sync::OnceLock<std::thread::Thread>,
}

/// Bookkeeping bytes charged to the budget per record, beyond its key and
/// value.
const RECORD_OVERHEAD_BYTES: usize = 256;

/// How often a lane thread sweeps the queue for jobs nobody drained while
/// there is work; idle, the interval doubles up to [`MAX_SWEEP_INTERVAL`]
/// (an idle gateway's lane thread cost 5% of a core waking every
/// millisecond). A parked job wakes the thread at once.
const SWEEP_INTERVAL: Duration = Duration::from_millis(1);
const MAX_SWEEP_INTERVAL: Duration = Duration::from_millis(16);

/// The queue, the lanes and their threads.
pub struct Pipeline {
    mode: Mode,
    shared: Arc<Shared>,
    /// Taken at shutdown, so no job can be queued after the lane threads
    /// were told to finish.
    jobs: RwLock<Option<Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    budget: Arc<budget::ByteBudget>,
    retry_after_seconds: u64,
    delivery_timeout: Duration,
    /// Round robin over the lanes in direct mode.
    next_lane: AtomicUsize,
}

/// What the HTTP workers and the lane threads share.
struct Shared {
    lanes: Vec<Lane>,
    queue: Receiver<Job>,
    stop_by: StopBy,
    stopping: AtomicBool,
    flush_timeout: Duration,
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
    /// Starts one thread per sink.
    pub fn start(
        sinks: Vec<Arc<dyn Sink>>,
        settings: PipelineSettings,
    ) -> std::io::Result<Pipeline> {
        let (jobs, queue) = crossbeam_channel::bounded(settings.queue_capacity);
        let shared = Arc::new(Shared {
            lanes: sinks
                .into_iter()
                .map(|sink| Lane {
                    sink,
                    parked: Mutex::new(None),
                    thread: std::sync::OnceLock::new(),
                })
                .collect(),
            queue,
            stop_by: StopBy {
                epoch: Instant::now(),
                at_ms: AtomicU64::new(u64::MAX),
            },
            stopping: AtomicBool::new(false),
            flush_timeout: settings.flush_timeout,
        });
        let mut threads = Vec::new();
        for i in 0..shared.lanes.len() {
            let shared = Arc::clone(&shared);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("producer-{i}"))
                    .spawn(move || shared.lane_thread(i))?,
            );
        }
        Ok(Pipeline {
            mode: settings.mode,
            shared,
            jobs: RwLock::new(Some(jobs)),
            threads: Mutex::new(threads),
            budget: budget::ByteBudget::new(settings.max_in_flight_bytes),
            retry_after_seconds: settings.retry_after_seconds,
            delivery_timeout: settings.delivery_timeout,
            next_lane: AtomicUsize::new(0),
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

    /// Queues a request's records and, if a lane is free, hands queued jobs
    /// to its sink right away. The receiver yields every record's outcome,
    /// in request order, once the last one is settled.
    pub fn submit(&self, batch: RecordBatch, permit: Permit) -> Result<Done, ApiError> {
        let (pending, done) = Pending::new(batch.records.len(), permit);
        if self.mode == Mode::Direct {
            let lanes = &self.shared.lanes;
            let lane = &lanes[self.next_lane.fetch_add(1, Ordering::Relaxed) % lanes.len()];
            if let Err(stuck) = lane.sink.send(&batch, 0, &pending, None) {
                pending.expire(stuck, batch.records.len());
            }
            return Ok(done);
        }
        let job = Job {
            batch,
            pending,
            deadline: Instant::now() + self.delivery_timeout,
            next: 0,
        };
        let jobs = self.jobs.read();
        let Some(sender) = jobs.as_ref() else {
            return Err(ApiError::new(
                ErrorCode::BrokerNotAvailable,
                "the gateway is shutting down",
            ));
        };
        match sender.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(ApiError::throttled(
                    "the produce queue is full; retry later",
                    self.retry_after_seconds,
                ))
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::new(
                    ErrorCode::BrokerNotAvailable,
                    "the gateway is shutting down",
                ))
            }
        }
        drop(jobs);
        self.shared.combine();
        Ok(done)
    }

    /// The longest a request can wait for its records' outcomes: the time
    /// to reach librdkafka, then librdkafka's own delivery timeout.
    pub fn max_wait(&self) -> Duration {
        self.delivery_timeout * 2
    }

    /// Requests waiting for a producer.
    pub fn queue_depth(&self) -> usize {
        self.shared.queue.len()
    }

    /// The first fatal sink error, if any.
    pub fn fatal_error(&self) -> Option<String> {
        self.shared.lanes.iter().find_map(|l| l.sink.fatal_error())
    }

    pub fn in_flight_bytes(&self) -> usize {
        self.budget.used()
    }

    /// Lets the lane threads drain the queue, flush their sinks and exit,
    /// all within the flush timeout: what cannot be handed on by then fails
    /// as timed out. Blocks; call after the HTTP server has stopped.
    pub fn shutdown(&self) {
        drop(self.jobs.write().take());
        self.shared
            .stop_by
            .set(Instant::now() + self.shared.flush_timeout);
        self.shared.stopping.store(true, Ordering::Release);
        for lane in &self.shared.lanes {
            if let Some(thread) = lane.thread.get() {
                thread.unpark();
            }
        }
        for thread in std::mem::take(&mut *self.threads.lock()) {
            let _ = thread.join();
        }
    }
}

impl Shared {
    /// Flat combining, from an HTTP worker: drain the queue into a free
    /// lane without waiting. Lanes with a parked job are skipped (only their
    /// thread may go on, to keep order); if every lane is busy, the holders
    /// or the sweep take the job. The work is bounded by the queue's length
    /// on entry, so one worker does not serve everyone's jobs forever. After
    /// letting go, look again: a job queued while this worker held the lock,
    /// by a worker that then found it taken, must not wait for the sweep.
    fn combine(&self) {
        let mut allowance = self.queue.len().max(1);
        loop {
            let emptied = self.lanes.iter().any(|lane| match lane.parked.try_lock() {
                Some(mut parked) if parked.is_none() => {
                    self.drain(lane, &mut parked, &mut allowance);
                    parked.is_none()
                }
                _ => false,
            });
            if !emptied || allowance == 0 || self.queue.is_empty() {
                return;
            }
        }
    }

    /// Hands up to `allowance` queued jobs to `lane`'s sink without
    /// waiting; a full sink parks the job and stops.
    fn drain(&self, lane: &Lane, parked: &mut Option<Job>, allowance: &mut usize) {
        let mut traced = telemetry::enabled().then(HandOff::new);
        while *allowance > 0 {
            let Ok(job) = self.queue.try_recv() else {
                break;
            };
            *allowance -= 1;
            if let Some(hand_off) = traced.as_mut() {
                hand_off.add(&job);
            }
            if let Some(job) = self.hand_on(lane, job, false) {
                *parked = Some(job);
                if let Some(thread) = lane.thread.get() {
                    thread.unpark();
                }
                break;
            }
        }
        if let Some(hand_off) = traced {
            hand_off.emit();
        }
    }

    /// Hands one job on; returns it if the sink was full and `wait` is off.
    fn hand_on(&self, lane: &Lane, mut job: Job, wait: bool) -> Option<Job> {
        let deadline = Deadline {
            at: job.deadline,
            stop_by: Some(&self.stop_by),
        };
        if deadline.passed() {
            job.pending.expire(job.next, job.batch.records.len());
            return None;
        }
        let wait = wait.then_some(&deadline);
        match lane.sink.send(&job.batch, job.next, &job.pending, wait) {
            Ok(()) => None,
            Err(next) => {
                job.next = next;
                Some(job)
            }
        }
    }

    /// A lane's thread: finishes the parked job, waiting for room within
    /// its deadline, then sweeps the queue for jobs no HTTP worker drained
    /// (without waiting: a full sink parks the next job, so a job waits
    /// here only when it is first in line). At shutdown it exits once the
    /// queue is empty and nothing is parked, then flushes.
    fn lane_thread(&self, index: usize) {
        let lane = &self.lanes[index];
        let _ = lane.thread.set(std::thread::current());
        let mut interval = SWEEP_INTERVAL;
        loop {
            let stopping = self.stopping.load(Ordering::Acquire);
            let worked;
            {
                let mut parked = lane.parked.lock();
                let had_parked = if let Some(job) = parked.take() {
                    let left = self.hand_on(lane, job, true);
                    debug_assert!(left.is_none(), "a waiting send never gives back");
                    true
                } else {
                    false
                };
                let mut unlimited = usize::MAX;
                self.drain(lane, &mut parked, &mut unlimited);
                worked = had_parked || unlimited != usize::MAX;
                if stopping && parked.is_none() && self.queue.is_empty() {
                    break;
                }
            }
            interval = if worked || stopping {
                SWEEP_INTERVAL
            } else {
                (interval * 2).min(MAX_SWEEP_INTERVAL)
            };
            std::thread::park_timeout(interval);
        }
        lane.sink.flush(self.flush_timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it is handed; refuses (as full) non-waiting sends of the
    /// records listed in `full`, once each.
    struct Recorder {
        log: Mutex<Vec<(String, usize)>>,
        full: Mutex<Vec<(String, usize)>>,
    }

    impl Sink for Recorder {
        fn send(
            &self,
            batch: &RecordBatch,
            from: usize,
            pending: &Arc<Pending>,
            wait: Option<&Deadline<'_>>,
        ) -> Result<(), usize> {
            for index in from..batch.records.len() {
                let id = (batch.topic.clone(), index);
                if wait.is_none() {
                    let mut full = self.full.lock();
                    if let Some(at) = full.iter().position(|f| *f == id) {
                        full.remove(at);
                        return Err(index);
                    }
                }
                self.log.lock().push(id);
                pending.slot(index).delivered(0, index as i64, None);
            }
            Ok(())
        }
        fn flush(&self, _: Duration) {}
    }

    fn batch(name: &str, records: usize) -> RecordBatch {
        RecordBatch {
            topic: name.into(),
            data: Vec::new(),
            records: vec![RecordRef::default(); records],
            headers: Vec::new(),
            trace: None,
        }
    }

    #[tokio::test]
    async fn a_full_sink_parks_the_job_and_order_is_kept() {
        crate::metrics::init();
        let sink = Arc::new(Recorder {
            log: Mutex::new(Vec::new()),
            full: Mutex::new(vec![("a".into(), 1)]),
        });
        let pipeline = Pipeline::start(
            vec![sink.clone() as Arc<dyn Sink>],
            PipelineSettings {
                mode: Mode::Queue,
                queue_capacity: 16,
                max_in_flight_bytes: 1 << 20,
                retry_after_seconds: 1,
                delivery_timeout: Duration::from_secs(5),
                flush_timeout: Duration::from_secs(1),
            },
        )
        .unwrap();
        let mut waits = Vec::new();
        for (name, records) in [("a", 3), ("b", 1), ("c", 2)] {
            let permit = pipeline.reserve(records, 0).unwrap();
            waits.push(pipeline.submit(batch(name, records), permit).unwrap());
        }
        for (wait, records) in waits.into_iter().zip([3, 1, 2]) {
            let outcomes = tokio::time::timeout(Duration::from_secs(2), wait)
                .await
                .expect("settled by the lane thread");
            assert_eq!(outcomes.len(), records);
            assert!(outcomes
                .iter()
                .all(|o| matches!(o, Outcome::Delivered { .. })));
        }
        let log = sink.log.lock().clone();
        let expected: Vec<(String, usize)> =
            [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("c", 0), ("c", 1)]
                .into_iter()
                .map(|(n, i)| (n.to_string(), i))
                .collect();
        assert_eq!(log, expected, "a parked job must go before later ones");
        assert_eq!(pipeline.in_flight_bytes(), 0);
        pipeline.shutdown();

        // Nothing is queued once the lane threads were told to finish.
        let permit = pipeline.reserve(1, 0).unwrap();
        let err = pipeline.submit(batch("late", 1), permit).unwrap_err();
        assert_eq!(err.code, ErrorCode::BrokerNotAvailable);
        assert_eq!(
            pipeline.in_flight_bytes(),
            0,
            "the refused job's permit is back"
        );
    }
}
