//! The in-flight byte budget: a lock-free counter of record bytes accepted
//! but not yet acknowledged. A request takes a [`Permit`] for its bytes or is
//! refused (the caller answers 429); the permit returns the bytes when the
//! request's last record is acknowledged or failed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Debug)]
pub struct ByteBudget {
    capacity: usize,
    used: AtomicUsize,
}

impl ByteBudget {
    pub fn new(capacity: usize) -> Arc<ByteBudget> {
        Arc::new(ByteBudget {
            capacity,
            used: AtomicUsize::new(0),
        })
    }

    /// Takes `bytes` from the budget, or `None` if that would overspend it.
    /// A request larger than the whole budget takes all of it (so it waits
    /// for an empty pipeline instead of being refused forever).
    pub fn try_acquire(self: &Arc<Self>, bytes: usize) -> Option<Permit> {
        let bytes = bytes.min(self.capacity);
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + bytes <= self.capacity).then_some(used + bytes)
            })
            .ok()?;
        Some(Permit {
            budget: Arc::clone(self),
            bytes,
        })
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Bytes held from a [`ByteBudget`]; returned on drop.
#[derive(Debug)]
pub struct Permit {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permits_are_refused_past_the_capacity_and_returned_on_drop() {
        let budget = ByteBudget::new(100);
        let a = budget.try_acquire(60).unwrap();
        assert!(budget.try_acquire(41).is_none());
        let b = budget.try_acquire(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn an_oversized_request_takes_the_whole_budget_when_it_is_free() {
        let budget = ByteBudget::new(100);
        let held = budget.try_acquire(1).unwrap();
        assert!(budget.try_acquire(500).is_none());
        drop(held);
        let all = budget.try_acquire(500).unwrap();
        assert_eq!(budget.used(), 100);
        drop(all);
    }

    #[test]
    fn concurrent_acquires_never_overspend() {
        let budget = ByteBudget::new(1000);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        if let Some(p) = budget.try_acquire(7) {
                            assert!(budget.used() <= 1000);
                            drop(p);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(budget.used(), 0);
    }
}
