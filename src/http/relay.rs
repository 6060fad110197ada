//! Wake-ups from other threads, handed to an HTTP worker in bulk.
//!
//! A produce request (v2, or a v3 group of records) waits for its
//! acknowledgement, which librdkafka's
//! polling thread delivers. Waking a task of an actix worker from another
//! thread costs a system call (tokio writes the worker's eventfd on every
//! remote wake) and a lock: one per request, about as much as reading the
//! request. [`Relayed`] wraps the future a handler awaits so that its
//! wake-up goes instead into the worker's relay queue; the first wake-up
//! of a burst wakes the worker's relay task once, and that task wakes
//! every queued handler from the worker's own thread, where a wake-up is a
//! push onto the local run queue. A batch of 100 acknowledgements then
//! costs one system call per worker, not 100.
//!
//! Must be polled on an actix worker (a tokio `LocalSet`): the relay task
//! is spawned there, once per thread, on first use.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;

/// One worker's queue of wake-ups and its relay task.
struct Relay {
    queue: Mutex<Vec<Waker>>,
    /// The relay task is woken and has not emptied the queue yet.
    scheduled: AtomicBool,
    task: AtomicWaker,
    /// Cleared when the relay task is dropped (its runtime stopped): a
    /// later runtime on this thread starts a new one.
    running: AtomicBool,
}

/// Marks the relay stopped however its task ends.
struct Running(Arc<Relay>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.running.store(false, Ordering::Release);
    }
}

impl Relay {
    fn push(&self, waker: Waker) {
        self.queue.lock().push(waker);
        if !self.scheduled.swap(true, Ordering::AcqRel) {
            self.task.wake();
        }
    }

    /// The relay task: forever wakes what was queued, from this thread.
    async fn run(self: Arc<Self>) {
        let _running = Running(Arc::clone(&self));
        let mut woken = Vec::new();
        std::future::poll_fn(|cx| {
            self.task.register(cx.waker());
            // Cleared before the queue is taken: a push after the take
            // sees it clear and wakes this task again.
            self.scheduled.store(false, Ordering::Release);
            std::mem::swap(&mut *self.queue.lock(), &mut woken);
            for waker in woken.drain(..) {
                waker.wake();
            }
            Poll::<()>::Pending
        })
        .await
    }
}

thread_local! {
    static RELAY: RefCell<Option<Arc<Relay>>> = const { RefCell::new(None) };
}

/// This worker's relay, started on first use.
fn local() -> Arc<Relay> {
    RELAY.with(|relay| {
        let mut relay = relay.borrow_mut();
        match &*relay {
            Some(running) if running.running.load(Ordering::Acquire) => Arc::clone(running),
            _ => {
                let started = Arc::new(Relay {
                    queue: Mutex::new(Vec::new()),
                    scheduled: AtomicBool::new(false),
                    task: AtomicWaker::new(),
                    running: AtomicBool::new(true),
                });
                actix_web::rt::spawn(Arc::clone(&started).run());
                *relay = Some(Arc::clone(&started));
                started
            }
        }
    })
}

/// The waker a relayed future is polled with: waking it queues the
/// handler's own waker with the relay.
struct Handoff {
    relay: Arc<Relay>,
    target: Waker,
}

impl Wake for Handoff {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.relay.push(self.target.clone());
    }
}

/// A future whose wake-ups go through this worker's relay.
pub struct Relayed<F> {
    inner: F,
    /// The handoff waker and the task waker it was made for.
    waker: Option<(Waker, Waker)>,
}

impl<F> Relayed<F> {
    pub fn new(inner: F) -> Relayed<F> {
        Relayed { inner, waker: None }
    }
}

impl<F: Future + Unpin> Future for Relayed<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        // Made once per request: the same handoff on every poll lets the
        // inner future keep the waker it stored.
        if !matches!(&this.waker, Some((_, task)) if task.will_wake(cx.waker())) {
            let handoff = Waker::from(Arc::new(Handoff {
                relay: local(),
                target: cx.waker().clone(),
            }));
            this.waker = Some((handoff, cx.waker().clone()));
        }
        let (handoff, _) = this.waker.as_ref().expect("set above");
        Pin::new(&mut this.inner).poll(&mut Context::from_waker(handoff))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests waiting on one worker are all answered when another thread
    /// completes them, through one relay task per thread.
    #[test]
    fn wake_ups_from_another_thread_reach_every_waiter() {
        actix_web::rt::System::new().block_on(wake_ups_from_another_thread());
    }

    async fn wake_ups_from_another_thread() {
        let mut senders = Vec::new();
        let mut waiting = Vec::new();
        for i in 0..100u32 {
            let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
            senders.push((i, tx));
            waiting.push(actix_web::rt::spawn(Relayed::new(rx)));
        }
        // Let every waiter register its handoff first.
        actix_web::rt::task::yield_now().await;
        let sender = std::thread::spawn(move || {
            for (i, tx) in senders {
                tx.send(i).unwrap();
            }
        });
        for (i, task) in waiting.into_iter().enumerate() {
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .expect("woken")
                .unwrap();
            assert_eq!(got, Ok(i as u32));
        }
        sender.join().unwrap();
        // One relay for this thread, made on first use.
        let relay = local();
        assert!(relay.queue.lock().is_empty());
    }

    /// A relay whose runtime stopped is replaced by the next runtime on
    /// the same thread, instead of queueing wake-ups nobody reads.
    #[test]
    fn a_new_runtime_on_the_thread_gets_a_new_relay() {
        let first = actix_web::rt::System::new().block_on(async {
            let relay = local();
            actix_web::rt::task::yield_now().await;
            relay
        });
        assert!(!first.running.load(Ordering::Acquire));
        actix_web::rt::System::new().block_on(async {
            let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
            let task = actix_web::rt::spawn(Relayed::new(rx));
            actix_web::rt::task::yield_now().await;
            std::thread::spawn(move || tx.send(1).unwrap())
                .join()
                .unwrap();
            let got = tokio::time::timeout(std::time::Duration::from_secs(5), task)
                .await
                .expect("woken by the new relay");
            assert_eq!(got.unwrap(), Ok(1));
            assert!(!Arc::ptr_eq(&first, &local()));
        });
    }

    /// A future that completes at once never needs the relay's wake-up.
    #[test]
    fn a_ready_future_passes_through() {
        actix_web::rt::System::new()
            .block_on(async { assert_eq!(Relayed::new(std::future::ready(7)).await, 7) });
    }
}
