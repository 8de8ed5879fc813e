//! `cargo xtask test`: the whole suite. Host tests and the static checks once, then for each
//! configuration (built-in and modular, or the one `--flavor` names) its kernel build and one
//! boot with KUnit, every guest test and IGT when given; one summary, one closing line.

use super::{kernel_image, modules_prelude, DRIVER_MODULES, GUEST_NODES};
use crate::kernel::{self, Base, Flavor};
use crate::results::{Outcome, Row, Summary};
use crate::util::{self, Result};
use crate::{check, deps, flags, igt, kunit, vm};
use anyhow::bail;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The guest tests of one configuration: (label, executable, arguments).
type Group = (String, PathBuf, Vec<String>);

/// What every configuration shares.
struct Plan {
    b: &'static Base,
    /// The host test executables (`fdsame::c_header` runs once the series' headers exist).
    host: Vec<(String, PathBuf)>,
    groups: Vec<Group>,
    kunit: Vec<kunit::Expected>,
    igt_build: Option<PathBuf>,
}

/// The configurations `cargo xtask test` runs: built-in and modular, or the one `--flavor` names.
fn test_flavors(a: &flags::Kernel) -> Vec<Flavor> {
    match a.flavor {
        Some(f) => vec![f],
        None => vec![Flavor::Vm, Flavor::Modules],
    }
}

pub fn run(a: &flags::Kernel) -> Result<bool> {
    if a.unpatched {
        anyhow::bail!("test runs the series: --unpatched is for kernel, vm, demo and bench");
    }
    let b = kernel::base(a.base())?;
    deps::ensure("test")?;
    let mut summary = Summary::default();
    eprintln!("xtask: host tests (cargo test on the host kernel)");
    let host = host_tests(&mut summary)?;
    lints(&mut summary)?;
    eprintln!("xtask: static checks of the series");
    if let Err(e) = check::run(b, !a.no_build, &mut summary) {
        summary.fail(
            "check (static checks)",
            format!("static checks could not run: {e:#}"),
        );
    }
    let plan = Plan {
        b,
        host,
        groups: guest_groups(b, &mut summary)?,
        kunit: kunit::expected()?,
        igt_build: igt_build_dir()?,
    };
    let mut timings = vec![];
    for (i, f) in test_flavors(a).into_iter().enumerate() {
        if let Some(t) = configuration(a, &plan, f, i == 0, &mut summary)? {
            timings.push(t);
        }
    }
    eprintln!("xtask: {}", timings.join("; "));
    Ok(summary.report())
}

/// The userspace crates' tests on the host kernel (which lacks the new ioctls); returns the
/// executables (`fdsame::c_header` needs the series' headers: [`header_test`] runs it).
fn host_tests(summary: &mut Summary) -> Result<Vec<(String, PathBuf)>> {
    let host = test_executables(&["fdsame", "fdsame-cli", "fdsame-bench", "xtask"], &[])?;
    for (label, exe) in host.iter().filter(|(l, _)| l != "fdsame::c_header") {
        let (ok, text) = util::capture(Command::new(exe).current_dir(util::root()))?;
        summary.add_libtest(&format!("host {label}"), &text, ok);
    }
    Ok(host)
}

/// Rust lints and docs: clippy with -D warnings on everything, rustdoc with -D warnings on the
/// library.
fn lints(summary: &mut Summary) -> Result<()> {
    let clippy = [
        "clippy",
        "-q",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ];
    let doc = ["doc", "-q", "-p", "fdsame", "--no-deps"];
    for (label, args, env) in [
        ("check cargo clippy -D warnings", &clippy[..], ""),
        ("check cargo doc -D warnings", &doc[..], "-D warnings"),
    ] {
        let mut c = Command::new(env!("CARGO"));
        c.current_dir(util::root())
            .args(args)
            .env("RUSTDOCFLAGS", env);
        let (ok, text) = util::capture(&mut c)?;
        summary.check(label, ok);
        if !ok {
            summary.detail(format!("{label}:\n{}", util::first_lines(&text, 30)));
        }
    }
    Ok(())
}

/// The guest tests, built on the host once for every configuration. The vkms hot-unplug test
/// makes and removes vkms devices through configfs, which vkms has only on newer bases
/// (vkms_configfs.c; not in 6.12): there libtest skips that one test (the PCI hot-unplug test
/// of the same binary runs) and the summary says so as a skipped row rather than a pass.
fn guest_groups(b: &Base, summary: &mut Summary) -> Result<Vec<Group>> {
    const VKMS_UNPLUG: &str =
        "vkms_removed_through_configfs_while_files_are_open_and_compares_race";
    let mut groups: Vec<Group> = test_executables(&["rust-tests"], &[])?
        .into_iter()
        .map(|(label, exe)| (label, exe, vec!["--test-threads=2".to_string()]))
        .collect();
    if groups.is_empty() {
        bail!("no guest test executables were built");
    }
    let configfs = kernel::tree_dir(b).join("drivers/gpu/drm/vkms/vkms_configfs.c");
    let unplug = groups
        .iter_mut()
        .find(|(l, _, _)| l == "rust-tests::hotunplug");
    if let (false, Some((_, _, args))) = (configfs.exists(), unplug) {
        args.extend(["--skip".to_string(), VKMS_UNPLUG.to_string()]);
        let why = format!(
            "rust-tests::hotunplug::{VKMS_UNPLUG}: not run on {} (vkms has no configfs there)",
            b.name
        );
        println!("{why}");
        summary.counts(why, 0, 0, 1);
    }
    Ok(groups)
}

/// One configuration: its kernel build, the header test (the first time), one boot with every
/// guest test. Returns its timings, or None when the kernel did not build (a failed row).
fn configuration(
    a: &flags::Kernel,
    plan: &Plan,
    f: Flavor,
    first: bool,
    summary: &mut Summary,
) -> Result<Option<String>> {
    let cfg = f.label();
    let t0 = Instant::now();
    let img = match kernel_image(a, plan.b, f) {
        Ok(img) => img,
        Err(e) => {
            summary.fail(
                format!("kernel[{cfg}] build"),
                format!("kernel[{cfg}]: {e:#}"),
            );
            return Ok(None);
        }
    };
    let build_s = t0.elapsed().as_secs_f64();
    let what = if f.modular() {
        ", modpost, modules_install"
    } else {
        ""
    };
    summary.check(format!("kernel[{cfg}] build{what}"), true);
    if first {
        header_test(plan, f, summary)?;
    }
    let guest_s = test_in_guest(plan, f, &img, summary)?;
    Ok(Some(format!(
        "{cfg}: kernel {build_s:.0} s, guest {guest_s:.0} s"
    )))
}

/// The Rust bindings against the C header of the series, as installed from the built tree (the
/// same headers in every configuration: checked once).
fn header_test(plan: &Plan, f: Flavor, summary: &mut Summary) -> Result<()> {
    let hdr = kernel::obj_dir(plan.b, f).join("fdsame-headers");
    let mut make = kernel::make(&kernel::tree_dir(plan.b), &kernel::obj_dir(plan.b, f));
    make.arg("-s").arg("headers_install");
    util::run(make.arg(format!("INSTALL_HDR_PATH={}", hdr.display())))?;
    for (label, exe) in plan.host.iter().filter(|(l, _)| l == "fdsame::c_header") {
        let mut c = Command::new(exe);
        c.arg("--ignored")
            .env("FDSAME_UAPI_INCLUDE", hdr.join("include"));
        let (ok, text) = util::capture(c.current_dir(util::root()))?;
        summary.add_libtest(&format!("host {label} (series headers)"), &text, ok);
    }
    Ok(())
}

/// The guest script of one configuration: modules (modular kernel), device nodes, every group,
/// IGT when given, kmemleak's scan (debug flavour).
fn guest_calls(plan: &Plan, f: Flavor, groups: &[Group], run_dir: &Path) -> Vec<String> {
    let mut calls = modules_prelude(plan.b, f, &modules(plan, f));
    calls.push(
        [
            "cd /tmp".to_string(),
            vm::call(&[&["check_nodes"][..], GUEST_NODES].concat()),
        ]
        .join("; "),
    );
    for (label, exe, args) in groups {
        let mut words = vec!["run_group".to_string(), label.clone()];
        words.push(exe.to_string_lossy().into_owned());
        words.extend(args.iter().cloned());
        calls.push(vm::call(&words));
    }
    if let Some(dir) = &plan.igt_build {
        // Results on the guest's tmpfs (igt_runner writes each test's output there), then
        // copied to the shared run directory.
        let dir = vm::guest_path(dir).to_string_lossy().into_owned();
        let tests = ["igt@core_file_same", "igt@dmabuf_same_object"];
        calls.push(format!(
            "echo 'XTASK-BEGIN igt'; {}",
            igt::guest_call(&dir, "/tmp/igt-results", &tests)
        ));
        calls.push(format!(
            "echo \"XTASK-END igt $?\"; cp -r /tmp/igt-results {}",
            vm::call(&[run_dir.join("igt-results").to_string_lossy()])
        ));
    }
    if f == Flavor::Debug {
        let out = run_dir.join("kmemleak.txt").to_string_lossy().into_owned();
        calls.push(vm::call(&["kmemleak_scan".to_string(), out]));
    }
    calls
}

/// The modules a modular kernel loads: the drivers, then the KUnit test modules (their suites
/// run as they load).
fn modules(plan: &Plan, f: Flavor) -> Vec<&str> {
    if !f.modular() {
        return vec![];
    }
    let kunit = plan.kunit.iter().map(|e| e.module.as_str());
    DRIVER_MODULES.iter().copied().chain(kunit).collect()
}

/// Boots the kernel of flavour `f` once and runs every guest test in it; adds the rows of this
/// configuration (`guest[CFG] ...`, `kunit[CFG] SUITE`, `kernel[CFG] log`) to `summary`. Returns
/// the guest's run time in seconds.
fn test_in_guest(plan: &Plan, f: Flavor, img: &Path, summary: &mut Summary) -> Result<f64> {
    let cfg = f.label();
    let groups: Vec<Group> = plan
        .groups
        .iter()
        .map(|(l, e, a)| (format!("guest[{cfg}] {l}"), e.clone(), a.clone()))
        .collect();
    // One run directory per base and flavour, so that such runs can go on side by side.
    let run_name = format!("test-{}{}", plan.b.name, f.suffix());
    let run_dir = util::build_dir().join("vm").join(&run_name);
    let script = vm::script(&guest_calls(plan, f, &groups, &run_dir));
    // KUnit runs at boot or as its modules load (only the suites of the series).
    let cmdline = format!("kunit.enable=1 kunit.filter_glob=*same* {}", f.boot_args());
    let opts = vm::VmOpts {
        kernel: img,
        cmdline: cmdline.trim_end(),
        timeout: Duration::from_secs(if f == Flavor::Debug { 2400 } else { 900 }),
        memory_mb: 3072,
        name: &run_name,
    };
    let r = vm::run(&opts, &script)?;
    eprintln!(
        "xtask: guest[{cfg}] ran {:.1} s (log {})",
        r.seconds,
        r.dir.display()
    );
    if r.status.is_none() {
        let why = format!(
            "guest[{cfg}]: the guest did not finish (see {}/serial.log)",
            r.dir.display()
        );
        summary.fail(format!("guest[{cfg}] finished"), why);
    }
    if f.modular() {
        add_modules(summary, cfg, &modules(plan, f), &r.output);
    }
    add_nodes(summary, cfg, &r.output);
    add_kunit(summary, plan, cfg, &r.dmesg);
    for (label, _, _) in &groups {
        summary.add_guest_block(label, &r.output);
    }
    match &plan.igt_build {
        Some(dir) => add_igt(summary, cfg, dir, &r.dir.join("igt-results/results.json")),
        None => println!(
            "IGT[{cfg}]: not run (no IGT source: set IGT_BUILD to an IGT build with the tests of \
             tests/igt/, see tests/igt/README.md)"
        ),
    }
    add_kernel_log(summary, cfg, &r);
    if f == Flavor::Debug {
        add_kmemleak(summary, cfg, &r.dir);
    }
    Ok(r.seconds)
}

/// One row for the modules: loaded, failed (modprobe's message) or never loaded.
fn add_modules(summary: &mut Summary, cfg: &str, modules: &[&str], output: &str) {
    let loaded = vm::modprobe_results(output);
    let mut row = Row::new(format!("guest[{cfg}] modprobe ({} modules)", modules.len()));
    for m in modules {
        match loaded.iter().find(|(name, _)| name == m) {
            Some((_, Ok(()))) => row.add(Outcome::Passed),
            Some((_, Err(msg))) => {
                row.add(Outcome::Failed);
                summary.detail(format!("guest[{cfg}]: module {m} did not load: {msg}"));
            }
            None => {
                row.add(Outcome::NotRun);
                summary.detail(format!("guest[{cfg}]: module {m} was never loaded"));
            }
        }
    }
    summary.row(row);
}

/// One row for the device nodes every guest test needs.
fn add_nodes(summary: &mut Summary, cfg: &str, output: &str) {
    let mut nodes = Row::new(format!("guest[{cfg}] device nodes"));
    for n in GUEST_NODES {
        if output.lines().any(|l| l == format!("XTASK-NODE {n}")) {
            nodes.add(Outcome::Passed);
        } else if output.lines().any(|l| l == format!("XTASK-MISSING {n}")) {
            nodes.add(Outcome::Failed);
            summary.detail(format!("guest[{cfg}]: missing device node {n}"));
        } else {
            nodes.add(Outcome::NotRun);
        }
    }
    summary.row(nodes);
}

/// The KUnit rows, through kunit.py; a log it cannot read is a failed row, not an error.
fn add_kunit(summary: &mut Summary, plan: &Plan, cfg: &str, dmesg: &str) {
    let expected: Vec<String> = plan.kunit.iter().map(|e| e.suite.clone()).collect();
    match kunit::parse(&kernel::tree_dir(plan.b), dmesg) {
        Ok(suites) => summary.add_kunit(cfg, &suites, &expected),
        Err(e) => summary.fail(format!("kunit[{cfg}]"), format!("kunit[{cfg}]: {e:#}")),
    }
}

/// The kernel log: no WARNING, BUG, Oops, KASAN, ... line.
fn add_kernel_log(summary: &mut Summary, cfg: &str, r: &vm::VmRun) {
    let problems = vm::kernel_problems(&r.dmesg);
    summary.check(
        format!("kernel[{cfg}] log: no WARNING, BUG, Oops, KASAN, ..."),
        problems.is_empty(),
    );
    if !problems.is_empty() {
        summary.detail(format!(
            "kernel[{cfg}] log ({}):\n{}",
            r.dir.join("dmesg.txt").display(),
            util::first_lines(&problems.join("\n"), 40)
        ));
    }
}

/// The debug flavour: kmemleak's report after the run must list no object.
fn add_kmemleak(summary: &mut Summary, cfg: &str, dir: &Path) {
    let leaks = std::fs::read_to_string(dir.join("kmemleak.txt")).unwrap_or_default();
    let n = leaks.matches("unreferenced object").count();
    println!("kmemleak: {n} unreferenced objects after the run");
    summary.check(format!("kernel[{cfg}] kmemleak"), n == 0);
    if n > 0 {
        summary.detail(format!(
            "kmemleak reports {n} leaks:\n{}",
            util::first_lines(&leaks, 40)
        ));
    }
}

/// Test executables that cargo builds for the given packages (`cargo test --no-run`).
fn test_executables(packages: &[&str], extra: &[&str]) -> Result<Vec<(String, PathBuf)>> {
    let mut c = Command::new(env!("CARGO"));
    c.current_dir(util::root())
        .args(["test", "--no-run", "--message-format=json"]);
    for p in packages {
        c.args(["-p", p]);
    }
    c.args(extra);
    Ok(test_artifacts(&util::output(&mut c)?))
}

/// The test harnesses among cargo's JSON messages (`--message-format=json`, one object per
/// line): `compiler-artifact` messages with an `executable` and `profile.test` true (a binary
/// target built for `CARGO_BIN_EXE_*` has an executable too, but is no test), as
/// (`PACKAGE::TARGET`, executable), the package named by the directory of its manifest.
fn test_artifacts(messages: &str) -> Vec<(String, PathBuf)> {
    let mut v = vec![];
    for line in messages.lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        let package = msg["manifest_path"]
            .as_str()
            .and_then(|m| Path::new(m).parent()?.file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        v.push((format!("{package}::{name}"), PathBuf::from(exe)));
    }
    v
}

/// The IGT build to use: `IGT_BUILD`, or `IGT_SRC/build`. Given but unusable is an error, not a skip.
fn igt_build_dir() -> Result<Option<PathBuf>> {
    let dir = match (std::env::var_os("IGT_BUILD"), std::env::var_os("IGT_SRC")) {
        (Some(b), _) => PathBuf::from(b),
        (None, Some(s)) => PathBuf::from(s).join("build"),
        (None, None) => return Ok(None),
    };
    for need in [
        "runner/igt_runner",
        "tests/core_file_same",
        "tests/dmabuf_same_object",
    ] {
        if !dir.join(need).exists() {
            bail!(
                "IGT build {} has no {need}: build it as tests/igt/README.md says",
                dir.display()
            );
        }
    }
    Ok(Some(util::canonicalize(&dir)?))
}

fn add_igt(summary: &mut Summary, cfg: &str, dir: &Path, results_json: &Path) {
    let text = match util::read(results_json) {
        Ok(t) => t,
        Err(e) => {
            summary.not_run(
                format!("guest[{cfg}] igt"),
                format!("IGT[{cfg}] produced no results.json: {e}"),
            );
            return;
        }
    };
    match igt::parse_results_json(&text) {
        Ok(s) => {
            let version = s
                .version
                .as_deref()
                .and_then(|v| v.lines().next())
                .unwrap_or("unknown version");
            for (name, result) in &s.tests {
                println!("  [{cfg}] {name} ... {result}");
            }
            // Explanations of the failures the row below counts.
            for (name, result) in s.problems() {
                summary.detail(format!("IGT[{cfg}] {name}: {result}"));
            }
            println!("IGT[{cfg}]: {} from {}", version, dir.display());
            summary.counts(
                format!("guest[{cfg}] igt ({version})"),
                s.pass,
                s.fail + s.other,
                s.skip,
            );
        }
        Err(e) => summary.fail(
            format!("guest[{cfg}] igt"),
            format!("IGT[{cfg}] results.json unreadable: {e}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_runs_both_configurations_unless_one_is_named() {
        use clap::Parser;
        let flags = |v: &[&str]| {
            let args = ["xtask", "test"].iter().chain(v);
            match crate::flags::Xtask::try_parse_from(args).unwrap().cmd {
                crate::flags::Cmd::Test(k) => k,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(test_flavors(&flags(&[])), [Flavor::Vm, Flavor::Modules]);
        assert_eq!(
            test_flavors(&flags(&["--flavor", "debug"])),
            [Flavor::Debug]
        );
        assert_eq!(
            test_flavors(&flags(&["--flavor", "modules"])),
            [Flavor::Modules]
        );
        assert_eq!(test_flavors(&flags(&["--flavor", "builtin"])), [Flavor::Vm]);
        assert_eq!(flags(&[]).flavor(), Flavor::Vm);
    }

    /// Lines of a real `cargo test --no-run --message-format=json` (shortened): a test harness,
    /// a binary built for CARGO_BIN_EXE_* (executable, but profile.test false), a library
    /// (no executable), the build-finished message and a line that is not JSON.
    #[test]
    fn test_harnesses_from_cargo_messages() {
        let messages = r#"{"reason":"compiler-artifact","package_id":"path+file:///r/rust-tests#0.1.0","manifest_path":"/r/rust-tests/Cargo.toml","target":{"kind":["test"],"crate_types":["bin"],"name":"crate_vm","src_path":"/r/rust-tests/tests/crate_vm.rs","edition":"2021","doc":false,"doctest":false,"test":true},"profile":{"opt_level":"0","debuginfo":2,"debug_assertions":true,"overflow_checks":true,"test":true},"features":[],"filenames":["/r/target/debug/deps/crate_vm-1a"],"executable":"/r/target/debug/deps/crate_vm-1a","fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///r/crates/fdsame-cli#0.1.0","manifest_path":"/r/crates/fdsame-cli/Cargo.toml","target":{"kind":["bin"],"crate_types":["bin"],"name":"fdsame","src_path":"/r/crates/fdsame-cli/src/main.rs","test":true},"profile":{"opt_level":"0","test":false},"features":[],"filenames":["/r/target/debug/fdsame"],"executable":"/r/target/debug/fdsame","fresh":true}
{"reason":"compiler-artifact","package_id":"path+file:///r/crates/fdsame#0.1.0","manifest_path":"/r/crates/fdsame/Cargo.toml","target":{"kind":["lib"],"name":"fdsame","test":true},"profile":{"test":false},"features":[],"filenames":["/r/target/debug/deps/libfdsame-2b.rlib"],"executable":null,"fresh":true}
{"reason":"compiler-artifact","manifest_path":"/r/crates/fdsame/Cargo.toml","target":{"kind":["lib"],"name":"fdsame"},"profile":{"test":true},"executable":"/r/target/debug/deps/fdsame-3c \"q\"","fresh":true}
   Compiling something
{"reason":"build-finished","success":true}
"#;
        assert_eq!(
            test_artifacts(messages),
            [
                (
                    "rust-tests::crate_vm".to_string(),
                    PathBuf::from("/r/target/debug/deps/crate_vm-1a")
                ),
                (
                    "fdsame::fdsame".to_string(),
                    PathBuf::from("/r/target/debug/deps/fdsame-3c \"q\"")
                ),
            ]
        );
    }
}
