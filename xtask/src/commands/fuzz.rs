//! `cargo xtask fuzz [--minutes M]`: syzkaller (a checkout named by SYZKALLER_SRC) on the two
//! ioctls, with the descriptions of `linux/syzkaller/`, on the KASAN + KCOV kernel under QEMU
//! (TCG). The work is in [`crate::syzkaller`]; see `linux/syzkaller/README.md`.

use super::kernel_image;
use crate::kernel::{self, Flavor};
use crate::results::Summary;
use crate::syzkaller::{self, Coverage, COVERAGE_GOAL};
use crate::util::Result;
use crate::{flags, util};
use anyhow::bail;
use std::path::PathBuf;

pub fn run(f: &flags::Fuzz) -> Result<bool> {
    if let Some(file) = &f.rawcover {
        return rawcover_only(f, file);
    }
    if f.base.base != "7.3" {
        bail!(
            "fuzz runs on 7.3 only: the guest's unplug calls need vkms's configfs (Linux 6.19+), \
             which {} does not have",
            f.base.base
        );
    }
    let dir = util::build_dir().join("fuzz");
    let syz = syzkaller::working_copy(&checkout()?, &dir)?;
    let go = syzkaller::go_toolchain(&dir)?;
    syzkaller::build(&syz, &dir, &go)?;
    let guest = syzkaller::guest_root(&dir)?;
    let b = kernel::base(&f.base.base)?;
    let kernel_args = flags::Kernel {
        base: f.base.clone(),
        flavor: Some(Flavor::Fuzz),
        no_build: f.no_build,
        unpatched: false,
    };
    let bz = kernel_image(&kernel_args, b, Flavor::Fuzz)?;
    let obj = kernel::obj_dir(b, Flavor::Fuzz);
    syzkaller::line_tables(&kernel::tree_dir(b), &obj)?;
    let run = syzkaller::fuzz(&syzkaller::Run {
        syz: &syz,
        dir: &dir,
        guest: &guest,
        kernel: &bz,
        obj: &obj,
        src: &kernel::tree_dir(b),
        minutes: f.minutes,
        keep_corpus: f.keep_corpus,
        leak: f.leak,
    })?;
    Ok(report(&run))
}

/// `--rawcover FILE`: the new functions' line coverage of a saved `/rawcover`, nothing run.
fn rawcover_only(f: &flags::Fuzz, file: &std::path::Path) -> Result<bool> {
    let b = kernel::base(&f.base.base)?;
    let pcs = syzkaller::parse_rawcover(&util::read(file)?);
    let obj = kernel::obj_dir(b, Flavor::Fuzz);
    let cov = syzkaller::line_coverage(&obj, &kernel::tree_dir(b), &pcs)?;
    let mut s = Summary::default();
    coverage_rows(&mut s, &cov);
    Ok(s.report())
}

/// The syzkaller checkout SYZKALLER_SRC names; without it the command cannot run.
fn checkout() -> Result<PathBuf> {
    let Some(src) = std::env::var_os("SYZKALLER_SRC").filter(|s| !s.is_empty()) else {
        bail!(
            "cannot run: SYZKALLER_SRC is not set. It names a syzkaller checkout (its source is \
             not in the package archives this project builds from, so it is never vendored); \
             see linux/syzkaller/README.md"
        );
    };
    let syz = util::canonicalize(&PathBuf::from(src))?;
    if !syz.join("syz-manager").is_dir() {
        bail!(
            "cannot run: SYZKALLER_SRC={} is not a syzkaller checkout",
            syz.display()
        );
    }
    Ok(syz)
}

/// The run's figures, its crashes (any is a failure) and the coverage rows.
fn report(run: &syzkaller::Report) -> bool {
    let mut s = Summary::default();
    let label = |what: &str| format!("fuzz[{}] {what}", Flavor::Fuzz.label());
    println!(
        "fuzzed {} min: {} executions, corpus {} programs, coverage {} PCs; workdir {}",
        run.minutes,
        run.executions,
        run.corpus,
        run.cover,
        run.workdir.display()
    );
    if run.crashes.is_empty() {
        s.check(label("crashes (0)"), true);
    } else {
        s.fail(
            label(&format!("crashes ({})", run.crashes.len())),
            format!("crashes: {}", run.crashes.join("; ")),
        );
    }
    s.check(label("executions"), run.executions > 0);
    if run.disabled.is_empty() {
        s.check(label("every enabled call kept by syz-manager"), true);
    } else {
        s.fail(
            label(&format!(
                "calls disabled by syz-manager ({})",
                run.disabled.len()
            )),
            format!("not run: {}", run.disabled.join("; ")),
        );
    }
    if let Some(why) = &run.incomplete {
        s.fail(label("run complete"), why.clone());
    }
    coverage_rows(&mut s, &run.coverage);
    s.report()
}

/// One line per new function, and the rows of the goal: at least COVERAGE_GOAL percent of all
/// the new functions' lines (one line calls a callback only amdgpu implements, see
/// linux/syzkaller/README.md), and no new function left without a covered line.
fn coverage_rows(s: &mut Summary, coverage: &[Coverage]) {
    for c in coverage {
        let Coverage {
            function,
            covered,
            lines,
            missed,
        } = c;
        println!(
            "cover {function}: {covered}/{lines} lines ({:.0}%){}",
            c.percent(),
            if missed.is_empty() {
                String::new()
            } else {
                format!(", not covered: lines {missed:?}")
            }
        );
    }
    let (covered, lines) = coverage
        .iter()
        .fold((0, 0), |(c, l), x| (c + x.covered, l + x.lines));
    s.check(
        format!(
            "fuzz[{}] cover new functions {covered}/{lines} lines ({:.0}%)",
            Flavor::Fuzz.label(),
            100.0 * f64::from(covered) / f64::from(lines.max(1))
        ),
        lines > 0 && f64::from(covered) * 100.0 >= COVERAGE_GOAL * f64::from(lines),
    );
    let unreached: Vec<&str> = coverage
        .iter()
        .filter(|c| c.covered == 0)
        .map(|c| c.function.as_str())
        .collect();
    s.check(
        format!(
            "fuzz[{}] every new function reached{}",
            Flavor::Fuzz.label(),
            if unreached.is_empty() {
                String::new()
            } else {
                format!(" (not: {})", unreached.join(", "))
            }
        ),
        !coverage.is_empty() && unreached.is_empty(),
    );
}
