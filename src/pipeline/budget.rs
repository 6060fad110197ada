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

    /// Takes `bytes` from the budget; `Busy` if that would overspend it now,
    /// `TooLarge` if it never could.
    pub fn try_acquire(self: &Arc<Self>, bytes: usize) -> Result<Permit, Refused> {
        if bytes > self.capacity {
            return Err(Refused::TooLarge);
        }
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                (used + bytes <= self.capacity).then_some(used + bytes)
            })
            .map_err(|_| Refused::Busy)?;
        Ok(Permit {
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

/// Why a permit was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Other requests hold the budget; retry later.
    Busy,
    /// More than the whole budget.
    TooLarge,
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
        assert_eq!(budget.try_acquire(41).unwrap_err(), Refused::Busy);
        let b = budget.try_acquire(40).unwrap();
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn more_than_the_whole_budget_is_refused_as_too_large() {
        let budget = ByteBudget::new(100);
        assert_eq!(budget.try_acquire(101).unwrap_err(), Refused::TooLarge);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn concurrent_acquires_never_overspend() {
        // Capacity for two permits of 7 among four threads: most attempts
        // are refused, and a watcher checks the bound meanwhile.
        let budget = ByteBudget::new(20);
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let (budget, done) = (budget.clone(), done.clone());
            std::thread::spawn(move || {
                let mut peak = 0;
                while !done.load(Ordering::Relaxed) {
                    peak = peak.max(budget.used());
                }
                peak
            })
        };
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let budget = budget.clone();
                std::thread::spawn(move || {
                    let (mut granted, mut refused) = (0, 0);
                    for _ in 0..20_000 {
                        match budget.try_acquire(7) {
                            Ok(p) => {
                                granted += 1;
                                std::hint::spin_loop();
                                drop(p);
                            }
                            Err(_) => refused += 1,
                        }
                    }
                    (granted, refused)
                })
            })
            .collect();
        let (mut granted, mut refused) = (0, 0);
        for t in threads {
            let (g, r) = t.join().unwrap();
            granted += g;
            refused += r;
        }
        done.store(true, Ordering::Relaxed);
        let peak = watcher.join().unwrap();
        assert!(peak <= 20, "overspent: {peak}");
        assert!(granted > 0);
        assert_eq!(granted + refused, 80_000);
        assert_eq!(budget.used(), 0);
    }
}
