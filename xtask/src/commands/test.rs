//! `cargo xtask test`: the whole suite. Host tests and the static checks once, then for each
//! configuration (built-in and modular, or the one `--flavor` names) its kernel build and one
//! boot with KUnit, every guest test and IGT when given; one summary, one closing line.

use super::{kernel_image, modules_prelude, DRIVER_MODULES, GUEST_NODES, KUNIT_MODULES};
use crate::flags::Flags;
use crate::kernel::{self, Flavor};
use crate::util::{self, shell_quote, Result};
use crate::{check, deps, igt, results, vm};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The configurations `cargo xtask test` runs: built-in and modular, or the one `--flavor` names.
/// The configurations `cargo xtask test` runs: built-in and modular, or the one `--flavor` names.
fn test_flavors(a: &Flags) -> Vec<Flavor> {
    match a.flavor {
        Some(f) => vec![f],
        None => vec![Flavor::Vm, Flavor::Modules],
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

fn guest_script(groups: &[(String, PathBuf, Vec<String>)]) -> String {
    let mut s = String::from("cd /tmp\n");
    for n in GUEST_NODES {
        s.push_str(&format!(
            "if [ -e {n} ]; then echo 'XTASK-NODE {n}'; else echo 'XTASK-MISSING {n}'; fi\n"
        ));
    }
    for (label, exe, args) in groups {
        let args: Vec<String> = args.iter().map(|a| shell_quote(a)).collect();
        s.push_str(&format!(
            "echo 'XTASK-BEGIN {label}'\n{} {}\necho \"XTASK-END {label} $?\"\n",
            shell_quote(&exe.to_string_lossy()),
            args.join(" ")
        ));
    }
    s
}

pub fn run(a: &Flags) -> Result<bool> {
    let b = kernel::base(a.base())?;
    deps::ensure("test")?;
    let flavors = test_flavors(a);
    let mut summary = results::Summary::default();

    // 1. Host tests: the userspace crates on the host kernel (which lacks the new ioctls).
    eprintln!("xtask: host tests (cargo test on the host kernel)");
    let host = test_executables(&["fdsame", "fdsame-cli", "fdsame-bench", "xtask"], &[])?;
    // `c_header` needs the series' headers: it runs after the kernel build.
    for (label, exe) in host.iter().filter(|(l, _)| l != "fdsame::c_header") {
        let (ok, text) = util::capture(Command::new(exe).current_dir(util::root()))?;
        summary.add_libtest(&format!("host {label}"), &text, ok);
    }

    // Rust lints and docs: clippy with -D warnings on everything, rustdoc with -D warnings on the library.
    for (label, args, env) in [
        (
            "check cargo clippy -D warnings",
            vec![
                "clippy",
                "-q",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
            None,
        ),
        (
            "check cargo doc -D warnings",
            vec!["doc", "-q", "-p", "fdsame", "--no-deps"],
            Some(("RUSTDOCFLAGS", "-D warnings")),
        ),
    ] {
        let mut c = Command::new(env!("CARGO"));
        c.current_dir(util::root()).args(&args);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        let (ok, text) = util::capture(&mut c)?;
        summary.check(label, ok);
        if !ok {
            summary.detail(format!("{label}:\n{}", util::first_lines(&text, 30)));
        }
    }

    // 2. Static checks of the series (checkpatch, kernel-doc, W=1 + sparse vs the base).
    eprintln!("xtask: static checks of the series");
    if let Err(e) = check::run(b, &mut summary) {
        summary.fail(
            "check (static checks)",
            format!("static checks could not run: {e}"),
        );
    }

    // The KUnit suites and cases the series adds: each must report every case, in each kernel.
    let patches = kernel::series_patches(b)?
        .iter()
        .map(|p| util::read(p))
        .collect::<Result<Vec<String>>>()?;
    let suites = results::kunit_suites_in_patches(&patches);
    if suites.is_empty() {
        return Err(format!(
            "no KUnit suite found in {}: nothing to expect in the kernel log",
            kernel::series_dir(b).display()
        ));
    }

    // 3. The guest tests, built on the host once for every configuration.
    let mut groups = vec![];
    for (label, exe) in test_executables(&["rust-tests"], &[])? {
        groups.push((label, exe, vec!["--test-threads=2".to_string()]));
    }
    if groups.is_empty() {
        return Err("no guest test executables were built".into());
    }
    // The vkms hot-unplug test makes and removes vkms devices through configfs, which vkms has
    // only on newer bases (vkms_configfs.c; not in 6.12): there libtest skips that one test
    // (the PCI hot-unplug test of the same binary runs) and the summary says so as a skipped
    // row rather than a pass.
    if !kernel::tree_dir(b)
        .join("drivers/gpu/drm/vkms/vkms_configfs.c")
        .exists()
    {
        const VKMS_UNPLUG: &str =
            "vkms_removed_through_configfs_while_files_are_open_and_compares_race";
        let mut skipped = false;
        for (label, _, args) in groups.iter_mut() {
            if label == "rust-tests::hotunplug" {
                args.extend(["--skip".to_string(), VKMS_UNPLUG.to_string()]);
                skipped = true;
            }
        }
        if skipped {
            let why = format!(
                "rust-tests::hotunplug::{VKMS_UNPLUG}: not run on {} (vkms has no configfs there)",
                b.name
            );
            println!("{why}");
            summary.counts(why, 0, 0, 1);
        }
    }
    // IGT, when an IGT build is given from outside (its source is never vendored here).
    let igt_build = igt_build_dir()?;

    // 4. Each configuration: its kernel build, one boot with KUnit and every guest test.
    let mut headers_checked = false;
    let mut timings = vec![];
    for f in flavors {
        let cfg = f.label();
        let t0 = Instant::now();
        let img = match kernel_image(a, b, f) {
            Ok(img) => img,
            Err(e) => {
                summary.fail(
                    format!("kernel[{cfg}] build"),
                    format!("kernel[{cfg}]: {e}"),
                );
                continue;
            }
        };
        let build_s = t0.elapsed().as_secs_f64();
        summary.check(
            format!(
                "kernel[{cfg}] build{}",
                if f.modular() {
                    ", modpost, modules_install"
                } else {
                    ""
                }
            ),
            true,
        );

        // The Rust bindings against the C header of the series, as installed from the built tree
        // (the same headers in every configuration: checked once).
        if !headers_checked {
            headers_checked = true;
            let hdr = kernel::obj_dir(b, f).join("fdsame-headers");
            util::run(
                kernel::make(&kernel::tree_dir(b), &kernel::obj_dir(b, f))
                    .arg("-s")
                    .arg("headers_install")
                    .arg(format!("INSTALL_HDR_PATH={}", hdr.display())),
            )?;
            for (label, exe) in host.iter().filter(|(l, _)| l == "fdsame::c_header") {
                let (ok, text) = util::capture(
                    Command::new(exe)
                        .arg("--ignored")
                        .env("FDSAME_UAPI_INCLUDE", hdr.join("include"))
                        .current_dir(util::root()),
                )?;
                summary.add_libtest(&format!("host {label} (series headers)"), &text, ok);
            }
        }

        let guest_s = test_in_guest(
            b,
            f,
            &img,
            &groups,
            &suites,
            igt_build.as_deref(),
            &mut summary,
        )?;
        timings.push(format!(
            "{cfg}: kernel {build_s:.0} s, guest {guest_s:.0} s"
        ));
    }
    eprintln!("xtask: {}", timings.join("; "));
    Ok(summary.report())
}

/// Boots the kernel of flavour `f` once and runs every guest test in it; adds the rows of this
/// configuration (`guest[CFG] ...`, `kunit[CFG] SUITE`, `kernel[CFG] log`) to `summary`. Returns
/// the guest's run time in seconds.
fn test_in_guest(
    b: &kernel::Base,
    f: Flavor,
    img: &Path,
    groups: &[(String, PathBuf, Vec<String>)],
    suites: &[results::KunitSuite],
    igt_build: Option<&Path>,
    summary: &mut results::Summary,
) -> Result<f64> {
    let cfg = f.label();
    let groups: Vec<(String, PathBuf, Vec<String>)> = groups
        .iter()
        .map(|(l, e, a)| (format!("guest[{cfg}] {l}"), e.clone(), a.clone()))
        .collect();
    // One run directory per base and flavour, so that such runs can go on side by side.
    let run_name = format!("test-{}{}", b.name, f.suffix());
    let run_dir = util::build_dir().join("vm").join(&run_name);
    let igt_results = run_dir.join("igt-results");

    // A modular kernel loads the drivers and the KUnit modules first (their suites run then).
    let modules: Vec<&str> = DRIVER_MODULES
        .iter()
        .chain(KUNIT_MODULES)
        .copied()
        .collect();
    let mut script = modules_prelude(b, f, &modules);
    script.push_str(&guest_script(&groups));
    if let Some(dir) = igt_build {
        let tests = ["igt@core_file_same", "igt@dmabuf_same_object"];
        // Results on the guest's tmpfs (igt_runner writes each test's output there), then copied
        // to the shared run directory.
        let igt = igt::guest_script(
            &vm::guest_path(dir).to_string_lossy(),
            "/tmp/igt-results",
            &tests,
        );
        script.push_str(&format!(
            "echo 'XTASK-BEGIN igt'\ncat > /tmp/igt.sh <<'XTASK_IGT_EOF'\n{igt}XTASK_IGT_EOF\nsh /tmp/igt.sh\necho \"XTASK-END igt $?\"\ncp -r /tmp/igt-results {}\n",
            shell_quote(&igt_results.to_string_lossy())
        ));
    }

    // The debug flavour: after everything ran, make kmemleak scan (twice: an object must stay
    // unreferenced over two scans to be reported) and keep its report.
    if f == Flavor::Debug {
        script.push_str(&format!(
            "if [ -w /sys/kernel/debug/kmemleak ]; then echo scan > /sys/kernel/debug/kmemleak; sleep 6; \
             echo scan > /sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak > {0}; \
             else echo 'XTASK-MISSING /sys/kernel/debug/kmemleak'; fi\n",
            shell_quote(&run_dir.join("kmemleak.txt").to_string_lossy())
        ));
    }

    // One boot: KUnit runs at boot or as its modules load (only the suites of the series), then
    // the Rust tests.
    let cmdline = format!("kunit.enable=1 kunit.filter_glob=*same* {}", f.boot_args());
    let r = vm::run(
        &vm::VmOpts {
            kernel: img,
            cmdline: cmdline.trim_end(),
            timeout: Duration::from_secs(if f == Flavor::Debug { 2400 } else { 900 }),
            memory_mb: 3072,
            name: &run_name,
        },
        &script,
    )?;
    eprintln!(
        "xtask: guest[{cfg}] ran {:.1} s (log {})",
        r.seconds,
        r.dir.display()
    );
    if r.status.is_none() {
        summary.fail(
            format!("guest[{cfg}] finished"),
            format!(
                "guest[{cfg}]: the guest did not finish (see {}/serial.log)",
                r.dir.display()
            ),
        );
    }
    if f.modular() {
        let loaded = vm::modprobe_results(&r.output);
        let mut row =
            results::Row::new(format!("guest[{cfg}] modprobe ({} modules)", modules.len()));
        for m in &modules {
            match loaded.iter().find(|(name, _)| name == m) {
                Some((_, Ok(()))) => row.add(results::Outcome::Passed),
                Some((_, Err(msg))) => {
                    row.add(results::Outcome::Failed);
                    summary.detail(format!("guest[{cfg}]: module {m} did not load: {msg}"));
                }
                None => {
                    row.add(results::Outcome::NotRun);
                    summary.detail(format!("guest[{cfg}]: module {m} was never loaded"));
                }
            }
        }
        summary.row(row);
    }
    let mut nodes = results::Row::new(format!("guest[{cfg}] device nodes"));
    for n in GUEST_NODES {
        if r.output.lines().any(|l| l == format!("XTASK-NODE {n}")) {
            nodes.add(results::Outcome::Passed);
        } else if r.output.lines().any(|l| l == format!("XTASK-MISSING {n}")) {
            nodes.add(results::Outcome::Failed);
            summary.detail(format!("guest[{cfg}]: missing device node {n}"));
        } else {
            nodes.add(results::Outcome::NotRun);
        }
    }
    summary.row(nodes);
    summary.add_kunit(cfg, &r.dmesg, suites);
    for (label, _, _) in &groups {
        summary.add_guest_block(label, &r.output);
    }
    match igt_build {
        Some(dir) => add_igt(summary, cfg, dir, &igt_results.join("results.json")),
        None => println!(
            "IGT[{cfg}]: not run (no IGT source: set IGT_BUILD to an IGT build with the tests of \
             tests/igt/, see tests/igt/README.md)"
        ),
    }
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
    if f == Flavor::Debug {
        let leaks = std::fs::read_to_string(r.dir.join("kmemleak.txt")).unwrap_or_default();
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
    Ok(r.seconds)
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
            return Err(format!(
                "IGT build {} has no {need}: build it as tests/igt/README.md says",
                dir.display()
            ));
        }
    }
    Ok(Some(util::canonicalize(&dir)?))
}

fn add_igt(summary: &mut results::Summary, cfg: &str, dir: &Path, results_json: &Path) {
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
        let flags = |v: &[&str]| {
            crate::flags::parse("test", &v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap()
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
