//! The clock around the batches.
//!
//! Normally `CLOCK_MONOTONIC`. A minimal guest kernel under TCG may have no usable high
//! resolution clocksource (jiffies: 4 ms steps), which would turn every batch into 0 or 4 ms.
//! Then (`--timer auto`, the default) the TSC is used instead, converted to ns by a
//! calibration against `CLOCK_MONOTONIC` over ~250 ms taken between two clock edges.

use std::sync::OnceLock;

/// Which clock the batches are timed with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timer {
    /// `CLOCK_MONOTONIC`, in ns.
    Monotonic,
    /// `rdtsc`, with the calibrated ns per tick.
    Tsc { ns_per_tick: f64 },
}

static TIMER: OnceLock<Timer> = OnceLock::new();

/// `clock_gettime(CLOCK_MONOTONIC)` in ns.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: plain vDSO/syscall on a local struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

#[cfg(target_arch = "x86_64")]
fn rdtsc() -> Option<u64> {
    #[allow(unused_unsafe)]
    // SAFETY: rdtsc has no preconditions on x86_64.
    Some(unsafe { core::arch::x86_64::_rdtsc() })
}

#[cfg(not(target_arch = "x86_64"))]
fn rdtsc() -> Option<u64> {
    None
}

/// Smallest step of `CLOCK_MONOTONIC` seen in a few tries (spin until the value changes).
pub fn monotonic_step_ns() -> u64 {
    let mut best = u64::MAX;
    for _ in 0..5 {
        let t0 = monotonic_ns();
        let mut t1 = monotonic_ns();
        while t1 == t0 {
            t1 = monotonic_ns();
        }
        best = best.min(t1 - t0);
    }
    best
}

/// Wait for the next step of `CLOCK_MONOTONIC`; returns (monotonic ns, tsc) at that edge.
fn edge() -> (u64, u64) {
    let t0 = monotonic_ns();
    loop {
        let c = rdtsc().unwrap_or(0);
        let t = monotonic_ns();
        if t != t0 {
            return (t, c);
        }
    }
}

/// Calibrate the TSC against `CLOCK_MONOTONIC` over at least `span_ns`.
pub fn calibrate_tsc(span_ns: u64) -> Option<f64> {
    rdtsc()?;
    let (m0, c0) = edge();
    let mut m1c1 = edge();
    while m1c1.0 - m0 < span_ns {
        m1c1 = edge();
    }
    let (m1, c1) = m1c1;
    (c1 > c0).then(|| (m1 - m0) as f64 / (c1 - c0) as f64)
}

/// Pick the timer. `mode` is "auto", "monotonic" or "tsc". Returns a sentence for the report.
pub fn init(mode: &str) -> Result<String, String> {
    let step = monotonic_step_ns();
    let use_tsc = match mode {
        "monotonic" => false,
        "tsc" => true,
        "auto" => step > 1_000,
        other => {
            return Err(format!(
                "--timer {other:?}: expected auto, monotonic or tsc"
            ))
        }
    };
    let (timer, text) = if use_tsc {
        let span = (250_000_000u64).max(step * 50);
        match calibrate_tsc(span) {
            Some(ns_per_tick) => (
                Timer::Tsc { ns_per_tick },
                format!(
                    "TSC (rdtsc), {:.4} ns/tick calibrated against CLOCK_MONOTONIC over {} ms ({}; CLOCK_MONOTONIC steps by {} here)",
                    ns_per_tick,
                    span / 1_000_000,
                    if mode == "tsc" { "forced by --timer tsc" } else { "auto: the monotonic clock is too coarse" },
                    fmt_step(step)
                ),
            ),
            None => return Err("--timer tsc: no usable TSC on this machine".into()),
        }
    } else {
        (
            Timer::Monotonic,
            format!(
                "CLOCK_MONOTONIC (smallest observed step {})",
                fmt_step(step)
            ),
        )
    };
    let _ = TIMER.set(timer);
    Ok(text)
}

fn fmt_step(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else if ns >= 1_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{ns} ns")
    }
}

/// Raw reading of the chosen timer.
#[inline]
pub fn now() -> u64 {
    match TIMER.get().copied().unwrap_or(Timer::Monotonic) {
        Timer::Monotonic => monotonic_ns(),
        Timer::Tsc { .. } => rdtsc().unwrap_or(0),
    }
}

/// A difference of two `now()` readings in ns.
pub fn to_ns(ticks: u64) -> f64 {
    match TIMER.get().copied().unwrap_or(Timer::Monotonic) {
        Timer::Monotonic => ticks as f64,
        Timer::Tsc { ns_per_tick } => ticks as f64 * ns_per_tick,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_advance() {
        assert!(monotonic_step_ns() > 0);
        let a = now();
        let b = now();
        assert!(b >= a);
        if let Some(r) = calibrate_tsc(20_000_000) {
            // Any real TSC runs between 100 MHz and 10 GHz.
            assert!(r > 0.1 && r < 10.0, "{r} ns/tick");
        }
    }
}
