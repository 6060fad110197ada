//! Per-principal produce quotas: two token buckets (records and bytes)
//! per principal, each holding at most one second of its rate.
//!
//! A request is let in when each bucket holds what it asks for, or is
//! full (so a request larger than one second's rate is not refused
//! forever: it passes and leaves the bucket in debt, and the next one
//! waits the debt off). A refused request takes nothing.

use std::collections::HashMap;
use std::time::Instant;

use parking_lot::Mutex;

use super::file::QuotaLimits;

#[derive(Default)]
pub struct Quotas {
    /// Principal → (records bucket, bytes bucket). One entry per principal
    /// that has produced under a quota: bounded by the users and
    /// certificate names the file and the CA admit.
    buckets: Mutex<HashMap<String, Buckets>>,
}

struct Buckets {
    limits: QuotaLimits,
    records: f64,
    bytes: f64,
    at: Instant,
}

impl Quotas {
    /// Forgets every bucket (the file changed; limits may have too).
    pub fn clear(&self) {
        self.buckets.lock().clear();
    }

    /// Takes `records` and `bytes`; `Err(seconds)` to wait when they do not
    /// fit.
    pub fn charge(
        &self,
        principal: &str,
        limits: QuotaLimits,
        records: u64,
        bytes: u64,
    ) -> Result<(), u64> {
        self.charge_at(principal, limits, records, bytes, Instant::now())
    }

    fn charge_at(
        &self,
        principal: &str,
        limits: QuotaLimits,
        records: u64,
        bytes: u64,
        now: Instant,
    ) -> Result<(), u64> {
        let mut all = self.buckets.lock();
        let b = all.entry(principal.to_string()).or_insert_with(|| Buckets {
            limits,
            records: limits.records_per_second as f64,
            bytes: limits.bytes_per_second as f64,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.at = now;
        let rec_rate = limits.records_per_second as f64;
        let byte_rate = limits.bytes_per_second as f64;
        b.records = (b.records + elapsed * rec_rate).min(rec_rate);
        b.bytes = (b.bytes + elapsed * byte_rate).min(byte_rate);
        b.limits = limits;
        let wait = |level: f64, rate: f64, want: u64| -> f64 {
            if rate == 0.0 {
                return 0.0;
            }
            let need = (want as f64).min(rate);
            if level >= need {
                0.0
            } else {
                (need - level) / rate
            }
        };
        let seconds = wait(b.records, rec_rate, records).max(wait(b.bytes, byte_rate, bytes));
        if seconds > 0.0 {
            return Err(seconds.ceil().max(1.0) as u64);
        }
        if rec_rate > 0.0 {
            b.records -= records as f64;
        }
        if byte_rate > 0.0 {
            b.bytes -= bytes as f64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_refills_at_its_rate() {
        let quotas = Quotas::default();
        let limits = QuotaLimits {
            records_per_second: 50,
            bytes_per_second: 0,
        };
        let t0 = Instant::now();
        for _ in 0..50 {
            assert!(quotas.charge_at("User:c", limits, 1, 100, t0).is_ok());
        }
        assert_eq!(quotas.charge_at("User:c", limits, 1, 100, t0), Err(1));
        // 100 ms later: 5 records fit, the sixth does not.
        let t1 = t0 + Duration::from_millis(100);
        for _ in 0..5 {
            assert!(quotas.charge_at("User:c", limits, 1, 100, t1).is_ok());
        }
        assert!(quotas.charge_at("User:c", limits, 1, 100, t1).is_err());
        // Another principal has its own bucket.
        assert!(quotas.charge_at("User:d", limits, 50, 0, t1).is_ok());
    }

    #[test]
    fn a_request_over_one_seconds_rate_passes_a_full_bucket_and_leaves_debt() {
        let quotas = Quotas::default();
        let limits = QuotaLimits {
            records_per_second: 0,
            bytes_per_second: 1000,
        };
        let t0 = Instant::now();
        assert!(quotas.charge_at("User:c", limits, 1, 3000, t0).is_ok());
        // 2000 bytes of debt at 1000/s: a second later it is 1000 in debt,
        // two seconds short of holding 1000 again.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(quotas.charge_at("User:c", limits, 1, 1000, t1), Err(2));
        let t2 = t0 + Duration::from_secs(4);
        assert!(quotas.charge_at("User:c", limits, 1, 1000, t2).is_ok());
    }
}
