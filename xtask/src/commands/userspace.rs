//! `cargo xtask userspace`: the consumers of `userspace/*/consumer.toml` (the work is in
//! [`crate::userspace`]): each fetched at its pinned version, patched and built on the host, then
//! every before/after test in the guest on the series' kernel and on the same configuration of
//! the base without the series (how each consumer falls back on a kernel without the ioctls).

use super::boot_for;
use crate::results::Summary;
use crate::userspace::{self, Consumer, Env};
use crate::util::Result;
use crate::{deps, flags};
use anyhow::bail;
use std::time::Duration;

/// The kernels every guest test runs on: (name given to guest.sh as FDSAME_KERNEL, unpatched).
const KERNELS: [(&str, bool); 2] = [("series", false), ("base", true)];

pub fn run(a: &flags::Kernel) -> Result<bool> {
    if a.unpatched {
        bail!("userspace runs every test on both kernels: --unpatched is not for it");
    }
    deps::ensure_these("userspace", &deps::userspace_packages())?;
    let consumers = userspace::consumers()?;
    let mut s = Summary::default();
    let mut figures = Vec::new();
    let built = build_all(&consumers, &mut s, &mut figures);
    for (kernel, unpatched) in KERNELS {
        let mut k = a.clone();
        k.unpatched = unpatched;
        guest(&k, kernel, &consumers, &built, &mut s, &mut figures)?;
    }
    println!("\nfigures:");
    for f in &figures {
        println!("  {f}");
    }
    Ok(s.report())
}

/// Prepares and builds each consumer in order; returns the environments of those that built
/// (a consumer whose `after` did not build is not built, and says so).
fn build_all(
    consumers: &[Consumer],
    s: &mut Summary,
    figures: &mut Vec<String>,
) -> Vec<Option<Env>> {
    let mut built: Vec<Option<Env>> = Vec::new();
    for c in consumers {
        let label = format!("userspace[host] {}", c.name);
        let missing = c.manifest.after.iter().find(|a| {
            let i = consumers.iter().position(|d| &&d.name == a);
            i.and_then(|i| built[i].as_ref()).is_none()
        });
        let env = match missing {
            Some(m) => {
                s.not_run(
                    &label,
                    format!("{label}: {m}, which it builds on, did not build"),
                );
                None
            }
            None => build_one(c, &label, s, figures),
        };
        built.push(env);
    }
    built
}

/// Prepares and builds one consumer: its build is a result of its own, besides what build.sh
/// reports. Returns its scripts' environment when it built.
fn build_one(c: &Consumer, label: &str, s: &mut Summary, figures: &mut Vec<String>) -> Option<Env> {
    eprintln!("xtask: userspace: preparing and building {}", c.name);
    let env = userspace::prepare(c)
        .map_err(|e| {
            s.not_run(
                label,
                format!("{label}: could not prepare its source: {e:#}"),
            )
        })
        .ok()?;
    let (ok, text) = userspace::build(c, &env)
        .map_err(|e| s.not_run(label, format!("{label}: build.sh could not run: {e:#}")))
        .ok()?;
    let verdict = if ok {
        "XTASK-RESULT ok build.sh".to_string()
    } else {
        let tail = crate::util::last_lines(&text, 15).replace('\n', "\n    ");
        format!("XTASK-RESULT fail build.sh: exited with failure:\n    {tail}")
    };
    let text = format!("{verdict}\n{text}");
    let new = userspace::add_report(s, label, &text, ok);
    tag(figures, "host", &c.name, new);
    ok.then_some(env)
}

/// One boot of kernel `kernel`: every built consumer's guest.sh in turn.
fn guest(
    k: &flags::Kernel,
    kernel: &str,
    consumers: &[Consumer],
    built: &[Option<Env>],
    s: &mut Summary,
    figures: &mut Vec<String>,
) -> Result<()> {
    let calls: Vec<String> = consumers
        .iter()
        .zip(built)
        .filter_map(|(c, env)| Some(userspace::guest_call(c, env.as_ref()?, kernel)))
        .collect();
    let name = format!("userspace-{kernel}");
    let booted = boot_for(k, &name, 2048, Duration::from_secs(1800), &calls);
    for (c, env) in consumers.iter().zip(built) {
        let label = format!("userspace[{kernel}] {}", c.name);
        match (&booted, env) {
            (Err(e), _) => s.not_run(&label, format!("{label}: the guest could not run: {e:#}")),
            (_, None) => s.not_run(&label, format!("{label}: not run: its host build failed")),
            (Ok(run), Some(_)) => match userspace::guest_block(&run.output, &c.name) {
                Some((text, ok)) => {
                    print!("{text}");
                    let new = userspace::add_report(s, &label, text, ok);
                    tag(figures, kernel, &c.name, new);
                }
                None => s.not_run(&label, format!("{label}: never ran in the guest")),
            },
        }
    }
    if let Ok(run) = &booted {
        for p in crate::vm::kernel_problems(&run.dmesg) {
            s.fail(format!("userspace[{kernel}] kernel log"), p);
        }
    }
    Ok(())
}

fn tag(figures: &mut Vec<String>, kernel: &str, name: &str, new: Vec<String>) {
    figures.extend(new.into_iter().map(|f| format!("[{kernel}] {name}: {f}")));
}
