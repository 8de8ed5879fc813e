//! `cargo xtask userspace`: the consumers of `userspace/*/consumer.toml` (the work is in
//! [`crate::userspace`]): each fetched at its pinned version, patched and built on the host, then
//! every before/after test in the guest on the series' kernel and on the same configuration of
//! the base without the series (how each consumer falls back on a kernel without the ioctls).
//!
//! The terminal gets one line per script and the summary; each script's whole output goes to
//! `build/userspace/report/<host|series|base>-<name>.txt`, every figure (tagged with kernel and
//! consumer) to `build/userspace/figures.txt`.

use super::boot_for;
use crate::results::Summary;
use crate::userspace::{self, Consumer, Env};
use crate::util::{self, Result};
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
    let path = userspace::dir("figures.txt");
    let mut text = figures.join("\n");
    text.push('\n');
    util::write(&path, &text)?;
    println!("\n{} figures in {}", figures.len(), path.display());
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
    keep(figures, "host", &c.name, &text, new);
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
                    let new = userspace::add_report(s, &label, text, ok);
                    keep(figures, kernel, &c.name, text, new);
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

/// Saves one script's output to its report file, says where on the terminal and adds its
/// figures, tagged.
fn keep(figures: &mut Vec<String>, kernel: &str, name: &str, text: &str, new: Vec<String>) {
    let path = userspace::dir("report").join(format!("{kernel}-{name}.txt"));
    let saved = util::mkdir_p(&userspace::dir("report")).and_then(|_| util::write(&path, text));
    let r = userspace::parse_report(text);
    match saved {
        Ok(()) => eprintln!(
            "xtask: userspace[{kernel}] {name}: {} results, {} figures; output in {}",
            r.results.len(),
            new.len(),
            path.display()
        ),
        Err(e) => eprintln!("xtask: userspace[{kernel}] {name}: {e:#}"),
    }
    figures.extend(new.into_iter().map(|f| format!("[{kernel}] {name}: {f}")));
}
