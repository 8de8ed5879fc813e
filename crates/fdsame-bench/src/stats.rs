//! Timing and order statistics.

use std::hint::black_box;
use std::time::Instant;

use crate::sys::errno_name;

/// Median and p99 of the per-call cost, from `samples` samples of `batch` calls each.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub median_ns: f64,
    pub p99_ns: f64,
    pub samples: usize,
    pub batch: usize,
}

/// The result of measuring one mechanism.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Answered "same" once, then timed.
    Measured(Stats),
    /// Mechanism unavailable (errno at the check call, or missing device): never a number.
    NotAvailable(String),
    /// The measurement itself failed: wrong answer, or an error while timing.
    Failed(String),
}

impl Outcome {
    pub fn stats(&self) -> Option<&Stats> {
        match self {
            Outcome::Measured(s) => Some(s),
            _ => None,
        }
    }

    pub fn median(&self) -> Option<f64> {
        self.stats().map(|s| s.median_ns)
    }
}

/// Median of a sample (mean of the two middle values for an even count). `None` if empty.
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Nearest-rank percentile `p` (0 < p <= 100): the smallest value with at least p% of the
/// sample at or below it. `None` if empty.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// Stats of per-call values.
pub fn summarize(per_call_ns: &[f64], batch: usize) -> Option<Stats> {
    Some(Stats {
        median_ns: median(per_call_ns)?,
        p99_ns: percentile(per_call_ns, 99.0)?,
        samples: per_call_ns.len(),
        batch,
    })
}

/// Check `f` once (it must answer `Ok(true)`, "same"), warm up with one batch, then time
/// `samples` batches of `batch` calls with the monotonic clock; per-call = batch time / batch.
pub fn measure<F>(mut f: F, samples: usize, batch: usize) -> Outcome
where
    F: FnMut() -> Result<bool, i32>,
{
    let samples = samples.max(1);
    let batch = batch.max(1);
    match f() {
        Ok(true) => {}
        Ok(false) => return Outcome::Failed("answered \"not the same\" for a dup pair".into()),
        Err(e) => return Outcome::NotAvailable(errno_name(e)),
    }
    let mut bad: Option<Result<bool, i32>> = None;
    for _ in 0..batch {
        match black_box(f()) {
            Ok(true) => {}
            other => bad = Some(other),
        }
    }
    let mut per_call = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t0 = Instant::now();
        for _ in 0..batch {
            match black_box(f()) {
                Ok(true) => {}
                other => bad = Some(other),
            }
        }
        let dt = t0.elapsed();
        per_call.push(dt.as_nanos() as f64 / batch as f64);
    }
    match bad {
        Some(Ok(_)) => Outcome::Failed("answer changed to \"not the same\" while timing".into()),
        Some(Err(e)) => Outcome::Failed(format!("{} while timing", errno_name(e))),
        None => Outcome::Measured(summarize(&per_call, batch).expect("samples >= 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_odd_even_empty() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5.0]), Some(5.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn p99_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        let w: Vec<f64> = (1..=201).rev().map(f64::from).collect();
        // ceil(0.99 * 201) = 199
        assert_eq!(percentile(&w, 99.0), Some(199.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 99.0), None);
    }

    #[test]
    fn measure_outcomes() {
        match measure(|| Ok(true), 5, 3) {
            Outcome::Measured(s) => {
                assert_eq!((s.samples, s.batch), (5, 3));
                assert!(s.p99_ns >= s.median_ns);
            }
            o => panic!("{o:?}"),
        }
        assert_eq!(
            measure(|| Err(libc::ENOTTY), 5, 3),
            Outcome::NotAvailable("ENOTTY".into())
        );
        assert!(matches!(measure(|| Ok(false), 5, 3), Outcome::Failed(_)));
        let mut n = 0;
        let flaky = move || {
            n += 1;
            if n > 4 {
                Err(libc::EBADF)
            } else {
                Ok(true)
            }
        };
        assert!(matches!(measure(flaky, 5, 3), Outcome::Failed(_)));
    }
}
