//! Latency at low load without losing batching at high load: a lane with
//! two sinks, one that sends at once (`linger.ms` 0) and one that lingers
//! to build large Kafka batches (`kafka.linger_ms`).
//!
//! What can be batched together is what is outstanding at once, so the
//! signal is concurrency. While fewer than `kafka.linger_above_in_flight`
//! records are in flight, records go through the sink that sends at once:
//! a lone client waits one broker round trip, not the linger, and a few
//! concurrent clients still share requests (librdkafka packs what queued
//! during the last round trip). Once that many are in flight, the lane
//! lingers, and it goes back only at an idle moment of the lingering sink
//! that follows a quiet spell (fewer than that many records handed on in
//! the last 10 to 20 ms), so a busy lane does not flap.
//!
//! Order: records of one partition must never overtake each other, and
//! each sink is its own idempotent producer. So the lane switches only
//! when the sink it leaves has nothing in flight (everything handed to it
//! acknowledged). Going up, a busy fast sink is left to drain first: the
//! job waits (parked, for the lane's thread, which waits within the job's
//! deadline), which costs one round trip once per switch. Going down
//! happens only at an idle moment of the lingering sink.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Deadline, Pending, RecordBatch, Sink};

/// How long the rate is measured over: two windows of this length.
const WINDOW: Duration = Duration::from_millis(10);

pub struct AdaptiveSink {
    /// `linger.ms` 0.
    fast: Arc<dyn Sink>,
    /// `kafka.linger_ms`.
    batching: Arc<dyn Sink>,
    /// Records in flight from which the lane lingers.
    threshold: usize,
    state: Mutex<State>,
}

struct State {
    /// Whether records now go to the batching sink.
    batching: bool,
    window_start: Instant,
    /// Records handed on in this window and in the one before.
    this_window: usize,
    last_window: usize,
}

impl State {
    /// Counts `records` handed on now, and returns the records handed on
    /// over the last one to two windows.
    fn observe(&mut self, now: Instant, records: usize) -> usize {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= WINDOW * 2 {
            self.last_window = 0;
            self.this_window = 0;
            self.window_start = now;
        } else if elapsed >= WINDOW {
            self.last_window = self.this_window;
            self.this_window = 0;
            self.window_start += WINDOW;
        }
        self.this_window += records;
        self.this_window + self.last_window
    }
}

impl AdaptiveSink {
    /// `threshold`: the records in flight from which the lane lingers.
    pub fn new(fast: Arc<dyn Sink>, batching: Arc<dyn Sink>, threshold: usize) -> AdaptiveSink {
        let threshold = threshold.max(1);
        AdaptiveSink {
            fast,
            batching,
            threshold,
            state: Mutex::new(State {
                batching: false,
                window_start: Instant::now(),
                this_window: 0,
                last_window: 0,
            }),
        }
    }

    /// Whether records now go to the batching sink.
    #[cfg(test)]
    fn is_batching(&self) -> bool {
        self.state.lock().batching
    }
}

impl Sink for AdaptiveSink {
    fn send(
        &self,
        batch: &RecordBatch,
        from: usize,
        pending: &Arc<Pending>,
        wait: Option<&Deadline<'_>>,
    ) -> Result<(), usize> {
        let mut state = self.state.lock();
        let records = batch.records.len() - from;
        let recent = state.observe(Instant::now(), records);
        if !state.batching && self.fast.in_flight() + records >= self.threshold {
            // Up: once everything sent at once is acknowledged.
            while self.fast.in_flight() > 0 {
                let Some(deadline) = wait else {
                    // Counted again when the lane's thread sends it.
                    state.this_window = state.this_window.saturating_sub(records);
                    return Err(from);
                };
                if deadline.passed() {
                    pending.expire(from, batch.records.len());
                    return Ok(());
                }
                std::thread::sleep(Duration::from_micros(50));
            }
            state.batching = true;
            crate::metrics::lane_switch();
        } else if state.batching && recent < self.threshold && self.batching.in_flight() == 0 {
            // Down: only at an idle moment, so nothing can be overtaken.
            state.batching = false;
            crate::metrics::lane_switch();
        }
        let sink = if state.batching {
            &self.batching
        } else {
            &self.fast
        };
        sink.send(batch, from, pending, wait)
    }

    fn flush(&self, timeout: Duration) {
        let start = Instant::now();
        self.fast.flush(timeout);
        self.batching.flush(timeout.saturating_sub(start.elapsed()));
    }

    fn fatal_error(&self) -> Option<String> {
        self.fast
            .fatal_error()
            .or_else(|| self.batching.fatal_error())
    }

    fn in_flight(&self) -> usize {
        self.fast.in_flight() + self.batching.in_flight()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{budget, RecordRef};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts what it is sent; its in-flight count is set by the test.
    #[derive(Default)]
    struct Counting {
        sent: AtomicUsize,
        in_flight: AtomicUsize,
    }

    impl Sink for Counting {
        fn send(
            &self,
            batch: &RecordBatch,
            from: usize,
            pending: &Arc<Pending>,
            _: Option<&Deadline<'_>>,
        ) -> Result<(), usize> {
            for i in from..batch.records.len() {
                pending.slot(i).delivered(0, i as i64, None);
            }
            self.sent
                .fetch_add(batch.records.len() - from, Ordering::Relaxed);
            Ok(())
        }
        fn flush(&self, _: Duration) {}
        fn in_flight(&self) -> usize {
            self.in_flight.load(Ordering::Relaxed)
        }
    }

    fn batch(records: usize) -> RecordBatch {
        RecordBatch {
            topic: "t".into(),
            records: vec![RecordRef::default(); records],
            ..RecordBatch::default()
        }
    }

    fn pending(records: usize) -> Arc<Pending> {
        let budget = budget::ByteBudget::new(1 << 20);
        let permit = budget.try_acquire(1).unwrap();
        let (pending, _done) = Pending::new(records, permit);
        pending
    }

    #[test]
    fn few_in_flight_go_at_once_many_linger_and_switches_wait_for_an_empty_sink() {
        crate::metrics::init();
        let fast = Arc::new(Counting::default());
        let batching = Arc::new(Counting::default());
        // Lingers from 100 records in flight.
        let lane = AdaptiveSink::new(fast.clone(), batching.clone(), 100);
        let send = |records: usize, wait: Option<&Deadline<'_>>| {
            lane.send(&batch(records), 0, &pending(records), wait)
        };
        assert!(send(10, None).is_ok());
        assert_eq!(fast.sent.load(Ordering::Relaxed), 10);
        assert!(!lane.is_batching());
        // Many sends of few records, few in flight: still at once.
        fast.in_flight.store(50, Ordering::Relaxed);
        for _ in 0..20 {
            assert!(send(1, None).is_ok());
        }
        assert!(!lane.is_batching());
        assert_eq!(fast.sent.load(Ordering::Relaxed), 30);

        // A burst while the fast sink still has records out: the job is
        // given back (to be parked), not sent to the other producer.
        fast.in_flight.store(3, Ordering::Relaxed);
        assert_eq!(send(200, None), Err(0));
        assert!(!lane.is_batching());
        // A waiting send (the lane's thread) whose deadline passes fails
        // the records as timed out rather than reordering them.
        let past = Deadline::new(Instant::now() - Duration::from_millis(1));
        assert!(send(200, Some(&past)).is_ok());
        assert_eq!(batching.sent.load(Ordering::Relaxed), 0);
        // Once the fast sink is empty, the lane batches.
        fast.in_flight.store(0, Ordering::Relaxed);
        assert!(send(200, None).is_ok());
        assert!(lane.is_batching());
        assert_eq!(batching.sent.load(Ordering::Relaxed), 200);

        // Idle but not quiet (200 records just went): it stays.
        assert!(send(1, None).is_ok());
        assert!(lane.is_batching());
        // Quiet again, but the batching sink is busy: it stays there.
        std::thread::sleep(WINDOW * 2);
        batching.in_flight.store(1, Ordering::Relaxed);
        assert!(send(1, None).is_ok());
        assert!(lane.is_batching());
        // Idle: back to sending at once.
        batching.in_flight.store(0, Ordering::Relaxed);
        assert!(send(1, None).is_ok());
        assert!(!lane.is_batching());
        assert_eq!(fast.sent.load(Ordering::Relaxed), 31);
    }
}
