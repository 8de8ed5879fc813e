//! Timing and order statistics.

use std::hint::black_box;

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

/// One mechanism to time: a call that gives `Ok(true)` when it got its expected answer
/// ("same" for a dup pair; the exact result bits for the new ioctls), and its batch size.
pub struct Job<'a> {
    pub key: &'static str,
    pub f: Box<dyn FnMut() -> Result<bool, i32> + 'a>,
    pub batch: usize,
}

impl<'a> Job<'a> {
    pub fn new(key: &'static str, batch: usize, f: impl FnMut() -> Result<bool, i32> + 'a) -> Self {
        Job {
            key,
            f: Box::new(f),
            batch: batch.max(1),
        }
    }
}

/// Per-job result of one `time_interleaved` call: per-call samples in ns, or a final outcome
/// (n/a at the check, or failed).
pub type Timed = Result<Vec<f64>, Outcome>;

/// Check every job once (it must answer `Ok(true)`: its expected answer), warm each up with one batch, then
/// time `samples` rounds; in every round each job still valid times one batch of `batch`
/// calls with the monotonic timer (per-call = batch time / batch). Interleaving the jobs
/// round by round spreads any drift of the machine (TCG, a loaded host) over all of them
/// alike, so the ratios between them stay honest.
pub fn time_interleaved(jobs: &mut [Job<'_>], samples: usize) -> Vec<Timed> {
    let mut out: Vec<Timed> = jobs
        .iter_mut()
        .map(|j| match (j.f)() {
            Ok(true) => Ok(Vec::with_capacity(samples)),
            Ok(false) => Err(Outcome::Failed(
                "did not give its expected answer before timing".into(),
            )),
            Err(e) => Err(Outcome::NotAvailable(errno_name(e))),
        })
        .collect();
    for (j, o) in jobs.iter_mut().zip(out.iter_mut()) {
        if o.is_ok() {
            if let Err(e) = run_batch(j) {
                *o = Err(e);
            }
        }
    }
    for _ in 0..samples {
        for (j, o) in jobs.iter_mut().zip(out.iter_mut()) {
            let Ok(v) = o else { continue };
            match run_batch(j) {
                Ok(ns) => v.push(ns),
                Err(e) => *o = Err(e),
            }
        }
    }
    out
}

/// Time one batch; per-call ns, or `Failed` if any call did not give its expected answer.
fn run_batch(j: &mut Job<'_>) -> Result<f64, Outcome> {
    let mut bad: Option<Result<bool, i32>> = None;
    let t0 = crate::timer::now();
    for _ in 0..j.batch {
        match black_box((j.f)()) {
            Ok(true) => {}
            other => bad = Some(other),
        }
    }
    let dt = crate::timer::now().wrapping_sub(t0);
    match bad {
        None => Ok(crate::timer::to_ns(dt) / j.batch as f64),
        Some(Ok(_)) => Err(Outcome::Failed("the answer changed while timing".into())),
        Some(Err(e)) => Err(Outcome::Failed(format!("{} while timing", errno_name(e)))),
    }
}

/// The outcome of pooled per-call samples.
pub fn finish(per_call: &[f64], batch: usize) -> Outcome {
    match summarize(per_call, batch) {
        Some(s) if s.median_ns > 0.0 && s.median_ns.is_finite() => Outcome::Measured(s),
        Some(_) => Outcome::Failed(
            "clock too coarse: median batch time 0 (raise --batch or use --timer tsc)".into(),
        ),
        None => Outcome::Failed("no samples".into()),
    }
}

/// Measure one mechanism alone (`samples` batches of `batch` calls).
#[cfg(test)]
pub fn measure<F>(f: F, samples: usize, batch: usize) -> Outcome
where
    F: FnMut() -> Result<bool, i32>,
{
    let mut jobs = [Job::new("test", batch, f)];
    match time_interleaved(&mut jobs, samples.max(1))
        .pop()
        .expect("one job")
    {
        Ok(v) => finish(&v, batch.max(1)),
        Err(o) => o,
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
